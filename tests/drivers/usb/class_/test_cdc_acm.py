"""The cdc_acm module (drivers/usb/class/cdc-acm.c) with the CDC-ACM device model: autoload
and Linux's messages, the ttyACM node and its sysfs files, data both ways through the tty
layer, line coding and control lines as the device sees them, SERIAL_STATE notifications
(TIOCMGET, TIOCMIWAIT, TIOCGICOUNT, hangup on carrier loss), breaks, minor numbering,
unplug while open, and devices whose functional descriptors are missing or broken.
Everything runs on virtual time.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import struct
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from usbemu.core.message import control_transfer
from usbemu.core.urb import PIPE_BULK
from usbemu.emulated.device import DeviceModel
from usbemu.emulated.models.cdc_acm import CdcAcm
from usbemu.emulated.uart import LineError, Parity, StopBits, UartSettings
from usbemu.errors import Errno, ModuleError
from usbemu.kernel.printk import Level
from usbemu.kernel.syscalls import SyncFile
from usbemu.kernel.termios import (
    B0,
    B9600,
    B19200,
    B115200,
    TCOFLUSH,
    TCSANOW,
    TIOCCBRK,
    TIOCGICOUNT,
    TIOCGSERIAL,
    TIOCM_CD,
    TIOCM_CTS,
    TIOCM_DSR,
    TIOCM_DTR,
    TIOCM_RI,
    TIOCM_RTS,
    TIOCMBIC,
    TIOCMGET,
    TIOCMIWAIT,
    TIOCMSET,
    TIOCOUTQ,
    TIOCSBRK,
    TIOCSSERIAL,
    Cflag,
    Lflag,
    SerialIcounter,
    SerialStruct,
    cfmakeraw,
    cfsetspeed,
    tcflush,
    tcgetattr,
    tcsendbreak,
    tcsetattr,
)
from usbemu.spec.cdc import (
    CdcAcmDescriptor,
    CdcCallManagementDescriptor,
    CdcHeaderDescriptor,
    CdcProtocol,
    CdcRequest,
    CdcSubclass,
    CdcUnionDescriptor,
    LineCoding,
)
from usbemu.spec.ch9 import ClassCode, SetupPacket
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
    build_descriptors,
)
from usbemu.system import System
from usbemu.testing.monitor import UrbRecorder

ACM0 = "/dev/ttyACM0"
BANNER = "cdc_acm: USB Abstract Control Model driver for USB modems and ISDN adapters"


@pytest.fixture
def system(hcd_kind: str) -> Iterator[System]:
    with System() as machine:
        machine.add_controller(hcd_kind)
        yield machine


def plug(system: System, path: str = "1-1", **options: Any) -> CdcAcm:
    model = CdcAcm(**options)
    system.plug(model, path)
    system.settle()
    return model


def acm_module(system: System) -> Any:
    """The loaded cdc_acm module's namespace (its globals: acm_minors …)."""
    mod = system.modules.get("cdc_acm")
    assert mod is not None and mod.pymodule is not None
    return mod.pymodule


def raw(system: System, f: SyncFile) -> None:
    """stty raw -echo."""
    termios = system.run(tcgetattr(f.afile))
    cfmakeraw(termios)
    system.run(tcsetattr(f.afile, TCSANOW, termios))


def set_cflag(system: System, f: SyncFile, set: int = 0, clear: int = 0) -> None:
    termios = system.run(tcgetattr(f.afile))
    termios.c_cflag = (int(termios.c_cflag) & ~clear) | set
    system.run(tcsetattr(f.afile, TCSANOW, termios))


def tiocmget(f: SyncFile) -> int:
    buf = bytearray(4)
    f.ioctl(TIOCMGET, buf)
    return int(struct.unpack("<i", buf)[0])


def tiocm(f: SyncFile, request: int, bits: int) -> None:
    f.ioctl(request, bytearray(struct.pack("<i", bits)))


def icount(f: SyncFile) -> SerialIcounter:
    buf = bytearray(SerialIcounter.SIZE)
    f.ioctl(TIOCGICOUNT, buf)
    return SerialIcounter.unpack(buf)


def class_requests(rec: UrbRecorder) -> list[tuple[int, int]]:
    """(bRequest, wValue) of each class request to an interface the driver submitted."""
    setups = [e.setup_packet for e in rec.submitted()]
    return [(s.bRequest, s.wValue) for s in setups if s is not None and s.bmRequestType == 0x21]


