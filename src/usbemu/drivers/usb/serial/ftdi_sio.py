"""ftdi_sio — counterpart of drivers/usb/serial/ftdi_sio.c and ftdi_sio.h (Linux 6.12): the
driver of FTDI's USB serial converter chips, the loadable module `ftdi_sio`.

Its one serial driver, "ftdi_sio" ("FTDI USB Serial Device"), binds each interface of the
FTDI ids in its table (ftdi_sio_ids.py) as a converter with one port, so a two-channel
FT2232H becomes two converters, ttyUSB0 on 1-1:1.0 and ttyUSB1 on 1-1:1.1.  The port's probe
finds the chip from bcdDevice (ftdi_determine_type: "Detected FT232R"), the channel every
vendor request names in wIndex (interface number + 1, or 0 on the single-channel chips of
old), the packet size of the IN endpoint, and the latency timer (read from the chip, 16 ms
when it cannot be read, then written back).  Opening resets the channel and sends the whole
termios (ftdi_set_termios: SET_DATA for data bits, parity and stop bits, SET_BAUD_RATE with
the divisor the chip type needs, MODEM_CTRL when the speed is B0, SET_FLOW_CTRL); reading
strips the two status bytes that begin every max-packet-sized chunk of an IN transfer,
counting modem-line changes and line errors and flagging the characters they concern;
tiocmget asks GET_MODEM_STATUS, tiocmset and dtr_rts send MODEM_CTRL, break_ctl sends
SET_DATA with the break bit, tx_empty reads the TEMT bit, TIOCSERGETLSR reports the last one
seen, TIOCGSERIAL/TIOCSSERIAL keep the deprecated SPD flags and custom divisor.  Each port
directory has `latency_timer` (rw) and `event_char` (wo).  The id-table quirks (JTAG
interfaces, NDI devices, USB-UIRT, HE-TIRA1) are those of Linux.  Not modelled: the CBUS
GPIO chip (Linux builds it only with CONFIG_GPIOLIB), sysrq and the serial console; every
caller counts as privileged (capable(CAP_SYS_ADMIN)); "use of SPD flags is deprecated" is
not rate-limited.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import IntEnum, IntFlag
from typing import Any, Final

from usbemu.core.devtable import UsbDeviceId, usb_device, usb_device_interface_number
from usbemu.core.message import usb_control_msg
from usbemu.core.urb import PIPE_CONTROL, Urb, make_pipe
from usbemu.drivers.usb.serial.ftdi_sio_ids import (
    FTDI_ID_TABLE,
    FTDI_NDI_PIDS,
    FTDI_VID,
    FtdiId,
    Quirk,
)
from usbemu.drivers.usb.serial.generic import (
    usb_serial_generic_get_icount,
    usb_serial_generic_open,
    usb_serial_generic_throttle,
    usb_serial_generic_tiocmiwait,
    usb_serial_generic_unthrottle,
    usb_serial_handle_dcd_change,
)
from usbemu.drivers.usb.serial.usb_serial import (
    UsbSerial,
    UsbSerialDriver,
    UsbSerialPort,
    module_usb_serial_driver,
    usb_get_serial_data,
    usb_get_serial_port_data,
    usb_set_serial_data,
    usb_set_serial_port_data,
)
from usbemu.errors import Errno
from usbemu.kernel.fs import ENOIOCTLCMD
from usbemu.kernel.module import (
    module_author,
    module_description,
    module_device_table,
    module_info,
    module_license,
    module_param,
    module_param_desc,
)
from usbemu.kernel.params import kstrtoull
from usbemu.kernel.sysfs import SysAttr
from usbemu.kernel.termios import (
    B0,
    TIOCM_CD,
    TIOCM_CTS,
    TIOCM_DSR,
    TIOCM_DTR,
    TIOCM_RI,
    TIOCM_RTS,
    TIOCSERGETLSR,
    VSTART,
    VSTOP,
    Cflag,
    Iflag,
    Ktermios,
    SerialStruct,
)
from usbemu.kernel.tty import TtyStruct, tty_encode_baud_rate, tty_get_baud_rate, tty_kref_put
from usbemu.kernel.tty_buffer import (
    TTY_BREAK,
    TTY_FRAME,
    TTY_NORMAL,
    TTY_OVERRUN,
    TTY_PARITY,
    tty_flip_buffer_push,
    tty_insert_flip_char,
    tty_insert_flip_string_fixed_flag,
)
from usbemu.kernel.tty_port import tty_port_tty_get

DRIVER_AUTHOR: Final = ("Greg Kroah-Hartman <greg@kroah.com>, Bill Ryder <bryder@sgi.com>, "
                        "Kuba Ober <kuba@mareimbrium.org>, Andreas Mohr, "
                        "Johan Hovold <jhovold@gmail.com>")
DRIVER_DESC: Final = "USB FTDI Serial Converters Driver"

# -- ftdi_sio.h: the vendor requests --------------------------------------------------------------


class FtdiRequest(IntEnum):
    """bRequest of the chip's vendor requests (FTDI_SIO_*)."""

    RESET = 0
    MODEM_CTRL = 1
    SET_FLOW_CTRL = 2
    SET_BAUD_RATE = 3
    SET_DATA = 4
    GET_MODEM_STATUS = 5
    SET_EVENT_CHAR = 6
    SET_ERROR_CHAR = 7
    SET_LATENCY_TIMER = 9
    GET_LATENCY_TIMER = 0x0A
    SET_BITMODE = 0x0B
    READ_PINS = 0x0C
    READ_EEPROM = 0x90


#: bmRequestType of the requests that send (vendor, device, OUT) and that read (IN).
FTDI_SIO_REQTYPE_OUT: Final = 0x40
FTDI_SIO_REQTYPE_IN: Final = 0xC0

#: wIndex of a channel: interface number + CHANNEL_A on the multi-channel chips.
CHANNEL_A: Final = 1

#: RESET's wValue.
FTDI_SIO_RESET_SIO: Final = 0
FTDI_SIO_RESET_PURGE_RX: Final = 1
FTDI_SIO_RESET_PURGE_TX: Final = 2

#: SET_DATA's wValue: data bits in the low byte, then these fields.
FTDI_SIO_SET_DATA_PARITY_NONE: Final = 0x0 << 8
FTDI_SIO_SET_DATA_PARITY_ODD: Final = 0x1 << 8
FTDI_SIO_SET_DATA_PARITY_EVEN: Final = 0x2 << 8
FTDI_SIO_SET_DATA_PARITY_MARK: Final = 0x3 << 8
FTDI_SIO_SET_DATA_PARITY_SPACE: Final = 0x4 << 8
FTDI_SIO_SET_DATA_STOP_BITS_1: Final = 0x0 << 11
FTDI_SIO_SET_DATA_STOP_BITS_15: Final = 0x1 << 11
FTDI_SIO_SET_DATA_STOP_BITS_2: Final = 0x2 << 11
FTDI_SIO_SET_BREAK: Final = 0x1 << 14

#: MODEM_CTRL's wValue: an enable mask in the high byte, the level in the low byte.
FTDI_SIO_SET_DTR_HIGH: Final = (0x1 << 8) | 1
FTDI_SIO_SET_DTR_LOW: Final = (0x1 << 8) | 0
FTDI_SIO_SET_RTS_HIGH: Final = (0x2 << 8) | 2
FTDI_SIO_SET_RTS_LOW: Final = (0x2 << 8) | 0

