"""Module parameters (usbemu.kernel.params): kstrto*() as lib/kstrtox.c parses, the
standard parameter types of kernel/params.c with their formats, and next_arg()'s splitting
of an argument string.  (Parsing a module's arguments with Linux's messages is tested
through insmod in test_module.py.)
"""

from __future__ import annotations

import pytest

from usbemu.errors import Errno
from usbemu.kernel.params import PARAM_TYPES, kstrtobool, kstrtoll, kstrtoull, next_arg

# -- lib/kstrtox.c ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("0", 0), ("42", 42), ("0x1F", 31), ("0X1f", 31), ("017", 15), ("+5", 5), ("10\n", 10),
    ("18446744073709551615", (1 << 64) - 1), ("0xffffffffffffffff", (1 << 64) - 1),
])
def test_kstrtoull_accepts(text: str, value: int) -> None:
    assert kstrtoull(text) == value


@pytest.mark.parametrize(("text", "code"), [
    ("", -Errno.EINVAL), ("x", -Errno.EINVAL), ("08", -Errno.EINVAL), ("0x", -Errno.EINVAL),
    ("0xg", -Errno.EINVAL), ("1 ", -Errno.EINVAL), ("1\n\n", -Errno.EINVAL),
    ("-1", -Errno.EINVAL), ("++1", -Errno.EINVAL),
    ("18446744073709551616", -Errno.ERANGE), ("0x10000000000000000", -Errno.ERANGE),
])
def test_kstrtoull_refuses(text: str, code: int) -> None:
    with pytest.raises(ValueError) as exc:
        kstrtoull(text)
    assert getattr(exc.value, "code", None) == code


def test_kstrtoll_signs_and_limits() -> None:
    assert kstrtoll("-1") == -1
    assert kstrtoll("-0x10") == -16
    assert kstrtoll("-0") == 0
    assert kstrtoll("-9223372036854775808") == -(1 << 63)
    for text in ("9223372036854775808", "-9223372036854775809"):
        with pytest.raises(ValueError) as exc:
            kstrtoll(text)
        assert getattr(exc.value, "code", None) == -Errno.ERANGE
    with pytest.raises(ValueError):
        kstrtoll("--1")


@pytest.mark.parametrize(("text", "value"), [
    ("1", True), ("y", True), ("Yes", True), ("t", True), ("enable", True), ("on", True),
    ("ON", True), ("0", False), ("n", False), ("false", False), ("d", False), ("off", False),
    ("Y\n", True),
])
def test_kstrtobool(text: str, value: bool) -> None:
    assert kstrtobool(text) is value


@pytest.mark.parametrize("text", ["", "x", "o", "ox", "2", " y"])
def test_kstrtobool_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        kstrtobool(text)


def test_parameter_types_parse_and_show_as_params_c() -> None:
    t = PARAM_TYPES
    assert t["byte"].set("255") == 255 and t["byte"].get(7) == "7\n"
    assert t["short"].set("-32768") == -32768
    assert t["ushort"].set("0xffff") == 0xFFFF
    assert t["int"].set("-2147483648") == -(1 << 31)
    assert t["uint"].set("4294967295") == (1 << 32) - 1
    for kind, text in (("byte", "256"), ("short", "32768"), ("ushort", "65536"),
                       ("int", "2147483648"), ("uint", "0x100000000")):
        with pytest.raises(ValueError) as exc:
            t[kind].set(text)
        assert getattr(exc.value, "code", None) == -Errno.ERANGE, kind
    assert t["hexint"].get(0) == "00000000\n"          # printf("%#08x", 0)
    assert t["hexint"].get(0xFF) == "0x0000ff\n"
    assert t["hexint"].get(0x12345678) == "0x12345678\n"
    assert t["charp"].get(None) == "(null)\n"
    assert t["charp"].set("a b") == "a b"
    assert t["bool"].get(True) == "Y\n" and t["bool"].get(False) == "N\n"
    assert t["bool"].noarg and not t["invbool"].noarg and not t["int"].noarg
    assert t["invbool"].set("y") is False and t["invbool"].get(False) == "Y\n"


def test_next_arg_splits_like_the_kernel() -> None:
    args = 'a=1  b="x y" "c=d e" f g= h=\'q\''
    found = []
    while args:
        param, value, args = next_arg(args)
        found.append((param, value))
    assert found == [("a", "1"), ("b", "x y"), ("c", "d e"), ("f", None), ("g", ""),
                     ("h", "'q'")]