def with_control_interface(desc: DeviceDescriptor, **changes: Any) -> DeviceDescriptor:
    """`desc` with `changes` made to interface 0 of its configuration."""
    config = desc.configurations[0]
    control = replace(config.interfaces[0], **changes)
    return replace(desc, configurations=(
        replace(config, interfaces=(control, *config.interfaces[1:])),))


def dtr_rts(model: CdcAcm) -> tuple[bool, bool]:
    """DTR and RTS as the device has them."""
    return model.uart.settings.dtr, model.uart.settings.rts


def lines_from(system: System, first: str) -> list[str]:
    lines = system.log.lines()
    return lines[lines.index(first):]


def errno_of(call: Any) -> int:
    with pytest.raises(OSError) as info:
        call()
    return info.value.errno or 0


# -- binding, messages, nodes and sysfs -----------------------------------------------------------


def test_plugging_the_acm_model_autoloads_cdc_acm_with_linux_messages(system: System) -> None:
    model = plug(system)
    assert system.modules.get("cdc_acm") is not None
    assert lines_from(system, "usb 1-1: SerialNumber: 207F33A4534B")[1:] == [
        "cdc_acm 1-1:1.0: ttyACM0: USB ACM device",
        "usbcore: registered new interface driver cdc_acm",
        BANNER,
    ]
    assert system.vfs.stat(ACM0).rdev == (166, 0)
    assert system.vfs.read_text("/sys/class/tty/ttyACM0/dev") == "166:0\n"
    assert system.vfs.exists("/sys/bus/usb/devices/1-1:1.0/tty/ttyACM0")
    assert system.vfs.readlink("/sys/bus/usb/devices/1-1:1.1/driver") == \
        "../../../../../../bus/usb/drivers/cdc_acm"
    # the probe set 9600 8N1 (the model powers up at 115200)
    assert model.uart.settings.baud == 9600
    assert not system.log.lines(Level.ERR)


def test_the_control_interface_has_bmcapabilities_and_no_country_files(system: System) -> None:
    plug(system)
    intf = "/sys/bus/usb/devices/1-1:1.0"
    assert system.vfs.read_text(f"{intf}/bmCapabilities") == "6"
    assert not system.vfs.exists(f"{intf}/wCountryCodes")
    assert not system.vfs.exists(f"{intf}/iCountryCodeRelDate")
    assert not system.vfs.exists("/sys/bus/usb/devices/1-1:1.1/bmCapabilities")
    system.unplug("1-1")
    system.settle()
    assert not system.vfs.exists(intf)


def test_proc_tty_drivers_lists_acm(system: System) -> None:
    system.modprobe("cdc_acm")
    line = "acm                  /dev/ttyACM   166 0-255 serial\n"
    assert line in system.vfs.read_text("/proc/tty/drivers")
    system.rmmod("cdc_acm")
    assert line not in system.vfs.read_text("/proc/tty/drivers")
    assert system.log.lines()[-1] == "usbcore: deregistering interface driver cdc_acm"


def test_depmod_lists_the_class_entries_the_quirky_devices_and_the_char_major(
        system: System) -> None:
    aliases = [line for line in system.vfs.read_text("/lib/modules/6.12.0/modules.alias")
               .splitlines() if line.endswith(" cdc_acm")]
    assert aliases[0] == "alias char-major-166-* cdc_acm"
    assert [f"alias usb:v*p*d*dc*dsc*dp*ic02isc02ip{proto:02X}in* cdc_acm"
            for proto in range(7)] == [a for a in aliases if "v*p*" in a]
    assert "alias usb:v0572p1321d*dc*dsc*dp*ic*isc*ip*in* cdc_acm" in aliases
    assert "alias usb:v0421p042Dd*dc*dsc*dp*ic02isc02ipFFin* cdc_acm" in aliases
    assert system.modules.lookup("usb:v0483p5740d0200dc02dsc02dp00ic02isc02ip01in00") == \
        ["cdc_acm"]


def test_modprobe_before_the_device_binds_it_when_plugged(system: System) -> None:
    system.modprobe("cdc_acm")
    assert system.log.lines()[-2:] == ["usbcore: registered new interface driver cdc_acm",
                                       BANNER]
    plug(system)
    assert system.log.lines()[-1] == "cdc_acm 1-1:1.0: ttyACM0: USB ACM device"
    intf1 = system.find_device("1-1").interface(1)  # type: ignore[union-attr]
    assert intf1 is not None and intf1.driver is not None and intf1.driver.name == "cdc_acm"


# -- data -----------------------------------------------------------------------------------------


