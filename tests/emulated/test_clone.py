"""Cloning devices from descriptor dumps (usbemu.emulated.clone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from usbemu.emulated.clone import (
    MAX_CLONE_SOURCE_SIZE,
    MAX_DESCRIPTORS_SIZE,
    ClonedDevice,
    CloneError,
    clone_from_sysfs,
    clone_from_toml,
    dump_clone,
    load_clone,
    parse_hex,
    read_limited,
)
from usbemu.emulated.endpoint import Outcome
from usbemu.emulated.models import BUILTIN_MODELS, load_model
from usbemu.spec.ch9 import SetupPacket, Speed
from usbemu.system import System

# The QEMU USB keyboard's sysfs `descriptors` file from the real Linux 6.12 capture
# (tests/golden/linux-6.12-ehci-kbd-storage/sysfs-usb.txt).
KEYBOARD_DUMP = parse_hex("""
12 01 00 02 00 00 00 40 27 06 01 00 00 00 01 04
0b 01 09 02 22 00 01 01 08 a0 32 09 04 00 00 01
03 01 01 00 09 21 11 01 00 01 22 3f 00 07 05 81
03 08 00 07
""")
KEYBOARD_STRINGS = {1: "QEMU", 4: "QEMU USB Keyboard", 11: "68284-0000:00:02.0-1",
                    8: "HID Keyboard"}


def get_descriptor(model: ClonedDevice, wvalue: int, length: int = 255,
                   langid: int = 0) -> tuple[Outcome, bytes]:
    buf = bytearray(length)
    outcome, n = model.control(SetupPacket(0x80, 6, wvalue, langid, length), b"",
                               memoryview(buf))
    return outcome, bytes(buf[:n])


def enumerated(model: ClonedDevice) -> ClonedDevice:
    model.connect(None, None)
    model.bus_reset()
    model.control(SetupPacket(0x00, 5, 2))
    return model


def test_clone_answers_with_the_dumped_bytes() -> None:
    model = enumerated(ClonedDevice(KEYBOARD_DUMP, KEYBOARD_STRINGS, speed=Speed.HIGH))
    assert get_descriptor(model, 0x0100, 18) == (Outcome.DONE, KEYBOARD_DUMP[:18])
    assert get_descriptor(model, 0x0200, 0x22) == (Outcome.DONE, KEYBOARD_DUMP[18:])
    assert get_descriptor(model, 0x0300) == (Outcome.DONE, bytes.fromhex("04030904"))
    outcome, raw = get_descriptor(model, 0x0304, langid=0x0409)
    assert outcome is Outcome.DONE and raw[2:].decode("utf-16-le") == "QEMU USB Keyboard"
    assert get_descriptor(model, 0x0305, langid=0x0409)[0] is Outcome.STALL
    assert model.descriptors.descriptors_file() == KEYBOARD_DUMP


def test_clone_is_configurable_and_its_endpoints_nak_until_fed() -> None:
    model = enumerated(ClonedDevice(KEYBOARD_DUMP, KEYBOARD_STRINGS))
    assert model.control(SetupPacket(0x00, 9, 1))[0] is Outcome.DONE
    ep = model.endpoint(0x81)
    assert ep is not None and ep.maxpacket == 8
    assert ep.pull_in(memoryview(bytearray(8))) == (Outcome.NAK, 0)
    ep.write(bytes(8))
    assert ep.pull_in(memoryview(bytearray(8))) == (Outcome.DONE, 8)


@pytest.mark.parametrize("name", sorted(BUILTIN_MODELS))
def test_clone_file_round_trip_for_every_builtin_model(name: str) -> None:
    original = load_model(name)()
    text = dump_clone(original)
    copy = clone_from_toml(text)
    assert copy.descriptors.descriptors_file() == original.descriptors.descriptors_file()
    assert copy.speed == original.speed
    assert dict(copy.descriptors.strings.primary()) == dict(
        original.descriptors.strings.primary())
    assert dump_clone(copy) == text


def test_load_clone_reads_binary_hex_and_toml(tmp_path: Path) -> None:
    binary = tmp_path / "descriptors"
    binary.write_bytes(KEYBOARD_DUMP)
    hextext = tmp_path / "dump.txt"
    hextext.write_text(" ".join(f"{b:02x}" for b in KEYBOARD_DUMP) + "\n")
    toml = tmp_path / "kbd.toml"
    toml.write_text(dump_clone(ClonedDevice(KEYBOARD_DUMP, KEYBOARD_STRINGS)))
    for path in (binary, hextext, toml):
        assert load_clone(path).descriptors.descriptors_file() == KEYBOARD_DUMP
    assert load_clone(toml).descriptors.strings.primary()[4] == "QEMU USB Keyboard"


def test_clone_from_a_sysfs_directory(tmp_path: Path) -> None:
    (tmp_path / "descriptors").write_bytes(KEYBOARD_DUMP)
    (tmp_path / "speed").write_text("480\n")
    (tmp_path / "manufacturer").write_text("QEMU\n")
    (tmp_path / "product").write_text("QEMU USB Keyboard\n")
    model = clone_from_sysfs(tmp_path)
    assert model.speed is Speed.HIGH
    assert model.descriptors.strings.primary() == {1: "QEMU", 4: "QEMU USB Keyboard"}


@pytest.mark.parametrize(("text", "message"), [
    ("speed = 'high'", "descriptors = '''hex bytes''' is required"),
    ("descriptors = '12 01 zz'", "descriptors: expected hex bytes"),
    ("descriptors = '12'\ncolour = 'red'", "unknown field(s) colour"),
    ("descriptors = '12'\nspeed = 'warp'", "speed = 'warp' is not one of"),
    ("descriptors = '12'\nlanguages = []", "languages must be a non-empty list"),
    ("descriptors = '12'\n[strings]\n0 = 'x'", "strings.0 must be an index 1..255"),
    ("descriptors = '12 01 00 02'", "descriptors file: device descriptor needs 18 bytes"),
    ("descriptors = = 1", "kbd.toml: "),
])
def test_broken_clone_files_name_the_field(text: str, message: str) -> None:
    with pytest.raises(CloneError) as info:
        clone_from_toml(text, "kbd.toml")
    assert str(info.value).startswith("kbd.toml: ")
    assert message in str(info.value)


def test_the_size_limits_cover_any_real_dump() -> None:
    # bNumConfigurations is a byte, wTotalLength 16 bits
    assert MAX_DESCRIPTORS_SIZE == 18 + 255 * 65535 == 16_711_443
    largest_as_hex = 3 * MAX_DESCRIPTORS_SIZE + MAX_DESCRIPTORS_SIZE // 16 + 1
    assert largest_as_hex < MAX_CLONE_SOURCE_SIZE == 64 * 1024 * 1024


def test_an_endless_file_is_read_up_to_the_limit_only() -> None:
    with pytest.raises(CloneError) as info:
        read_limited(Path("/dev/zero"), 1000, "why 1000")
    assert str(info.value) == "/dev/zero: more than 1000 bytes; why 1000"
    assert read_limited(Path("/dev/null"), 1000, "why") == b""


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty; expected a clone file (usbemu clone) or a descriptors dump"),
    (b" \n\t\n", "empty; expected a clone file (usbemu clone) or a descriptors dump"),
    (b"\x00\xff\xfe", "not a clone file or descriptors dump: binary data that does not start "
                       "with a device descriptor (12 01)"),
    (b"root:x:0:0::/root:/bin/sh\n", "not a clone file or descriptors dump: invalid TOML: "
                                     "Expected '=' after a key in a key/value pair (at line "
                                     "1, column 5)"),
    (b"abc\n", "expected hex bytes separated by whitespace"),
    (b"12 01 00", "descriptors file: device descriptor needs 18 bytes, got 3"),
])
def test_files_that_are_not_clones_say_what_they_are(tmp_path: Path, content: bytes,
                                                     message: str) -> None:
    path = tmp_path / "source"
    path.write_bytes(content)
    with pytest.raises(CloneError) as info:
        load_clone(path)
    assert str(info.value) == f"{path}: {message}"


def test_a_dump_larger_than_any_device_has_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "descriptors"
    path.write_bytes(KEYBOARD_DUMP[:18] + bytes(MAX_DESCRIPTORS_SIZE))
    with pytest.raises(CloneError) as info:
        load_clone(path)
    assert str(info.value) == (f"{path}: {MAX_DESCRIPTORS_SIZE + 18} bytes; a descriptors "
                               "dump is at most 16711443 bytes (18 + 255 × 65535)")


def test_a_directory_without_descriptors_is_not_a_device(tmp_path: Path) -> None:
    with pytest.raises(CloneError) as info:
        clone_from_sysfs(tmp_path)
    assert str(info.value) == (f"{tmp_path}: no descriptors file, so not a USB device's "
                               "sysfs directory (like /sys/bus/usb/devices/1-1)")


def test_hostile_clone_reports_what_linux_would_log() -> None:
    # Two interrupt endpoints with the same address: Linux skips the second.
    dump = parse_hex("""
    12 01 00 02 00 00 00 40 34 12 78 56 00 01 00 00 00 01
    09 02 20 00 01 01 00 80 32 09 04 00 00 02 ff 00 00 00
    07 05 81 03 08 00 0a 07 05 81 03 08 00 0a
    """)
    model = ClonedDevice(dump, speed=Speed.FULL)
    assert any("duplicate endpoint with address 0x81" in n for n in model.notices)


def test_a_clone_enumerates_on_the_host_stack_like_the_original() -> None:
    with System() as system:
        system.add_controller()
        system.plug(ClonedDevice(KEYBOARD_DUMP, KEYBOARD_STRINGS, speed=Speed.HIGH), "1-1")
        system.settle()
        lines = system.log.lines()
    assert ("usb 1-1: New USB device found, idVendor=0627, idProduct=0001, bcdDevice= 0.00"
            in lines)
    assert "usb 1-1: New USB device strings: Mfr=1, Product=4, SerialNumber=11" in lines
    assert "usb 1-1: Product: QEMU USB Keyboard" in lines
