"""The input core (usbemu.kernel.input) with software input devices, no USB: registration
and its log line, inputN and eventN numbering, sysfs and /proc/bus/input byte for byte for
a mouse-like and a keyboard-like device, Linux's event filtering (input_get_disposition),
frames and their flushing, LED and sound events reaching the device, software autorepeat
on virtual time, handlers and handles (filters, grabs, open/close counting), inhibit,
unregistration releasing keys, and the modalias trimmed to fit a uevent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from usbemu.errors import Errno
from usbemu.kernel.device import Uevent
from usbemu.kernel.input import (
    InputDev,
    InputHandle,
    InputHandler,
    InputValue,
    input_abs_get_res,
    input_abs_set_res,
    input_allocate_device,
    input_close_device,
    input_event,
    input_get_timestamp,
    input_grab_device,
    input_inject_event,
    input_open_device,
    input_print_bitmap,
    input_print_modalias,
    input_register_device,
    input_register_handle,
    input_register_handler,
    input_report_abs,
    input_report_key,
    input_report_rel,
    input_report_switch,
    input_set_abs_params,
    input_set_capability,
    input_sync,
    input_unregister_device,
    input_unregister_handle,
    input_unregister_handler,
)
from usbemu.kernel.input_event_codes import (
    ABS_X,
    BTN_EXTRA,
    BTN_LEFT,
    BTN_MIDDLE,
    BTN_RIGHT,
    BTN_SIDE,
    BUS_USB,
    EV_ABS,
    EV_KEY,
    EV_LED,
    EV_MSC,
    EV_PWR,
    EV_REL,
    EV_REP,
    EV_SND,
    EV_SW,
    EV_SYN,
    KEY_102ND,
    KEY_A,
    KEY_ESC,
    KEY_LEFTMETA,
    KEY_MAX,
    KEY_MUTE,
    KEY_RESERVED,
    LED_CAPSL,
    LED_NUML,
    LED_SCROLLL,
    MSC_SCAN,
    REL_WHEEL,
    REL_X,
    REL_Y,
    REP_DELAY,
    REP_PERIOD,
    SND_BELL,
    SW_LID,
    SYN_REPORT,
    InputId,
)
from usbemu.kernel.printk import Level
from usbemu.kernel.vtime import sleep_ns
from usbemu.system import System

MOUSE_MODALIAS = "input:b0003v046DpC077e0111-e0,1,2,4,k110,111,112,113,114,r0,1,8,am4,lsfw"


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        yield machine


def mouse(name: str | None = "Logitech USB Optical Mouse") -> InputDev:
    """A device with the capabilities of a USB mouse through hid-generic."""
    dev = InputDev(name, phys="usb-0000:00:1d.0-1/input0",
                   id=InputId(BUS_USB, 0x046D, 0xC077, 0x0111))
    for code in (BTN_LEFT, BTN_RIGHT, BTN_MIDDLE, BTN_SIDE, BTN_EXTRA):
        input_set_capability(dev, EV_KEY, code)
    for code in (REL_X, REL_Y, REL_WHEEL):
        input_set_capability(dev, EV_REL, code)
    input_set_capability(dev, EV_MSC, MSC_SCAN)
    return dev


def keyboard() -> InputDev:
    """A keyboard-like device: five keys, three LEDs, scan codes, autorepeat."""
    dev = InputDev("Test Keyboard", phys="usb-0000:00:1d.0-2/input0",
                   id=InputId(BUS_USB, 0x1234, 0x5678, 0x0100))
    for code in (KEY_ESC, KEY_A, KEY_102ND, KEY_MUTE, KEY_LEFTMETA):
        input_set_capability(dev, EV_KEY, code)
    for code in (LED_NUML, LED_CAPSL, LED_SCROLLL):
        input_set_capability(dev, EV_LED, code)
    input_set_capability(dev, EV_MSC, MSC_SCAN)
    dev.evbit |= 1 << EV_REP
    return dev


@dataclass
class Recorder:
    """An input handler that opens every device it connects to and records each frame
    with its timestamp, and what the devices' open and close callbacks did."""

    name: str = "rec"
    frames: list[tuple[int, list[InputValue]]] = field(default_factory=list)
    handles: list[InputHandle] = field(default_factory=list)

    def handler(self) -> InputHandler:
        async def connect(handler: InputHandler, dev: InputDev, id: object) -> int:
            handle = InputHandle(dev, handler, f"{self.name}{len(self.handles)}")
            input_register_handle(handle)
            self.handles.append(handle)
            return await input_open_device(handle)

        async def disconnect(handle: InputHandle) -> None:
            await input_close_device(handle)
            input_unregister_handle(handle)

        def events(handle: InputHandle, vals: list[InputValue]) -> None:
            self.frames.append((input_get_timestamp(handle.dev), list(vals)))

        return InputHandler(self.name, connect, disconnect, events=events)

    def values(self) -> list[list[InputValue]]:
        return [vals for _, vals in self.frames]