#: SET_FLOW_CTRL's wIndex high byte (the low byte is the channel).
FTDI_SIO_DISABLE_FLOW_CTRL: Final = 0x0
FTDI_SIO_RTS_CTS_HS: Final = 0x1 << 8
FTDI_SIO_DTR_DSR_HS: Final = 0x2 << 8
FTDI_SIO_XON_XOFF_HS: Final = 0x4 << 8


class FtdiModemStatus(IntFlag):
    """The first status byte (of GET_MODEM_STATUS and of every IN packet): FTDI_RS0_*."""

    CTS = 1 << 4
    DSR = 1 << 5
    RI = 1 << 6
    RLSD = 1 << 7


class FtdiLineStatus(IntFlag):
    """The second status byte: the line status register, FTDI_RS_*."""

    DR = 1
    OE = 1 << 1
    PE = 1 << 2
    FE = 1 << 3
    BI = 1 << 4
    THRE = 1 << 5
    TEMT = 1 << 6
    FIFO = 1 << 7


#: The modem lines whose changes TIOCMIWAIT waits for (FTDI_STATUS_B0_MASK).
FTDI_STATUS_B0_MASK: Final = int(FtdiModemStatus.CTS | FtdiModemStatus.DSR
                                 | FtdiModemStatus.RI | FtdiModemStatus.RLSD)
#: The line errors that flag received characters (FTDI_RS_ERR_MASK).
FTDI_RS_ERR_MASK: Final = int(FtdiLineStatus.BI | FtdiLineStatus.PE | FtdiLineStatus.FE
                              | FtdiLineStatus.OE)

_CTS: Final = int(FtdiModemStatus.CTS)
_DSR: Final = int(FtdiModemStatus.DSR)
_RI: Final = int(FtdiModemStatus.RI)
_RLSD: Final = int(FtdiModemStatus.RLSD)
_OE: Final = int(FtdiLineStatus.OE)
_PE: Final = int(FtdiLineStatus.PE)
_FE: Final = int(FtdiLineStatus.FE)
_BI: Final = int(FtdiLineStatus.BI)
_TEMT: Final = int(FtdiLineStatus.TEMT)

#: Control message timeouts in ms (WDR_TIMEOUT, WDR_SHORT_TIMEOUT).
WDR_TIMEOUT: Final = 5000
WDR_SHORT_TIMEOUT: Final = 1000

#: TIOCSERGETLSR's answer bit: the transmitter is empty (include/uapi/asm-generic/ioctls.h).
TIOCSER_TEMT: Final = 0x01

#: The latency timer a chip that cannot be asked gets, in ms.
DEFAULT_LATENCY: Final = 16

# -- include/uapi/linux/tty_flags.h: the serial_struct flags ftdi_sio keeps -----------------------

ASYNC_SPD_HI: Final = 1 << 4
ASYNC_SPD_VHI: Final = 1 << 5
ASYNC_SPD_SHI: Final = 1 << 12
ASYNC_LOW_LATENCY: Final = 1 << 13
ASYNC_FLAGS: Final = (1 << 17) - 1
ASYNC_SPD_CUST: Final = ASYNC_SPD_HI | ASYNC_SPD_VHI
ASYNC_SPD_MASK: Final = ASYNC_SPD_HI | ASYNC_SPD_VHI | ASYNC_SPD_SHI

# -- chip types -----------------------------------------------------------------------------------


class FtdiChipType(IntEnum):
    """enum ftdi_chip_type."""

    SIO = 0
    FT232A = 1
    FT232B = 2
    FT2232C = 3
    FT232R = 4
    FT232H = 5
    FT2232H = 6
    FT4232H = 7
    FT4232HA = 8
    FT232HP = 9
    FT233HP = 10
    FT2232HP = 11
    FT2233HP = 12
    FT4232HP = 13
    FT4233HP = 14
    FTX = 15


#: ftdi_chip_name[].
FTDI_CHIP_NAME: Final[dict[FtdiChipType, str]] = {
    FtdiChipType.SIO: "SIO",
    FtdiChipType.FT232A: "FT232A",
    FtdiChipType.FT232B: "FT232B",
    FtdiChipType.FT2232C: "FT2232C/D",
    FtdiChipType.FT232R: "FT232R",
    FtdiChipType.FT232H: "FT232H",
    FtdiChipType.FT2232H: "FT2232H",
    FtdiChipType.FT4232H: "FT4232H",
    FtdiChipType.FT4232HA: "FT4232HA",
    FtdiChipType.FT232HP: "FT232HP",
    FtdiChipType.FT233HP: "FT233HP",
    FtdiChipType.FT2232HP: "FT2232HP",
    FtdiChipType.FT2233HP: "FT2233HP",
    FtdiChipType.FT4232HP: "FT4232HP",
    FtdiChipType.FT4233HP: "FT4233HP",
    FtdiChipType.FTX: "FT-X",
}

_BASE_48MHZ: Final = 48_000_000 // 2
_BASE_120MHZ: Final = 120_000_000 // 2
_BASE_SIO: Final = 12_000_000 // 16


@dataclass(frozen=True)
class _Chip:
    """What ftdi_determine_type sets for one bcdDevice: the type, the baud base and
    whether requests name a channel (False: wIndex 0, the single-channel chips of old)."""

    type: FtdiChipType
    baud_base: int
    channel: bool


#: bcdDevice → chip (ftdi_determine_type's switch); below 0x200 is the original SIO.
_CHIPS: Final[dict[int, _Chip]] = {
    0x200: _Chip(FtdiChipType.FT232A, _BASE_48MHZ, False),
    0x400: _Chip(FtdiChipType.FT232B, _BASE_48MHZ, False),
    0x500: _Chip(FtdiChipType.FT2232C, _BASE_48MHZ, True),
    0x600: _Chip(FtdiChipType.FT232R, _BASE_48MHZ, False),
    0x700: _Chip(FtdiChipType.FT2232H, _BASE_120MHZ, True),
    0x800: _Chip(FtdiChipType.FT4232H, _BASE_120MHZ, True),
    0x900: _Chip(FtdiChipType.FT232H, _BASE_120MHZ, True),
    0x1000: _Chip(FtdiChipType.FTX, _BASE_48MHZ, True),
    0x2800: _Chip(FtdiChipType.FT2233HP, _BASE_120MHZ, True),
    0x2900: _Chip(FtdiChipType.FT4233HP, _BASE_120MHZ, True),
    0x3000: _Chip(FtdiChipType.FT2232HP, _BASE_120MHZ, True),
    0x3100: _Chip(FtdiChipType.FT4232HP, _BASE_120MHZ, True),
    0x3200: _Chip(FtdiChipType.FT233HP, _BASE_120MHZ, True),
    0x3300: _Chip(FtdiChipType.FT232HP, _BASE_120MHZ, True),
    0x3600: _Chip(FtdiChipType.FT4232HA, _BASE_120MHZ, True),
}
_SIO_CHIP: Final = _Chip(FtdiChipType.SIO, _BASE_SIO, False)

