"""Cloning devices from descriptor dumps (usbemu.emulated.clone)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from usbemu.emulated.clone import (
    MAX_CLONE_SOURCE_SIZE,
    MAX_DESCRIPTORS_SIZE,
    CloneData,
    ClonedDevice,
    ClonedHub,
    CloneError,
    clone_data_from_sysfs,
    clone_data_from_toml,
    clone_data_of,
    clone_from_sysfs,
    clone_from_toml,
    clone_model,
    dump_clone,
    load_clone,
    model_control,
    on_bench,
    parse_hex,
    read_limited,
)
from usbemu.emulated.device import DeviceModel
from usbemu.emulated.endpoint import Outcome
from usbemu.emulated.models import BUILTIN_MODELS, load_model
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.keyboard import QEMU_KEYBOARD_REPORT_DESCRIPTOR, BootKeyboard
from usbemu.errors import UsbStall
from usbemu.spec.ch9 import DeviceState, SetupPacket, Speed
from usbemu.spec.descriptors import DeviceQualifier, string_descriptor
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
    ("descriptors = '12'\nlanguages = [0x10000]", "languages must be a list of LANGIDs"),
    ("descriptors = '12'\nlanguages = []\n[strings]\n1 = 'x'",
     "strings: a device with an empty LANGID table (languages = []) has no strings"),
    ("descriptors = '12'\nqualifier = 'zz'", "qualifier: expected hex bytes"),
    ("descriptors = '12'\nqualifier = 6", "qualifier must be hex bytes in a string"),
    ("descriptors = '12'\nother_speed = '09 07'", "other_speed must be a list of hex strings"),
    ("descriptors = '12'\nother_speed = ['09', 'x']", "other_speed[1]: expected hex bytes"),
    ("descriptors = '12'\nbos = '0f'\nhub_descriptor = 'q'", "hub_descriptor: expected hex"),
    ("descriptors = '12'\n[strings.0x0407]\n1 = 'x'",
     "strings.0x0407: LANGID 0x0407 is not in languages"),
    ("descriptors = '12'\n[strings.0x0409]\n1 = 'x'",
     "strings.0x0409: the first language's strings are [strings] itself"),
    ("descriptors = '12'\n[strings.german]\n1 = 'x'",
     "strings.german must be a LANGID such as 0x0407"),
    ("descriptors = '12'\nlanguages = [0x0409, 0x0407]\n[strings.0x0407]\nx = 'x'",
     "strings.0x0407.x must be an index 1..255 with text"),
    ("descriptors = '12'\n[report_descriptors]\n256 = '05 01'",
     "report_descriptors.256: an interface number is 0..255"),
    ("descriptors = '12'\nreport_descriptors = 3", "[report_descriptors] must be a table"),
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


# -- everything a clone carries -------------------------------------------------------------------

# A hand-written high-speed device with two languages, a BOS (USB 2.0 extension: LPM) and
# its full-speed other-speed configuration; every field is a golden byte string.
TWO_LANGUAGES = """\
# usbemu device clone
speed = "high"
languages = [0x0409, 0x0407]
descriptors = '''
12 01 01 02 ff 00 00 40 34 12 78 56 00 01 01 02
03 01
09 02 20 00 01 01 04 80 32
09 04 00 00 02 ff 00 00 05
07 05 81 02 00 02 00
07 05 02 02 00 02 00
'''
qualifier = '0a 06 01 02 ff 00 00 40 01 00'
other_speed = ['''
09 07 20 00 01 01 04 80 32 09 04 00 00 02 ff 00
00 05 07 05 81 02 40 00 00 07 05 02 02 40 00 00
''']
bos = '05 0f 0c 00 01 07 10 02 06 00 00 00'

[strings]
1 = "Example"
2 = "Widget"
3 = "0001"
4 = "Default"
5 = "Data"

