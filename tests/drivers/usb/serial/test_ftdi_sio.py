"""The ftdi_sio driver (drivers/usb/serial/ftdi_sio.c) against the FT232R and FT2232H chip
models: autoload and Linux's messages, one converter per FT2232H channel, the divisors of
standard and custom speeds, line settings, flow control and modem lines as the chip sees
them, modem status and line errors as the tty sees them, the two status bytes of every
packet stripped without losing a byte, the sysfs files, break, drain, TIOCGSERIAL, the
id-table quirks, unplug while open and module references.  Everything runs on virtual time.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, ClassVar

import pytest

from usbemu.drivers.usb.serial.ftdi_sio import (
    ASYNC_LOW_LATENCY,
    ASYNC_SPD_CUST,
    FtdiChipType,
    ftdi_232am_baud_to_divisor,
    ftdi_232bm_baud_to_divisor,
    ftdi_2232h_baud_to_divisor,
    ftdi_set_data_value,
    usb_translate_errors,
)
from usbemu.drivers.usb.serial.usb_serial import UsbSerial
from usbemu.emulated.models.ftdi import FT232R, FT2232H, FtdiChip, FtdiPort
from usbemu.emulated.uart import FlowControl, LineError, Parity, StopBits
from usbemu.errors import Errno, ModuleError
from usbemu.kernel.printk import Level
from usbemu.kernel.syscalls import SyncFile
from usbemu.kernel.termios import (
    B0,
    B9600,
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
    TIOCMBIS,
    TIOCMGET,
    TIOCMIWAIT,
    TIOCMSET,
    TIOCSBRK,
    TIOCSERGETLSR,
    TIOCSSERIAL,
    VSTART,
    VSTOP,
    Cflag,
    Iflag,
    Ktermios,
    SerialIcounter,
    SerialStruct,
    cfmakeraw,
    cfsetspeed,
    tcdrain,
    tcgetattr,
    tcsetattr,
)
from usbemu.spec.descriptors import ConfigDescriptor, EndpointDescriptor, InterfaceDescriptor
from usbemu.system import System
from usbemu.testing.monitor import UrbRecorder

PORT0 = "/sys/bus/usb-serial/devices/ttyUSB0"


@pytest.fixture
def system(hcd_kind: str) -> Iterator[System]:
    with System() as machine:
        machine.add_controller(hcd_kind)
        yield machine


def plugged(system: System, model: FT232R | FT2232H, path: str = "1-1") -> None:
    system.plug(model, path)
    system.settle()


def raw(system: System, f: SyncFile, change: Callable[[Ktermios], None] | None = None) -> None:
    """stty raw -echo (and `change`) on an open tty."""
    termios = system.run(tcgetattr(f.afile))
    cfmakeraw(termios)
    if change is not None:
        change(termios)
    system.run(tcsetattr(f.afile, TCSANOW, termios))


def settings(system: System, f: SyncFile, change: Callable[[Ktermios], None]) -> Ktermios:
    """tcsetattr with `change` applied to the current settings; what the tty then has."""
    termios = system.run(tcgetattr(f.afile))
    change(termios)
    system.run(tcsetattr(f.afile, TCSANOW, termios))
    return system.run(tcgetattr(f.afile))


def flow_of(uart: FtdiPort) -> FlowControl:
    """The flow control the chip was last told (read afresh each call)."""
    return uart.flow


def int_arg(value: int = 0) -> bytearray:
    return bytearray(struct.pack("<i", value))


def tiocmget(f: SyncFile) -> int:
    buf = int_arg()
    f.ioctl(TIOCMGET, buf)
    return int(struct.unpack("<i", buf)[0])


def icount(f: SyncFile) -> SerialIcounter:
    buf = bytearray(SerialIcounter.SIZE)
    f.ioctl(TIOCGICOUNT, buf)
    return SerialIcounter.unpack(buf)


def errno_of(call: Callable[[], object]) -> int:
    with pytest.raises(OSError) as info:
        call()
    return info.value.errno or 0


def serial_of(system: System, interface: int = 0) -> UsbSerial:
    dev = system.find_device("1-1")
    assert dev is not None
    intf = dev.interface(interface)
    assert intf is not None and isinstance(intf.driver_data, UsbSerial)
    return intf.driver_data


def lines_from(system: System, first: str) -> list[str]:
    lines = system.log.lines()
    return lines[lines.index(first):]


def read_exactly(system: System, f: SyncFile, count: int) -> bytes:
    async def go() -> bytes:
        got = bytearray()
        while len(got) < count:
            got += await f.afile.read(count - len(got))
        return bytes(got)

    return system.run(go())


# -- binding and messages -------------------------------------------------------------------------


def test_plugging_an_ft232r_autoloads_usbserial_and_ftdi_sio(system: System) -> None:
    model = FT232R()
    plugged(system, model)
    assert lines_from(system, "usbcore: registered new interface driver usbserial_generic") \
        == [
        "usbcore: registered new interface driver usbserial_generic",
        "usbserial: USB Serial support registered for generic",
        "usbcore: registered new interface driver ftdi_sio",
        "usbserial: USB Serial support registered for FTDI USB Serial Device",
        "ftdi_sio 1-1:1.0: FTDI USB Serial Device converter detected",
        "usb 1-1: Detected FT232R",
        "usb 1-1: FTDI USB Serial Device converter now attached to ttyUSB0",
    ]
    assert {m.name for m in system.modules.loaded} == {"usbserial", "ftdi_sio"}
    assert system.vfs.stat("/dev/ttyUSB0").rdev == (188, 0)
    assert system.vfs.read_text("/proc/tty/driver/usbserial") == (
        "usbserinfo:1.0 driver:2.0\n"
        '0: module:ftdi_sio name:"FTDI USB Serial Device" vendor:0403 product:6001 '
        "num_ports:1 port:0 path:usb-0000:00:1d.0-1\n")
    assert model.serial_port(0).latency_timer == 16
    port = serial_of(system).port[0]
    assert (port.bulk_in_size, port.bulk_out_size) == (512, 256)   # the URB sizes
    assert not system.log.lines(Level.WARNING)


def test_modprobe_ftdi_sio_loads_usbserial_first(system: System) -> None:
    system.modprobe("ftdi_sio")
    assert system.log.lines()[-4:] == [
        "usbcore: registered new interface driver usbserial_generic",
        "usbserial: USB Serial support registered for generic",
        "usbcore: registered new interface driver ftdi_sio",
        "usbserial: USB Serial support registered for FTDI USB Serial Device",
    ]
    assert [m.name for m in system.modules.loaded] == ["ftdi_sio", "usbserial"]
    with pytest.raises(ModuleError) as info:
        system.rmmod("usbserial")
    assert info.value.errno == Errno.EBUSY
    system.rmmod("ftdi_sio")
    assert system.log.lines()[-2:] == [
        "usbserial: USB Serial deregistering driver FTDI USB Serial Device",
        "usbcore: deregistering interface driver ftdi_sio",
    ]
    system.rmmod("usbserial")


def test_depmod_lists_the_ftdi_vid_entries_of_linuxs_table(system: System) -> None:
    aliases = [line for line in system.depmod().splitlines() if line.endswith(" ftdi_sio")]
    assert len(aliases) == 307
    for pid in ("6001", "6006", "6010", "6011", "6014", "6015", "8372", "6040", "6048"):
        assert f"alias usb:v0403p{pid}d*dc*dsc*dp*ic*isc*ip*in* ftdi_sio" in aliases
    assert "alias usb:v0403p8A98d*dc*dsc*dp*ic*isc*ip*in01* ftdi_sio" in aliases
    assert aliases[0] == "alias usb:v0403p0000d*dc*dsc*dp*ic*isc*ip*in* ftdi_sio"


def test_the_ft2232h_is_two_converters_on_its_two_interfaces(system: System) -> None:
    model = FT2232H()
    plugged(system, model)
    lines = system.log.lines()
    for n in range(2):
        assert f"ftdi_sio 1-1:1.{n}: FTDI USB Serial Device converter detected" in lines
        assert f"usb 1-1: FTDI USB Serial Device converter now attached to ttyUSB{n}" in lines
        assert system.vfs.readlink(f"/sys/bus/usb-serial/devices/ttyUSB{n}") == \
            f"../../../devices/pci0000:00/0000:00:1d.0/usb1/1-1/1-1:1.{n}/ttyUSB{n}"
    assert lines.count("usb 1-1: Detected FT2232H") == 2
    assert [serial_of(system, n).port[0].private.max_packet_size for n in range(2)] == \
        [512, 512]
    # every request names its channel: channel B's speed lands on the second UART
    with system.open("/dev/ttyUSB1", "rb+") as f:
        settings(system, f, lambda t: cfsetspeed(t, 115200))
    assert model.serial_port(1).baud == pytest.approx(115200, rel=0.03)
    assert model.serial_port(0).baud == 9600


def vendor_requests(rec: UrbRecorder) -> list[tuple[int, int, int, int, int]]:
    """(bmRequestType, bRequest, wValue, wIndex, wLength) of each vendor request sent."""
    found = []
    for event in rec.submitted():
        s = event.setup_packet
        if s is not None and s.bmRequestType & 0x60 == 0x40:
            found.append((s.bmRequestType, s.bRequest, s.wValue, s.wIndex, s.wLength))
    return found


def test_the_requests_of_probe_open_set_termios_and_close(system: System) -> None:
    with UrbRecorder(system) as rec:
        plugged(system, FT232R())
        # port_probe: read the latency timer, write it back
        assert vendor_requests(rec) == [(0xC0, 0x0A, 0, 0, 1), (0x40, 0x09, 16, 0, 0)]
        rec.events.clear()
        f = system.open("/dev/ttyUSB0", "rb+")
        # open: reset, 8N1, 9600 baud, XON/XOFF (^S/^Q) of tty_std_termios, DTR and RTS up
        assert vendor_requests(rec) == [
            (0x40, 0x00, 0x0000, 0, 0), (0x40, 0x04, 0x0008, 0, 0),
            (0x40, 0x03, 0x4138, 0, 0), (0x40, 0x02, 0x1311, 0x0400, 0),
            (0x40, 0x01, 0x0303, 0, 0)]
        rec.events.clear()
        settings(system, f, lambda t: setattr(t, "c_iflag", t.c_iflag & ~Iflag.IXON))
        assert vendor_requests(rec) == [(0x40, 0x02, 0, 0, 0)]   # flow control only
        rec.events.clear()
        settings(system, f, lambda t: cfsetspeed(t, 115200))
        assert vendor_requests(rec) == [(0x40, 0x03, 0x001A, 0, 0), (0x40, 0x02, 0, 0, 0)]
        rec.events.clear()
        f.close()
        # wait until sent (TEMT), then HUPCL: flow control off, DTR and RTS down
        assert vendor_requests(rec) == [(0xC0, 0x05, 0, 0, 2), (0x40, 0x02, 0, 0, 0),
                                        (0x40, 0x01, 0x0300, 0, 0)]


def test_every_request_of_channel_b_names_it(system: System) -> None:
    plugged(system, FT2232H())
    with UrbRecorder(system) as rec, system.open("/dev/ttyUSB1", "rb+") as f:
        settings(system, f, lambda t: cfsetspeed(t, 3_000_000))
    requests = vendor_requests(rec)
    assert {index & 0xFF for _, _, _, index, _ in requests} == {2}
    assert (0x40, 0x03, 0x04E2, 0x0202, 0) in requests      # 9600: bit 17 in wIndex bit 9
    assert (0x40, 0x03, 0x0004, 0x0202, 0) in requests      # 3 MBd


# -- speeds ---------------------------------------------------------------------------------------

FT232R_DIVISORS = [
    (300, 0x2710), (9600, 0x4138), (19200, 0x809C), (38400, 0xC04E), (57600, 0xC034),
    (115200, 0x001A), (230400, 0x000D), (460800, 0x4006), (921600, 0x8003),
    (1000000, 0x0003), (2000000, 0x0001), (3000000, 0x0000),
    (200, 0x3A98), (250000, 0x000C), (1234, 0xC97F),           # BOTHER rates
]

FT2232H_DIVISORS = [
    (600, 0x01388), (1200, 0x22710), (9600, 0x204E2), (115200, 0x2C068),
    (3000000, 0x20004), (12000000, 0x20000), (8000000, 0x20001), (250000, 0x20030),
]


@pytest.mark.parametrize(("baud", "divisor"), FT232R_DIVISORS)
def test_ft232r_speeds_arrive_as_linuxs_divisor(system: System, baud: int,
                                                divisor: int) -> None:
    model = FT232R()
    plugged(system, model)
    with system.open("/dev/ttyUSB0", "rb+") as f:
        now = settings(system, f, lambda t: cfsetspeed(t, baud))
        assert now.c_ospeed == baud
    assert ftdi_232bm_baud_to_divisor(baud) == divisor
    assert model.serial_port(0).divisor == divisor
    assert model.serial_port(0).baud == pytest.approx(baud, rel=0.03)


@pytest.mark.parametrize(("baud", "divisor"), FT2232H_DIVISORS)
def test_ft2232h_speeds_arrive_as_linuxs_divisor(system: System, baud: int,
                                                 divisor: int) -> None:
    model = FT2232H()
    plugged(system, model)
    with system.open("/dev/ttyUSB0", "rb+") as f:
        settings(system, f, lambda t: cfsetspeed(t, baud))
    expected = ftdi_2232h_baud_to_divisor(baud) if baud >= 1200 else \
        ftdi_232bm_baud_to_divisor(baud)
    assert expected == divisor
    assert model.serial_port(0).divisor == divisor
    assert model.serial_port(0).baud == pytest.approx(baud, rel=0.03)


def test_a_rate_the_chip_cannot_do_falls_back_to_9600(system: System) -> None:
    model = FT232R()
    plugged(system, model)
    with system.open("/dev/ttyUSB0", "rb+") as f:
        settings(system, f, lambda t: cfsetspeed(t, 115200))
        now = settings(system, f, lambda t: cfsetspeed(t, 4_000_000))
        assert now.c_cflag & Cflag.CBAUD == B9600 and now.c_ospeed == 9600
    assert model.serial_port(0).divisor == 0x4138


def test_b0_drops_dtr_and_rts_and_leaving_it_raises_them(system: System) -> None:
    model = FT232R()
    plugged(system, model)
    uart = model.serial_port(0)
    with system.open("/dev/ttyUSB0", "rb+") as f:
        raw(system, f, lambda t: setattr(t, "c_cflag", t.c_cflag | Cflag.CRTSCTS))
        assert (uart.dtr, uart.rts, uart.flow) == (True, True, FlowControl.RTS_CTS)
        before = uart.divisor

        def hang_up_speed(t: Ktermios) -> None:
            t.c_cflag = (t.c_cflag & ~Cflag.CBAUD & ~Cflag.CRTSCTS) | B0

        settings(system, f, hang_up_speed)
        assert (uart.dtr, uart.rts, uart.flow) == (False, False, FlowControl.NONE)
        assert uart.divisor == before            # B0 sends no speed
        assert tiocmget(f) & (TIOCM_DTR | TIOCM_RTS) == 0
        settings(system, f, lambda t: cfsetspeed(t, 19200))
        assert (uart.dtr, uart.rts, uart.divisor) == (True, True, 0x809C)


def test_the_divisor_helpers(system: System) -> None:
    assert ftdi_232am_baud_to_divisor(3_000_000) == 0           # 1 is the top rate
    assert ftdi_232am_baud_to_divisor(9600) == 0x4138
    assert ftdi_232am_baud_to_divisor(19200) == 0x809C          # .25
    assert ftdi_232am_baud_to_divisor(38400) == 0xC04E          # .125
    assert ftdi_232am_baud_to_divisor(57600) == 0xC034          # .125 again
    assert ftdi_232am_baud_to_divisor(24_000_000 // 31) == 0x0004   # x.875 rounds up
    assert ftdi_232am_baud_to_divisor(24_000_000 // 13) == 0x4001   # .625 → .5
    assert usb_translate_errors(-Errno.EPIPE) == -Errno.EIO
    assert usb_translate_errors(-Errno.ENODEV) == -Errno.ENODEV


# -- data format and flow control -----------------------------------------------------------------

DATA_FORMATS = [
    (Cflag.CS8, 8, Parity.NONE, StopBits.ONE),
    (Cflag.CS7 | Cflag.PARENB, 7, Parity.EVEN, StopBits.ONE),
    (Cflag.CS7 | Cflag.PARENB | Cflag.PARODD | Cflag.CSTOPB, 7, Parity.ODD, StopBits.TWO),
    (Cflag.CS8 | Cflag.PARENB | Cflag.CMSPAR | Cflag.PARODD, 8, Parity.MARK, StopBits.ONE),
    (Cflag.CS8 | Cflag.PARENB | Cflag.CMSPAR, 8, Parity.SPACE, StopBits.ONE),
    (Cflag.CS5, 8, Parity.NONE, StopBits.ONE),       # value 0: the chip takes 8
]


@pytest.mark.parametrize(("cflag", "bits", "parity", "stop"), DATA_FORMATS)
def test_data_bits_parity_and_stop_bits_reach_the_uart(system: System, cflag: int, bits: int,
                                                       parity: Parity,
                                                       stop: StopBits) -> None:
    model = FT232R()
    plugged(system, model)
    mask = Cflag.CSIZE | Cflag.PARENB | Cflag.PARODD | Cflag.CMSPAR | Cflag.CSTOPB

    def data_format(t: Ktermios) -> None:
        t.c_cflag = (t.c_cflag & ~mask) | cflag

    with system.open("/dev/ttyUSB0", "rb+") as f:
        settings(system, f, data_format)
    uart = model.serial_port(0)
    assert (uart.data_bits, uart.parity, uart.stop_bits) == (bits, parity, stop)


def test_set_data_values() -> None:
    assert ftdi_set_data_value(Cflag.CS8) == 0x0008
    assert ftdi_set_data_value(Cflag.CS7 | Cflag.PARENB | Cflag.PARODD | Cflag.CSTOPB) == \
        0x1107
    assert ftdi_set_data_value(Cflag.CS8 | Cflag.PARENB | Cflag.CMSPAR) == 0x0408
    assert ftdi_set_data_value(Cflag.CS5) == 0x0000


def test_cs6_is_refused_and_the_old_size_stays(system: System) -> None:
    model = FT232R()
    plugged(system, model)

    def size(cs: int) -> Callable[[Ktermios], None]:
        def change(t: Ktermios) -> None:
            t.c_cflag = (t.c_cflag & ~Cflag.CSIZE) | cs
        return change

    with system.open("/dev/ttyUSB0", "rb+") as f:
        settings(system, f, size(Cflag.CS7))
        now = settings(system, f, size(Cflag.CS6))
        assert now.c_cflag & Cflag.CSIZE == Cflag.CS7
    assert model.serial_port(0).data_bits == 7
    assert "ftdi_sio ttyUSB0: requested CSIZE setting not supported" in \
        system.log.lines(Level.WARNING)


def test_flow_control_reaches_the_uart(system: System) -> None:
    model = FT232R()
    plugged(system, model)
    uart = model.serial_port(0)
    with system.open("/dev/ttyUSB0", "rb+") as f:
        raw(system, f)
        assert flow_of(uart) == FlowControl.NONE

        def xon_xoff(t: Ktermios) -> None:
            t.c_iflag |= Iflag.IXON
            t.c_cc[VSTART], t.c_cc[VSTOP] = 0x01, 0x02

        settings(system, f, xon_xoff)
        assert flow_of(uart) == FlowControl.XON_XOFF
        assert (uart.settings.xon, uart.settings.xoff) == (0x01, 0x02)
        settings(system, f, lambda t: setattr(t, "c_cflag", t.c_cflag | Cflag.CRTSCTS))
        assert flow_of(uart) == FlowControl.RTS_CTS   # RTS/CTS wins over XON/XOFF
        divisor = uart.divisor
        baud_changes = len(uart.changes)
        settings(system, f, lambda t: setattr(t, "c_iflag", t.c_iflag & ~Iflag.IXON))
        # only c_iflag changed: flow control is sent again, data format and speed are not
        assert uart.divisor == divisor
        assert len(uart.changes) == baud_changes


# -- modem lines ----------------------------------------------------------------------------------


def test_dtr_and_rts_through_tiocmset_tiocmbis_tiocmbic_and_hupcl(system: System) -> None:
    model = FT232R()
    plugged(system, model)
    uart = model.serial_port(0)
    f = system.open("/dev/ttyUSB0", "rb+")
    assert (uart.dtr, uart.rts) == (True, True)  # raised by the open (CBAUD set)
    f.ioctl(TIOCMBIC, int_arg(TIOCM_DTR))
    assert (uart.dtr, uart.rts) == (False, True)
    assert tiocmget(f) & (TIOCM_DTR | TIOCM_RTS) == TIOCM_RTS
    f.ioctl(TIOCMBIS, int_arg(TIOCM_DTR))
    f.ioctl(TIOCMBIC, int_arg(TIOCM_RTS))
    assert (uart.dtr, uart.rts) == (True, False)
    f.ioctl(TIOCMSET, int_arg(TIOCM_RTS))
    assert (uart.dtr, uart.rts) == (False, True)
    settings(system, f, lambda t: setattr(t, "c_cflag", t.c_cflag | Cflag.CRTSCTS))
    f.close()                                    # HUPCL: lines down, flow control off
    assert (uart.dtr, uart.rts, uart.flow) == (False, False, FlowControl.NONE)


def status_through(system: System) -> None:
    """Let a line change reach the host: the FT232R reports its status at least every
    16 ms (its latency timer), and the host polls its bulk IN."""
    system.run(asyncio.sleep(0.02))


def test_modem_status_reaches_tiocmget_tiocmiwait_and_tiocgicount(system: System) -> None:
    model = FT232R()
    plugged(system, model)
    uart = model.serial_port(0)
    f = system.open("/dev/ttyUSB0", "rb+")
    raw(system, f)
    assert tiocmget(f) & (TIOCM_CTS | TIOCM_DSR | TIOCM_RI | TIOCM_CD) == 0

    async def wait_for(mask: int, change: Callable[[], None]) -> int:
        waiter = asyncio.ensure_future(f.afile.ioctl(TIOCMIWAIT, mask))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        change()
        return await asyncio.wait_for(waiter, 1)

    assert system.run(wait_for(TIOCM_CTS, lambda: setattr(uart, "cts", True))) == 0
    assert system.run(wait_for(TIOCM_DSR | TIOCM_RI,
                               lambda: uart.set_inputs(dsr=True, ri=True))) == 0
    assert tiocmget(f) & (TIOCM_CTS | TIOCM_DSR | TIOCM_RI | TIOCM_CD) == \
        TIOCM_CTS | TIOCM_DSR | TIOCM_RI
    uart.cts = False
    status_through(system)
    counts = icount(f)
    assert (counts.cts, counts.dsr, counts.rng, counts.dcd) == (2, 1, 1, 0)
    f.close()


def test_carrier_changes_count_and_losing_it_hangs_up_without_clocal(system: System) -> None:
    model = FT232R()
    plugged(system, model)
    uart = model.serial_port(0)
    f = system.open("/dev/ttyUSB0", "rb+")
    raw(system, f)                               # CLOCAL, as usb-serial's termios has it
    uart.dcd = True
    status_through(system)
    assert tiocmget(f) & TIOCM_CD
    uart.dcd = False
    status_through(system)
    assert icount(f).dcd == 2                    # no hangup with CLOCAL
    uart.dcd = True
    settings(system, f, lambda t: setattr(t, "c_cflag", t.c_cflag & ~Cflag.CLOCAL))
    uart.dcd = False
    status_through(system)
    assert f.read(16) == b""                     # hung up: end of file
    f.close()


# -- data -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [63, 200, 510, 5000])
@pytest.mark.parametrize("model_class", [FT232R, FT2232H])
def test_reads_lose_nothing_across_packet_boundaries(system: System, count: int,
                                                     model_class: type[FT232R]) -> None:
    model = model_class()
    plugged(system, model)
    data = bytes(random.Random(count).randrange(256) for _ in range(count))
    with system.open("/dev/ttyUSB0", "rb+") as f:
        raw(system, f)
        model.serial_port(0).send(data)
        assert read_exactly(system, f, count) == data
        assert icount(f).rx == count


@pytest.mark.parametrize("model_class", [FT232R, FT2232H])
def test_writes_reach_the_uart(system: System, model_class: type[FT232R]) -> None:
    model = model_class()
    plugged(system, model)
    data = bytes(random.Random(7).randrange(256) for _ in range(3000))
    with system.open("/dev/ttyUSB0", "rb+") as f:
        raw(system, f)
        assert f.write(data) == len(data)
        system.run(asyncio.sleep(0.01))  # 3000 bytes take 3 frames on a full-speed bus
        assert model.serial_port(0).received() == data
        assert icount(f).tx == len(data)


def test_loopback_both_ways(system: System) -> None:
    plugged(system, FT2232H(loopback=True))
    data = bytes(random.Random(3).randrange(256) for _ in range(50_000))
    with system.open("/dev/ttyUSB1", "rb+") as f:
        raw(system, f)

        async def pump() -> bytes:
            got = bytearray()
            sent = 0
            while len(got) < len(data):
                if sent < len(data):
                    sent += await f.afile.write(data[sent:sent + 4096])
                got += await f.afile.read(65536)
            return bytes(got)

        assert system.run(pump()) == data


def test_line_errors_reach_the_tty_as_flagged_characters(system: System) -> None:
    model = FT232R()
    plugged(system, model)
    uart = model.serial_port(0)

    def mark_errors(t: Ktermios) -> None:
        t.c_iflag |= Iflag.INPCK | Iflag.PARMRK

    with system.open("/dev/ttyUSB0", "rb+") as f:
        raw(system, f, mark_errors)
        uart.send(b"ab", LineError.PARITY)       # the packet's line status flags both
        assert read_exactly(system, f, 6) == b"\xff\x00a\xff\x00b"
        uart.send(b"c", LineError.FRAMING)
        assert read_exactly(system, f, 3) == b"\xff\x00c"
        uart.send(b"ok\x00", LineError.BREAK)     # a break is the NUL that ends the packet
        assert read_exactly(system, f, 5) == b"ok\xff\x00\x00"
        uart.send(b"d", LineError.OVERRUN)        # overrun: no character of its own
        assert read_exactly(system, f, 1) == b"d"
        counts = icount(f)
    assert (counts.parity, counts.frame, counts.brk, counts.overrun) == (1, 1, 1, 1)
    assert counts.rx == 7


# -- break, drain, ioctls -------------------------------------------------------------------------


def test_break_sets_and_clears_the_break_bit(system: System) -> None:
    model = FT232R()
    plugged(system, model)
    uart = model.serial_port(0)
    with system.open("/dev/ttyUSB0", "rb+") as f:
        settings(system, f, lambda t: setattr(t, "c_cflag", t.c_cflag | Cflag.PARENB))
        f.ioctl(TIOCSBRK)
        assert (uart.break_on, uart.parity) == (True, Parity.EVEN)   # the format stays
        f.ioctl(TIOCCBRK)
        assert (uart.break_on, uart.parity) == (False, Parity.EVEN)


def test_drain_waits_for_the_transmitter_to_be_empty(system: System) -> None:
    model = FT232R()
    plugged(system, model)
    uart = model.serial_port(0)
    with system.open("/dev/ttyUSB0", "rb+") as f:
        raw(system, f)
        lsr = int_arg()
        f.ioctl(TIOCSERGETLSR, lsr)

        async def scenario() -> bytes:
            await f.afile.write(b"hello")
            drain = asyncio.ensure_future(tcdrain(f.afile))
            await asyncio.sleep(0.5)
            assert not drain.done()              # TEMT clear: bytes still in the chip
            sent = uart.received()
            await asyncio.wait_for(drain, 1)
            return sent

        assert system.run(scenario()) == b"hello"
        f.ioctl(TIOCSERGETLSR, lsr)
        assert struct.unpack("<i", lsr)[0] == 1  # TIOCSER_TEMT


def test_an_unplug_during_a_drain_waits_for_it_and_oopses_nothing(system: System) -> None:
    """usb_serial_disconnect() sets `disconnected` under disc_mutex, which
    serial_wait_until_sent() holds while ftdi_tx_empty() asks the chip: the drain sees the
    device gone and ends, then the port (and its private data) goes.  Found by the soak:
    the disconnect freed the port's private data under a polling drain (an oops)."""
    model = FT232R()
    plugged(system, model)
    with system.open("/dev/ttyUSB0", "rb+") as f:
        raw(system, f)

        async def scenario() -> list[BaseException | None]:
            await f.afile.write(b"hello")
            drain = asyncio.ensure_future(tcdrain(f.afile))
            await asyncio.sleep(0.5)
            assert not drain.done()              # nobody takes the bytes: TEMT clear
            system.unplug("1-1")
            return await asyncio.wait_for(asyncio.gather(drain, return_exceptions=True), 10)

        system.run(scenario())
    system.settle()
    assert "BUG:" not in system.dmesg(), system.dmesg()
    assert not system.vfs.exists("/dev/ttyUSB0")