#: The chips whose divisor ftdi_232bm_baud_to_divisor computes (up to 3 MBd).
_BM_TYPES: Final = frozenset({FtdiChipType.FT232B, FtdiChipType.FT2232C, FtdiChipType.FT232R,
                              FtdiChipType.FTX})

#: The original SIO's fixed rates (enum ftdi_sio_baudrate).
_SIO_DIVISORS: Final[dict[int, int]] = {
    300: 0, 600: 1, 1200: 2, 2400: 3, 4800: 4, 9600: 5, 19200: 6, 38400: 7, 57600: 8,
    115200: 9,
}


# -- per-port state and quirks --------------------------------------------------------------------


@dataclass
class FtdiPrivate:
    """struct ftdi_private: what the driver keeps per port."""

    chip_type: FtdiChipType = FtdiChipType.SIO
    baud_base: int = 0
    custom_divisor: int = 0
    last_set_data_value: int = 0
    flags: int = 0
    last_dtr_rts: int = 0
    prev_status: int = 0
    transmit_empty: bool = False
    channel: int = 0
    force_baud: int = 0
    force_rtscts: bool = False
    latency: int = 0
    max_packet_size: int = 0
    cfg_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class FtdiQuirk:
    """struct ftdi_quirk: a probe that may decline the interface (process context) and a
    setup of the port's private data (atomic)."""

    probe: Callable[[UsbSerial], Awaitable[int]] | None = None
    port_probe: Callable[[FtdiPrivate], None] | None = None


def _priv(port: UsbSerialPort) -> FtdiPrivate:
    priv = usb_get_serial_port_data(port)
    assert isinstance(priv, FtdiPrivate)
    return priv


def _port(tty: TtyStruct) -> UsbSerialPort:
    port = tty.driver_data
    assert isinstance(port, UsbSerialPort)
    return port


# -- usb helpers the driver uses ------------------------------------------------------------------


def usb_translate_errors(error_code: int) -> int:
    """usb_translate_errors(): 0, -ENOMEM, -ENODEV and -EOPNOTSUPP pass, anything else
    becomes -EIO.  Context: atomic."""
    if error_code in (0, -Errno.ENOMEM, -Errno.ENODEV, -Errno.EOPNOTSUPP):
        return error_code
    return -Errno.EIO


async def _vendor_out(port: UsbSerialPort, request: int, value: int, index: int,
                      timeout_ms: int = WDR_TIMEOUT) -> int:
    """One OUT vendor request without data; bytes moved (0) or a negative errno."""
    dev = port.serial.dev
    return await usb_control_msg(dev, make_pipe(dev, PIPE_CONTROL, 0, False), request,
                                 FTDI_SIO_REQTYPE_OUT, value & 0xFFFF, index & 0xFFFF,
                                 None, 0, timeout_ms)


async def _vendor_in(port: UsbSerialPort, request: int, index: int, buf: bytearray) -> int:
    """One IN vendor request (wValue 0) into `buf`; bytes read or a negative errno."""
    dev = port.serial.dev
    return await usb_control_msg(dev, make_pipe(dev, PIPE_CONTROL, 0, True), request,
                                 FTDI_SIO_REQTYPE_IN, 0, index & 0xFFFF, buf, len(buf),
                                 WDR_TIMEOUT)


# -- baud rate divisors ---------------------------------------------------------------------------


def _c_int(value: int) -> int:
    """`value` as a C int (two's complement, 32 bits)."""
    return (value + 2**31) % 2**32 - 2**31


def _cdiv(x: int, d: int) -> int:
    """C's integer division: the quotient truncated toward zero."""
    quotient = abs(x) // abs(d)
    return quotient if (x >= 0) == (d > 0) else -quotient


def _div_round_closest(x: int, d: int) -> int:
    """DIV_ROUND_CLOSEST() on C ints."""
    x, d = _c_int(x), _c_int(d)
    num = _c_int(x + _cdiv(d, 2) if (x > 0) == (d > 0) else x - _cdiv(d, 2))
    return _c_int(_cdiv(num, d))


#: Bits 16..14 of a divisor for each eighth of its fraction (divfrac[]).
_DIVFRAC: Final = (0, 3, 2, 4, 1, 5, 6, 7)


def ftdi_232am_baud_base_to_divisor(baud: int, base: int) -> int:
    """ftdi_232am_baud_base_to_divisor(): the FT8U232AM's 16-bit divisor — whole part,
    then 0.5/0.25/0.125 in bits 15..14 (x.7/8 rounds up, 1 means the top rate).
    Context: atomic."""
    divisor3 = _div_round_closest(base, 2 * baud)
    if divisor3 & 0x7 == 7:
        divisor3 += 1
    divisor = (divisor3 >> 3) & 0xFFFF
    divisor3 &= 0x7
    if divisor3 == 1:
        divisor |= 0xC000
    elif divisor3 >= 4:
        divisor |= 0x4000
    elif divisor3 != 0:
        divisor |= 0x8000
    elif divisor == 1:
        divisor = 0
    return divisor


def ftdi_232am_baud_to_divisor(baud: int) -> int:
    """ftdi_232am_baud_to_divisor(): on the 48 MHz clock.  Context: atomic."""
    return ftdi_232am_baud_base_to_divisor(baud, 48_000_000)


def _bm_divisor(divisor3: int) -> int:
    divisor = ((divisor3 >> 3) | _DIVFRAC[divisor3 & 0x7] << 14) & 0xFFFFFFFF
    if divisor == 1:
        return 0
    if divisor == 0x4001:
        return 1
    return divisor


def ftdi_232bm_baud_base_to_divisor(baud: int, base: int) -> int:
    """ftdi_232bm_baud_base_to_divisor(): the 17-bit divisor of the BM and later chips —
    the whole part, then eighths coded in bits 16..14 by divfrac; 1.0 becomes 0 (3 MBd on
    48 MHz) and 1.5 becomes 1 (2 MBd).  Context: atomic."""
    return _bm_divisor(_div_round_closest(base, 2 * baud))


def ftdi_232bm_baud_to_divisor(baud: int) -> int:
    """ftdi_232bm_baud_to_divisor(): on the 48 MHz clock.  Context: atomic."""
    return ftdi_232bm_baud_base_to_divisor(baud, 48_000_000)


def ftdi_2232h_baud_base_to_divisor(baud: int, base: int) -> int:
    """ftdi_2232h_baud_base_to_divisor(): the hi-speed chips' divisor (10-bit sampling on
    the 120 MHz clock), coded as the BM one, with bit 17 set to turn off the divide by
    2.5.  Context: atomic."""
    return _bm_divisor(_div_round_closest(8 * base, 10 * baud)) | 0x00020000


def ftdi_2232h_baud_to_divisor(baud: int) -> int:
    """ftdi_2232h_baud_to_divisor(): on the 120 MHz clock.  Context: atomic."""
    return ftdi_2232h_baud_base_to_divisor(baud, 120_000_000)


_TOO_HIGH: Final = "Baud rate too high!"


