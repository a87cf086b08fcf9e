"""The built-in class table of usbemu.bridges.usb_classes: the entries of systemd's
20-usb-classes.hwdb that lsusb 018 prints, and ids_parser.py's rule for usb.ids."""

from __future__ import annotations

import pytest

from usbemu.bridges.usb_classes import CLASSES, PROTOCOLS, SUBCLASSES, hwdb_keeps


def test_the_usb_if_class_codes() -> None:
    assert CLASSES[0x01] == "Audio"
    assert CLASSES[0x02] == "Communications"
    assert CLASSES[0x03] == "Human Interface Device"
    assert CLASSES[0x08] == "Mass Storage"
    assert CLASSES[0x09] == "Hub"
    assert CLASSES[0x0A] == "CDC Data"
    assert CLASSES[0xE0] == "Wireless"
    assert CLASSES[0xEF] == "Miscellaneous Device"
    assert CLASSES[0xFF] == "Vendor Specific Class"
    assert 0x00 not in CLASSES and 0x04 not in CLASSES


def test_subclasses_and_protocols() -> None:
    assert SUBCLASSES[(0x03, 0x01)] == "Boot Interface Subclass"
    assert SUBCLASSES[(0x02, 0x02)] == "Abstract (modem)"
    assert SUBCLASSES[(0xFF, 0xFF)] == "Vendor Specific Subclass"
    assert (0x09, 0x00) not in SUBCLASSES
    assert PROTOCOLS[(0x03, 0x01, 0x02)] == "Mouse"
    assert PROTOCOLS[(0x03, 0x00, 0x01)] == "Keyboard"
    assert PROTOCOLS[(0x09, 0x00, 0x02)] == "TT per port"
    assert PROTOCOLS[(0xEF, 0x02, 0x01)] == "Interface Association"
    assert PROTOCOLS[(0xFF, 0xFF, 0xFF)] == "Vendor Specific Protocol"


def test_every_entry_is_one_the_hwdb_keeps() -> None:
    assert all(hwdb_keeps(name, code) for code, name in CLASSES.items())
    assert all(hwdb_keeps(name, *codes) for codes, name in SUBCLASSES.items())
    assert all(hwdb_keeps(name, *codes) for codes, name in PROTOCOLS.items())
    assert all(cls in CLASSES for cls, _ in SUBCLASSES)
    assert all(cls in CLASSES for cls, _, _ in PROTOCOLS)


@pytest.mark.parametrize(("name", "codes", "kept"), [
    ("Audio", (0x01,), True),
    ("(Defined at Interface level)", (0x00,), False),
    ("Unused", (0x09, 0x00), False),
    ("No Subclass", (0x03, 0x00), False),
    ("Control Device", (0x01, 0x01), True),
    ("Full speed (or root) hub", (0x09, 0x00, 0x00), True),
    ("Something", (0x00, 0x01, 0x01), False),
    ("None", (0x0D,), False),
    ("?", (0x0D, 0x01), False),
    ("Unused  ", (0x0D, 0x01, 0x01), False),
    ("Unused parts", (0x0D, 0x01, 0x01), True),
])
def test_hwdb_keeps(name: str, codes: tuple[int, ...], kept: bool) -> None:
    assert hwdb_keeps(name, *codes) is kept


def test_hwdb_keeps_wants_one_to_three_codes() -> None:
    with pytest.raises(ValueError, match="1 to 3 codes"):
        hwdb_keeps("Audio")
    with pytest.raises(ValueError, match="1 to 3 codes"):
        hwdb_keeps("Audio", 1, 2, 3, 4)