def test_tiocgserial_and_the_spd_cust_custom_divisor(system: System) -> None:
    model = FT232R()
    plugged(system, model)
    with system.open("/dev/ttyUSB0", "rb+") as f:
        settings(system, f, lambda t: cfsetspeed(t, 38400))
        buf = bytearray(SerialStruct.SIZE)
        f.ioctl(TIOCGSERIAL, buf)
        ss = SerialStruct.unpack(buf)
        assert (ss.baud_base, ss.flags, ss.custom_divisor) == (24_000_000, 0, 0)
        ss = replace(ss, flags=ASYNC_SPD_CUST | ASYNC_LOW_LATENCY, custom_divisor=96)
        f.ioctl(TIOCSSERIAL, bytearray(ss.pack()))
        assert model.serial_port(0).divisor == 0x000C       # 24 MHz / 96 = 250000
        assert model.serial_port(0).latency_timer == 1
        assert system.vfs.read_text(f"{PORT0}/latency_timer") == "1\n"
        f.ioctl(TIOCGSERIAL, buf)
        assert SerialStruct.unpack(buf).custom_divisor == 96
    assert "ftdi_sio ttyUSB0: use of SPD flags is deprecated" in system.log.lines()


# -- sysfs ----------------------------------------------------------------------------------------


def test_latency_timer_and_event_char_files(system: System) -> None:
    model = FT232R()
    model.serial_port(0).latency_timer = 5       # the driver reads it and writes it back
    plugged(system, model)
    port = model.serial_port(0)
    assert system.vfs.listdir(PORT0) == ["driver", "event_char", "latency_timer",
                                         "port_number", "subsystem", "tty", "uevent"]
    assert system.vfs.stat(f"{PORT0}/latency_timer").mode & 0o777 == 0o644
    assert system.vfs.stat(f"{PORT0}/event_char").mode & 0o777 == 0o200
    assert system.vfs.read_text(f"{PORT0}/latency_timer") == "5\n"
    system.run(system.vfs.write(f"{PORT0}/latency_timer", "2\n"))
    assert port.latency_timer == 2
    assert system.vfs.read_text(f"{PORT0}/latency_timer") == "2\n"
    def write(name: str, text: str) -> int:
        return errno_of(lambda: system.run(system.vfs.write(f"{PORT0}/{name}", text)))

    for bad in ("256", "0x10", "-1", ""):
        assert write("latency_timer", bad) == Errno.EINVAL
    assert write("latency_timer", "0") == Errno.EIO     # the chip refuses 0
    system.run(system.vfs.write(f"{PORT0}/event_char", "0x17e"))
    assert (port.event_char, port.event_char_enabled) == (0x7E, True)
    system.run(system.vfs.write(f"{PORT0}/event_char", "010"))     # octal
    assert (port.event_char, port.event_char_enabled) == (8, False)
    assert write("event_char", "0x200") == Errno.EINVAL
    assert errno_of(lambda: system.vfs.read(f"{PORT0}/event_char")) == Errno.EACCES


