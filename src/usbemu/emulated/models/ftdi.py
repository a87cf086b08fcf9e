"""FTDI USB-serial converters — the chips Linux's drivers/usb/serial/ftdi_sio.c drives, with
the protocol drivers/usb/serial/ftdi_sio.h documents; declared after QEMU's
hw/usb/dev-serial.c (static descriptor tables, one vendor-request switch that STALLs the
unknown).

`FT232R` (model "ftdi"): 0403:6001, bcdDevice 0x0600 — ftdi_sio's ftdi_determine_type() calls
that an FT232R —, full speed, bMaxPacketSize0 8, one vendor-class interface (0xff/0xff/0xff)
with bulk IN 0x81 and bulk OUT 0x02 of 64 bytes, strings "FTDI" / "FT232R USB UART" /
"A50285BI", bus powered with remote wakeup, 90 mA: the descriptors `lsusb -v` shows for the
real part.  `FT2232H` (model "ft2232h"): 0403:6010, bcdDevice 0x0700 (FT2232H), high speed, two
interfaces — channel A bulk 0x81/0x02, channel B 0x83/0x04 — of 512 bytes (64 in the
other-speed configuration), strings "FTDI" / "Dual RS232-HS".  Each channel is an `FtdiPort`,
a `Uart` with the chip's registers beside it (`serial_port(n)`, 0-based).

Vendor requests (bmRequestType 0x40 host-to-device, 0xC0 device-to-host; the low byte of
wIndex selects the channel: 0 or 1 on a single-channel chip, 1 = A, 2 = B on a dual one, 0
meaning A; another value STALLs):

- RESET (0): wValue 0 resets the channel (flow control off, event character 0x0D disabled,
  both buffers purged, DTR and RTS low; baud rate and data format kept), 1 purges the
  receive buffer (bytes not yet read by the host), 2 the transmit buffer (bytes the host
  wrote, not yet sent).
- MODEM_CTRL (1): wValue bit 0 DTR, bit 1 RTS, each applied only when its enable bit (0x0100,
  0x0200) is set; RTS is ignored while RTS/CTS flow control is on.
- SET_FLOW_CTRL (2): the high byte of wIndex is RTS_CTS 0x01, DTR_DSR 0x02, XON_XOFF 0x04
  (0: none); with XON_XOFF, wValue holds XOFF (high byte) and XON (low byte).
- SET_BAUD_RATE (3): the 17-bit divisor is wValue plus bit 16 from wIndex bit 0 (single
  channel) or bit 8 (dual channel), whose wIndex bit 9 is the divisor's bit 17.  Bits 13..0
  are the integer part, bits 16..14 the fraction code (0, .5, .25, .125, .375, .625, .75,
  .875 for codes 0..7); an integer part of 0 with no fraction means 1 (3 MBaud) and 1 with
  no fraction means 1.5 (2 MBaud).  The rate is 3 MHz / divisor (48 MHz / 16); on an H chip
  with bit 17 set it is 12 MHz / divisor (120 MHz / 10).  `divisor_232bm` and
  `divisor_2232h` encode as ftdi_sio does, `baud_of_divisor` decodes as the chip does.
- SET_DATA (4): wValue bits 7..0 data bits (7 or 8; anything else falls back to 8 as the
  original chips do), bits 10..8 parity (0 none, 1 odd, 2 even, 3 mark, 4 space), bits
  13..11 stop bits (0 one, 1 one and a half, 2 two), bit 14 break; other codes STALL.
- GET_MODEM_STATUS (5): the two status bytes of the IN packets (one on the original SIO).
- SET_EVENT_CHAR (6), SET_ERROR_CHAR (7): character in the low byte, enable in bit 8.
- SET_LATENCY_TIMER (9): 1..255 ms (0 STALLs); GET_LATENCY_TIMER (0x0A): one byte, 16 after
  power-up.
- SET_BITMODE (0x0B): mode in the high byte (0 reset, 0x01 async bit-bang, 0x02 MPSSE, 0x04
  sync bit-bang, 0x08 MCU host, 0x10 fast opto, 0x20 CBUS bit-bang, 0x40 sync FIFO, 0x80
  FT1284), pin mask in the low byte; another mode STALLs.
- READ_PINS (0x0C): one byte.  In CBUS mode the CBUS pins (outputs read back their value,
  inputs read high); otherwise the pins of the UART — bit 0 TXD (low during a break), 1 RXD
  (idle high), then the active-low RTS#, CTS#, DTR#, DSR#, DCD#, RI#.
- READ_EEPROM (0x90): wIndex is a word address (wrapping), two bytes little-endian from a
  128-byte image: VID, PID, bcdDevice, bmAttributes, bMaxPower, the chip configuration, the
  three strings as string descriptors with their offsets and lengths, on the FT232R the
  CBUS multiplexer (0x14..0x16: TXLED#, RXLED#, TXDEN, PWREN#, SLEEP#), and FTDI's checksum in
  the last word.
- anything else STALLs.

Bulk IN: every packet starts with the modem status byte (0x01 always, CTS 0x10, DSR 0x20,
RI 0x40, RLSD/DCD 0x80) and the line status byte (THRE 0x20 while the transmit buffer has
room, TEMT 0x40 when it is empty, and OE 0x02, PE 0x04, FE 0x08, BI 0x10 for a received
error), then up to wMaxPacketSize - 2 data bytes.  A read gets as many full packets as the
data fills and ends with a short packet; when the data ends exactly on a packet boundary,
a status-only packet (2 bytes) ends it.  A byte the far end sent with an error ends its
packet, and that packet's line status carries the error — so a break is a NUL byte last in
a packet with BI, as ftdi_sio expects.  With no data, the chip answers with a status-only
packet when the modem status differs from the last one sent (once after configuration,
as the first latency-timer expiry would), and NAKs otherwise.  Bulk OUT: plain bytes, no
header, NAKed while the channel's buffer is full.

What it does not do: keep time.  The device framework gives models no timer, so a short
packet goes out at once instead of after the latency timer, no periodic status packets
are sent while the modem status stays the same (the host sees a change at once instead),
and the event character and error character are stored, not acted on.  The bit-bang and
MPSSE modes are recorded, but the data path stays the UART's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import IntEnum, IntFlag
from typing import ClassVar, Final

from ...spec.ch9 import SetupPacket, Speed
from ...spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
    string_descriptor,
)
from ..device import DeviceModel, request
from ..endpoint import Endpoint, Stall
from ..uart import FlowControl, ModemLines, Parity, StopBits, UartSettings
from .serial import SerialPort, UartDevice, port_pairs

__all__ = [
    "FT232R",
    "FT232R_CHIP",
    "FT2232H",
    "FT2232H_CHIP",
    "FTDI_VID",
    "BitMode",
    "FtdiChip",
    "FtdiDevice",
    "FtdiLineStatus",
    "FtdiModemStatus",
    "FtdiPort",
    "FtdiRequest",
    "baud_of_divisor",
    "divisor_232bm",
    "divisor_2232h",
    "divisor_of_request",
    "eeprom_checksum",
    "speed_request",
]

FTDI_VID: Final = 0x0403


class FtdiRequest(IntEnum):
    """bRequest of the vendor requests (FTDI_SIO_*_REQUEST)."""

    RESET = 0x00
    MODEM_CTRL = 0x01
    SET_FLOW_CTRL = 0x02
    SET_BAUD_RATE = 0x03
    SET_DATA = 0x04
    GET_MODEM_STATUS = 0x05
    SET_EVENT_CHAR = 0x06
    SET_ERROR_CHAR = 0x07
    SET_LATENCY_TIMER = 0x09
    GET_LATENCY_TIMER = 0x0A
    SET_BITMODE = 0x0B
    READ_PINS = 0x0C
    READ_EEPROM = 0x90


_OUT: Final = 0x40  # FTDI_SIO_*_REQUEST_TYPE, host-to-device
_IN: Final = 0xC0  # device-to-host


class FtdiModemStatus(IntFlag):
    """First status byte (FTDI_RS0_*): bit 0 is always set."""

    FIXED = 0x01
    CTS = 0x10
    DSR = 0x20
    RI = 0x40
    RLSD = 0x80


class FtdiLineStatus(IntFlag):
    """Second status byte (FTDI_RS_*), the 16550 line status register."""

    DR = 0x01
    OE = 0x02
    PE = 0x04
    FE = 0x08
    BI = 0x10
    THRE = 0x20
    TEMT = 0x40
    FIFO = 0x80


class BitMode(IntEnum):
    """High byte of SET_BITMODE's wValue (FTDI_SIO_BITMODE_* and libftdi's BITMODE_*)."""

    RESET = 0x00
    BITBANG = 0x01
    MPSSE = 0x02
    SYNCBB = 0x04
    MCU = 0x08
    OPTO = 0x10
    CBUS = 0x20
    SYNCFF = 0x40
    FT1284 = 0x80


class _Reset(IntEnum):
    SIO = 0  # FTDI_SIO_RESET_SIO
    PURGE_RX = 1
    PURGE_TX = 2


_DTR: Final = 0x01  # FTDI_SIO_SET_DTR_MASK
_RTS: Final = 0x02
_DTR_ENABLE: Final = _DTR << 8
_RTS_ENABLE: Final = _RTS << 8
_BREAK: Final = 1 << 14  # FTDI_SIO_SET_BREAK
_FLOW_BITS: Final = 0x07
_EVENT_CHAR_DEFAULT: Final = 0x0D
_LATENCY_DEFAULT: Final = 16

_MODEM_BITS: Final = ((ModemLines.CTS, FtdiModemStatus.CTS), (ModemLines.DSR, FtdiModemStatus.DSR),
                      (ModemLines.RI, FtdiModemStatus.RI), (ModemLines.DCD, FtdiModemStatus.RLSD))
# READ_PINS in UART mode: the active-low modem pins D2..D7 (FT232R / FT2232H channel pinout).
_PIN_BITS: Final = ((ModemLines.RTS, 0x04), (ModemLines.CTS, 0x08), (ModemLines.DTR, 0x10),
                    (ModemLines.DSR, 0x20), (ModemLines.DCD, 0x40), (ModemLines.RI, 0x80))
_TXD: Final = 0x01
_RXD: Final = 0x02


# -- baud-rate divisors -------------------------------------------------------------------------

BM_CLOCK: Final = 48_000_000
H_CLOCK: Final = 120_000_000
H_DIV_BY_1: Final = 1 << 17
"""Divisor bit 17 on H chips: the 120 MHz clock divided by 10 instead of by 2.5 x 16."""

_DIVFRAC: Final = (0, 3, 2, 4, 1, 5, 6, 7)  # eighths -> fraction code (ftdi_sio's divfrac)
_SUBDIV8: Final = (0, 4, 2, 1, 3, 5, 6, 7)  # fraction code -> eighths (the chip)
_INTEGER_MASK: Final = 0x3FFF
_FRACTION_SHIFT: Final = 14


def _div_round_closest(x: int, d: int) -> int:
    return (x + d // 2) // d


def _encode(divisor3: int) -> int:
    divisor = divisor3 >> 3 | _DIVFRAC[divisor3 & 0x7] << _FRACTION_SHIFT
    if divisor == 1:  # 1.0
        return 0
    if divisor == 0x4001:  # 1.5
        return 1
    return divisor


def _positive(baud: int) -> None:
    if baud <= 0:
        raise ValueError(f"baud={baud!r} must be positive")


def divisor_232bm(baud: int, base: int = BM_CLOCK) -> int:
    """The divisor ftdi_sio sends for `baud` to a BM-type chip (FT232B/R, FT2232C, FT-X)
    or below 1200 baud to an H chip: ftdi_232bm_baud_base_to_divisor().  Below about 183
    baud the integer part overflows its 14 bits, exactly as in Linux.

    Context: pure function.  Raises ValueError for a baud rate that is not positive.
    """
    _positive(baud)
    return _encode(_div_round_closest(base, 2 * baud))


def divisor_2232h(baud: int, base: int = H_CLOCK) -> int:
    """The divisor ftdi_sio sends for `baud` (1200 .. 12000000) to an H chip:
    ftdi_2232h_baud_base_to_divisor(), with bit 17 set.

    Context: pure function.  Raises ValueError for a baud rate that is not positive.
    """
    _positive(baud)
    return _encode(_div_round_closest(8 * base, 10 * baud)) | H_DIV_BY_1


def baud_of_divisor(divisor: int, *, hispeed: bool = False) -> int:
    """The baud rate a chip runs at for a 17-bit (18 with H_DIV_BY_1) divisor, rounded to
    the nearest integer; `hispeed` for an H chip, which honours H_DIV_BY_1.

    Context: pure function.  Raises ValueError for a divisor that does not fit 18 bits.
    """
    if not 0 <= divisor < 1 << 18:
        raise ValueError(f"divisor={divisor:#x} does not fit 18 bits")
    integer = divisor & _INTEGER_MASK
    eighths = _SUBDIV8[divisor >> _FRACTION_SHIFT & 0x7]
    if eighths == 0 and integer <= 1:
        integer, eighths = (1, 0) if integer == 0 else (1, 4)
    clock8 = 8 * (H_CLOCK // 10 if hispeed and divisor & H_DIV_BY_1 else BM_CLOCK // 16)
    return _div_round_closest(clock8, 8 * integer + eighths)


def speed_request(divisor: int, channel: int) -> tuple[int, int]:
    """(wValue, wIndex) of SET_BAUD_RATE as ftdi_sio's change_speed() builds them: wValue
    the low 16 bits, wIndex the high bits — shifted to the high byte, with the channel
    (1 = A …) in the low byte, when `channel` is not 0.

    Context: pure function.
    """
    value, index = divisor & 0xFFFF, divisor >> 16 & 0xFFFF
    if channel:
        index = (index << 8 | channel) & 0xFFFF
    return value, index


def divisor_of_request(wValue: int, wIndex: int, *, multi_channel: bool) -> int:
    """The divisor a chip reads from SET_BAUD_RATE: wValue, and the high bits from wIndex
    bit 0 (single channel) or the high byte of wIndex (dual or quad channel).

    Context: pure function.
    """
    high = wIndex >> 8 if multi_channel else wIndex & 0x01
    return wValue | high << 16


# -- the chips ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FtdiChip:
    """What sets one FTDI chip apart: its name (ftdi_sio's ftdi_chip_name), the bcdDevice
    ftdi_determine_type() recognises it by, whether it has the H chips' 120 MHz baud clock,
    how many bytes GET_MODEM_STATUS returns, and its EEPROM layout (the first two bytes and
    where the strings start)."""

    name: str
    bcdDevice: int
    hispeed: bool
    modem_status_bytes: int = 2
    eeprom_head: bytes = b"\0\0"
    eeprom_strings: int = 0x18
    eeprom_extra: tuple[tuple[int, bytes], ...] = ()


FT232R_CHIP: Final = FtdiChip(
    "FT232R", 0x0600, hispeed=False, eeprom_head=b"\x00\x40",
    # CBUS0 TXLED#, CBUS1 RXLED#, CBUS2 TXDEN, CBUS3 PWREN#, CBUS4 SLEEP# (factory default)
    eeprom_extra=((0x14, b"\x23\x10\x05"),))
FT2232H_CHIP: Final = FtdiChip("FT2232H", 0x0700, hispeed=True, eeprom_strings=0x1A)

_EEPROM_SIZE: Final = 128
_USE_SERIAL: Final = 0x08


def eeprom_checksum(image: bytes | bytearray) -> int:
    """FTDI's EEPROM checksum over every word but the last: start at 0xAAAA, then for each
    little-endian word XOR it in and rotate left by one bit (16-bit)."""
    checksum = 0xAAAA
    for (word,) in struct.iter_unpack("<H", bytes(image[:-2])):
        checksum ^= word
        checksum = (checksum << 1 | checksum >> 15) & 0xFFFF
    return checksum


def _eeprom(chip: FtdiChip, device: DeviceDescriptor, config: ConfigDescriptor,
            strings: tuple[str, str, str]) -> bytes:
    image = bytearray(_EEPROM_SIZE)
    image[0:2] = chip.eeprom_head
    struct.pack_into("<HHHBB", image, 2, device.idVendor, device.idProduct, device.bcdDevice,
                     config.bmAttributes, config.bMaxPower)
    image[0x0A] = _USE_SERIAL if strings[2] else 0
    struct.pack_into("<H", image, 0x0C, device.bcdUSB)
    pos = chip.eeprom_strings
    for slot, text in enumerate(strings):
        raw = string_descriptor(text) if text else b""
        image[0x0E + 2 * slot:0x10 + 2 * slot] = bytes(((0x80 | pos) if raw else 0, len(raw)))
        image[pos:pos + len(raw)] = raw
        pos += len(raw)
    for offset, raw in chip.eeprom_extra:
        image[offset:offset + len(raw)] = raw
    struct.pack_into("<H", image, _EEPROM_SIZE - 2, eeprom_checksum(image))
    return bytes(image)


class FtdiPort(SerialPort):
    """One channel of an FTDI chip: its `Uart` plus the registers the host sets —
    `divisor` (the raw SET_BAUD_RATE divisor; `baud` is what it makes), `latency_timer`
    (ms), `event_char` / `event_char_enabled`, `error_char` / `error_char_enabled`,
    `bitmode` and `bitmask`.  IN data is framed with the two status bytes (see the module
    docstring).  Context: every method is atomic and never blocks.
    """

    __slots__ = ("_reported", "bitmask", "bitmode", "chip", "divisor", "error_char",
                 "error_char_enabled", "event_char", "event_char_enabled", "latency_timer")

    def __init__(self, model: DeviceModel, chip: FtdiChip, index: int, in_address: int,
                 out_address: int, *, loopback: bool = False,
                 buffer_size: int = 64 * 1024) -> None:
        super().__init__(model, index, in_address, out_address, loopback=loopback,
                         buffer_size=buffer_size, settings=UartSettings())
        self.chip = chip
        self.divisor = divisor_232bm(UartSettings().baud)
        self.latency_timer = _LATENCY_DEFAULT
        self.event_char = _EVENT_CHAR_DEFAULT
        self.event_char_enabled = False
        self.error_char = 0
        self.error_char_enabled = False
        self.bitmode = BitMode.RESET
        self.bitmask = 0
        self._reported: int | None = None

    @property
    def channel(self) -> int:
        """The channel number requests carry in wIndex (1 = A, 2 = B)."""
        return self.index + 1

    def modem_status(self) -> int:
        """The first status byte: FIXED and the asserted input lines."""
        status, inputs = FtdiModemStatus.FIXED, self.inputs
        for line, bit in _MODEM_BITS:
            if inputs & line:
                status |= bit
        return int(status)

    def line_status(self) -> int:
        """The second status byte without receive errors: THRE while the transmit buffer
        has room, TEMT when it is empty."""
        queued = self.pending_out
        thre = FtdiLineStatus.THRE if queued < self.buffer_size else 0
        return thre | (FtdiLineStatus.TEMT if not queued else 0)

    def pins(self) -> int:
        """The READ_PINS byte (see the module docstring)."""
        if self.bitmode is BitMode.CBUS:
            outputs, values = self.bitmask >> 4, self.bitmask & 0x0F
            return (values & outputs | ~outputs) & 0x0F
        level = _RXD | (0 if self.break_on else _TXD)
        lines = self.modem_lines
        for line, bit in _PIN_BITS:
            if not lines & line:
                level |= bit
        return level

    def reset(self) -> None:
        """RESET_SIO: flow control off, event character 0x0D disabled, both buffers
        purged, DTR and RTS low; the baud rate and data format stay."""
        self.event_char, self.event_char_enabled = _EVENT_CHAR_DEFAULT, False
        self.configure(flow=FlowControl.NONE, dtr=False, rts=False)
        self.clear()

    # -- endpoint handlers ----------------------------------------------------------------

    def bind(self) -> None:
        super().bind()
        self._reported = None

    def serve_in(self, ep: Endpoint, room: int) -> bytearray | bytes | None:
        """IN handler: status-framed packets for a host read with `room` bytes left, a
        status-only packet when the modem status changed, None to NAK."""
        maxp = ep.maxpacket
        payload = maxp - 2
        modem, line = self.modem_status(), self.line_status()
        out = bytearray()
        while len(out) < room:
            data, error = self.read(payload)
            if data is None:
                break
            out.append(modem)
            out.append(line | error)
            out += data
            if len(data) < payload:
                break
        if out:
            if not len(out) % maxp and len(out) < room:
                out += bytes((modem, line))
            self._reported = modem
            return out
        if modem != self._reported:
            self._reported = modem
            return bytes((modem, line))
        self._in_waiting = True
        return None

    def lines_changed(self, old: ModemLines, new: ModemLines) -> None:
        self.data_ready()


class FtdiDevice(UartDevice[FtdiPort]):
    """An FTDI converter: `chip` says which, the descriptors say how many channels.
    `eeprom` is the image READ_EEPROM serves.  Options: `loopback`, `buffer_size` (per
    channel, as for the generic converters) and `serial` (the serial-number string; empty
    for none)."""

    chip: ClassVar[FtdiChip]
    descriptor: ClassVar[DeviceDescriptor]
    default_serial: ClassVar[str] = ""

    def __init__(self, *, loopback: bool = False, buffer_size: int = 64 * 1024,
                 serial: str | None = None) -> None:
        if buffer_size <= 0:
            raise ValueError(f"buffer_size={buffer_size!r} must be positive")
        desc = type(self).descriptor
        number = type(self).default_serial if serial is None else serial
        desc = replace(desc, iSerialNumber=number)
        super().__init__(desc)
        chip = type(self).chip
        self._ports = tuple(
            FtdiPort(self, chip, i, ep_in, ep_out, loopback=loopback, buffer_size=buffer_size)
            for i, (ep_in, ep_out) in enumerate(port_pairs(desc)))
        texts = (str(desc.iManufacturer or ""), str(desc.iProduct or ""), number)
        self.eeprom = _eeprom(chip, desc, desc.configurations[0], texts)

    def _port(self, setup: SetupPacket) -> FtdiPort:
        """The channel wIndex's low byte selects; STALL for none."""
        index = setup.wIndex & 0xFF
        if len(self._ports) == 1:
            if index > 1:
                raise Stall
            return self._ports[0]
        n = max(index, 1) - 1
        if n >= len(self._ports):
            raise Stall
        return self._ports[n]

    @request(_OUT, FtdiRequest.RESET)
    def _reset(self, setup: SetupPacket, data: bytes) -> None:
        port = self._port(setup)
        if setup.wValue == _Reset.SIO:
            port.reset()
        elif setup.wValue == _Reset.PURGE_RX:
            port.purge_rx()
        elif setup.wValue == _Reset.PURGE_TX:
            port.purge_tx()
        else:
            raise Stall

    @request(_OUT, FtdiRequest.MODEM_CTRL)
    def _modem_ctrl(self, setup: SetupPacket, data: bytes) -> None:
        port, value = self._port(setup), setup.wValue
        changes: dict[str, object] = {}
        if value & _DTR_ENABLE:
            changes["dtr"] = bool(value & _DTR)
        if value & _RTS_ENABLE and not port.flow & FlowControl.RTS_CTS:
            changes["rts"] = bool(value & _RTS)
        port.configure(**changes)

    @request(_OUT, FtdiRequest.SET_FLOW_CTRL)
    def _set_flow_ctrl(self, setup: SetupPacket, data: bytes) -> None:
        port, bits = self._port(setup), setup.wIndex >> 8
        if bits & ~_FLOW_BITS:
            raise Stall
        flow = FlowControl(bits)
        if flow & FlowControl.XON_XOFF:
            port.configure(flow=flow, xon=setup.wValue & 0xFF, xoff=setup.wValue >> 8)
        else:
            port.configure(flow=flow)

    @request(_OUT, FtdiRequest.SET_BAUD_RATE)
    def _set_baud_rate(self, setup: SetupPacket, data: bytes) -> None:
        port = self._port(setup)
        divisor = divisor_of_request(setup.wValue, setup.wIndex,
                                     multi_channel=len(self._ports) > 1)
        port.divisor = divisor
        port.configure(baud=baud_of_divisor(divisor, hispeed=self.chip.hispeed))

    @request(_OUT, FtdiRequest.SET_DATA)
    def _set_data(self, setup: SetupPacket, data: bytes) -> None:
        port, value = self._port(setup), setup.wValue
        bits, parity, stop = value & 0xFF, value >> 8 & 0x7, value >> 11 & 0x7
        if parity > Parity.SPACE or stop > StopBits.TWO:
            raise Stall
        port.configure(data_bits=bits if bits in (7, 8) else 8, parity=Parity(parity),
                       stop_bits=StopBits(stop), break_on=bool(value & _BREAK))

    @request(_IN, FtdiRequest.GET_MODEM_STATUS)
    def _get_modem_status(self, setup: SetupPacket, data: bytes) -> bytes:
        port = self._port(setup)
        return bytes((port.modem_status(), port.line_status()))[:self.chip.modem_status_bytes]

    @request(_OUT, FtdiRequest.SET_EVENT_CHAR)
    def _set_event_char(self, setup: SetupPacket, data: bytes) -> None:
        port = self._port(setup)
        port.event_char, port.event_char_enabled = setup.wValue & 0xFF, bool(setup.wValue & 0x100)

    @request(_OUT, FtdiRequest.SET_ERROR_CHAR)
    def _set_error_char(self, setup: SetupPacket, data: bytes) -> None:
        port = self._port(setup)
        port.error_char, port.error_char_enabled = setup.wValue & 0xFF, bool(setup.wValue & 0x100)

    @request(_OUT, FtdiRequest.SET_LATENCY_TIMER)
    def _set_latency_timer(self, setup: SetupPacket, data: bytes) -> None:
        port, latency = self._port(setup), setup.wValue & 0xFF
        if not latency:
            raise Stall
        port.latency_timer = latency

    @request(_IN, FtdiRequest.GET_LATENCY_TIMER)
    def _get_latency_timer(self, setup: SetupPacket, data: bytes) -> bytes:
        return bytes((self._port(setup).latency_timer,))

    @request(_OUT, FtdiRequest.SET_BITMODE)
    def _set_bitmode(self, setup: SetupPacket, data: bytes) -> None:
        port, mode = self._port(setup), setup.wValue >> 8
        if mode not in _BITMODES:
            raise Stall
        port.bitmode, port.bitmask = BitMode(mode), setup.wValue & 0xFF

    @request(_IN, FtdiRequest.READ_PINS)
    def _read_pins(self, setup: SetupPacket, data: bytes) -> bytes:
        return bytes((self._port(setup).pins(),))

    @request(_IN, FtdiRequest.READ_EEPROM)
    def _read_eeprom(self, setup: SetupPacket, data: bytes) -> bytes:
        offset = setup.wIndex * 2 % len(self.eeprom)
        return self.eeprom[offset:offset + 2]


_BITMODES: Final = frozenset(int(mode) for mode in BitMode)


def _bulk_interface(in_address: int, out_address: int, maxp: int,
                    name: str) -> InterfaceDescriptor:
    return InterfaceDescriptor(0xFF, 0xFF, 0xFF,
                               (EndpointDescriptor.bulk(in_address, maxp),
                                EndpointDescriptor.bulk(out_address, maxp)),
                               iInterface=name)


class FT232R(FtdiDevice):
    """FT232R USB UART (0403:6001): one channel, full speed, 64-byte bulk packets."""

    model_name: ClassVar[str] = "ftdi"
    chip: ClassVar[FtdiChip] = FT232R_CHIP
    default_serial: ClassVar[str] = "A50285BI"
    speed = Speed.FULL
    descriptor: ClassVar[DeviceDescriptor] = DeviceDescriptor(
        idVendor=FTDI_VID, idProduct=0x6001, bcdDevice=FT232R_CHIP.bcdDevice, bcdUSB=0x0200,
        bMaxPacketSize0=8, iManufacturer="FTDI", iProduct="FT232R USB UART",
        configurations=(ConfigDescriptor(
            interfaces=(_bulk_interface(0x81, 0x02, 64, "FT232R USB UART"),),
            bmAttributes=0xA0, bMaxPower=45),),
    )


def _ft2232h_config(maxp: int) -> ConfigDescriptor:
    return ConfigDescriptor(
        interfaces=(_bulk_interface(0x81, 0x02, maxp, "Dual RS232-HS"),
                    _bulk_interface(0x83, 0x04, maxp, "Dual RS232-HS")),
        bmAttributes=0x80, bMaxPower=250)


class FT2232H(FtdiDevice):
    """Dual RS232-HS (0403:6010): two channels (A: 0x81/0x02, B: 0x83/0x04), high speed,
    512-byte bulk packets (64 at full speed)."""

    model_name: ClassVar[str] = "ft2232h"
    chip: ClassVar[FtdiChip] = FT2232H_CHIP
    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = DeviceDescriptor(
        idVendor=FTDI_VID, idProduct=0x6010, bcdDevice=FT2232H_CHIP.bcdDevice, bcdUSB=0x0200,
        bMaxPacketSize0=64, iManufacturer="FTDI", iProduct="Dual RS232-HS",
        configurations=(_ft2232h_config(512),),
        other_speed_configurations=(_ft2232h_config(64),),
    )