def test_a_megabyte_through_the_loopback_comes_back_intact(system: System) -> None:
    plug(system, loopback=True)
    data = random.Random(7).randbytes(1 << 20)

    async def run() -> bytes:
        f = await system.aopen(ACM0, "rb+")
        termios = await tcgetattr(f)
        cfmakeraw(termios)
        cfsetspeed(termios, 115200)
        await tcsetattr(f, TCSANOW, termios)

        async def writer() -> None:
            view = memoryview(data)
            while view:
                view = view[await f.write(view):]

        async def reader() -> bytes:
            got = bytearray()
            while len(got) < len(data):
                got += await f.read(65536)
            return bytes(got)

        _, got = await asyncio.gather(writer(), reader())
        await f.close()
        return got

    got = system.run(run())
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert not system.log.lines(Level.ERR)


def acm_as(vendor: int, product: int, **options: Any) -> CdcAcm:
    """The CDC-ACM model under another vendor and product id."""
    model = CdcAcm(**options)
    model.descriptors = build_descriptors(replace(model.descriptors.device, idVendor=vendor,
                                                  idProduct=product))
    return model


@pytest.mark.parametrize(("model", "urbs", "size"), [
    (CdcAcm, 16, 128),                                   # ACM_NR of twice wMaxPacketSize
    (lambda: acm_as(0x0ACE, 0x1602), 1, 64),             # ZyDAS: SINGLE_RX_URB
])
def test_the_read_urbs_and_the_write_size(system: System, model: Any, urbs: int,
                                          size: int) -> None:
    system.plug(model(), "1-1")
    system.settle()
    with UrbRecorder(system) as rec, system.open(ACM0, "rb+") as f:
        raw(system, f)
        reads = [e for e in rec.submitted() if e.pipe_type == PIPE_BULK and e.is_in]
        assert (len(reads), {e.length for e in reads}) == (urbs, {size})
        f.write(bytes(3000))
        writes = [e.length for e in rec.submitted() if e.pipe_type == PIPE_BULK
                  and not e.is_in]
        assert writes == [1280, 1280, 440]               # 20 × wMaxPacketSize at most


def test_a_disable_echo_device_starts_without_echo(system: System) -> None:
    system.plug(acm_as(0x0424, 0x274E), "1-1")           # Microchip: DISABLE_ECHO
    system.settle()
    with system.open(ACM0, "rb+") as f:
        assert not system.run(tcgetattr(f.afile)).c_lflag & Lflag.ECHO
    plug(system, "1-2")
    with system.open("/dev/ttyACM1", "rb+") as f:
        assert system.run(tcgetattr(f.afile)).c_lflag & Lflag.ECHO


def test_the_far_end_and_the_host_talk_both_ways(system: System) -> None:
    model = plug(system)
    with system.open(ACM0, "rb+") as f:
        raw(system, f)
        assert f.write(b"AT\r") == 3
        system.sleep(1)
        assert model.uart.received() == b"AT\r"
        model.uart.send(b"OK\r\n")
        assert f.read(100) == b"OK\r\n"


def test_a_slow_reader_throttles_the_device_and_loses_nothing(system: System) -> None:
    model = plug(system)
    data = random.Random(3).randbytes(200_000)
    with system.open(ACM0, "rb+") as f:
        raw(system, f)
        model.uart.send(data)
        system.sleep(100)
        # n_tty holds 4096 bytes: the driver stopped resubmitting its read URBs
        assert model.uart.pending_in > 100_000
        got = bytearray()
        while len(got) < len(data):
            got += f.read(1000)
        assert bytes(got) == data


def test_tcflush_of_the_output_unlinks_the_writes_in_flight(system: System) -> None:
    model = plug(system, buffer_size=64)          # the far end reads nothing: writes stall
    with system.open(ACM0, "rb+") as f:
        raw(system, f)
        assert f.write(bytes(5000)) == 5000
        system.sleep(10)
        outq = bytearray(4)
        f.ioctl(TIOCOUTQ, outq)
        assert int.from_bytes(outq, "little") == 3 * 1280     # three write URBs waiting
        system.run(tcflush(f.afile, TCOFLUSH))
        system.sleep(10)
        f.ioctl(TIOCOUTQ, outq)
        assert int.from_bytes(outq, "little") == 0
        assert model.uart.received() == bytes(1280)


# -- line coding and control lines ----------------------------------------------------------------