def register(system: System, dev: InputDev) -> None:
    assert system.run(input_register_device(dev)) == 0


def recorded(system: System) -> Recorder:
    rec = Recorder()
    assert system.run(input_register_handler(rec.handler())) == 0
    return rec


# -- registration, sysfs, /proc ---------------------------------------------------------------


def test_mouse_below_its_parent_in_sysfs(system: System) -> None:
    system.add_controller()
    root = system.find_device("usb1")
    dev = mouse()
    dev.parent = root
    register(system, dev)
    path = "/devices/pci0000:00/0000:00:1d.0/usb1/input/input0"
    assert f"input: Logitech USB Optical Mouse as {path}" in system.log.lines(Level.INFO)
    assert system.vfs.readlink("/sys/class/input/input0") == f"../..{path}"
    base = f"/sys{path}"
    assert sorted(system.vfs.listdir(base)) == [
        "capabilities", "device", "event0", "id", "inhibited", "modalias", "name", "phys",
        "properties", "subsystem", "uevent", "uniq"]
    expected = {
        "name": "Logitech USB Optical Mouse\n",
        "phys": "usb-0000:00:1d.0-1/input0\n",
        "uniq": "\n",
        "modalias": MOUSE_MODALIAS + "\n",
        "properties": "0\n",
        "inhibited": "0\n",
        "id/bustype": "0003\n",
        "id/vendor": "046d\n",
        "id/product": "c077\n",
        "id/version": "0111\n",
        "capabilities/ev": "17\n",
        "capabilities/key": "1f0000 0 0 0 0\n",
        "capabilities/rel": "103\n",
        "capabilities/abs": "0\n",
        "capabilities/msc": "10\n",
        "capabilities/led": "0\n",
        "capabilities/snd": "0\n",
        "capabilities/ff": "0\n",
        "capabilities/sw": "0\n",
        "uevent": 'PRODUCT=3/46d/c077/111\nNAME="Logitech USB Optical Mouse"\n'
                  'PHYS="usb-0000:00:1d.0-1/input0"\nPROP=0\nEV=17\nKEY=1f0000 0 0 0 0\n'
                  f"REL=103\nMSC=10\nMODALIAS={MOUSE_MODALIAS}\n",
    }
    for name, text in expected.items():
        assert system.vfs.read_text(f"{base}/{name}") == text, name
    assert system.vfs.readlink(f"{base}/device") == "../../../usb1"
    assert system.vfs.readlink(f"{base}/subsystem") == "../../../../../../class/input"
    assert sorted(system.vfs.listdir(f"{base}/event0")) == ["dev", "device", "subsystem",
                                                            "uevent"]
    assert system.vfs.read_text(f"{base}/event0/dev") == "13:64\n"
    assert system.vfs.read_text(f"{base}/event0/uevent") == \
        "MAJOR=13\nMINOR=64\nDEVNAME=input/event0\n"
    assert system.vfs.readlink(f"{base}/event0/device") == "../../input0"
    assert system.vfs.readlink("/sys/class/input/event0") == f"../..{path}/event0"
    assert system.vfs.stat("/dev/input/event0").rdev == (13, 64)