def _chip_divisor(chip: FtdiChipType, baud: int, product: int) -> tuple[int, int, str | None]:
    """get_ftdi_divisor's switch: (divisor, baud actually set, why the rate was refused
    or None) for the chip."""
    if chip is FtdiChipType.SIO:
        if baud in _SIO_DIVISORS:
            return _SIO_DIVISORS[baud], baud, None
        return _SIO_DIVISORS[9600], 9600, f"Baudrate ({baud}) requested is not supported"
    if chip is FtdiChipType.FT232A:
        if baud <= 3_000_000:
            return ftdi_232am_baud_to_divisor(baud), baud, None
        return ftdi_232am_baud_to_divisor(9600), 9600, _TOO_HIGH
    if chip in _BM_TYPES:
        if baud <= 3_000_000:
            if product in FTDI_NDI_PIDS and baud == 19200:
                baud = 1_200_000
            return ftdi_232bm_baud_to_divisor(baud), baud, None
        return ftdi_232bm_baud_to_divisor(9600), 9600, _TOO_HIGH
    if 1200 <= baud <= 12_000_000:
        return ftdi_2232h_baud_to_divisor(baud), baud, None
    if baud < 1200:
        return ftdi_232bm_baud_to_divisor(baud), baud, None
    return ftdi_232bm_baud_to_divisor(9600), 9600, _TOO_HIGH


def get_ftdi_divisor(tty: TtyStruct, port: UsbSerialPort) -> int:
    """get_ftdi_divisor(): the divisor for the tty's speed (B0: 9600; 38400 with
    ASYNC_SPD_CUST and a custom divisor: baud_base / custom_divisor), falling back to
    9600 when the chip cannot do the rate; the speed set is written back to the termios
    (tty_encode_baud_rate).  Context: atomic."""
    priv = _priv(port)
    baud = _c_int(tty_get_baud_rate(tty))
    port.log.dev_dbg(port, f"get_ftdi_divisor - tty_get_baud_rate reports speed {baud}")
    if (baud == 38400 and priv.flags & ASYNC_SPD_MASK == ASYNC_SPD_CUST
            and priv.custom_divisor):
        baud = priv.baud_base // priv.custom_divisor
        port.log.dev_dbg(port, f"get_ftdi_divisor - custom divisor {priv.custom_divisor} "
                               f"sets baud rate to {baud}")
    if not baud:
        baud = 9600
    desc = port.serial.dev.descriptor
    product = desc.idProduct if desc is not None else 0
    divisor, baud, refused = _chip_divisor(priv.chip_type, baud, product)
    if refused is None:
        port.log.dev_dbg(port, f"get_ftdi_divisor - Baud rate set to {baud} (divisor "
                               f"{divisor:#X}) on chip {FTDI_CHIP_NAME[priv.chip_type]}")
    else:
        port.log.dev_dbg(port, f"get_ftdi_divisor - {refused}")
    tty_encode_baud_rate(tty, baud & 0xFFFFFFFF, baud & 0xFFFFFFFF)
    return divisor


async def change_speed(tty: TtyStruct, port: UsbSerialPort) -> int:
    """change_speed(): SET_BAUD_RATE with the divisor's low 16 bits in wValue and the rest
    in wIndex (in its high byte, the channel in the low byte, on channel chips); the
    result of the request.  Context: may sleep."""
    priv = _priv(port)
    index_value = get_ftdi_divisor(tty, port)
    value = index_value & 0xFFFF
    index = (index_value >> 16) & 0xFFFF
    if priv.channel:
        index = ((index << 8) | priv.channel) & 0xFFFF
    return await _vendor_out(port, FtdiRequest.SET_BAUD_RATE, value, index,
                             WDR_SHORT_TIMEOUT)


# -- modem control --------------------------------------------------------------------------------


def _level(bit: int, set: int, clear: int) -> str:
    return "HIGH" if set & bit else "LOW" if clear & bit else "unchanged"


async def update_mctrl(port: UsbSerialPort, set: int, clear: int) -> int:
    """update_mctrl(): raise the DTR/RTS lines in `set`, drop those in `clear` (`set`
    wins) with one MODEM_CTRL request; 0, or the request's error through
    usb_translate_errors.  Context: may sleep."""
    if not (set | clear) & (TIOCM_DTR | TIOCM_RTS):
        port.log.dev_dbg(port, "update_mctrl - DTR|RTS not being set|cleared")
        return 0
    priv = _priv(port)
    clear &= ~set
    value = 0
    value |= FTDI_SIO_SET_DTR_LOW if clear & TIOCM_DTR else 0
    value |= FTDI_SIO_SET_RTS_LOW if clear & TIOCM_RTS else 0
    value |= FTDI_SIO_SET_DTR_HIGH if set & TIOCM_DTR else 0
    value |= FTDI_SIO_SET_RTS_HIGH if set & TIOCM_RTS else 0
    rv = await _vendor_out(port, FtdiRequest.MODEM_CTRL, value, priv.channel)
    lines = (f"DTR {_level(TIOCM_DTR, set, clear)}, "
             f"RTS {_level(TIOCM_RTS, set, clear)}")
    if rv < 0:
        port.log.dev_dbg(port, f"update_mctrl Error from MODEM_CTRL urb: {lines}")
        return usb_translate_errors(rv)
    port.log.dev_dbg(port, f"update_mctrl - {lines}")
    priv.last_dtr_rts = (priv.last_dtr_rts & ~clear) | set
    return rv


async def set_mctrl(port: UsbSerialPort, set: int) -> int:
    """set_mctrl(): raise the lines in `set`.  Context: may sleep."""
    return await update_mctrl(port, set, 0)


async def clear_mctrl(port: UsbSerialPort, clear: int) -> int:
    """clear_mctrl(): drop the lines in `clear`.  Context: may sleep."""
    return await update_mctrl(port, 0, clear)


async def ftdi_get_modem_status(port: UsbSerialPort, status: bytearray) -> int:
    """ftdi_get_modem_status(): GET_MODEM_STATUS into `status` (two bytes; the SIO has
    only the first, the second is then 0); the number of bytes the chip gave, or a
    negative errno after "failed to get modem status: %d".  Context: may sleep."""
    priv = _priv(port)
    buf = bytearray(1 if priv.chip_type is FtdiChipType.SIO else 2)
    ret = await _vendor_in(port, FtdiRequest.GET_MODEM_STATUS, priv.channel, buf)
    if ret < 1:
        port.log.dev_err(port, f"failed to get modem status: {ret}")
        return usb_translate_errors(-Errno.EIO if ret >= 0 else ret)
    status[0] = buf[0]
    status[1] = buf[1] if ret > 1 else 0
    port.log.dev_dbg(port, f"ftdi_get_modem_status - 0x{status[0]:02x}{status[1]:02x}")
    return ret


#: GET_MODEM_STATUS's first byte → TIOCM bit.
_MODEM_LINES: Final = ((_DSR, TIOCM_DSR), (_CTS, TIOCM_CTS), (_RI, TIOCM_RI),
                       (_RLSD, TIOCM_CD))


async def ftdi_tiocmget(tty: TtyStruct) -> int:
    """ftdi_tiocmget(): the input lines as the chip reports them, the output lines as last
    set; a negative errno when the chip cannot be asked.  Context: may sleep."""
    port = _port(tty)
    buf = bytearray(2)
    ret = await ftdi_get_modem_status(port, buf)
    if ret < 0:
        return ret
    lines = sum(bit for mask, bit in _MODEM_LINES if buf[0] & mask)
    return lines | _priv(port).last_dtr_rts


