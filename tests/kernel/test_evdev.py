"""evdev (usbemu.kernel.evdev) on software input devices: reading whole struct input_event
records (blocking, O_NONBLOCK, -EINVAL for short buffers), poll, timestamps exactly from
virtual time in the client's clock, ring overflow and SYN_DROPPED, write, the EVIOC*
ioctls, grab and revoke, the input device opened by the first client and closed by the
last, unplugging under a blocked reader, and evtest's description of a device.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator

import pytest

from usbemu.errors import Errno
from usbemu.kernel.evdev import (
    CLOCK_BOOTTIME,
    CLOCK_MONOTONIC,
    CLOCK_REALTIME,
    evdev_compute_buffer_size,
    evtest_header,
    read_events,
)
from usbemu.kernel.fs import O_NONBLOCK, O_RDONLY, O_RDWR
from usbemu.kernel.input import (
    InputDev,
    input_event,
    input_register_device,
    input_report_abs,
    input_report_key,
    input_report_rel,
    input_set_abs_params,
    input_set_capability,
    input_sync,
    input_unregister_device,
)
from usbemu.kernel.input_event_codes import (
    ABS_MT_SLOT,
    ABS_X,
    ABS_Y,
    BTN_LEFT,
    BTN_RIGHT,
    BUS_USB,
    EV_ABS,
    EV_KEY,
    EV_LED,
    EV_MSC,
    EV_REL,
    EV_REP,
    EV_SYN,
    EVIOCGABS,
    EVIOCGBIT,
    EVIOCGID,
    EVIOCGKEY,
    EVIOCGKEYCODE,
    EVIOCGLED,
    EVIOCGMTSLOTS,
    EVIOCGNAME,
    EVIOCGPHYS,
    EVIOCGPROP,
    EVIOCGRAB,
    EVIOCGREP,
    EVIOCGSW,
    EVIOCGUNIQ,
    EVIOCGVERSION,
    EVIOCREVOKE,
    EVIOCSABS,
    EVIOCSCLOCKID,
    EVIOCSREP,
    INPUT_PROP_DIRECT,
    KEY_A,
    KEY_CAPSLOCK,
    KEY_MAX,
    LED_CAPSL,
    LED_NUML,
    MSC_SCAN,
    REL_WHEEL,
    REL_X,
    REL_Y,
    SYN_DROPPED,
    SYN_REPORT,
    InputAbsinfo,
    InputEvent,
    InputId,
)
from usbemu.kernel.syscalls import AsyncFile
from usbemu.kernel.vtime import sleep_ns
from usbemu.kernel.wait import Poll
from usbemu.system import System

NODE = "/dev/input/event0"


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        yield machine


def mouse() -> InputDev:
    dev = InputDev("Test Mouse", phys="usb-0000:00:1d.0-1/input0",
                   id=InputId(BUS_USB, 0x046D, 0xC077, 0x0111))
    for code in (BTN_LEFT, BTN_RIGHT):
        input_set_capability(dev, EV_KEY, code)
    for code in (REL_X, REL_Y, REL_WHEEL):
        input_set_capability(dev, EV_REL, code)
    return dev


def keyboard() -> InputDev:
    dev = InputDev("Test Keyboard", id=InputId(BUS_USB, 0x1234, 0x5678, 0x0100))
    for code in (KEY_A, KEY_CAPSLOCK):
        input_set_capability(dev, EV_KEY, code)
    for code in (LED_NUML, LED_CAPSL):
        input_set_capability(dev, EV_LED, code)
    input_set_capability(dev, EV_MSC, MSC_SCAN)
    dev.evbit |= 1 << EV_REP
    return dev


def register(system: System, dev: InputDev) -> InputDev:
    assert system.run(input_register_device(dev)) == 0
    return dev


def move(dev: InputDev, dx: int) -> None:
    input_report_rel(dev, REL_X, dx)
    input_sync(dev)


def ev(sec: int, usec: int, type: int, code: int, value: int) -> InputEvent:
    return InputEvent(sec, usec, type, code, value)


# -- read, poll, time -------------------------------------------------------------------------


def test_read_whole_records_of_complete_frames(system: System) -> None:
    dev = register(system, mouse())

    async def scenario() -> None:
        f = await system.aopen(NODE, O_RDONLY | O_NONBLOCK)
        with pytest.raises(OSError) as info:
            await f.read(24)
        assert info.value.errno == Errno.EAGAIN
        await sleep_ns(1_010_000_000)
        input_report_rel(dev, REL_X, 10)
        input_report_key(dev, BTN_LEFT, 1)
        assert await f.poll(Poll.IN, 0) == 0          # the frame is not complete yet
        input_sync(dev)
        assert await f.poll(Poll.IN | Poll.OUT, 0) == Poll.IN | Poll.OUT
        with pytest.raises(OSError) as info:
            await f.read(23)
        assert info.value.errno == Errno.EINVAL
        assert await f.read(0) == b""
        data = await f.read(60)                        # two whole records fit
        assert len(data) == 48
        assert [str(e) for e in await read_events(f)] == [
            "Event: time 1.010000, -------------- SYN_REPORT ------------"]
        assert InputEvent.unpack(data) == ev(1, 10_000, EV_REL, REL_X, 10)
        assert InputEvent.unpack(data, 24) == ev(1, 10_000, EV_KEY, BTN_LEFT, 1)
        await f.close()

    system.run(scenario())


def test_blocking_read_wakes_at_the_frame(system: System) -> None:
    dev = register(system, mouse())

    async def scenario() -> list[InputEvent]:
        f = await system.aopen(NODE)
        reader = asyncio.ensure_future(read_events(f))
        await sleep_ns(2_500_000)
        assert not reader.done()
        input_report_rel(dev, REL_Y, -1)
        await asyncio.sleep(0)
        assert not reader.done()                       # no SYN_REPORT yet
        input_sync(dev)
        events = await reader
        await f.close()
        return events

    assert system.run(scenario()) == [ev(0, 2500, EV_REL, REL_Y, -1),
                                      ev(0, 2500, EV_SYN, SYN_REPORT, 0)]


def test_clocks(system: System) -> None:
    dev = register(system, mouse())
    system.input.realtime_offset_ns = 1_700_000_000_000_000_000

    async def scenario() -> list[list[InputEvent]]:
        files = [await system.aopen(NODE) for _ in range(3)]
        assert await files[1].ioctl(EVIOCSCLOCKID, struct.pack("<i", CLOCK_MONOTONIC)) == 0
        assert await files[2].ioctl(EVIOCSCLOCKID, struct.pack("<i", CLOCK_BOOTTIME)) == 0
        with pytest.raises(OSError) as info:
            await files[0].ioctl(EVIOCSCLOCKID, struct.pack("<i", 4))
        assert info.value.errno == Errno.EINVAL
        with pytest.raises(OSError) as info:
            await files[0].ioctl(EVIOCSCLOCKID, 1)      # not a pointer to an int
        assert info.value.errno == Errno.EFAULT
        await sleep_ns(3_000_001_999)
        move(dev, 1)
        return [(await read_events(f))[:1] for f in files]

    assert system.run(scenario()) == [
        [ev(1_700_000_003, 1, EV_REL, REL_X, 1)],     # CLOCK_REALTIME, Linux's default
        [ev(3, 1, EV_REL, REL_X, 1)],
        [ev(3, 1, EV_REL, REL_X, 1)]]


def test_clock_change_drops_queued_events(system: System) -> None:
    dev = register(system, mouse())

    async def scenario() -> list[InputEvent]:
        f = await system.aopen(NODE)
        await sleep_ns(5_000)
        move(dev, 1)
        await sleep_ns(5_000)
        await f.ioctl(EVIOCSCLOCKID, struct.pack("<i", CLOCK_MONOTONIC))
        await f.ioctl(EVIOCSCLOCKID, struct.pack("<i", CLOCK_MONOTONIC))   # no change
        await f.ioctl(EVIOCSCLOCKID, struct.pack("<i", CLOCK_REALTIME))
        return await read_events(f)

    # the queue is cut to a SYN_DROPPED, which is no frame: it reads once another ends
    async def then_move() -> list[InputEvent]:
        events = asyncio.ensure_future(scenario())
        await sleep_ns(20_000)
        move(dev, 2)
        return await events

    assert system.run(then_move()) == [ev(0, 10, EV_SYN, SYN_DROPPED, 0),
                                       ev(0, 20, EV_REL, REL_X, 2),
                                       ev(0, 20, EV_SYN, SYN_REPORT, 0)]


def test_ring_overflow_keeps_syn_dropped_and_the_newest(system: System) -> None:
    dev = register(system, mouse())
    assert evdev_compute_buffer_size(dev) == 128      # 8 frames of 11 events, rounded up

    async def scenario() -> list[InputEvent]:
        f = await system.aopen(NODE)
        for frame in range(1, 66):
            await sleep_ns(1_000_000)
            move(dev, frame)
        events = await read_events(f, 200)
        await f.close()
        return events

    # frame 64's SYN_REPORT fills the ring: it keeps a SYN_DROPPED (stamped as that
    # event) and the event; frame 65 follows
    assert system.run(scenario()) == [ev(0, 64_000, EV_SYN, SYN_DROPPED, 0),
                                      ev(0, 64_000, EV_SYN, SYN_REPORT, 0),
                                      ev(0, 65_000, EV_REL, REL_X, 65),
                                      ev(0, 65_000, EV_SYN, SYN_REPORT, 0)]


def test_buffer_sizes(system: System) -> None:
    kbd = register(system, keyboard())
    tablet = InputDev("tablet")
    input_set_abs_params(tablet, ABS_X, 0, 100, 0, 0)
    input_set_abs_params(tablet, ABS_Y, 0, 100, 0, 0)
    register(system, tablet)
    assert evdev_compute_buffer_size(kbd) == 64
    assert tablet.hint_events_per_packet == 10
    assert evdev_compute_buffer_size(tablet) == 128


# -- open, close, unplug ----------------------------------------------------------------------


def test_first_open_opens_last_close_closes(system: System) -> None:
    dev = mouse()
    calls: list[str] = []

    async def open_(d: InputDev) -> int:
        calls.append("open")
        return 0

    dev.open = open_
    dev.close = lambda d: calls.append("close")
    register(system, dev)

    async def scenario() -> None:
        first = await system.aopen(NODE)
        second = await system.aopen(NODE)
        assert calls == ["open"] and dev.users == 1
        await first.close()
        assert calls == ["open"]
        await second.close()
        assert calls == ["open", "close"] and dev.users == 0

    system.run(scenario())


def test_open_failure(system: System) -> None:
    dev = mouse()
    dev.open = lambda d: -Errno.EIO
    register(system, dev)
    with pytest.raises(OSError) as info:
        system.open(NODE)
    assert info.value.errno == Errno.EIO
    evdev = dev.h_list[0].private
    assert evdev.open == 0 and evdev.client_list == [] and dev.users == 0


def test_unplug_under_a_blocked_reader(system: System) -> None:
    dev = mouse()
    calls: list[str] = []
    dev.close = lambda d: calls.append("close")
    register(system, dev)

    async def scenario() -> None:
        other = await system.aopen(NODE)
        move(dev, 1)
        f = await system.aopen(NODE, O_RDWR)
        reader = asyncio.ensure_future(f.read(24 * 4))
        await asyncio.sleep(0)
        await input_unregister_device(dev)
        with pytest.raises(OSError) as info:
            await reader
        assert info.value.errno == Errno.ENODEV
        assert calls == ["close"]
        # the other reader's frame is still queued: a dead device reads nothing
        with pytest.raises(OSError) as info:
            await read_events(other)
        assert info.value.errno == Errno.ENODEV
        assert await f.poll(Poll.IN, 0) == Poll.ERR | Poll.HUP
        for call in (f.write(bytes(24)), f.ioctl(EVIOCGVERSION, bytearray(4))):
            with pytest.raises(OSError) as info:
                await call
            assert info.value.errno == Errno.ENODEV
        await f.close()
        await other.close()
        assert calls == ["close"]

    system.run(scenario())
    assert "input" not in system.vfs.listdir("/dev")
    with pytest.raises(OSError) as info:
        system.open(NODE)
    assert info.value.errno == Errno.ENOENT


def test_evdev_itself_fails_a_dead_device(system: System) -> None:
    """The evdev operations give -ENODEV on their own once the device is gone (evdev's
    exist flag), whatever the system calls' revocation does."""
    dev = register(system, mouse())

    async def scenario() -> None:
        f = await system.aopen(NODE, O_RDWR)
        await input_unregister_device(dev)
        file = f.file
        file.gone = False                               # as if nothing revoked it
        with pytest.raises(OSError) as info:
            await f.read(24)
        assert info.value.errno == Errno.ENODEV
        assert await f.poll(Poll.IN | Poll.OUT, 0) == Poll.ERR | Poll.HUP
        for call in (f.write(bytes(24)), f.ioctl(EVIOCGVERSION, bytearray(4))):
            with pytest.raises(OSError) as info:
                await call
            assert info.value.errno == Errno.ENODEV
        await f.close()

    system.run(scenario())