def test_uevents_of_registration(system: System) -> None:
    events: list[Uevent] = []
    system.driver_core.listeners.append(events.append)
    register(system, mouse())
    assert events == [
        Uevent("add", "/devices/virtual/input/input0", (
            ("PRODUCT", "3/46d/c077/111"), ("NAME", '"Logitech USB Optical Mouse"'),
            ("PHYS", '"usb-0000:00:1d.0-1/input0"'), ("PROP", "0"), ("EV", "17"),
            ("KEY", "1f0000 0 0 0 0"), ("REL", "103"), ("MSC", "10"),
            ("MODALIAS", MOUSE_MODALIAS))),
        Uevent("add", "/devices/virtual/input/input0/event0", (
            ("MAJOR", "13"), ("MINOR", "64"), ("DEVNAME", "input/event0"))),
    ]


def test_keyboard_sysfs_and_proc(system: System) -> None:
    register(system, mouse())
    register(system, keyboard())
    base = "/sys/class/input/input1"
    # keys 1, 30 in the first long; 86, 113, 125 = 64 + 22, 49, 61 in the second
    assert system.vfs.read_text(f"{base}/capabilities/key") == "2002000000400000 40000002\n"
    # EV_SYN, EV_KEY, EV_MSC, EV_LED (0x11), EV_REP (0x14)
    assert system.vfs.read_text(f"{base}/capabilities/ev") == "120013\n"
    assert system.vfs.read_text(f"{base}/capabilities/led") == "7\n"
    # only keys from KEY_MIN_INTERESTING (KEY_MUTE) up are in a modalias
    assert system.vfs.read_text(f"{base}/modalias") == \
        "input:b0003v1234p5678e0100-e0,1,4,11,14,k71,7D,ram4,l0,1,2,sfw\n"
    assert system.vfs.read_text("/proc/bus/input/devices") == (
        "I: Bus=0003 Vendor=046d Product=c077 Version=0111\n"
        'N: Name="Logitech USB Optical Mouse"\n'
        "P: Phys=usb-0000:00:1d.0-1/input0\n"
        "S: Sysfs=/devices/virtual/input/input0\n"
        "U: Uniq=\n"
        "H: Handlers=event0 \n"
        "B: PROP=0\n"
        "B: EV=17\n"
        "B: KEY=1f0000 0 0 0 0\n"
        "B: REL=103\n"
        "B: MSC=10\n"
        "\n"
        "I: Bus=0003 Vendor=1234 Product=5678 Version=0100\n"
        'N: Name="Test Keyboard"\n'
        "P: Phys=usb-0000:00:1d.0-2/input0\n"
        "S: Sysfs=/devices/virtual/input/input1\n"
        "U: Uniq=\n"
        "H: Handlers=kbd event1 \n"
        "B: PROP=0\n"
        "B: EV=120013\n"
        "B: KEY=2002000000400000 40000002\n"
        "B: MSC=10\n"
        "B: LED=7\n"
        "\n")
    assert system.vfs.read_text("/proc/bus/input/handlers") == \
        "N: Number=0 Name=kbd\nN: Number=1 Name=evdev Minor=64\n"


def test_unset_strings(system: System) -> None:
    dev = InputDev(None)
    dev.uniq = ""
    register(system, dev)
    assert system.log.lines(Level.INFO)[-1] == \
        "input: Unspecified device as /devices/virtual/input/input0"
    assert system.vfs.read_text("/sys/class/input/input0/name") == "\n"
    assert system.vfs.read_text("/sys/class/input/input0/uevent") == (
        'PRODUCT=0/0/0/0\nUNIQ=""\nPROP=0\nEV=1\nMODALIAS=input:b0000v0000p0000e0000-e0,'
        "kramlsfw\n")