async def ftdi_tiocmset(tty: TtyStruct, set: int, clear: int) -> int:
    """ftdi_tiocmset(): update_mctrl.  Context: may sleep."""
    return await update_mctrl(_port(tty), set, clear)


async def ftdi_dtr_rts(port: UsbSerialPort, on: bool) -> None:
    """ftdi_dtr_rts(): raise DTR and RTS, or turn flow control off and drop them.
    Context: may sleep."""
    priv = _priv(port)
    if not on:
        if await _vendor_out(port, FtdiRequest.SET_FLOW_CTRL, 0, priv.channel) < 0:
            port.log.dev_err(port, "error from flowcontrol urb")
        await clear_mctrl(port, TIOCM_DTR | TIOCM_RTS)
    else:
        await set_mctrl(port, TIOCM_DTR | TIOCM_RTS)


# -- the latency timer ----------------------------------------------------------------------------


def _has_latency_timer(priv: FtdiPrivate) -> bool:
    return priv.chip_type not in (FtdiChipType.SIO, FtdiChipType.FT232A)


async def write_latency_timer(port: UsbSerialPort) -> int:
    """write_latency_timer(): SET_LATENCY_TIMER with the port's latency (1 ms with
    ASYNC_LOW_LATENCY); -EINVAL for chips without one, else the request's result, after
    "Unable to write latency timer: %i" when it fails.  Context: may sleep."""
    priv = _priv(port)
    if not _has_latency_timer(priv):
        return -Errno.EINVAL
    latency = 1 if priv.flags & ASYNC_LOW_LATENCY else priv.latency
    port.log.dev_dbg(port, f"write_latency_timer: setting latency timer = {latency}")
    rv = await _vendor_out(port, FtdiRequest.SET_LATENCY_TIMER, latency, priv.channel)
    if rv < 0:
        port.log.dev_err(port, f"Unable to write latency timer: {rv}")
    return rv


async def _read_latency_timer(port: UsbSerialPort) -> int:
    """_read_latency_timer(): GET_LATENCY_TIMER as usb_control_msg_recv does it — the
    value, or a negative errno (-EREMOTEIO for a short answer)."""
    buf = bytearray(1)
    rv = await _vendor_in(port, FtdiRequest.GET_LATENCY_TIMER, _priv(port).channel, buf)
    if rv < 0:
        return rv
    return buf[0] if rv == 1 else -Errno.EREMOTEIO


async def read_latency_timer(port: UsbSerialPort) -> int:
    """read_latency_timer(): the chip's latency timer into the port's state; 0, -EINVAL
    for chips without one, or the error after "Unable to read latency timer: %i".
    Context: may sleep."""
    priv = _priv(port)
    if not _has_latency_timer(priv):
        return -Errno.EINVAL
    rv = await _read_latency_timer(port)
    if rv < 0:
        port.log.dev_err(port, f"Unable to read latency timer: {rv}")
        return rv
    priv.latency = rv
    return 0


# -- TIOCGSERIAL, TIOCSSERIAL, TIOCSERGETLSR ------------------------------------------------------


def get_serial_info(tty: TtyStruct, ss: SerialStruct) -> None:
    """get_serial_info(): the ASYNC flags, the baud base and the custom divisor.
    Context: atomic."""
    priv = _priv(_port(tty))
    ss.flags = priv.flags
    ss.baud_base = priv.baud_base
    ss.custom_divisor = priv.custom_divisor


async def set_serial_info(tty: TtyStruct, ss: SerialStruct) -> int:
    """set_serial_info(): keep the flags and custom divisor, rewrite the latency timer,
    and when the SPD flags or the custom divisor in use changed, warn that they are
    deprecated (unless cleared) and set the speed again; 0.  Context: may sleep."""
    port = _port(tty)
    priv = _priv(port)
    async with priv.cfg_lock:
        old_flags, old_divisor = priv.flags, priv.custom_divisor
        priv.flags = ss.flags & ASYNC_FLAGS
        priv.custom_divisor = ss.custom_divisor
        await write_latency_timer(port)
        custom = priv.flags & ASYNC_SPD_MASK == ASYNC_SPD_CUST
        if ((priv.flags ^ old_flags) & ASYNC_SPD_MASK
                or (custom and priv.custom_divisor != old_divisor)):
            if priv.flags & ASYNC_SPD_MASK:
                port.log.dev_warn(port, "use of SPD flags is deprecated")
            await change_speed(tty, port)
    return 0


def get_lsr_info(port: UsbSerialPort, arg: Any) -> int:
    """get_lsr_info(): TIOCSER_TEMT (or 0) as an unsigned int into the user buffer `arg`;
    -EFAULT when it is not a writable buffer of 4 bytes.  Context: atomic."""
    result = TIOCSER_TEMT if _priv(port).transmit_empty else 0
    try:
        struct.pack_into("<I", arg, 0, result)
    except (TypeError, struct.error):
        return -Errno.EFAULT
    return 0


async def ftdi_ioctl(tty: TtyStruct, cmd: int, arg: Any) -> int:
    """ftdi_ioctl(): TIOCSERGETLSR; -ENOIOCTLCMD for everything else.
    Context: may sleep."""
    if cmd == TIOCSERGETLSR:
        return get_lsr_info(_port(tty), arg)
    return -ENOIOCTLCMD


# -- probing --------------------------------------------------------------------------------------


async def ftdi_determine_type(port: UsbSerialPort) -> int:
    """ftdi_determine_type(): chip type, baud base and channel from bcdDevice (an FT232A
    without serial number whose latency timer answers is an FT232B), logged as "Detected
    %s" on the USB device; -ENODEV after "unknown device type: 0x%02x".
    Context: may sleep."""
    priv = _priv(port)
    serial = port.serial
    desc = serial.dev.descriptor
    version = desc.bcdDevice if desc is not None else 0
    ifnum = serial.interface.cur_altsetting.desc.bInterfaceNumber or 0
    chip = _CHIPS.get(version, _SIO_CHIP if version < 0x200 else None)
    if chip is None:
        port.log.dev_err(port, f"unknown device type: 0x{version:02x}")
        return -Errno.ENODEV
    priv.chip_type = chip.type
    priv.baud_base = chip.baud_base
    priv.channel = CHANNEL_A + ifnum if chip.channel else 0
    if (chip.type is FtdiChipType.FT232A and desc is not None and desc.iSerialNumber == 0
            and await _read_latency_timer(port) >= 0):
        priv.chip_type = FtdiChipType.FT232B
    port.log.dev_info(serial.dev, f"Detected {FTDI_CHIP_NAME[priv.chip_type]}")
    return 0


def ftdi_set_max_packet_size(port: UsbSerialPort) -> None:
    """ftdi_set_max_packet_size(): the packet size of the interface's last endpoint,
    after giving every endpoint that claims 0 a size of 64 ("Overriding wMaxPacketSize on
    endpoint %d").  Context: atomic."""
    priv = _priv(port)
    endpoints = port.serial.interface.cur_altsetting.endpoint
    for ep in endpoints:
        if not ep.desc.wMaxPacketSize:
            ep.desc = replace(ep.desc, wMaxPacketSize=0x40)
            port.log.dev_warn(port, f"Overriding wMaxPacketSize on endpoint "
                                    f"{ep.address & 0x0F}")
    if endpoints:
        priv.max_packet_size = endpoints[-1].maxp