# -- write and ioctls -------------------------------------------------------------------------


def test_write_injects_events(system: System) -> None:
    dev = keyboard()
    leds: list[tuple[int, int, int]] = []
    dev.event = lambda d, type, code, value: leds.append((type, code, value))
    register(system, dev)

    async def scenario() -> None:
        f = await system.aopen(NODE, O_RDWR)
        frame = (InputEvent(0, 0, EV_LED, LED_CAPSL, 1).pack()
                 + InputEvent(0, 0, EV_SYN, SYN_REPORT, 0).pack())
        assert await f.write(frame + b"\x01\x02") == 48
        assert leds == [(EV_LED, LED_CAPSL, 1)] and dev.led == 1 << LED_CAPSL
        assert [e[2:] for e in await read_events(f)] == [(EV_LED, LED_CAPSL, 1),
                                                        (EV_SYN, SYN_REPORT, 0)]
        with pytest.raises(OSError) as info:
            await f.write(b"\0" * 10)
        assert info.value.errno == Errno.EINVAL
        assert await f.write(b"") == 0
        assert await f.write(frame * 100) == 4080      # at most 4096 bytes a call
        await f.close()

    system.run(scenario())


def test_identity_ioctls(system: System) -> None:
    dev = mouse()
    dev.propbit = 1 << INPUT_PROP_DIRECT
    register(system, dev)
    with system.open(NODE) as f:
        version = bytearray(4)
        assert f.ioctl(EVIOCGVERSION, version) == 0 and version == b"\x01\x00\x01\x00"
        ident = bytearray(8)
        assert f.ioctl(EVIOCGID, ident) == 0
        assert InputId.unpack(ident) == InputId(BUS_USB, 0x046D, 0xC077, 0x0111)
        name = bytearray(256)
        assert f.ioctl(EVIOCGNAME(256), name) == 11 and name[:11] == b"Test Mouse\0"
        short = bytearray(4)
        assert f.ioctl(EVIOCGNAME(4), short) == 4 and short == b"Test"
        phys = bytearray(64)
        assert f.ioctl(EVIOCGPHYS(64), phys) == 26 and phys.startswith(b"usb-0000:00:1d.0-1")
        with pytest.raises(OSError) as info:
            f.ioctl(EVIOCGUNIQ(64), bytearray(64))
        assert info.value.errno == Errno.ENOENT
        with pytest.raises(OSError) as info:
            f.ioctl(EVIOCGNAME(256), bytearray(8))      # shorter than it claims
        assert info.value.errno == Errno.EFAULT
        props = bytearray(8)
        assert f.ioctl(EVIOCGPROP(8), props) == 8 and props[0] == 1 << INPUT_PROP_DIRECT
        types = bytearray(8)
        assert f.ioctl(EVIOCGBIT(0, 8), types) == 8
        assert int.from_bytes(types, "little") == 0b111
        keys = bytearray(96)
        assert f.ioctl(EVIOCGBIT(EV_KEY, KEY_MAX), keys) == 96
        assert int.from_bytes(keys, "little") == 1 << BTN_LEFT | 1 << BTN_RIGHT
        assert f.ioctl(EVIOCGBIT(EV_KEY, 10), keys) == 10
        for cmd, arg in ((EVIOCGBIT(6, 8), bytearray(8)),              # no such bitmap
                         (EVIOCGABS(ABS_X), bytearray(24)),            # no axes
                         (EVIOCGMTSLOTS(8), bytearray(8)),             # no slots
                         (EVIOCGKEYCODE, bytearray(8)),                # keymaps: not here
                         (0x80044601, bytearray(4))):                  # not evdev's
            with pytest.raises(OSError) as info:
                f.ioctl(cmd, arg)
            assert info.value.errno == Errno.EINVAL, hex(cmd)
        with pytest.raises(OSError) as info:
            f.ioctl(EVIOCGREP, bytearray(8))
        assert info.value.errno == Errno.ENOSYS