def test_numbering_input_and_event(system: System) -> None:
    first, second = system.run(_allocate_two())
    assert (first.dev_name, second.dev_name) == ("input0", "input1")
    register(system, second)
    register(system, first)
    assert [h.name for h in second.h_list] == ["event0"]
    assert [h.name for h in first.h_list] == ["event1"]
    system.run(input_unregister_device(second))
    assert sorted(system.vfs.listdir("/sys/class/input")) == ["event1", "input0"]
    third = InputDev("third")
    register(system, third)
    # inputN counts on (as Linux's atomic input_no); event minors are reused, lowest first
    assert third.dev_name == "input2"
    assert [h.name for h in third.h_list] == ["event0"]
    assert system.vfs.stat("/dev/input/event0").rdev == (13, 64)
    with pytest.raises(ValueError, match="already registered"):
        system.run(input_register_device(third))
    with pytest.raises(ValueError, match="not registered"):
        system.run(input_unregister_device(second))


async def _allocate_two() -> tuple[InputDev, InputDev]:
    return input_allocate_device(), input_allocate_device()


def test_event_minors_past_the_legacy_range(system: System) -> None:
    devices = [InputDev(f"d{n}") for n in range(33)]
    for dev in devices:
        register(system, dev)
    assert devices[31].h_list[0].name == "event31"
    assert devices[32].h_list[0].name == "event256"
    assert system.vfs.stat("/dev/input/event31").rdev == (13, 95)
    assert system.vfs.stat("/dev/input/event256").rdev == (13, 256)


def test_registration_rules(system: System) -> None:
    dev = InputDev("absolute")
    dev.evbit = 1 << EV_ABS
    assert system.run(input_register_device(dev)) == -Errno.EINVAL
    assert system.log.lines(Level.ERR)[-1] == \
        "input input0: Absolute device without dev->absinfo, refusing to register"
    dev = InputDev("cleaned")
    dev.keybit = 1 << KEY_RESERVED | 1 << KEY_A
    dev.relbit = 1 << REL_X
    dev.evbit = 1 << EV_KEY
    register(system, dev)
    assert dev.evbit == 1 << EV_SYN | 1 << EV_KEY
    assert dev.keybit == 1 << KEY_A and dev.relbit == 0
    assert dev.rep == [250, 33]
    assert dev.dev_name == "input1"


def test_capabilities_and_axes() -> None:
    dev = InputDev("tablet")
    input_set_abs_params(dev, ABS_X, 0, 32767, 4, 8)
    input_abs_set_res(dev, ABS_X, 40)
    assert dev.evbit == 1 << EV_ABS and dev.absbit == 1 << ABS_X
    assert dev.absinfo is not None and dev.absinfo[ABS_X].maximum == 32767
    assert input_abs_get_res(dev, ABS_X) == 40
    input_set_capability(dev, EV_PWR, 0)
    assert dev.evbit >> EV_PWR & 1
    with pytest.raises(ValueError, match="unknown type 6"):
        input_set_capability(dev, 6, 0)
    with pytest.raises(ValueError, match="outside"):
        input_set_capability(dev, EV_KEY, KEY_MAX + 1)
    with pytest.raises(ValueError, match="no absolute axes"):
        input_abs_get_res(InputDev(), ABS_X)


def test_print_bitmap() -> None:
    assert input_print_bitmap(0, KEY_MAX) == "0"
    assert input_print_bitmap(1 << 64, KEY_MAX) == "1 0"
    assert input_print_bitmap(1 << 130 | 5, KEY_MAX) == "4 0 5"
    assert input_print_bitmap(0x1F << 0x110, KEY_MAX) == "1f0000 0 0 0 0"


