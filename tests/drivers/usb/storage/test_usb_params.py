"""usb-storage's module parameters (usb.py): delay_use in milliseconds with Linux 6.12's
parser and formatter ("1" is a second, "250ms" a quarter of one), and the quirks string
as usb_stor_adjust_quirks reads it — hexadecimal ids, the flag letters, the mask."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from usbemu.drivers.usb.storage.us_data import UsFlag
from usbemu.drivers.usb.storage.usb import (
    DELAY_USE_OPS,
    QUIRK_LETTERS,
    QUIRK_MASK,
    format_delay_ms,
    parse_delay_str,
    usb_stor_adjust_quirks,
)
from usbemu.errors import Errno
from usbemu.kernel.params import ParamError


@pytest.mark.parametrize(("text", "ms"), [
    ("1", 1000), ("0", 0), ("5\n", 5000), ("250ms", 250), ("1500ms\n", 1500),
    ("+2", 2000), ("0ms", 0), ("4294967ms", 4294967), ("4294967", 4294967000),
    ("", 0),                                    # three padding zeros alone: 0
])
def test_delay_use_parses_seconds_or_milliseconds(text: str, ms: int) -> None:
    assert parse_delay_str(text) == ms


@pytest.mark.parametrize(("text", "code"), [
    ("abc", -Errno.EINVAL), ("-1", -Errno.EINVAL),
    ("1.5", -Errno.EINVAL), ("1 s", -Errno.EINVAL), ("ms", -Errno.EINVAL),
    ("4294968", -Errno.ERANGE),                 # 4294968000 ms does not fit a uint
    ("1234567890123", -Errno.EINVAL),           # 13 digits and 3 zeros overflow buf[16]
    ("1234567890123456ms", -Errno.EINVAL), ("123456789012345ms", -Errno.ERANGE),
])
def test_delay_use_refuses_what_linux_refuses(text: str, code: int) -> None:
    with pytest.raises(ParamError) as info:
        parse_delay_str(text)
    assert info.value.code == code


def test_delay_use_shows_whole_seconds_without_a_unit() -> None:
    assert format_delay_ms(1000) == "1\n"
    assert format_delay_ms(0) == "0\n"
    assert format_delay_ms(1500) == "1500ms\n"
    assert format_delay_ms(250) == "250ms\n"


def test_delay_use_ops_skip_leading_spaces() -> None:
    assert DELAY_USE_OPS.set("  3\n") == 3000
    assert DELAY_USE_OPS.get(3000) == "3\n"
    assert DELAY_USE_OPS.accepts(1000) and not DELAY_USE_OPS.accepts(-1)
    assert not DELAY_USE_OPS.accepts(True)


def _udev(vid: int = 0x0525, pid: int = 0xA4A5) -> Any:
    return SimpleNamespace(descriptor=SimpleNamespace(idVendor=vid, idProduct=pid))


@pytest.mark.parametrize(("quirks", "flags"), [
    ("0525:a4a5:s", UsFlag.SINGLE_LUN),
    ("0525:A4A5:SR", UsFlag.SINGLE_LUN | UsFlag.IGNORE_RESIDUE),
    ("0x0525:0xa4a5:m", UsFlag.MAX_SECTORS_64),
    ("1234:5678:m,0525:a4a5:r", UsFlag.IGNORE_RESIDUE),
    ("0525:a4a5:r,0525:a4a5:m", UsFlag.IGNORE_RESIDUE),      # the first entry wins
    ("0525:a4a5:zq!u", UsFlag.IGNORE_UAS),                   # unknown letters ignored
    ("525:a4a5:w", UsFlag.NO_WP_DETECT),
    ("0525:a4a5:abcdefghijklmnoprstuwy", UsFlag(sum(int(f) for f in QUIRK_LETTERS.values()))),
])
def test_a_quirks_entry_gives_its_letters(quirks: str, flags: UsFlag) -> None:
    assert usb_stor_adjust_quirks(_udev(), 0, quirks) == flags


@pytest.mark.parametrize("quirks", ["", "1234:5678:s", "0525a4a5:s", "0525:a4a5", "0525:a4a6:s",
                                    "a4a5:0525:s", ",,0525"])
def test_no_entry_for_the_device_leaves_its_flags(quirks: str) -> None:
    before = UsFlag.MAX_SECTORS_64 | UsFlag.NO_SAME
    assert usb_stor_adjust_quirks(_udev(), before, quirks) == before


def test_an_entry_replaces_the_maskable_flags_only() -> None:
    before = UsFlag.MAX_SECTORS_64 | UsFlag.SCM_MULT_TARG | UsFlag.NO_SAME
    after = usb_stor_adjust_quirks(_udev(), before, "0525:a4a5:")
    assert after == UsFlag.SCM_MULT_TARG | UsFlag.NO_SAME   # NO_SAME ('k') is not masked
    assert not QUIRK_MASK & (UsFlag.SCM_MULT_TARG | UsFlag.NO_SAME | UsFlag.GO_SLOW)


def test_the_module_parameter_is_the_default_text() -> None:
    from usbemu.drivers.usb.storage import usb

    assert usb.quirks == "" and usb.delay_use == 1000
    assert usb_stor_adjust_quirks(_udev(), UsFlag.FIX_CAPACITY) == UsFlag.FIX_CAPACITY