LINE_SETTINGS = [
    (B115200 | Cflag.CS8, UartSettings(baud=115200)),
    (B19200 | Cflag.CS7 | Cflag.PARENB | Cflag.CSTOPB,
     UartSettings(baud=19200, data_bits=7, parity=Parity.EVEN, stop_bits=StopBits.TWO)),
    (B9600 | Cflag.CS5 | Cflag.PARENB | Cflag.PARODD,
     UartSettings(baud=9600, data_bits=5, parity=Parity.ODD)),
    (B9600 | Cflag.CS6 | Cflag.PARENB | Cflag.PARODD | Cflag.CMSPAR,
     UartSettings(baud=9600, data_bits=6, parity=Parity.MARK)),
    (B9600 | Cflag.CS8 | Cflag.PARENB | Cflag.CMSPAR,
     UartSettings(baud=9600, data_bits=8, parity=Parity.SPACE)),
]


@pytest.mark.parametrize(("cflag", "expected"), LINE_SETTINGS)
def test_termios_becomes_the_device_line_coding(system: System, cflag: int,
                                                expected: UartSettings) -> None:
    model = plug(system)
    speed_and_shape = Cflag.CBAUD | Cflag.CSIZE | Cflag.PARENB | Cflag.PARODD | \
        Cflag.CMSPAR | Cflag.CSTOPB
    with system.open(ACM0, "rb+") as f:
        set_cflag(system, f, set=cflag, clear=speed_and_shape)
        s = model.uart.settings
        assert (s.baud, s.data_bits, s.parity, s.stop_bits) == \
            (expected.baud, expected.data_bits, expected.parity, expected.stop_bits)
        udev = system.find_device("1-1")
        assert udev is not None
        coding = system.run(control_transfer(udev, SetupPacket(
            0xA1, CdcRequest.GET_LINE_CODING, 0, 0, LineCoding.SIZE)))
        assert LineCoding.from_bytes(coding) == LineCoding(
            expected.baud, expected.stop_bits, expected.parity, expected.data_bits)


def test_a_speed_outside_the_table_is_sent_as_is(system: System) -> None:
    model = plug(system)
    with system.open(ACM0, "rb+") as f:
        termios = system.run(tcgetattr(f.afile))
        cfsetspeed(termios, 250_000)
        system.run(tcsetattr(f.afile, TCSANOW, termios))
        assert model.uart.settings.baud == 250_000


def test_unchanged_settings_send_no_line_coding(system: System) -> None:
    plug(system)
    with system.open(ACM0, "rb+") as f, UrbRecorder(system) as rec:
        set_cflag(system, f, set=Cflag.CLOCAL)
        assert class_requests(rec) == []
        set_cflag(system, f, set=B19200, clear=Cflag.CBAUD)
        assert class_requests(rec) == [(CdcRequest.SET_LINE_CODING, 0)]


def test_open_raises_dtr_and_rts_and_the_last_close_drops_them(system: System) -> None:
    model = plug(system)
    assert dtr_rts(model) == (False, False)
    f = system.open(ACM0, "rb+")
    assert dtr_rts(model) == (True, True)
    assert tiocmget(f) == TIOCM_DTR | TIOCM_RTS | TIOCM_CTS
    g = system.open(ACM0, "rb+")
    f.close()
    assert dtr_rts(model) == (True, True)          # not the last close
    g.close()
    assert dtr_rts(model) == (False, False)


def test_without_hupcl_the_lines_stay_up_after_close(system: System) -> None:
    model = plug(system)
    with system.open(ACM0, "rb+") as f:
        set_cflag(system, f, clear=Cflag.HUPCL)
    assert dtr_rts(model) == (True, True)


def test_tiocmset_and_tiocmbic_drive_dtr_and_rts(system: System) -> None:
    model = plug(system)
    with system.open(ACM0, "rb+") as f:
        tiocm(f, TIOCMBIC, TIOCM_DTR)
        assert dtr_rts(model) == (False, True)
        tiocm(f, TIOCMSET, TIOCM_DTR)
        assert dtr_rts(model) == (True, False)
        assert tiocmget(f) == TIOCM_DTR | TIOCM_CTS
        with UrbRecorder(system) as rec:
            tiocm(f, TIOCMSET, TIOCM_DTR)        # no change: no request
            tiocm(f, TIOCMSET, TIOCM_DTR | TIOCM_RTS)
        assert class_requests(rec) == [(CdcRequest.SET_CONTROL_LINE_STATE, 3)]