def test_modalias_trimmed_to_fit_a_uevent(system: System) -> None:
    dev = InputDev("every key")
    dev.evbit = 1 << EV_KEY
    dev.keybit = (1 << (KEY_MAX + 1)) - 2
    register(system, dev)
    text, length = input_print_modalias(dev)
    assert len(text) == length > 2048
    assert dev.dev is not None
    env = dev.dev.uevent_env()
    modalias = dict(env)["MODALIAS"]
    assert modalias.startswith("input:b0000v0000p0000e0000-e0,1,k71,72,")
    assert modalias.endswith(",+,ramlsfw") and len(modalias) < len(text)
    used = 11 + len("DEVPATH=/devices/virtual/input/input0") + 1 + len("SUBSYSTEM=input") + 1
    assert used + sum(len(k) + len(v) + 2 for k, v in env) <= 2048 - 96
    assert system.vfs.read_text("/sys/class/input/input0/modalias") == text + "\n"


# -- events -----------------------------------------------------------------------------------


def test_filtering_rules(system: System) -> None:
    rec = recorded(system)
    dev = mouse()
    input_set_capability(dev, EV_SW, SW_LID)
    register(system, dev)

    def frame(*events: InputValue) -> list[InputValue]:
        rec.frames.clear()
        for event in events:
            input_event(dev, *event)
        return [value for vals in rec.values() for value in vals]

    key = (EV_KEY, BTN_LEFT)
    sync = (EV_SYN, SYN_REPORT, 0)
    assert frame((*key, 1), (*key, 1), sync) == [(*key, 1), sync]       # changes only
    assert frame((*key, 5), sync) == []                                  # still down
    assert frame((*key, 2), sync) == [(*key, 2), sync]                   # repeat passes
    assert frame((*key, 0), sync) == [(*key, 0), sync]
    assert frame((*key, 2), sync) == [(*key, 2), sync]                   # even when up
    assert frame((EV_REL, REL_X, 0), (EV_REL, REL_Y, 0), sync) == []     # zero motion
    assert frame(sync) == []                                             # SYN alone
    assert frame((EV_REL, REL_X, -3), sync) == [(EV_REL, REL_X, -3), sync]
    assert frame((EV_MSC, MSC_SCAN, 7), (EV_MSC, MSC_SCAN, 7), sync) == \
        [(EV_MSC, MSC_SCAN, 7), (EV_MSC, MSC_SCAN, 7), sync]             # MSC always
    assert frame((EV_KEY, KEY_A, 1), (EV_REL, 5, 1), (EV_LED, 0, 1), sync) == []
    assert frame((EV_SW, SW_LID, 1), (EV_SW, SW_LID, 1), sync) == [(EV_SW, SW_LID, 1), sync]
    input_report_key(dev, BTN_RIGHT, 9)
    input_report_switch(dev, SW_LID, 0)
    input_report_rel(dev, REL_WHEEL, 1)
    input_sync(dev)
    assert rec.values()[-1] == [(EV_KEY, BTN_RIGHT, 1), (EV_SW, SW_LID, 0),
                                (EV_REL, REL_WHEEL, 1), sync]


def test_absolute_values_defuzzed(system: System) -> None:
    rec = recorded(system)
    dev = InputDev("tablet")
    input_set_abs_params(dev, ABS_X, -1000, 1000, 4, 0)
    register(system, dev)

    def report(value: int) -> list[InputValue]:
        rec.frames.clear()
        input_report_abs(dev, ABS_X, value)
        input_sync(dev)
        return rec.values()[0][:-1] if rec.frames else []

    assert report(100) == [(EV_ABS, ABS_X, 100)]
    assert report(101) == []                      # within fuzz/2: the old value
    assert report(103) == []                      # within fuzz: (3 * 100 + 103) / 4 = 100
    assert report(105) == [(EV_ABS, ABS_X, 102)]  # within 2 fuzz: (102 + 105) / 2 = 102
    assert report(120) == [(EV_ABS, ABS_X, 120)]
    assert report(-100) == [(EV_ABS, ABS_X, -100)]
    assert report(-103) == []                     # (-300 - 103) / 4 truncates to -100
    assert dev.absinfo is not None and dev.absinfo[ABS_X].value == -100