async def ftdi_probe(serial: UsbSerial, id: UsbDeviceId) -> int:
    """ftdi_probe(): the entry's quirk may decline the interface; the quirk becomes the
    serial's data.  Context: may sleep."""
    quirk = id.driver_info
    if isinstance(quirk, FtdiQuirk) and quirk.probe is not None:
        ret = await quirk.probe(serial)
        if ret:
            return ret
    usb_set_serial_data(serial, id.driver_info)
    return 0


async def ftdi_port_probe(port: UsbSerialPort) -> int:
    """ftdi_port_probe(): the port's private data, the quirk's settings, the chip type,
    the packet size and the latency timer (16 ms when it cannot be read); 0 or -ENODEV.
    Context: may sleep."""
    quirk = usb_get_serial_data(port.serial)
    priv = FtdiPrivate()
    if isinstance(quirk, FtdiQuirk) and quirk.port_probe is not None:
        quirk.port_probe(priv)
    usb_set_serial_port_data(port, priv)
    result = await ftdi_determine_type(port)
    if result:
        usb_set_serial_port_data(port, None)
        return result
    ftdi_set_max_packet_size(port)
    if await read_latency_timer(port) < 0:
        priv.latency = DEFAULT_LATENCY
    await write_latency_timer(port)
    return 0


def ftdi_port_remove(port: UsbSerialPort) -> None:
    """ftdi_port_remove(): the private data goes.  Context: may sleep."""
    usb_set_serial_port_data(port, None)


# -- the quirks -----------------------------------------------------------------------------------


def ftdi_USB_UIRT_setup(priv: FtdiPrivate) -> None:
    """ftdi_USB_UIRT_setup(): 38400 always, meaning 312500 (divisor 77)."""
    priv.flags |= ASYNC_SPD_CUST
    priv.custom_divisor = 77
    priv.force_baud = 38400


def ftdi_HE_TIRA1_setup(priv: FtdiPrivate) -> None:
    """ftdi_HE_TIRA1_setup(): 38400 always, meaning 100000 (divisor 240), and RTS/CTS."""
    priv.flags |= ASYNC_SPD_CUST
    priv.custom_divisor = 240
    priv.force_baud = 38400
    priv.force_rtscts = True


async def ftdi_NDI_device_setup(serial: UsbSerial) -> int:
    """ftdi_NDI_device_setup(): the latency timer the `ndi_latency_timer` parameter asks
    for (1..99), "NDI device with a latency value of %d"; always 0.
    Context: may sleep."""
    udev = serial.dev
    latency = ndi_latency_timer
    if latency == 0:
        latency = 1
    if latency > 99:
        latency = 99
    log = serial.core.log
    log.dev_dbg(udev, f"ftdi_NDI_device_setup setting NDI device latency to {latency}")
    log.dev_info(udev, f"NDI device with a latency value of {latency}")
    await usb_control_msg(udev, make_pipe(udev, PIPE_CONTROL, 0, False),
                          FtdiRequest.SET_LATENCY_TIMER, FTDI_SIO_REQTYPE_OUT,
                          latency & 0xFFFF, 0, None, 0, WDR_TIMEOUT)
    return 0


async def ftdi_jtag_probe(serial: UsbSerial) -> int:
    """ftdi_jtag_probe(): interface 0 of a JTAG adapter is left to user space
    ("Ignoring interface reserved for JTAG", -ENODEV).  Context: may sleep."""
    intf = serial.interface
    if (intf.cur_altsetting.desc.bInterfaceNumber or 0) == 0:
        serial.core.log.dev_info(intf, "Ignoring interface reserved for JTAG")
        return -Errno.ENODEV
    return 0


#: The products of 0403:6010 whose first interface is JTAG (ftdi_8u2232c_probe).
_JTAG_PRODUCTS: Final = frozenset({"Arrow USB Blaster", "BeagleBone/XDS100V2",
                                   "SNAP Connect E10"})


async def ftdi_8u2232c_probe(serial: UsbSerial) -> int:
    """ftdi_8u2232c_probe(): a dual-channel chip from CALAO Systems or sold as one of
    `_JTAG_PRODUCTS` is a JTAG adapter.  Context: may sleep."""
    udev = serial.dev
    if udev.manufacturer == "CALAO Systems" or udev.product in _JTAG_PRODUCTS:
        return await ftdi_jtag_probe(serial)
    return 0


#: The ftdi_quirk each id-table quirk names.
QUIRKS: Final[dict[Quirk, FtdiQuirk]] = {
    Quirk.JTAG: FtdiQuirk(probe=ftdi_jtag_probe),
    Quirk.NDI_DEVICE: FtdiQuirk(probe=ftdi_NDI_device_setup),
    Quirk.USB_UIRT: FtdiQuirk(port_probe=ftdi_USB_UIRT_setup),
    Quirk.HE_TIRA1: FtdiQuirk(port_probe=ftdi_HE_TIRA1_setup),
    Quirk.FT8U2232C: FtdiQuirk(probe=ftdi_8u2232c_probe),
}


# -- open, termios, break -------------------------------------------------------------------------


async def ftdi_open(tty: TtyStruct | None, port: UsbSerialPort) -> int:
    """ftdi_open(): reset the channel (errors ignored), send the whole termios, start
    reading.  Context: may sleep."""
    await _vendor_out(port, FtdiRequest.RESET, FTDI_SIO_RESET_SIO, _priv(port).channel)
    if tty is not None:
        await ftdi_set_termios(tty, port, None)
    return usb_serial_generic_open(tty, port)


#: The c_cflag bits SET_DATA carries.
_DATA_BITS_MASK: Final = int(Cflag.CSIZE | Cflag.PARODD | Cflag.PARENB | Cflag.CMSPAR
                             | Cflag.CSTOPB)

#: (PARENB and CMSPAR set, PARODD set) → SET_DATA's parity field.
_PARITY: Final[dict[tuple[bool, bool], int]] = {
    (False, False): FTDI_SIO_SET_DATA_PARITY_EVEN,
    (False, True): FTDI_SIO_SET_DATA_PARITY_ODD,
    (True, False): FTDI_SIO_SET_DATA_PARITY_SPACE,
    (True, True): FTDI_SIO_SET_DATA_PARITY_MARK,
}

#: CSIZE → SET_DATA's data bits (CS5: 0, which the chips take as 8).
_DATA_BITS: Final[dict[int, int]] = {int(Cflag.CS5): 0, int(Cflag.CS7): 7,
                                     int(Cflag.CS8): 8}


def ftdi_set_data_value(cflag: int) -> int:
    """SET_DATA's wValue for a c_cflag: stop bits, parity (mark and space with CMSPAR) and
    data bits.  Context: atomic."""
    value = FTDI_SIO_SET_DATA_STOP_BITS_2 if cflag & Cflag.CSTOPB else \
        FTDI_SIO_SET_DATA_STOP_BITS_1
    if cflag & Cflag.PARENB:
        value |= _PARITY[bool(cflag & Cflag.CMSPAR), bool(cflag & Cflag.PARODD)]
    else:
        value |= FTDI_SIO_SET_DATA_PARITY_NONE
    return value | _DATA_BITS.get(cflag & Cflag.CSIZE, 8)