def test_b0_drops_dtr_and_a_speed_raises_it_again(system: System) -> None:
    model = plug(system)
    with system.open(ACM0, "rb+") as f:
        set_cflag(system, f, set=B0, clear=Cflag.CBAUD)
        assert dtr_rts(model) == (False, True)
        assert model.uart.settings.baud == 9600      # B0 keeps the last rate
        set_cflag(system, f, set=B19200, clear=Cflag.CBAUD)
        assert dtr_rts(model) == (True, True)
        assert model.uart.settings.baud == 19200


# -- SERIAL_STATE notifications -------------------------------------------------------------------


def test_serial_state_shows_in_tiocmget_and_tiocgicount(system: System) -> None:
    model = plug(system)
    with system.open(ACM0, "rb+") as f:
        model.uart.set_inputs(dcd=True, dsr=True)
        system.sleep(50)
        assert tiocmget(f) & (TIOCM_CD | TIOCM_DSR | TIOCM_RI) == TIOCM_CD | TIOCM_DSR
        model.uart.ri = True
        system.sleep(50)
        assert tiocmget(f) & TIOCM_RI
        counts = icount(f)
        assert (counts.dcd, counts.dsr, counts.rng) == (1, 1, 1)
        model.uart.dsr = False
        system.sleep(50)
        assert not tiocmget(f) & TIOCM_DSR
        assert icount(f).dsr == 2


class FragmentingAcm(CdcAcm):
    """A CDC-ACM device whose notification endpoint has 8-byte packets: each 10-byte
    SERIAL_STATE notification arrives as a full packet and a short one."""

    def __init__(self) -> None:
        super().__init__()
        self._rest = b""
        self.descriptors = build_descriptors(with_control_interface(
            self.descriptors.device,
            endpoints=(EndpointDescriptor.interrupt(0x83, 8, 16),)))

    def _notification_in(self, ep: Any, room: int) -> bytes | None:
        if not self._rest:
            whole = super()._notification_in(ep, room)
            if whole is None:
                return None
            self._rest = whole
        chunk, self._rest = self._rest[:8], self._rest[8:]
        return chunk


def test_a_notification_split_over_two_packets_is_reassembled(system: System) -> None:
    model = FragmentingAcm()
    system.plug(model, "1-1")
    system.settle()
    with system.open(ACM0, "rb+") as f:
        model.uart.set_inputs(dcd=True, dsr=True)
        system.sleep(50)
        assert tiocmget(f) & (TIOCM_CD | TIOCM_DSR) == TIOCM_CD | TIOCM_DSR
        model.uart.dsr = False
        system.sleep(50)
        assert tiocmget(f) & (TIOCM_CD | TIOCM_DSR) == TIOCM_CD


def test_tiocmiwait_wakes_on_the_line_it_waits_for(system: System) -> None:
    model = plug(system)

    async def run() -> tuple[int, float]:
        f = await system.aopen(ACM0, "rb+")
        waiter = asyncio.ensure_future(f.ioctl(TIOCMIWAIT, TIOCM_RI))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        model.uart.dsr = True                 # not what it waits for
        await asyncio.sleep(0.1)
        assert not waiter.done()
        started = system.time()
        model.uart.ri = True
        result = await waiter
        waited = system.time() - started
        await f.close()
        return result, waited

    result, waited = system.run(run())
    assert result == 0 and waited <= 0.032      # the next polls of the interrupt endpoint


def test_tiocmiwait_returns_when_the_device_goes_away(system: System) -> None:
    plug(system)

    async def run() -> int:
        f = await system.aopen(ACM0, "rb+")
        waiter = asyncio.ensure_future(f.ioctl(TIOCMIWAIT, TIOCM_DSR))
        await asyncio.sleep(0.05)
        system.unplug("1-1")
        try:
            await waiter
        except OSError as exc:
            return exc.errno or 0
        finally:
            await f.close()
        return 0

    assert system.run(run()) in (Errno.ENODEV, Errno.EIO)


def test_carrier_loss_hangs_up_a_tty_without_clocal(system: System) -> None:
    model = plug(system)
    model.uart.dcd = True
    with system.open(ACM0, "rb+") as f:
        set_cflag(system, f, clear=Cflag.CLOCAL)
        system.sleep(50)
        model.uart.dcd = False
        system.sleep(50)
        assert f.read(10) == b""
        assert errno_of(lambda: f.write(b"x")) == Errno.EIO


def test_carrier_loss_is_ignored_with_clocal(system: System) -> None:
    model = plug(system)
    model.uart.dcd = True
    with system.open(ACM0, "rb+") as f:
        raw(system, f)
        system.sleep(50)
        model.uart.dcd = False
        system.sleep(50)
        assert f.write(b"x") == 1
        assert not tiocmget(f) & TIOCM_CD