def test_state_ioctls_flush_queued_events_of_their_type(system: System) -> None:
    dev = register(system, keyboard())

    async def scenario() -> None:
        f = await system.aopen(NODE, O_RDWR)
        input_report_key(dev, KEY_A, 1)
        input_sync(dev)
        input_event(dev, EV_LED, LED_NUML, 1)
        input_sync(dev)
        keys = bytearray(96)
        assert await f.ioctl(EVIOCGKEY(96), keys) == 96
        assert int.from_bytes(keys, "little") == 1 << KEY_A
        # the key event is gone; a SYN_REPORT leading the queue is kept, as Linux keeps it
        assert [e[2:] for e in await read_events(f)] == [(EV_SYN, SYN_REPORT, 0),
                                                        (EV_LED, LED_NUML, 1),
                                                        (EV_SYN, SYN_REPORT, 0)]
        leds = bytearray(8)
        assert await f.ioctl(EVIOCGLED(8), leds) == 8 and leds[0] == 1 << LED_NUML
        switches = bytearray(1)
        assert await f.ioctl(EVIOCGSW(1), switches) == 1 and switches == b"\0"
        rep = bytearray(8)
        assert await f.ioctl(EVIOCGREP, rep) == 0 and struct.unpack("<II", rep) == (250, 33)
        assert await f.ioctl(EVIOCSREP, struct.pack("<II", 500, 50)) == 0
        assert dev.rep == [500, 50]
        await f.close()

    system.run(scenario())