async def _set_data(port: UsbSerialPort, cflag: int) -> None:
    priv = _priv(port)
    priv.last_set_data_value = ftdi_set_data_value(cflag)
    if await _vendor_out(port, FtdiRequest.SET_DATA, priv.last_set_data_value,
                         priv.channel, WDR_SHORT_TIMEOUT) < 0:
        port.log.dev_err(port, "ftdi_set_termios FAILED to set databits/stopbits/parity")


async def _set_speed(tty: TtyStruct, port: UsbSerialPort, cflag: int,
                     old: Ktermios | None) -> None:
    priv = _priv(port)
    if cflag & Cflag.CBAUD == B0:
        if await _vendor_out(port, FtdiRequest.SET_FLOW_CTRL, 0, priv.channel) < 0:
            port.log.dev_err(port, "ftdi_set_termios error from disable flowcontrol urb")
        await clear_mctrl(port, TIOCM_DTR | TIOCM_RTS)
        return
    async with priv.cfg_lock:
        if await change_speed(tty, port):
            port.log.dev_err(port, "ftdi_set_termios urb failed to set baudrate")
    if old is not None and int(old.c_cflag) & Cflag.CBAUD == B0:
        await set_mctrl(port, TIOCM_DTR | TIOCM_RTS)


async def _set_flow(tty: TtyStruct, port: UsbSerialPort) -> None:
    termios = tty.termios
    value = 0
    if int(termios.c_cflag) & Cflag.CRTSCTS:
        port.log.dev_dbg(port, "enabling rts/cts flow control")
        index = FTDI_SIO_RTS_CTS_HS
    elif int(termios.c_iflag) & Iflag.IXON:
        port.log.dev_dbg(port, "enabling xon/xoff flow control")
        index = FTDI_SIO_XON_XOFF_HS
        value = termios.c_cc[VSTOP] << 8 | termios.c_cc[VSTART]
    else:
        port.log.dev_dbg(port, "disabling flow control")
        index = FTDI_SIO_DISABLE_FLOW_CTRL
    ret = await _vendor_out(port, FtdiRequest.SET_FLOW_CTRL, value,
                            index | _priv(port).channel)
    if ret < 0:
        port.log.dev_err(port, f"failed to set flow control: {ret}")


async def ftdi_set_termios(tty: TtyStruct, port: UsbSerialPort, old: Ktermios | None) -> None:
    """ftdi_set_termios(): apply the tty's termios (`old`: what it replaces, None at
    open).  A forced speed or RTS/CTS of a quirk goes in first; CS6 is refused ("requested
    CSIZE setting not supported": the old size, or CS8, stays).  Data bits, parity and stop
    bits go out when they changed, then the speed (B0: flow control off, DTR and RTS
    dropped; leaving B0 raises them again) when anything of c_cflag or the speeds changed;
    flow control always.  Context: may sleep."""
    priv = _priv(port)
    termios = tty.termios
    if priv.force_baud and int(termios.c_cflag) & Cflag.CBAUD != B0:
        port.log.dev_dbg(port, "ftdi_set_termios: forcing baud rate for this device")
        tty_encode_baud_rate(tty, priv.force_baud, priv.force_baud)
    if priv.force_rtscts:
        port.log.dev_dbg(port, "ftdi_set_termios: forcing rtscts for this device")
        termios.c_cflag = int(termios.c_cflag) | Cflag.CRTSCTS
    if int(termios.c_cflag) & Cflag.CSIZE == Cflag.CS6:
        port.log.dev_warn(port, "requested CSIZE setting not supported")
        size = int(old.c_cflag) & Cflag.CSIZE if old is not None else Cflag.CS8
        termios.c_cflag = (int(termios.c_cflag) & ~Cflag.CSIZE) | size
    cflag = int(termios.c_cflag)
    data = speed = True
    if old is not None:
        if (int(old.c_cflag) == cflag and old.c_ispeed == termios.c_ispeed
                and old.c_ospeed == termios.c_ospeed):
            data = speed = False
        elif int(old.c_cflag) & _DATA_BITS_MASK == cflag & _DATA_BITS_MASK:
            data = False
    if data:
        await _set_data(port, cflag)
    if speed:
        await _set_speed(tty, port, cflag, old)
    await _set_flow(tty, port)


async def ftdi_break_ctl(tty: TtyStruct, break_state: int) -> int:
    """ftdi_break_ctl(): SET_DATA with the last data settings, and the break bit while
    `break_state` is non-zero; 0, or the error after "ftdi_break_ctl FAILED to
    enable/disable break state (state was %d)".  Context: may sleep."""
    port = _port(tty)
    priv = _priv(port)
    value = priv.last_set_data_value
    if break_state:
        value |= FTDI_SIO_SET_BREAK
    ret = await _vendor_out(port, FtdiRequest.SET_DATA, value, priv.channel)
    if ret < 0:
        port.log.dev_err(port, f"ftdi_break_ctl FAILED to enable/disable break state "
                               f"(state was {break_state})")
        return ret
    port.log.dev_dbg(port, f"ftdi_break_ctl break state is {break_state} - urb is {value}")
    return 0


async def ftdi_tx_empty(port: UsbSerialPort) -> bool:
    """ftdi_tx_empty(): False only when the chip answers with a line status whose TEMT
    bit is clear.  Context: may sleep."""
    buf = bytearray(2)
    ret = await ftdi_get_modem_status(port, buf)
    return not (ret == 2 and not buf[1] & _TEMT)


# -- data -----------------------------------------------------------------------------------------


def ftdi_prepare_write_buffer(port: UsbSerialPort, dest: bytearray, size: int) -> int:
    """ftdi_prepare_write_buffer(): up to `size` bytes of the write FIFO into `dest`,
    counted as sent; the original SIO wants each packet to start with a byte holding its
    length (`(count << 2) | 1`).  Returns the bytes to send.  Context: atomic."""
    priv = _priv(port)
    if priv.chip_type is not FtdiChipType.SIO:
        count = port.write_fifo.get_into(dest, size)
        port.icount.tx += count
        return count
    view = memoryview(dest)
    step = priv.max_packet_size or size
    count = 0
    for i in range(0, size - 1, step):
        taken = port.write_fifo.get_into(view[i + 1:], min(size - i, step) - 1)
        if not taken:
            break
        port.icount.tx += taken
        dest[i] = (taken << 2) + 1
        count += taken + 1
    return count


def _modem_status_changed(port: UsbSerialPort, priv: FtdiPrivate, status: int) -> None:
    """Count the modem lines that changed, handle a carrier change, wake TIOCMIWAIT."""
    diff = status ^ priv.prev_status
    icount = port.icount
    if diff & _CTS:
        icount.cts += 1
    if diff & _DSR:
        icount.dsr += 1
    if diff & _RI:
        icount.rng += 1
    if diff & _RLSD:
        icount.dcd += 1
        tty = tty_port_tty_get(port.port)
        if tty is not None:
            usb_serial_handle_dcd_change(port, tty, bool(status & _RLSD))
        tty_kref_put(tty)
    port.port.delta_msr_wait.wake_up()
    priv.prev_status = status