def test_line_errors_are_counted_and_a_break_reads_as_nul(system: System) -> None:
    model = plug(system)
    with system.open(ACM0, "rb+") as f:
        raw(system, f)
        model.uart.send(b"a", error=LineError.PARITY)
        model.uart.send(b"b", error=LineError.FRAMING)
        model.uart.send(b"c", error=LineError.OVERRUN)
        model.uart.send_break()
        system.sleep(100)
        got = f.read(100)
        assert got.replace(b"\0", b"") == b"abc" and got.count(b"\0") == 1
        counts = icount(f)
        assert (counts.parity, counts.frame, counts.overrun, counts.brk) == (1, 1, 1, 1)


def test_a_stalled_bulk_in_endpoint_is_cleared_and_reading_goes_on(system: System) -> None:
    model = plug(system)
    with system.open(ACM0, "rb+") as f, UrbRecorder(system) as rec:
        raw(system, f)
        ep = model.endpoint(0x81)
        assert ep is not None
        ep.halt()
        system.sleep(10)
        model.uart.send(b"after the stall")
        assert f.read(100) == b"after the stall"
    clear = [e.setup_packet for e in rec.submitted() if e.setup_packet is not None
             and e.setup_packet.bmRequestType == 0x02]
    assert [(s.bRequest, s.wValue, s.wIndex) for s in clear] == [(1, 0, 0x81)]


def test_tiocgserial_and_tiocsserial(system: System) -> None:
    plug(system)
    plug(system, "1-2", serial="2")
    with system.open("/dev/ttyACM1", "rb+") as f:
        buf = bytearray(SerialStruct.SIZE)
        f.ioctl(TIOCGSERIAL, buf)
        ss = SerialStruct.unpack(buf)
        assert (ss.line, ss.close_delay, ss.closing_wait) == (1, 50, 3000)
        ss.close_delay = 20
        assert errno_of(lambda: f.ioctl(TIOCSSERIAL, bytearray(ss.pack()))) == Errno.EPERM
        system.tty.privileged = True
        f.ioctl(TIOCSSERIAL, bytearray(ss.pack()))
        f.ioctl(TIOCGSERIAL, buf)
        assert SerialStruct.unpack(buf).close_delay == 20


# -- break ----------------------------------------------------------------------------------------


def test_tcsendbreak_holds_send_break_for_250_ms(system: System) -> None:
    model = plug(system)
    times: list[tuple[float, bool]] = []
    model.uart.on_settings.append(
        lambda old, new: times.append((system.time(), new.break_on))
        if old.break_on != new.break_on else None)
    with system.open(ACM0, "rb+") as f, UrbRecorder(system) as rec:
        system.run(tcsendbreak(f.afile, 0))
    assert class_requests(rec) == [(CdcRequest.SEND_BREAK, 0xFFFF), (CdcRequest.SEND_BREAK, 0)]
    assert [on for _, on in times] == [True, False]
    # 250 ms between the requests, plus the first one's time on the bus (a frame through
    # the EHCI model's TT; none on the in-process controller).
    assert times[1][0] - times[0][0] == pytest.approx(0.25, abs=0.0011)


def test_tiocsbrk_and_tioccbrk_send_break_on_and_off(system: System) -> None:
    model = plug(system)
    with system.open(ACM0, "rb+") as f:
        f.ioctl(TIOCSBRK)
        assert model.uart.settings.break_on
        f.ioctl(TIOCCBRK)
        assert not model.uart.settings.break_on


def test_a_device_without_send_break_refuses_breaks(system: System) -> None:
    model = CdcAcm()
    extra = (HEADER + CALL_MGMT + CdcAcmDescriptor(0x02).to_bytes()
             + CdcUnionDescriptor(0, (1,)).to_bytes())
    model.descriptors = build_descriptors(with_control_interface(model.descriptors.device,
                                                                 extra=extra))
    system.plug(model, "1-1")
    system.settle()
    with system.open(ACM0, "rb+") as f:
        assert errno_of(lambda: f.ioctl(TIOCSBRK)) == Errno.EOPNOTSUPP
        system.run(tcsendbreak(f.afile, 0))        # tcsendbreak says nothing
    assert not any(s.break_on for s in model.uart.changes)


# -- numbering, unplug, rmmod ---------------------------------------------------------------------