def test_absolute_axis_ioctls(system: System) -> None:
    dev = InputDev("tablet")
    input_set_abs_params(dev, ABS_X, 0, 32767, 0, 0)
    input_set_capability(dev, EV_ABS, ABS_MT_SLOT)
    register(system, dev)
    input_report_abs(dev, ABS_X, 1234)
    input_sync(dev)
    with system.open(NODE, "rb+") as f:
        info = bytearray(24)
        assert f.ioctl(EVIOCGABS(ABS_X), info) == 0
        assert InputAbsinfo.unpack(info) == InputAbsinfo(1234, 0, 32767)
        assert f.ioctl(EVIOCSABS(ABS_X), InputAbsinfo(7, -5, 5, 1, 2, 3).pack()) == 0
        assert dev.absinfo is not None and dev.absinfo[ABS_X] == InputAbsinfo(7, -5, 5, 1, 2, 3)
        short = (EVIOCSABS(ABS_X) & ~(0x3FFF << 16)) | 20 << 16
        assert f.ioctl(short, InputAbsinfo(1, 2, 3, 4, 5, 6).pack()[:20]) == 0
        assert dev.absinfo[ABS_X] == InputAbsinfo(1, 2, 3, 4, 5, 0)
        with pytest.raises(OSError) as err:
            f.ioctl(EVIOCSABS(ABS_MT_SLOT), bytes(24))
        assert err.value.errno == Errno.EINVAL
        with pytest.raises(OSError) as err:
            f.ioctl(EVIOCSABS(ABS_X), 0)
        assert err.value.errno == Errno.EFAULT