[strings.0x0407]
1 = "Beispiel"
2 = "Ding"
3 = "0001"
5 = "Daten"
"""


def configured_answers(model: DeviceModel) -> dict[str, bytes | None]:
    """What `model` answers, on a bench, to every GET_DESCRIPTOR a host and its class
    drivers send: device, configurations, qualifier, other-speed, BOS, string 0 and every
    string index in every language, and — configured — each interface's HID and report
    descriptors and the hub descriptor."""
    def ask(request: tuple[int, int, int, int, int]) -> bytes | None:
        try:
            return control(*request)
        except UsbStall:
            return None
    sets = model.descriptors
    with on_bench(model) as control:
        requests = [(0x80, 6, 0x0100, 0, 18)]
        requests += [(0x80, 6, 0x0200 | i, 0, 0xFFFF) for i in range(len(sets.config_bytes))]
        requests += [(0x80, 6, 0x0600, 0, 10), (0x80, 6, 0x0F00, 0, 0xFFFF)]
        requests += [(0x80, 6, 0x0700 | i, 0, 0xFFFF) for i in range(2)]
        requests += [(0x80, 6, 0x0300, 0, 255)]
        requests += [(0x80, 6, 0x0300 | i, lang, 255) for lang in (0x0409, 0x0407)
                     for i in range(1, 256)]
        found = {f"{r[0]:02x} {r[1]:02x} {r[2]:04x} {r[3]:04x}": ask(r) for r in requests}
        value = sets.configurations[0].bConfigurationValue or 0
        control(0x00, 9, value, 0, 0)
        numbers = {n for n, _ in sets.configurations[0].numbered_interfaces()}
        klass = [(0x81, 6, dtype << 8, n, 0xFFFF) for n in sorted(numbers)
                 for dtype in (0x21, 0x22)] + [(0xA0, 6, 0x2900, 0, 255)]
        found |= {f"{r[0]:02x} {r[1]:02x} {r[2]:04x} {r[3]:04x}": ask(r) for r in klass}
    return found


@pytest.mark.parametrize("name", sorted(BUILTIN_MODELS))
def test_a_clone_of_any_builtin_model_answers_every_request_byte_for_byte(name: str) -> None:
    original = load_model(name)()
    text = dump_clone(original)
    copy = clone_from_toml(text)
    assert configured_answers(copy) == configured_answers(load_model(name)())
    assert dump_clone(copy) == text
    assert dump_clone(clone_from_toml(dump_clone(copy))) == text


@pytest.mark.parametrize(("name", "fields"), [
    ("hub", ("qualifier", "other_speed", "hub_descriptor")),
    ("keyboard", ("report_descriptors",)),
    ("mouse", ("report_descriptors",)),
    ("tablet", ("report_descriptors",)),
    ("pendrive", ("qualifier", "other_speed")),
    ("zero", ("qualifier", "other_speed")),
    ("ft2232h", ("qualifier", "other_speed")),
    ("acm", ()),
    ("ftdi", ()),
])
def test_the_clone_file_of_a_builtin_model_has_its_fields(name: str,
                                                          fields: tuple[str, ...]) -> None:
    text = dump_clone(load_model(name)())
    optional = ("qualifier", "other_speed", "bos", "hub_descriptor", "report_descriptors")
    present = tuple(f for f in optional if re.search(rf"^\[?{f}\]? ?=?", text, re.MULTILINE))
    assert present == fields


def test_the_report_descriptor_of_a_hid_model_is_what_it_answers() -> None:
    keyboard = BootKeyboard()
    data = clone_data_of(keyboard)
    with on_bench(BootKeyboard()) as control:
        control(0x00, 9, 1, 0, 0)
        answered = control(0x81, 0x06, 0x2200, 0, 0xFFFF)
    assert data.report_descriptors == {0: answered} == {0: QEMU_KEYBOARD_REPORT_DESCRIPTOR}


def test_a_hand_written_clone_with_two_languages_and_a_bos() -> None:
    model = clone_from_toml(TWO_LANGUAGES, "widget.toml")
    assert isinstance(model, ClonedDevice)
    answers = configured_answers(model)
    assert answers["80 06 0300 0000"] == bytes.fromhex("06 03 09 04 07 04")
    assert answers["80 06 0302 0409"] == string_descriptor("Widget")
    assert answers["80 06 0302 0407"] == string_descriptor("Ding")
    assert answers["80 06 0304 0407"] is None  # no string 4 in German
    assert answers["80 06 0f00 0000"] == bytes.fromhex("05 0f 0c 00 01 07 10 02 06 00 00 00")
    assert answers["80 06 0600 0000"] == bytes.fromhex("0a 06 01 02 ff 00 00 40 01 00")
    assert answers["80 06 0700 0000"] == parse_hex(
        "09 07 20 00 01 01 04 80 32 09 04 00 00 02 ff 00 00 05 07 05 81 02 40 00 00 "
        "07 05 02 02 40 00 00")
    assert answers["80 06 0701 0000"] is None
    text = dump_clone(model)
    assert clone_data_from_toml(text) == clone_data_from_toml(TWO_LANGUAGES)
    assert dump_clone(clone_from_toml(text)) == text


def test_the_clone_tree_holds_qualifier_bos_and_other_speed_configurations() -> None:
    sets = clone_from_toml(TWO_LANGUAGES).descriptors
    assert sets.qualifier_bytes == bytes.fromhex("0a 06 01 02 ff 00 00 40 01 00")
    assert sets.bos_bytes == bytes.fromhex("05 0f 0c 00 01 07 10 02 06 00 00 00")
    assert sets.other_speed_bytes == (parse_hex(
        "09 07 20 00 01 01 04 80 32 09 04 00 00 02 ff 00 00 05 07 05 81 02 40 00 00 "
        "07 05 02 02 40 00 00"),)
    device = sets.device
    assert device.qualifier == DeviceQualifier(0x0201, 0xFF, 0, 0, 64, 1, bLength=None)
    assert device.bos is not None and [c.bDevCapabilityType for c in device.bos.capabilities] == [2]
    (other,) = device.other_speed_configurations
    assert [ep.wMaxPacketSize for ep in other.interfaces[0].endpoints] == [64, 64]
    assert other.iConfiguration == 4 and other.bConfigurationValue == 1
    assert device.languages == (0x0409, 0x0407)
    assert sets.strings.lookup(1, 0x0407) == "Beispiel"


def test_a_language_without_its_own_table_answers_as_the_first() -> None:
    model = clone_from_toml("languages = [0x0409, 0x0407]\ndescriptors = '''\n"
                            + " ".join(f"{b:02x}" for b in KEYBOARD_DUMP)
                            + "\n'''\n[strings]\n4 = 'QEMU USB Keyboard'\n")
    assert model.descriptors.strings.lookup(4, 0x0407) == "QEMU USB Keyboard"
    assert "[strings.0x0407]" not in dump_clone(model)


def test_an_empty_langid_table_stalls_string_descriptor_zero() -> None:
    text = ("languages = []\ndescriptors = '''\n"
            + " ".join(f"{b:02x}" for b in KEYBOARD_DUMP) + "\n'''\n")
    model = enumerated(clone_from_toml(text))
    assert get_descriptor(model, 0x0300)[0] is Outcome.STALL
    assert "languages = []" in dump_clone(model)


def test_a_cloned_hid_interface_answers_its_hid_and_report_descriptors() -> None:
    model = enumerated(ClonedDevice(CloneData(KEYBOARD_DUMP, report_descriptors={
        0: QEMU_KEYBOARD_REPORT_DESCRIPTOR})))
    ask = model_control(model)
    with pytest.raises(UsbStall):  # not configured: the interface does not exist yet
        ask(0x81, 6, 0x2200, 0, 255)
    ask(0x00, 9, 1, 0, 0)
    assert ask(0x81, 6, 0x2100, 0, 255) == KEYBOARD_DUMP[18 + 18:18 + 27]
    assert ask(0x81, 6, 0x2200, 0, 0x3F) == QEMU_KEYBOARD_REPORT_DESCRIPTOR
    assert ask(0x81, 6, 0x2200, 0, 8) == QEMU_KEYBOARD_REPORT_DESCRIPTOR[:8]
    for refused in ((0x81, 6, 0x2201, 0, 255), (0x81, 6, 0x2200, 1, 255),
                    (0x81, 6, 0x2300, 0, 255), (0xA0, 6, 0x2900, 0, 255)):
        with pytest.raises(UsbStall):
            ask(*refused)
    assert [s.bmRequestType for s in model.unhandled] == [0x81] * 4 + [0xA0]


def test_a_hid_descriptor_after_the_endpoint_is_found_as_usbhid_finds_it() -> None:
    # The HID descriptor follows the endpoint instead of the interface descriptor.
    dump = parse_hex("""
    12 01 00 02 00 00 00 40 34 12 78 56 00 01 00 00 00 01
    09 02 22 00 01 01 00 80 32 09 04 00 00 01 03 00 00 00
    07 05 81 03 08 00 0a 09 21 11 01 00 01 22 05 00
    """)
    report = b"\x05\x01\xa1\x01\xc0"
    model = enumerated(ClonedDevice(CloneData(dump, report_descriptors={0: report})))
    ask = model_control(model)
    ask(0x00, 9, 1, 0, 0)
    assert ask(0x81, 6, 0x2100, 0, 255) == bytes.fromhex("09 21 11 01 00 01 22 05 00")
    assert clone_data_of(model).report_descriptors == {0: report}


@pytest.mark.parametrize(("change", "message"), [
    ({"qualifier": b"\x0a\x01" + bytes(8)},
     "qualifier: device qualifier descriptor has bDescriptorType 0x01, expected 0x06"),
    ({"qualifier": b"\x0a\x06\x00"}, "qualifier: device qualifier descriptor needs 10 bytes"),
    ({"other_speed": (KEYBOARD_DUMP[18:],)},
     "other_speed[0]: bDescriptorType 0x02, expected 0x07 (OTHER_SPEED_CONFIGURATION)"),
    ({"other_speed": (b"\x09\x07\x09",)},
     "other_speed[0]: config index 0 descriptor too short (expected 9, got 3)"),
    ({"other_speed": (b"\x09\x07\x09\x00\x00",)},
     "other_speed[0]: invalid descriptor for config index 0: type = 0x2, length = 9"),
    ({"bos": b"\x05\x0f\x20\x00\x00"}, "bos: unable to get BOS descriptor set"),
    ({"report_descriptors": {3: b"\x05\x01"}},
     "report_descriptors.3: no configuration has interface 3 (interfaces: 0)"),
    ({"strings": {0x0407: {1: "x"}}},
     "strings.0x0407: LANGID 0x0407 is not in languages"),
])
def test_a_field_that_is_not_what_it_claims_is_named(change: dict[str, object],
                                                     message: str) -> None:
    data = replace(CloneData(KEYBOARD_DUMP), **change)  # type: ignore[arg-type]
    with pytest.raises(CloneError) as info:
        clone_model(data, "kbd.toml")
    assert str(info.value).startswith(f"kbd.toml: {message}")


def test_old_clone_files_load_as_before() -> None:
    rows = [" ".join(f"{b:02x}" for b in KEYBOARD_DUMP[i:i + 16])
            for i in range(0, len(KEYBOARD_DUMP), 16)]
    old = ("# usbemu device clone\nspeed = \"full\"\nlanguages = [0x0409]\n"
           "descriptors = '''\n" + "\n".join(rows)
           + "\n'''\n\n[strings]\n1 = \"QEMU\"\n4 = \"QEMU USB Keyboard\"\n")
    model = clone_from_toml(old)
    assert model.descriptors.descriptors_file() == KEYBOARD_DUMP
    assert model.descriptors.qualifier_bytes is None
    assert model.descriptors.other_speed_bytes == () and model.descriptors.bos_bytes is None
    assert dump_clone(model) == old


def test_a_model_is_dumped_on_a_bench_of_its_own_not_while_plugged_in() -> None:
    keyboard = BootKeyboard()
    dump_clone(keyboard)
    assert keyboard.state is DeviceState.NOTATTACHED
    keyboard.connect(None, None)
    with pytest.raises(ValueError, match="is plugged in: a model is read on a bench of its "
                                         "own, so unplug it first"):
        dump_clone(keyboard)
    clone = ClonedDevice(KEYBOARD_DUMP)
    clone.connect(None, None)
    assert dump_clone(clone).startswith("# usbemu device clone")


def test_cloneddevice_takes_its_fields_from_clone_data_only() -> None:
    with pytest.raises(TypeError, match="takes no strings, speed or languages"):
        ClonedDevice(CloneData(KEYBOARD_DUMP), speed=Speed.FULL)


# -- from sysfs ---------------------------------------------------------------------------------


def test_sysfs_gives_report_descriptors_and_interface_and_configuration_strings(
        tmp_path: Path) -> None:
    (tmp_path / "1-1").mkdir()
    base = tmp_path / "1-1"
    dump = KEYBOARD_DUMP[:35] + b"\x05" + KEYBOARD_DUMP[36:]  # iInterface 5
    (base / "descriptors").write_bytes(dump)
    (base / "speed").write_text("12\n")
    (base / "bConfigurationValue").write_text("1\n")
    (base / "configuration").write_text("HID Keyboard config\n")
    interface = base / "1-1:1.0"
    hid = interface / "0003:0627:0001.0001"
    hid.mkdir(parents=True)
    (interface / "bInterfaceNumber").write_text("00\n")
    (interface / "bAlternateSetting").write_text(" 0\n")
    (interface / "interface").write_text("HID Keyboard\n")
    (hid / "report_descriptor").write_bytes(QEMU_KEYBOARD_REPORT_DESCRIPTOR)
    data = clone_data_from_sysfs(base)
    assert data.speed is Speed.FULL
    assert data.report_descriptors == {0: QEMU_KEYBOARD_REPORT_DESCRIPTOR}
    assert data.strings == {0x0409: {8: "HID Keyboard config", 5: "HID Keyboard"}}
    assert data.qualifier is None and data.bos is None and data.languages == (0x0409,)
    model = clone_from_sysfs(base)
    assert "[report_descriptors]" in dump_clone(model)


def test_a_hub_from_sysfs_gets_the_hub_models_descriptor_for_its_maxchild(
        tmp_path: Path) -> None:
    hub = Hub(7)
    (tmp_path / "descriptors").write_bytes(hub.descriptors.descriptors_file())
    (tmp_path / "speed").write_text("480\n")
    (tmp_path / "maxchild").write_text("7\n")
    model = clone_from_sysfs(tmp_path)
    assert isinstance(model, ClonedHub) and model.nports == 7
    assert model.clone.hub_descriptor == hub.hub_descriptor.to_bytes()
    (tmp_path / "maxchild").write_text("0\n")
    with pytest.raises(CloneError, match=r"hub_descriptor: bNbrPorts 0; a cloned hub has "
                                         r"1\.\.15 ports"):
        clone_from_sysfs(tmp_path)