def test_full_frame_flushed_with_a_sync_of_value_1(system: System) -> None:
    rec = recorded(system)
    dev = InputDev("many keys")
    for code in range(KEY_A, KEY_A + 12):
        input_set_capability(dev, EV_KEY, code)
    register(system, dev)
    assert (dev.hint_events_per_packet, dev.max_vals) == (8, 10)
    for code in range(KEY_A, KEY_A + 12):
        input_report_key(dev, code, 1)
    input_sync(dev)
    assert rec.values() == [
        [(EV_KEY, code, 1) for code in range(KEY_A, KEY_A + 8)] + [(EV_SYN, SYN_REPORT, 1)],
        [(EV_KEY, code, 1) for code in range(KEY_A + 8, KEY_A + 12)] + [(EV_SYN, SYN_REPORT, 0)],
    ]


def test_leds_sounds_and_misc_reach_the_device(system: System) -> None:
    rec = recorded(system)
    dev = keyboard()
    input_set_capability(dev, EV_SND, SND_BELL)
    seen: list[tuple[int, int, int]] = []
    dev.event = lambda d, type, code, value: seen.append((type, code, value))
    register(system, dev)
    input_event(dev, EV_LED, LED_CAPSL, 1)
    input_event(dev, EV_LED, LED_CAPSL, 1)         # no change: nowhere
    input_event(dev, EV_SND, SND_BELL, 0)          # sounds: always to the device
    input_event(dev, EV_SND, SND_BELL, 0)
    input_event(dev, EV_MSC, MSC_SCAN, 4)
    input_event(dev, EV_KEY, KEY_A, 1)             # keys: handlers only
    input_event(dev, EV_REP, REP_DELAY, 500)
    input_sync(dev)
    assert seen == [(EV_LED, LED_CAPSL, 1), (EV_SND, SND_BELL, 0), (EV_SND, SND_BELL, 0),
                    (EV_MSC, MSC_SCAN, 4), (EV_REP, REP_DELAY, 500)]
    assert dev.led == 1 << LED_CAPSL and dev.rep == [500, 33]
    assert rec.values() == [[(EV_LED, LED_CAPSL, 1), (EV_SND, SND_BELL, 0),
                             (EV_SND, SND_BELL, 0), (EV_MSC, MSC_SCAN, 4), (EV_KEY, KEY_A, 1),
                             (EV_REP, REP_DELAY, 500), (EV_SYN, SYN_REPORT, 0)]]


def test_events_before_registration_seed_state(system: System) -> None:
    dev = InputDev("lid")
    input_set_capability(dev, EV_SW, SW_LID)
    input_report_switch(dev, SW_LID, 1)
    input_sync(dev)                     # no EV_SYN before registration: the value waits
    assert dev.sw == 1 << SW_LID
    rec = recorded(system)
    register(system, dev)
    input_report_switch(dev, SW_LID, 1)
    input_sync(dev)
    assert rec.values() == [[(EV_SW, SW_LID, 1), (EV_SYN, SYN_REPORT, 0)]]


def test_software_autorepeat_on_virtual_time(system: System) -> None:
    rec = recorded(system)
    dev = keyboard()
    register(system, dev)

    async def hold() -> None:
        input_report_key(dev, KEY_A, 1)
        input_sync(dev)
        await sleep_ns(400_000_000)
        input_report_key(dev, KEY_A, 0)
        input_sync(dev)
        await sleep_ns(1_000_000_000)

    system.run(hold())
    press = [(EV_KEY, KEY_A, 1), (EV_SYN, SYN_REPORT, 0)]
    repeat = [(EV_KEY, KEY_A, 2), (EV_SYN, SYN_REPORT, 1)]
    release = [(EV_KEY, KEY_A, 0), (EV_SYN, SYN_REPORT, 0)]
    assert rec.frames == [(0, press), (250_000_000, repeat), (283_000_000, repeat),
                          (316_000_000, repeat), (349_000_000, repeat),
                          (382_000_000, repeat), (400_000_000, release)]