# -- chip types and quirks ------------------------------------------------------------------------


def ft232r_variant(name: str, **desc: Any) -> type[FT232R]:
    """An FT232R model with other device-descriptor fields."""
    return type(name, (FT232R,), {"descriptor": replace(FT232R.descriptor, **desc)})


@pytest.mark.parametrize(("bcd", "serial", "detected"), [
    (0x0100, None, "SIO"), (0x0200, None, "FT232A"), (0x0200, "", "FT232B"),
    (0x0400, None, "FT232B"), (0x0600, None, "FT232R"), (0x0900, None, "FT232H"),
    (0x1000, None, "FT-X"), (0x3600, None, "FT4232HA"),
])
def test_the_chip_type_comes_from_bcddevice(system: System, bcd: int, serial: str | None,
                                            detected: str) -> None:
    cls = ft232r_variant("Variant", bcdDevice=bcd)
    plugged(system, cls(serial=serial))
    assert f"usb 1-1: Detected {detected}" in system.log.lines()
    files = set(system.vfs.listdir(PORT0))
    assert ("latency_timer" in files) == (detected not in ("SIO", "FT232A"))
    assert ("event_char" in files) == (detected != "SIO")


@pytest.mark.parametrize(("bcd", "baud", "divisor"), [
    (0x0100, 115200, 9), (0x0100, 1234, 5),         # the SIO's rate codes (else 9600)
    (0x0200, 24_000_000 // 11, 0x8001),              # FT232A: .375 is .25
    (0x0600, 24_000_000 // 11, 0x10001),             # FT232R: .375 is code 4 in bit 16
])
def test_each_chip_family_has_its_own_divisor(system: System, bcd: int, baud: int,
                                              divisor: int) -> None:
    model = ft232r_variant("Variant", bcdDevice=bcd)()
    plugged(system, model)
    with system.open("/dev/ttyUSB0", "rb+") as f:
        settings(system, f, lambda t: cfsetspeed(t, baud))
    assert model.serial_port(0).divisor == divisor


def test_an_unknown_bcddevice_is_refused(system: System) -> None:
    plugged(system, ft232r_variant("Unknown", bcdDevice=0x0A00)())
    assert "ftdi_sio ttyUSB0: unknown device type: 0xa00" in system.log.lines()
    assert not system.vfs.exists("/dev/ttyUSB0")


def test_the_sio_prefixes_each_packet_with_its_length(system: System) -> None:
    model = ft232r_variant("Sio", bcdDevice=0x0100)()
    plugged(system, model)
    with system.open("/dev/ttyUSB0", "rb+") as f:
        raw(system, f)
        f.write(b"abc")
        system.settle()
    assert model.serial_port(0).received() == b"\x0dabc"


def test_endpoints_that_claim_no_packet_size_get_64(system: System) -> None:
    config = ConfigDescriptor(interfaces=(InterfaceDescriptor(0xFF, 0xFF, 0xFF, (
        EndpointDescriptor.bulk(0x81, 0), EndpointDescriptor.bulk(0x02, 0))),),
        bmAttributes=0xA0, bMaxPower=45)
    plugged(system, ft232r_variant("Zero", configurations=(config,))())
    assert lines_from(system, "usb 1-1: Detected FT232R")[1:3] == [
        "ftdi_sio ttyUSB0: Overriding wMaxPacketSize on endpoint 1",
        "ftdi_sio ttyUSB0: Overriding wMaxPacketSize on endpoint 2",
    ]
    port = serial_of(system).port[0]
    assert port.private.max_packet_size == 64
    assert [ep.maxp for ep in port.serial.interface.cur_altsetting.endpoint] == [64, 64]


class CalaoJtag(FT2232H):
    """A dual-channel JTAG adapter by CALAO Systems: channel A is JTAG."""

    descriptor: ClassVar = replace(FT2232H.descriptor, iManufacturer="CALAO Systems")


def test_a_jtag_interface_is_left_alone(system: System) -> None:
    plugged(system, CalaoJtag())
    lines = system.log.lines()
    assert "ftdi_sio 1-1:1.0: Ignoring interface reserved for JTAG" in lines
    assert "ftdi_sio 1-1:1.1: FTDI USB Serial Device converter detected" in lines
    assert system.vfs.readlink("/sys/bus/usb-serial/devices/ttyUSB0").endswith(
        "1-1:1.1/ttyUSB0")


def test_an_ndi_device_maps_19200_to_1200000(system: System) -> None:
    model = ft232r_variant("Ndi", idProduct=0xDA70)()
    plugged(system, model)
    assert "usb 1-1: NDI device with a latency value of 1" in system.log.lines()
    with system.open("/dev/ttyUSB0", "rb+") as f:
        settings(system, f, lambda t: cfsetspeed(t, 19200))
    assert model.serial_port(0).divisor == ftdi_232bm_baud_to_divisor(1_200_000)


def test_the_usb_uirt_runs_at_312500_whatever_is_asked(system: System) -> None:
    model = ft232r_variant("Uirt", idProduct=0xF850)()
    plugged(system, model)
    with system.open("/dev/ttyUSB0", "rb+") as f:
        now = settings(system, f, lambda t: cfsetspeed(t, 9600))
        assert now.c_cflag & Cflag.CBAUD == Cflag.BOTHER and now.c_ospeed == 311688
    assert model.serial_port(0).divisor == ftdi_232bm_baud_to_divisor(24_000_000 // 77)


def test_chip_enum_names_match_linux() -> None:
    assert [c.name for c in FtdiChipType][:5] == ["SIO", "FT232A", "FT232B", "FT2232C",
                                                 "FT232R"]
    assert isinstance(FT232R.chip, FtdiChip)


# -- unplug and module references -----------------------------------------------------------------


def test_unplug_while_open_gives_eof_and_eio(system: System) -> None:
    model = FT232R()
    plugged(system, model)
    f = system.open("/dev/ttyUSB0", "rb+")
    raw(system, f)
    model.serial_port(0).send(b"before")
    assert read_exactly(system, f, 6) == b"before"
    system.unplug("1-1")
    system.settle()
    assert "ftdi_sio ttyUSB0: FTDI USB Serial Device converter now disconnected from ttyUSB0" \
        in system.log.lines()
    assert f.read(16) == b""
    assert errno_of(lambda: f.write(b"x")) == Errno.EIO
    f.close()
    assert not system.vfs.exists("/dev/ttyUSB0")
    assert not system.log.lines(Level.ALERT)


def test_rmmod_ftdi_sio_is_refused_while_a_port_is_open(system: System) -> None:
    plugged(system, FT232R())
    f = system.open("/dev/ttyUSB0", "rb+")
    with pytest.raises(ModuleError) as info:
        system.rmmod("ftdi_sio")
    assert info.value.errno == Errno.EBUSY
    f.close()
    system.rmmod("ftdi_sio")
    assert not system.vfs.exists("/dev/ttyUSB0")
    assert "ftdi_sio ttyUSB0: FTDI USB Serial Device converter now disconnected from ttyUSB0" \
        in system.log.lines()