def test_grab(system: System) -> None:
    dev = register(system, mouse())

    async def scenario() -> None:
        a = await system.aopen(NODE, O_RDONLY | O_NONBLOCK)
        b = await system.aopen(NODE, O_RDONLY | O_NONBLOCK)
        assert await a.ioctl(EVIOCGRAB, 1) == 0
        for call in (b.ioctl(EVIOCGRAB, 1), a.ioctl(EVIOCGRAB, 1)):
            with pytest.raises(OSError) as info:
                await call
            assert info.value.errno == Errno.EBUSY
        with pytest.raises(OSError) as info:
            await b.ioctl(EVIOCGRAB, 0)                  # b holds no grab
        assert info.value.errno == Errno.EINVAL
        move(dev, 1)
        assert len(await read_events(a)) == 2
        await _assert_empty(b)
        assert await a.ioctl(EVIOCGRAB, 0) == 0
        move(dev, 2)
        assert len(await read_events(a)) == len(await read_events(b)) == 2
        await a.ioctl(EVIOCGRAB, 1)
        await a.close()                                  # a close ends a grab
        move(dev, 3)
        assert len(await read_events(b)) == 2
        await b.close()

    system.run(scenario())


async def _assert_empty(f: AsyncFile) -> None:
    with pytest.raises(OSError) as info:
        await f.read(24)
    assert info.value.errno == Errno.EAGAIN