def test_driver_repeat_rates_switch_software_repeat_off(system: System) -> None:
    rec = recorded(system)
    dev = keyboard()
    dev.rep[REP_DELAY], dev.rep[REP_PERIOD] = 500, 100
    register(system, dev)

    async def hold() -> None:
        input_report_key(dev, KEY_A, 1)
        input_sync(dev)
        await sleep_ns(2_000_000_000)

    system.run(hold())
    assert len(rec.frames) == 1 and dev.rep == [500, 100]


def test_unregister_releases_keys_and_closes(system: System) -> None:
    rec = recorded(system)
    dev = keyboard()
    calls: list[str] = []
    dev.open = lambda d: calls.append("open")
    dev.close = lambda d: calls.append("close")
    register(system, dev)
    input_report_key(dev, KEY_MUTE, 1)
    input_report_key(dev, KEY_A, 1)
    input_sync(dev)
    system.run(input_unregister_device(dev))
    assert rec.values()[-1] == [(EV_KEY, KEY_A, 0), (EV_KEY, KEY_MUTE, 0),
                                (EV_SYN, SYN_REPORT, 1)]
    assert calls == ["open", "close"]
    assert dev.key == 0 and dev.timer is None and not dev.registered
    assert system.vfs.listdir("/sys/class/input") == []
    assert "input" not in system.vfs.listdir("/dev")


def test_handles_open_and_close_the_device(system: System) -> None:
    dev = mouse()
    opened: list[int] = []

    async def open_(d: InputDev) -> int:
        opened.append(d.users)
        return 0

    dev.open = open_
    dev.close = lambda d: opened.append(-1)
    register(system, dev)
    first, second = Recorder("a"), Recorder("bx")
    system.run(input_register_handler(first.handler()))
    system.run(input_register_handler(second.handler()))
    assert opened == [1] and dev.users == 2
    assert [h.name for h in dev.h_list] == ["event0", "a0", "bx0"]
    system.run(input_close_device(first.handles[0]))
    assert opened == [1]
    system.run(input_close_device(second.handles[0]))
    assert opened == [1, -1] and dev.users == 0


def test_open_error_is_returned(system: System) -> None:
    dev = mouse()
    dev.open = lambda d: -Errno.EIO
    register(system, dev)
    rec = Recorder()
    system.run(input_register_handler(rec.handler()))
    assert dev.users == 0 and rec.handles[0].open == 0


def test_handlers_registered_later_and_unregistered(system: System) -> None:
    dev = mouse()
    register(system, dev)
    rec = Recorder()
    handler = rec.handler()
    system.run(input_register_handler(handler))
    assert [h.name for h in dev.h_list] == ["event0", "rec0"]
    assert "H: Handlers=event0 rec0 \n" in system.vfs.read_text("/proc/bus/input/devices")
    system.run(input_unregister_handler(handler))
    assert [h.name for h in dev.h_list] == ["event0"] and handler.h_list == []
    assert system.vfs.read_text("/proc/bus/input/handlers") == \
        "N: Number=0 Name=kbd\nN: Number=1 Name=evdev Minor=64\n"


def test_a_filter_comes_first_and_takes_values(system: System) -> None:
    rec = recorded(system)

    async def connect(handler: InputHandler, dev: InputDev, id: object) -> int:
        handle = InputHandle(dev, handler, "nomotion")
        input_register_handle(handle)
        return await input_open_device(handle)

    flt = InputHandler("nomotion", connect, lambda handle: None,
                       filter=lambda handle, type, code, value: type == EV_REL)
    system.run(input_register_handler(flt))
    dev = mouse()
    register(system, dev)
    assert [h.name for h in dev.h_list] == ["nomotion", "event0", "rec0"]
    input_report_rel(dev, REL_X, 4)
    input_report_key(dev, BTN_LEFT, 1)
    input_sync(dev)
    assert rec.values() == [[(EV_KEY, BTN_LEFT, 1), (EV_SYN, SYN_REPORT, 0)]]
    assert "N: Number=3 Name=nomotion (filter)\n" in \
        system.vfs.read_text("/proc/bus/input/handlers")