def test_two_devices_get_ttyacm0_and_ttyacm1_and_a_freed_minor_is_reused(system: System) -> None:
    plug(system, "1-1")
    plug(system, "1-2", serial="2")
    assert system.vfs.stat("/dev/ttyACM1").rdev == (166, 1)
    assert "cdc_acm 1-2:1.0: ttyACM1: USB ACM device" in system.log.lines()
    system.unplug("1-1")
    system.settle()
    assert not system.vfs.exists(ACM0)
    plug(system, "1-3", serial="3")
    assert "cdc_acm 1-3:1.0: ttyACM0: USB ACM device" in system.log.lines()
    assert sorted(acm_module(system).acm_minors) == [0, 1]


def test_unplug_while_open_hangs_up_and_frees_the_minor_at_the_last_close(
        system: System) -> None:
    plug(system)
    f = system.open(ACM0, "rb+")
    system.unplug("1-1")
    system.settle()
    assert f.read(10) == b""
    assert errno_of(lambda: f.write(b"x")) == Errno.EIO
    assert not system.vfs.exists(ACM0)
    assert 0 in acm_module(system).acm_minors        # held by the open tty
    plug(system, "1-2")
    assert "cdc_acm 1-2:1.0: ttyACM1: USB ACM device" in system.log.lines()
    f.close()
    assert sorted(acm_module(system).acm_minors) == [1]
    system.unplug("1-2")
    system.settle()
    plug(system, "1-3")
    assert "cdc_acm 1-3:1.0: ttyACM0: USB ACM device" in system.log.lines()


def test_rmmod_is_refused_while_a_ttyacm_is_open(system: System) -> None:
    plug(system)
    with system.open(ACM0, "rb+"):
        with pytest.raises(ModuleError) as info:
            system.rmmod("cdc_acm")
        assert str(info.value) == "rmmod: ERROR: Module cdc_acm is in use"
    system.rmmod("cdc_acm")
    assert not system.vfs.exists(ACM0)
    intf = system.find_device("1-1").interface(0)  # type: ignore[union-attr]
    assert intf is not None and intf.driver is None
    assert not system.vfs.exists("/sys/bus/usb/devices/1-1:1.0/bmCapabilities")
    assert not system.vfs.exists("/sys/bus/usb/devices/1-1:1.0/tty")


# -- odd descriptors ------------------------------------------------------------------------------


def odd_acm(extra: bytes, *, control_endpoints: tuple[EndpointDescriptor, ...] | None = None,
            data_interface: bool = True, vendor: int = 0x1234,
            product: int = 0x5678) -> DeviceModel:
    """An ACM function whose control interface carries `extra` as its functional
    descriptors (and `control_endpoints`, default the notification endpoint)."""
    notify = (EndpointDescriptor.interrupt(0x83, 16, 16),)
    interfaces = [InterfaceDescriptor(ClassCode.COMM, CdcSubclass.ACM, CdcProtocol.AT_V25TER,
                                      endpoints=control_endpoints or notify, extra=extra)]
    if data_interface:
        interfaces.append(InterfaceDescriptor(ClassCode.CDC_DATA, 0, 0, endpoints=(
            EndpointDescriptor.bulk(0x01, 64), EndpointDescriptor.bulk(0x81, 64))))
    desc = DeviceDescriptor(idVendor=vendor, idProduct=product, bcdUSB=0x0200,
                            bMaxPacketSize0=64, configurations=(ConfigDescriptor(
                                interfaces=tuple(interfaces), bmAttributes=0x80,
                                bMaxPower=50),))
    return DeviceModel(desc)


HEADER = CdcHeaderDescriptor().to_bytes()
CALL_MGMT = CdcCallManagementDescriptor(0, 1).to_bytes()
ACM_CAPS = CdcAcmDescriptor(0x02).to_bytes()


def plug_odd(system: System, model: DeviceModel) -> None:
    system.log.debug = True
    system.modprobe("cdc_acm")
    system.plug(model, "1-1")
    system.settle()


def test_no_union_falls_back_to_the_call_management_data_interface(system: System) -> None:
    plug_odd(system, odd_acm(HEADER + CALL_MGMT + ACM_CAPS))
    assert "cdc_acm 1-1:1.0: No union descriptor, using call management descriptor" in \
        system.log.lines()
    assert "cdc_acm 1-1:1.0: ttyACM0: USB ACM device" in system.log.lines()
    assert system.vfs.read_text("/sys/bus/usb/devices/1-1:1.0/bmCapabilities") == "2"


def test_no_union_and_no_call_management_gives_up(system: System) -> None:
    plug_odd(system, odd_acm(HEADER + ACM_CAPS))
    assert "cdc_acm 1-1:1.0: No union descriptor, giving up" in system.log.lines()
    assert not system.vfs.exists(ACM0)
    assert not system.log.lines(Level.ERR)