def ftdi_process_packet(port: UsbSerialPort, priv: FtdiPrivate, buf: memoryview,
                        length: int) -> int:
    """ftdi_process_packet(): one packet — two status bytes, then data.  Modem-line
    changes are counted (once each); the transmitter-empty bit is kept; a packet with data
    and line errors flags its characters (break — only for a NUL last character — over
    parity over framing; an overrun is a NUL flagged TTY_OVERRUN before them) and counts
    them.  Returns the data bytes given to the tty.  Context: atomic."""
    if length < 2:
        port.log.dev_dbg(port, "malformed packet")
        return 0
    status = buf[0] & FTDI_STATUS_B0_MASK
    if status != priv.prev_status:
        _modem_status_changed(port, priv, status)
    line = buf[1]
    priv.transmit_empty = bool(line & _TEMT)
    if length == 2:
        return 0
    tport = port.port
    icount = port.icount
    flag = TTY_NORMAL
    brkint = False
    if line & FTDI_RS_ERR_MASK:
        if line & _BI and buf[length - 1] == 0:
            icount.brk += 1
            brkint = True
        if line & _PE:
            flag = TTY_PARITY
            icount.parity += 1
        elif line & _FE:
            flag = TTY_FRAME
            icount.frame += 1
        if line & _OE:
            icount.overrun += 1
            tty_insert_flip_char(tport, 0, TTY_OVERRUN)
    icount.rx += length - 2
    if brkint:
        tty_insert_flip_string_fixed_flag(tport, buf[2:length - 1], flag, length - 3)
        tty_insert_flip_char(tport, buf[length - 1], TTY_BREAK)
    else:
        tty_insert_flip_string_fixed_flag(tport, buf[2:length], flag, length - 2)
    return length - 2


def ftdi_process_read_urb(urb: Urb) -> None:
    """ftdi_process_read_urb(): every max-packet-sized chunk of the transfer is one
    packet with its own status bytes; push what they held to the tty.
    Context: atomic."""
    port: UsbSerialPort = urb.context
    priv = _priv(port)
    actual = urb.actual_length
    data = memoryview(urb.transfer_buffer)
    step = priv.max_packet_size or actual or 1
    count = 0
    for i in range(0, actual, step):
        length = min(actual - i, step)
        count += ftdi_process_packet(port, priv, data[i:i + length], length)
    if count:
        tty_flip_buffer_push(port.port)


# -- sysfs ----------------------------------------------------------------------------------------


def latency_timer_show(port: UsbSerialPort) -> str:
    """latency_timer_show(): the latency in ms (1 with ASYNC_LOW_LATENCY)."""
    priv = _priv(port)
    return "1\n" if priv.flags & ASYNC_LOW_LATENCY else f"{priv.latency}\n"


def _kstrtoul(data: bytes, base: int, limit: int) -> int | None:
    """kstrtou8/kstrtouint: the number, or None where the kernel returns an error."""
    try:
        value = kstrtoull(data.decode("latin-1"), base)
    except ValueError:
        return None
    return value if value <= limit else None


async def latency_timer_store(port: UsbSerialPort, data: bytes) -> int:
    """latency_timer_store(): a decimal 0..255 becomes the latency timer; -EINVAL for
    anything else, -EIO when the chip refuses it.  Context: may sleep."""
    value = _kstrtoul(data, 10, 0xFF)
    if value is None:
        return -Errno.EINVAL
    _priv(port).latency = value
    if await write_latency_timer(port) < 0:
        return -Errno.EIO
    return len(data)


async def event_char_store(port: UsbSerialPort, data: bytes) -> int:
    """event_char_store(): SET_EVENT_CHAR with the value written (the character in the
    low 8 bits, the enable bit 0x100; C notation, below 0x200); -EINVAL, or -EIO when the
    chip refuses it.  Context: may sleep."""
    value = _kstrtoul(data, 0, 0x1FF)
    if value is None:
        return -Errno.EINVAL
    port.log.dev_dbg(port, f"event_char_store: setting event char = 0x{value:03x}")
    rv = await _vendor_out(port, FtdiRequest.SET_EVENT_CHAR, value, _priv(port).channel)
    if rv < 0:
        port.log.dev_dbg(port, f"Unable to write event character: {rv}")
        return -Errno.EIO
    return len(data)


def _chip_of(port: UsbSerialPort) -> FtdiChipType | None:
    priv = usb_get_serial_port_data(port)
    return priv.chip_type if isinstance(priv, FtdiPrivate) else None


#: ftdi_groups with ftdi_is_visible: no event character on the SIO, no latency timer on
#: the SIO and the FT232A.
FTDI_ATTRS: Final[tuple[SysAttr[UsbSerialPort], ...]] = (
    SysAttr("event_char", None, event_char_store, 0o200,
            visible=lambda p: _chip_of(p) not in (None, FtdiChipType.SIO)),
    SysAttr("latency_timer", latency_timer_show, latency_timer_store, 0o644,
            visible=lambda p: _chip_of(p) not in (None, FtdiChipType.SIO,
                                                  FtdiChipType.FT232A)),
)


# -- the module -----------------------------------------------------------------------------------

ndi_latency_timer = module_param("ndi_latency_timer", int, 0o644, default=1)
module_param_desc("ndi_latency_timer", "NDI device latency timer override")


def _usb_id(entry: FtdiId) -> UsbDeviceId:
    info: object = QUIRKS[entry.quirk] if entry.quirk is not None else 0
    if entry.interface is None:
        return usb_device(FTDI_VID, entry.product, driver_info=info)
    return usb_device_interface_number(FTDI_VID, entry.product, entry.interface,
                                       driver_info=info)


#: id_table_combined: the FTDI_VID entries of Linux's table, then the terminator.
id_table_combined: Final[list[UsbDeviceId]] = [*map(_usb_id, FTDI_ID_TABLE), UsbDeviceId()]
module_device_table("usb", id_table_combined)

ftdi_device = UsbSerialDriver(
    "ftdi_sio",
    description="FTDI USB Serial Device",
    id_table=id_table_combined,
    num_ports=1,
    bulk_in_size=512,
    bulk_out_size=256,
    dev_groups=FTDI_ATTRS,
    probe=ftdi_probe,
    port_probe=ftdi_port_probe,
    port_remove=ftdi_port_remove,
    open=ftdi_open,
    dtr_rts=ftdi_dtr_rts,
    throttle=usb_serial_generic_throttle,
    unthrottle=usb_serial_generic_unthrottle,
    process_read_urb=ftdi_process_read_urb,
    prepare_write_buffer=ftdi_prepare_write_buffer,
    tiocmget=ftdi_tiocmget,
    tiocmset=ftdi_tiocmset,
    tiocmiwait=usb_serial_generic_tiocmiwait,
    get_icount=usb_serial_generic_get_icount,
    ioctl=ftdi_ioctl,
    get_serial=get_serial_info,
    set_serial=set_serial_info,
    set_termios=ftdi_set_termios,
    break_ctl=ftdi_break_ctl,
    tx_empty=ftdi_tx_empty,
)

serial_drivers = [ftdi_device]

module_usb_serial_driver(serial_drivers, id_table_combined)

module_info("depends", "usbserial")
module_author(DRIVER_AUTHOR)
module_description(DRIVER_DESC)
module_license("GPL")