def test_one_event_method_per_handler(system: System) -> None:
    handler = InputHandler("both", lambda h, d, i: 0, lambda h: None,
                           events=lambda h, v: None, filter=lambda h, t, c, v: False)
    assert system.run(input_register_handler(handler)) == -Errno.EINVAL
    assert system.log.lines(Level.ERR)[-1] == ("input: input_handler_check_methods: only one "
                                               "event processing method can be defined (both)")


def test_failed_connect_is_logged(system: System) -> None:
    handler = InputHandler("picky", lambda h, d, i: -Errno.ENOMEM, lambda h: None,
                           event=lambda h, t, c, v: None)
    system.run(input_register_handler(handler))
    register(system, mouse())
    assert system.log.lines(Level.ERR)[-1] == \
        "input: failed to attach handler picky to device input0, error: -12"


def test_grab_and_inject(system: System) -> None:
    first, second = Recorder("a"), Recorder("b")
    system.run(input_register_handler(first.handler()))
    system.run(input_register_handler(second.handler()))
    dev = mouse()
    register(system, dev)
    a, b = first.handles[0], second.handles[0]
    assert input_grab_device(a) == 0
    assert input_grab_device(b) == -Errno.EBUSY
    input_inject_event(b, EV_REL, REL_X, 1)          # another handle's: ignored
    input_inject_event(a, EV_REL, REL_X, 2)
    input_inject_event(a, EV_SYN, SYN_REPORT, 0)
    assert first.values() == [[(EV_REL, REL_X, 2), (EV_SYN, SYN_REPORT, 0)]]
    assert second.values() == []
    system.run(input_close_device(a))                # ends the grab
    input_report_rel(dev, REL_X, 3)
    input_sync(dev)
    assert second.values() == [[(EV_REL, REL_X, 3), (EV_SYN, SYN_REPORT, 0)]]


def test_inhibit_through_sysfs(system: System) -> None:
    rec = recorded(system)
    dev = keyboard()
    calls: list[object] = []
    dev.open = lambda d: calls.append("open")
    dev.close = lambda d: calls.append("close")
    dev.event = lambda d, type, code, value: calls.append((type, code, value))
    register(system, dev)
    input_event(dev, EV_LED, LED_NUML, 1)
    input_report_key(dev, KEY_A, 1)
    input_sync(dev)
    calls.clear()
    path = "/sys/class/input/input0/inhibited"
    assert system.run(system.vfs.write(path, "1")) == 1
    assert calls == ["close", (EV_LED, LED_NUML, 0)]
    assert rec.values()[-1] == [(EV_KEY, KEY_A, 0), (EV_SYN, SYN_REPORT, 1)]
    assert system.vfs.read_text(path) == "1\n"
    frames = len(rec.frames)
    input_report_key(dev, KEY_ESC, 1)
    input_sync(dev)
    assert len(rec.frames) == frames
    calls.clear()
    assert system.run(system.vfs.write(path, "0\n")) == 2
    assert calls == ["open", (EV_LED, LED_NUML, 1), (EV_LED, LED_CAPSL, 0),
                     (EV_LED, LED_SCROLLL, 0), (EV_REP, REP_PERIOD, 33),
                     (EV_REP, REP_DELAY, 250)]
    with pytest.raises(OSError) as info:
        system.run(system.vfs.write(path, "maybe"))
    assert info.value.errno == Errno.EINVAL


def test_frame_timestamp_is_the_sync_time(system: System) -> None:
    rec = recorded(system)
    dev = mouse()
    register(system, dev)

    async def move() -> None:
        await sleep_ns(1_000_000_007)
        input_report_rel(dev, REL_X, 1)
        await asyncio.sleep(0)
        input_sync(dev)

    system.run(move())
    assert rec.frames[0][0] == 1_000_000_007
    assert dev.timestamp_ns is None