def test_no_functional_descriptors_at_all_fails_the_probe(system: System) -> None:
    plug_odd(system, odd_acm(b""))
    assert system.log.lines(Level.ERR) == [
        "cdc_acm 1-1:1.0: Zero length descriptor references",
        "cdc_acm 1-1:1.0: probe with driver cdc_acm failed with error -22",
    ]
    assert not system.vfs.exists(ACM0)


def test_a_union_naming_no_interface_is_tried_as_one_interface(system: System) -> None:
    union = CdcUnionDescriptor(5, (1,)).to_bytes()
    plug_odd(system, odd_acm(HEADER + CALL_MGMT + ACM_CAPS + union))
    assert "cdc_acm 1-1:1.0: Broken union descriptor, assuming single interface" in \
        system.log.lines()
    # the control interface has no bulk endpoints: usb_find_common_endpoints says -ENXIO
    assert not system.vfs.exists(ACM0)
    assert not system.log.lines(Level.ERR)


def test_one_interface_with_three_endpoints_works_without_a_union(system: System) -> None:
    endpoints = (EndpointDescriptor.interrupt(0x83, 16, 16), EndpointDescriptor.bulk(0x01, 64),
                 EndpointDescriptor.bulk(0x81, 64))
    plug_odd(system, odd_acm(HEADER + ACM_CAPS, control_endpoints=endpoints,
                             data_interface=False))
    assert "cdc_acm 1-1:1.0: No union descriptor, assuming single interface" in \
        system.log.lines()
    assert "cdc_acm 1-1:1.0: ttyACM0: USB ACM device" in system.log.lines()


def test_a_country_descriptor_adds_the_country_files(system: System) -> None:
    country = bytes((8, 0x24, 0x07, 3)) + struct.pack("<HH", 0x4544, 0x5553)
    union = CdcUnionDescriptor(0, (1,)).to_bytes()
    plug_odd(system, odd_acm(HEADER + CALL_MGMT + ACM_CAPS + union + country))
    intf = "/sys/bus/usb/devices/1-1:1.0"
    assert system.vfs.read(f"{intf}/wCountryCodes") == struct.pack("<HH", 0x4544, 0x5553)
    assert system.vfs.read_text(f"{intf}/iCountryCodeRelDate") == "3"


def test_control_and_data_on_one_interface_lose_the_line_capability(system: System) -> None:
    endpoints = (EndpointDescriptor.interrupt(0x83, 16, 16), EndpointDescriptor.bulk(0x01, 64),
                 EndpointDescriptor.bulk(0x81, 64))
    union = CdcUnionDescriptor(0, (0,)).to_bytes()
    plug_odd(system, odd_acm(HEADER + ACM_CAPS + union, control_endpoints=endpoints,
                             data_interface=False))
    assert system.log.lines(Level.WARNING)[-1] == \
        "cdc_acm 1-1:1.0: Control and data interfaces are not separated!"
    assert system.vfs.read_text("/sys/bus/usb/devices/1-1:1.0/bmCapabilities") == "0"


def test_a_no_union_normal_device_is_bound_by_its_interface_numbers(system: System) -> None:
    plug_odd(system, odd_acm(b"", vendor=0x0572, product=0x1321))   # Conexant CX93010
    assert "cdc_acm 1-1:1.0: ttyACM0: USB ACM device" in system.log.lines()
    assert system.vfs.read_text("/sys/bus/usb/devices/1-1:1.0/bmCapabilities") == "0"
    assert not system.log.lines(Level.ERR)


def test_an_ignored_device_is_left_alone(system: System) -> None:
    plug_odd(system, odd_acm(HEADER + CALL_MGMT + ACM_CAPS + CdcUnionDescriptor().to_bytes(),
                             vendor=0x04E8, product=0x685D))    # a Samsung in firmware update
    intf = system.find_device("1-1").interface(0)  # type: ignore[union-attr]
    assert intf is not None and intf.driver is None
    assert not system.vfs.exists(ACM0)


def test_with_every_minor_taken_the_probe_fails_with_enomem(system: System) -> None:
    system.modprobe("cdc_acm")
    minors = acm_module(system).acm_minors
    minors.update(dict.fromkeys(range(256), object()))
    system.plug(CdcAcm(), "1-1")
    system.settle()
    assert system.log.lines(Level.ERR) == [
        "cdc_acm 1-1:1.0: probe with driver cdc_acm failed with error -12"]
    assert len(minors) == 256
    minors.clear()