def test_revoke(system: System) -> None:
    dev = register(system, mouse())

    async def scenario() -> None:
        a = await system.aopen(NODE)
        b = await system.aopen(NODE)
        with pytest.raises(OSError) as info:
            await a.ioctl(EVIOCREVOKE, 1)
        assert info.value.errno == Errno.EINVAL
        await a.ioctl(EVIOCGRAB, 1)
        reader = asyncio.ensure_future(a.read(24))
        await asyncio.sleep(0)
        assert await a.ioctl(EVIOCREVOKE, 0) == 0
        with pytest.raises(OSError) as info:
            await reader
        assert info.value.errno == Errno.ENODEV
        assert await a.poll(Poll.IN, 0) == Poll.ERR | Poll.HUP
        move(dev, 1)                                    # the grab went with the revoke
        assert len(await read_events(b)) == 2
        await a.close()
        await b.close()

    system.run(scenario())


# -- evtest -----------------------------------------------------------------------------------


def test_evtest_header_of_a_keyboard(system: System) -> None:
    dev = register(system, keyboard())
    input_event(dev, EV_LED, LED_CAPSL, 1)
    input_sync(dev)
    with system.open(NODE) as f:
        text = system.run(evtest_header(f.afile))
    assert text == (
        "Input driver version is 1.0.1\n"
        "Input device ID: bus 0x3 vendor 0x1234 product 0x5678 version 0x100\n"
        'Input device name: "Test Keyboard"\n'
        "Supported events:\n"
        "  Event type 0 (EV_SYN)\n"
        "  Event type 1 (EV_KEY)\n"
        "    Event code 30 (KEY_A)\n"
        "    Event code 58 (KEY_CAPSLOCK)\n"
        "  Event type 4 (EV_MSC)\n"
        "    Event code 4 (MSC_SCAN)\n"
        "  Event type 17 (EV_LED)\n"
        "    Event code 0 (LED_NUML) state 0\n"
        "    Event code 1 (LED_CAPSL) state 1\n"
        "Key repeat handling:\n"
        "  Repeat type 20 (EV_REP)\n"
        "    Repeat code 0 (REP_DELAY)\n"
        "      Value    250\n"
        "    Repeat code 1 (REP_PERIOD)\n"
        "      Value     33\n"
        "Properties:\n"
        "Testing ... (interrupt to exit)\n")


def test_evtest_header_of_a_tablet(system: System) -> None:
    dev = InputDev("Tablet", id=InputId(BUS_USB, 0x0627, 0x0001, 0x0001))
    dev.propbit = 1 << INPUT_PROP_DIRECT
    input_set_capability(dev, EV_KEY, BTN_LEFT)
    input_set_abs_params(dev, ABS_X, 0, 32767, 0, 0)
    input_set_abs_params(dev, ABS_Y, 0, 32767, 0, 4)
    register(system, dev)
    with system.open(NODE) as f:
        text = system.run(evtest_header(f.afile))
    assert text.split("Supported events:\n")[1] == (
        "  Event type 0 (EV_SYN)\n"
        "  Event type 1 (EV_KEY)\n"
        "    Event code 272 (BTN_LEFT)\n"
        "  Event type 3 (EV_ABS)\n"
        "    Event code 0 (ABS_X)\n"
        "      Value      0\n"
        "      Min        0\n"
        "      Max    32767\n"
        "    Event code 1 (ABS_Y)\n"
        "      Value      0\n"
        "      Min        0\n"
        "      Max    32767\n"
        "      Flat       4\n"
        "Properties:\n"
        "  Property type 1 (INPUT_PROP_DIRECT)\n"
        "Testing ... (interrupt to exit)\n")
