"""Terminal settings — counterpart of include/uapi/asm-generic/termbits.h and
termbits-common.h (the flag words, the c_cc indices, the B-codes), ioctls.h (the tty ioctl
numbers, TIOCM_* modem bits), include/uapi/linux/serial.h (struct serial_icounter_struct,
struct serial_struct), include/linux/termios_internal.h (INIT_C_CC), drivers/tty/
tty_baudrate.c (the baud table and its encoding rules), tty_termios_copy_hw and
tty_termios_hw_change of tty_ioctl.c, and tty_std_termios of tty_io.c, all with the values
of Linux on x86-64.

`Ktermios` is struct ktermios, the settings a tty keeps; it packs to and from the user ABI
(struct termios, 36 bytes; struct termios2, 44 bytes; struct termio, 18 bytes).  The last
part is what glibc adds on top for applications: `tcgetattr`, `tcsetattr`, `cfmakeraw`,
`cfsetspeed` and friends, working on an open `AsyncFile` through its ioctl (always with
the termios2 calls, so that any speed can be set, as glibc 2.42 does).  Nothing here acts
on a tty: the calls that do are in tty_ioctl.py and tty_io.py.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, fields
from enum import IntFlag
from typing import TYPE_CHECKING, Any, ClassVar, Final

from .fs import ior, iow

if TYPE_CHECKING:
    from .syscalls import AsyncFile

__all__ = [
    "ASYNC_CLOSING_WAIT_INF",
    "ASYNC_CLOSING_WAIT_NONE",
    "ASYNC_HUP_NOTIFY",
    "B0",
    "B50",
    "B75",
    "B110",
    "B134",
    "B150",
    "B200",
    "B300",
    "B600",
    "B1200",
    "B1800",
    "B2400",
    "B4800",
    "B9600",
    "B19200",
    "B38400",
    "B57600",
    "B115200",
    "B230400",
    "B460800",
    "B500000",
    "B576000",
    "B921600",
    "B1000000",
    "B1152000",
    "B1500000",
    "B2000000",
    "B2500000",
    "B3000000",
    "B3500000",
    "B4000000",
    "BAUD_BITS",
    "BAUD_TABLE",
    "DISABLED_CHAR",
    "FIONREAD",
    "IBSHIFT",
    "INIT_C_CC",
    "NCCS",
    "TCFLSH",
    "TCGETA",
    "TCGETS",
    "TCGETS2",
    "TCIFLUSH",
    "TCIOFF",
    "TCIOFLUSH",
    "TCION",
    "TCOFLUSH",
    "TCOOFF",
    "TCOON",
    "TCSADRAIN",
    "TCSAFLUSH",
    "TCSANOW",
    "TCSBRK",
    "TCSBRKP",
    "TCSETA",
    "TCSETAF",
    "TCSETAW",
    "TCSETS",
    "TCSETS2",
    "TCSETSF",
    "TCSETSF2",
    "TCSETSW",
    "TCSETSW2",
    "TCXONC",
    "TERMIOS2_SIZE",
    "TIOCCBRK",
    "TIOCCONS",
    "TIOCEXCL",
    "TIOCGDEV",
    "TIOCGETD",
    "TIOCGEXCL",
    "TIOCGICOUNT",
    "TIOCGLCKTRMIOS",
    "TIOCGPGRP",
    "TIOCGSERIAL",
    "TIOCGSID",
    "TIOCGSOFTCAR",
    "TIOCGWINSZ",
    "TIOCINQ",
    "TIOCMBIC",
    "TIOCMBIS",
    "TIOCMGET",
    "TIOCMIWAIT",
    "TIOCMSET",
    "TIOCM_CAR",
    "TIOCM_CD",
    "TIOCM_CTS",
    "TIOCM_DSR",
    "TIOCM_DTR",
    "TIOCM_LE",
    "TIOCM_LOOP",
    "TIOCM_OUT1",
    "TIOCM_OUT2",
    "TIOCM_RI",
    "TIOCM_RNG",
    "TIOCM_RTS",
    "TIOCM_SETTABLE",
    "TIOCM_SR",
    "TIOCM_ST",
    "TIOCNOTTY",
    "TIOCNXCL",
    "TIOCOUTQ",
    "TIOCPKT",
    "TIOCSBRK",
    "TIOCSCTTY",
    "TIOCSERGETLSR",
    "TIOCSETD",
    "TIOCSLCKTRMIOS",
    "TIOCSPGRP",
    "TIOCSSERIAL",
    "TIOCSSOFTCAR",
    "TIOCSTI",
    "TIOCSWINSZ",
    "TIOCVHANGUP",
    "TTY_STD_TERMIOS",
    "VDISCARD",
    "VEOF",
    "VEOL",
    "VEOL2",
    "VERASE",
    "VINTR",
    "VKILL",
    "VLNEXT",
    "VMIN",
    "VQUIT",
    "VREPRINT",
    "VSTART",
    "VSTOP",
    "VSUSP",
    "VSWTC",
    "VTIME",
    "VWERASE",
    "Cflag",
    "Iflag",
    "Ktermios",
    "Lflag",
    "Oflag",
    "SerialIcounter",
    "SerialStruct",
    "Winsize",
    "cfmakeraw",
    "cfsetspeed",
    "tcdrain",
    "tcflow",
    "tcflush",
    "tcgetattr",
    "tcsendbreak",
    "tcsetattr",
    "tty_get_char_size",
    "tty_get_frame_size",
    "tty_termios_baud_rate",
    "tty_termios_copy_hw",
    "tty_termios_encode_baud_rate",
    "tty_termios_hw_change",
    "tty_termios_input_baud_rate",
]

_U32: Final = 0xFFFFFFFF

# -- the flag words (termbits.h, termbits-common.h) ---------------------------------------------


class Iflag(IntFlag):
    """c_iflag bits."""

    IGNBRK = 0x001
    BRKINT = 0x002
    IGNPAR = 0x004
    PARMRK = 0x008
    INPCK = 0x010
    ISTRIP = 0x020
    INLCR = 0x040
    IGNCR = 0x080
    ICRNL = 0x100
    IUCLC = 0x200
    IXON = 0x400
    IXANY = 0x800
    IXOFF = 0x1000
    IMAXBEL = 0x2000
    IUTF8 = 0x4000


class Oflag(IntFlag):
    """c_oflag bits (the delay masks are kept but never acted on, as in Linux)."""

    OPOST = 0x00001
    OLCUC = 0x00002
    ONLCR = 0x00004
    OCRNL = 0x00008
    ONOCR = 0x00010
    ONLRET = 0x00020
    OFILL = 0x00040
    OFDEL = 0x00080
    NLDLY = 0x00100
    CRDLY = 0x00600
    CR1 = 0x00200
    CR2 = 0x00400
    TABDLY = 0x01800
    TAB1 = 0x00800
    TAB2 = 0x01000
    XTABS = 0x01800
    BSDLY = 0x02000
    VTDLY = 0x04000
    FFDLY = 0x08000


class Cflag(IntFlag):
    """c_cflag bits.  The speed is the CBAUD field (a B-code, see `BAUD_BITS`); CIBAUD is
    the input speed's B-code shifted by IBSHIFT (B0 there: the same as the output)."""

    CBAUD = 0x0000100F
    CS5 = 0x00000000
    CS6 = 0x00000010
    CS7 = 0x00000020
    CS8 = 0x00000030
    CSIZE = 0x00000030
    CSTOPB = 0x00000040
    CREAD = 0x00000080
    PARENB = 0x00000100
    PARODD = 0x00000200
    HUPCL = 0x00000400
    CLOCAL = 0x00000800
    CBAUDEX = 0x00001000
    BOTHER = 0x00001000
    CIBAUD = 0x100F0000
    ADDRB = 0x20000000
    CMSPAR = 0x40000000
    CRTSCTS = 0x80000000


class Lflag(IntFlag):
    """c_lflag bits."""

    ISIG = 0x00001
    ICANON = 0x00002
    XCASE = 0x00004
    ECHO = 0x00008
    ECHOE = 0x00010
    ECHOK = 0x00020
    ECHONL = 0x00040
    NOFLSH = 0x00080
    TOSTOP = 0x00100
    ECHOCTL = 0x00200
    ECHOPRT = 0x00400
    ECHOKE = 0x00800
    FLUSHO = 0x01000
    PENDIN = 0x04000
    IEXTEN = 0x08000
    EXTPROC = 0x10000


#: Shift from CBAUD to CIBAUD.
IBSHIFT: Final = 16

# -- c_cc indices, INIT_C_CC ---------------------------------------------------------------------

NCCS: Final = 19
VINTR, VQUIT, VERASE, VKILL, VEOF, VTIME, VMIN, VSWTC = 0, 1, 2, 3, 4, 5, 6, 7
VSTART, VSTOP, VSUSP, VEOL, VREPRINT, VDISCARD, VWERASE, VLNEXT, VEOL2 = range(8, 17)
#: A c_cc entry with this value is disabled (_POSIX_VDISABLE).
DISABLED_CHAR: Final = 0


def _ctrl(key: str) -> int:
    return ord(key) - 0x40


#: INIT_C_CC: intr=^C quit=^\ erase=DEL kill=^U eof=^D vtime=0 vmin=1 swtc=0 start=^Q
#: stop=^S susp=^Z eol=0 reprint=^R discard=^O werase=^W lnext=^V eol2=0.
INIT_C_CC: Final[tuple[int, ...]] = (
    _ctrl("C"), _ctrl("\\"), 0o177, _ctrl("U"), _ctrl("D"), 0, 1, 0,
    _ctrl("Q"), _ctrl("S"), _ctrl("Z"), 0, _ctrl("R"), _ctrl("O"), _ctrl("W"), _ctrl("V"), 0,
    0, 0,
)

# -- speeds (termbits.h, tty_baudrate.c) ---------------------------------------------------------

B0, B50, B75, B110, B134, B150, B200, B300 = range(8)
B600, B1200, B1800, B2400, B4800, B9600, B19200, B38400 = range(8, 16)
B57600, B115200, B230400, B460800, B500000, B576000, B921600 = range(0x1001, 0x1008)
B1000000, B1152000, B1500000, B2000000, B2500000, B3000000 = range(0x1008, 0x100E)
B3500000, B4000000 = 0x100E, 0x100F

#: baud_table: the speed of each B-code, in the order of `BAUD_BITS`.
BAUD_TABLE: Final[tuple[int, ...]] = (
    0, 50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400,
    57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000,
    2000000, 2500000, 3000000, 3500000, 4000000,
)
#: baud_bits: the B-code of each entry of `BAUD_TABLE`.
BAUD_BITS: Final[tuple[int, ...]] = (*range(16), *range(0x1001, 0x1010))
#: Speed → B-code, for the standard speeds.
BAUD_CODES: Final[dict[int, int]] = dict(zip(BAUD_TABLE, BAUD_BITS, strict=True))

# -- tcsetattr, tcflow, tcflush selectors ----------------------------------------------------------

TCSANOW, TCSADRAIN, TCSAFLUSH = 0, 1, 2
TCOOFF, TCOON, TCIOFF, TCION = 0, 1, 2, 3
TCIFLUSH, TCOFLUSH, TCIOFLUSH = 0, 1, 2

# -- ioctl numbers (asm-generic/ioctls.h) ---------------------------------------------------------

TCGETS: Final = 0x5401
TCSETS: Final = 0x5402
TCSETSW: Final = 0x5403
TCSETSF: Final = 0x5404
TCGETA: Final = 0x5405
TCSETA: Final = 0x5406
TCSETAW: Final = 0x5407
TCSETAF: Final = 0x5408
TCSBRK: Final = 0x5409
TCXONC: Final = 0x540A
TCFLSH: Final = 0x540B
TIOCEXCL: Final = 0x540C
TIOCNXCL: Final = 0x540D
TIOCSCTTY: Final = 0x540E
TIOCGPGRP: Final = 0x540F
TIOCSPGRP: Final = 0x5410
TIOCOUTQ: Final = 0x5411
TIOCSTI: Final = 0x5412
TIOCGWINSZ: Final = 0x5413
TIOCSWINSZ: Final = 0x5414
TIOCMGET: Final = 0x5415
TIOCMBIS: Final = 0x5416
TIOCMBIC: Final = 0x5417
TIOCMSET: Final = 0x5418
TIOCGSOFTCAR: Final = 0x5419
TIOCSSOFTCAR: Final = 0x541A
FIONREAD: Final = 0x541B
TIOCINQ: Final = FIONREAD
TIOCCONS: Final = 0x541D
TIOCGSERIAL: Final = 0x541E
TIOCSSERIAL: Final = 0x541F
TIOCPKT: Final = 0x5420
TIOCNOTTY: Final = 0x5422
TIOCSETD: Final = 0x5423
TIOCGETD: Final = 0x5424
TCSBRKP: Final = 0x5425
TIOCSBRK: Final = 0x5427
TIOCCBRK: Final = 0x5428
TIOCGSID: Final = 0x5429
TERMIOS2_SIZE: Final = 44
TCGETS2: Final = ior("T", 0x2A, TERMIOS2_SIZE)
TCSETS2: Final = iow("T", 0x2B, TERMIOS2_SIZE)
TCSETSW2: Final = iow("T", 0x2C, TERMIOS2_SIZE)
TCSETSF2: Final = iow("T", 0x2D, TERMIOS2_SIZE)
TIOCGDEV: Final = ior("T", 0x32, 4)
TIOCVHANGUP: Final = 0x5437
TIOCGEXCL: Final = ior("T", 0x40, 4)
TIOCGLCKTRMIOS: Final = 0x5456
TIOCSLCKTRMIOS: Final = 0x5457
TIOCSERGETLSR: Final = 0x5459
TIOCMIWAIT: Final = 0x545C
TIOCGICOUNT: Final = 0x545D

# -- modem lines (TIOCM_*) ----------------------------------------------------------------------

TIOCM_LE: Final = 0x001
TIOCM_DTR: Final = 0x002
TIOCM_RTS: Final = 0x004
TIOCM_ST: Final = 0x008
TIOCM_SR: Final = 0x010
TIOCM_CTS: Final = 0x020
TIOCM_CAR: Final = 0x040
TIOCM_RNG: Final = 0x080
TIOCM_DSR: Final = 0x100
TIOCM_CD: Final = TIOCM_CAR
TIOCM_RI: Final = TIOCM_RNG
TIOCM_OUT1: Final = 0x2000
TIOCM_OUT2: Final = 0x4000
TIOCM_LOOP: Final = 0x8000
#: The lines TIOCMSET/TIOCMBIS/TIOCMBIC may change (tty_tiocmset).
TIOCM_SETTABLE: Final = TIOCM_DTR | TIOCM_RTS | TIOCM_OUT1 | TIOCM_OUT2 | TIOCM_LOOP

# -- serial_struct values (uapi/linux/serial.h) -----------------------------------------------

#: closing_wait: do not wait for output to drain on close.
ASYNC_CLOSING_WAIT_NONE: Final = 65535
#: closing_wait: wait for ever.
ASYNC_CLOSING_WAIT_INF: Final = 0
#: port->flags: an open waiting for carrier returns -EAGAIN on hangup instead of retrying.
ASYNC_HUP_NOTIFY: Final = 0x0001


# -- struct ktermios and its user forms ------------------------------------------------------------


def _u32(value: int, what: str) -> int:
    if not 0 <= value <= _U32:
        raise ValueError(f"{what} = {value}: a tcflag_t/speed_t is 0 to 0xffffffff")
    return int(value)


@dataclass
class Ktermios:
    """struct ktermios: the four flag words (plain ints or the flag classes), the line
    discipline number, the 19 control characters and the input and output speeds.  Copy
    it (`copy()`) before changing one that belongs to a tty."""

    c_iflag: int = 0
    c_oflag: int = 0
    c_cflag: int = 0
    c_lflag: int = 0
    c_line: int = 0
    c_cc: list[int] = field(default_factory=lambda: [0] * NCCS)
    c_ispeed: int = 0
    c_ospeed: int = 0

    _TERMIOS: ClassVar[struct.Struct] = struct.Struct(f"<4IB{NCCS}s")
    _TERMIOS2: ClassVar[struct.Struct] = struct.Struct(f"<4IB{NCCS}s2I")
    _TERMIO: ClassVar[struct.Struct] = struct.Struct("<4HB8sx")

    def __post_init__(self) -> None:
        if len(self.c_cc) != NCCS:
            raise ValueError(f"c_cc has {len(self.c_cc)} entries: a termios has NCCS = {NCCS}")

    def copy(self) -> Ktermios:
        """An independent copy."""
        return Ktermios(self.c_iflag, self.c_oflag, self.c_cflag, self.c_lflag, self.c_line,
                        list(self.c_cc), self.c_ispeed, self.c_ospeed)

    def _words(self) -> tuple[int, int, int, int]:
        return (_u32(self.c_iflag, "c_iflag"), _u32(self.c_oflag, "c_oflag"),
                _u32(self.c_cflag, "c_cflag"), _u32(self.c_lflag, "c_lflag"))

    def to_termios(self) -> bytes:
        """struct termios as TCGETS copies it out (36 bytes; no speeds)."""
        return self._TERMIOS.pack(*self._words(), self.c_line & 0xFF, bytes(self.c_cc))

    def to_termios2(self) -> bytes:
        """struct termios2 as TCGETS2 copies it out (44 bytes)."""
        return self._TERMIOS2.pack(*self._words(), self.c_line & 0xFF, bytes(self.c_cc),
                                   _u32(self.c_ispeed, "c_ispeed"),
                                   _u32(self.c_ospeed, "c_ospeed"))

    def to_termio(self) -> bytes:
        """struct termio as TCGETA copies it out (18 bytes: the low 16 bits of each word and
        the first 8 control characters)."""
        words = (w & 0xFFFF for w in self._words())
        return self._TERMIO.pack(*words, self.c_line & 0xFF, bytes(self.c_cc[:8]))

    @classmethod
    def from_termios(cls, data: bytes | bytearray | memoryview,
                     speeds_of: Ktermios | None = None) -> Ktermios:
        """A struct termios (36 bytes) as TCSETS copies it in: the speeds are those of
        `speeds_of` (what the tty had).  Raises ValueError for fewer than 36 bytes."""
        i, o, c, lf, line, cc = cls._unpack(cls._TERMIOS, data, "struct termios")
        base = speeds_of or Ktermios()
        return cls(i, o, c, lf, line, list(cc), base.c_ispeed, base.c_ospeed)

    @classmethod
    def from_termios2(cls, data: bytes | bytearray | memoryview) -> Ktermios:
        """A struct termios2 (44 bytes).  Raises ValueError for fewer bytes."""
        i, o, c, lf, line, cc, ispeed, ospeed = cls._unpack(cls._TERMIOS2, data,
                                                            "struct termios2")
        return cls(i, o, c, lf, line, list(cc), ispeed, ospeed)

    def update_from_termio(self, data: bytes | bytearray | memoryview) -> None:
        """user_termio_to_kernel_termios(): TCSETA's struct termio replaces the low 16 bits
        of each flag word, c_line and the first 8 control characters.  Raises ValueError
        for fewer than 18 bytes."""
        i, o, c, lf, line, cc = self._unpack(self._TERMIO, data, "struct termio")
        self.c_iflag = (int(self.c_iflag) & 0xFFFF0000) | i
        self.c_oflag = (int(self.c_oflag) & 0xFFFF0000) | o
        self.c_cflag = (int(self.c_cflag) & 0xFFFF0000) | c
        self.c_lflag = (int(self.c_lflag) & 0xFFFF0000) | lf
        self.c_line = line
        self.c_cc[:8] = list(cc)

    @staticmethod
    def _unpack(layout: struct.Struct, data: bytes | bytearray | memoryview,
                what: str) -> tuple[Any, ...]:
        if len(data) < layout.size:
            raise ValueError(f"{what} is {layout.size} bytes, got {len(data)}")
        return layout.unpack_from(data)


#: tty_std_termios: iflag ICRNL|IXON, oflag OPOST|ONLCR, cflag B38400|CS8|CREAD|HUPCL,
#: lflag ISIG|ICANON|ECHO|ECHOE|ECHOK|ECHOCTL|ECHOKE|IEXTEN, INIT_C_CC, 38400 baud.
#: Shared: copy it before changing anything.
TTY_STD_TERMIOS: Final = Ktermios(
    c_iflag=Iflag.ICRNL | Iflag.IXON,
    c_oflag=Oflag.OPOST | Oflag.ONLCR,
    c_cflag=B38400 | Cflag.CS8 | Cflag.CREAD | Cflag.HUPCL,
    c_lflag=(Lflag.ISIG | Lflag.ICANON | Lflag.ECHO | Lflag.ECHOE | Lflag.ECHOK
             | Lflag.ECHOCTL | Lflag.ECHOKE | Lflag.IEXTEN),
    c_cc=list(INIT_C_CC),
    c_ispeed=38400,
    c_ospeed=38400,
)


@dataclass
class Winsize:
    """struct winsize (TIOCGWINSZ/TIOCSWINSZ): four unsigned shorts, 8 bytes."""

    ws_row: int = 0
    ws_col: int = 0
    ws_xpixel: int = 0
    ws_ypixel: int = 0

    _S: ClassVar[struct.Struct] = struct.Struct("<4H")
    SIZE: ClassVar[int] = 8

    def pack(self) -> bytes:
        """The 8 bytes; raises ValueError for a field outside 0..65535."""
        try:
            return self._S.pack(self.ws_row, self.ws_col, self.ws_xpixel, self.ws_ypixel)
        except struct.error as exc:
            raise ValueError(f"winsize {self}: each field is an unsigned short") from exc

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> Winsize:
        """From 8 bytes; raises ValueError for fewer."""
        if len(data) < cls.SIZE:
            raise ValueError(f"struct winsize is {cls.SIZE} bytes, got {len(data)}")
        return cls(*cls._S.unpack_from(data))


@dataclass
class SerialIcounter:
    """struct serial_icounter_struct (TIOCGICOUNT): modem-line changes (cts, dsr, rng,
    dcd), bytes received and sent, and error counts, as 20 ints (80 bytes; `reserved` is
    9 ints, zero)."""

    cts: int = 0
    dsr: int = 0
    rng: int = 0
    dcd: int = 0
    rx: int = 0
    tx: int = 0
    frame: int = 0
    overrun: int = 0
    parity: int = 0
    brk: int = 0
    buf_overrun: int = 0
    reserved: tuple[int, ...] = (0,) * 9

    _S: ClassVar[struct.Struct] = struct.Struct("<20i")
    SIZE: ClassVar[int] = 80

    def pack(self) -> bytes:
        """The 80 bytes (each counter wraps as a C int does)."""
        values = [getattr(self, f.name) for f in fields(self)[:11]]
        values += [*self.reserved[:9], *(0,) * (9 - len(self.reserved[:9]))]
        return self._S.pack(*((v + 2**31) % 2**32 - 2**31 for v in values))

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> SerialIcounter:
        """From 80 bytes; raises ValueError for fewer."""
        if len(data) < cls.SIZE:
            raise ValueError(f"struct serial_icounter_struct is {cls.SIZE} bytes, "
                             f"got {len(data)}")
        values = cls._S.unpack_from(data)
        names = [f.name for f in fields(cls)][:11]
        return cls(**dict(zip(names, values, strict=False)), reserved=tuple(values[11:]))

    def copy(self) -> SerialIcounter:
        """An independent copy (a snapshot of the counters)."""
        return SerialIcounter(**{f.name: getattr(self, f.name) for f in fields(self)})


@dataclass
class SerialStruct:
    """struct serial_struct (TIOCGSERIAL/TIOCSSERIAL), x86-64 layout (72 bytes).
    close_delay and closing_wait are in hundredths of a second (ASYNC_CLOSING_WAIT_NONE:
    do not wait)."""

    type: int = 0
    line: int = 0
    port: int = 0
    irq: int = 0
    flags: int = 0
    xmit_fifo_size: int = 0
    custom_divisor: int = 0
    baud_base: int = 0
    close_delay: int = 0
    io_type: int = 0
    hub6: int = 0
    closing_wait: int = 0
    closing_wait2: int = 0
    iomem_base: int = 0
    iomem_reg_shift: int = 0
    port_high: int = 0
    iomap_base: int = 0

    _S: ClassVar[struct.Struct] = struct.Struct("<iiIiiiiiHbxi HH4xQH2xIQ")
    SIZE: ClassVar[int] = 72

    def pack(self) -> bytes:
        """The 72 bytes; raises ValueError for a field out of its C type's range."""
        try:
            return self._S.pack(*(getattr(self, f.name) for f in fields(self)))
        except struct.error as exc:
            raise ValueError(f"serial_struct: {exc}") from exc

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> SerialStruct:
        """From 72 bytes; raises ValueError for fewer."""
        if len(data) < cls.SIZE:
            raise ValueError(f"struct serial_struct is {cls.SIZE} bytes, got {len(data)}")
        return cls(*cls._S.unpack_from(data))


# -- tty_baudrate.c ---------------------------------------------------------------------------


_CBAUD: Final = int(Cflag.CBAUD)
_CBAUDEX: Final = int(Cflag.CBAUDEX)
_BOTHER: Final = int(Cflag.BOTHER)


def _speed_of(termios: Ktermios, cbaud: int, shift: int) -> int:
    """The speed of B-code `cbaud` (the CBAUD field `shift` bits up); an invalid
    extended code is cleared from c_cflag and gives 0."""
    if cbaud & _CBAUDEX:
        cbaud &= ~_CBAUDEX
        if cbaud < 1 or cbaud + 15 > len(BAUD_TABLE):
            termios.c_cflag = int(termios.c_cflag) & ~(_CBAUDEX << shift)
        else:
            cbaud += 15
    return 0 if cbaud >= len(BAUD_TABLE) else BAUD_TABLE[cbaud]


def tty_termios_baud_rate(termios: Ktermios) -> int:
    """tty_termios_baud_rate(): the output speed the settings ask for — c_ospeed for
    BOTHER, else the speed of the CBAUD B-code (an invalid extended code is cleared from
    c_cflag and gives 0).  Context: atomic."""
    cbaud = int(termios.c_cflag) & _CBAUD
    if cbaud == _BOTHER:
        return int(termios.c_ospeed)
    return _speed_of(termios, cbaud, 0)


def tty_termios_input_baud_rate(termios: Ktermios) -> int:
    """tty_termios_input_baud_rate(): the input speed — the output speed when CIBAUD is
    B0, c_ispeed for BOTHER, else the speed of the CIBAUD B-code.  Context: atomic."""
    cbaud = (int(termios.c_cflag) >> IBSHIFT) & _CBAUD
    if cbaud == B0:
        return tty_termios_baud_rate(termios)
    if cbaud == _BOTHER:
        return int(termios.c_ispeed)
    return _speed_of(termios, cbaud, IBSHIFT)


def _near(speed: int, close: int, rate: int) -> bool:
    """`speed - close <= rate && speed + close >= rate` in speed_t (u32) arithmetic."""
    return (speed - close) & _U32 <= rate <= (speed + close) & _U32


def tty_termios_encode_baud_rate(termios: Ktermios, ibaud: int, obaud: int) -> None:
    """tty_termios_encode_baud_rate(): record the speeds a driver really set — c_ispeed,
    c_ospeed, and the B-codes of the standard speeds within 2 % (exactly, when the caller
    asked with BOTHER), BOTHER where none is that close; the input B-code only when it
    differs from the output or the caller gave one.  obaud 0 (hang up) clears ibaud too.
    Raises ValueError for a speed outside speed_t.  Context: atomic."""
    ibaud, obaud = _u32(ibaud, "ibaud"), _u32(obaud, "obaud")
    iclose, oclose = ibaud // 50, obaud // 50
    if obaud == 0:
        ibaud = 0
    termios.c_ispeed, termios.c_ospeed = ibaud, obaud
    cflag = int(termios.c_cflag)
    ibinput = ((cflag >> IBSHIFT) & Cflag.CBAUD) != B0
    if cflag & Cflag.CBAUD == Cflag.BOTHER:
        oclose = 0
        if not ibinput:
            iclose = 0
    if (cflag >> IBSHIFT) & Cflag.CBAUD == Cflag.BOTHER:
        iclose = 0
    cflag &= ~(Cflag.CBAUD | Cflag.CIBAUD) & _U32
    ifound = ofound = -1
    for i, rate in enumerate(BAUD_TABLE):
        if _near(obaud, oclose, rate):
            cflag |= BAUD_BITS[i]
            ofound = i
        if _near(ibaud, iclose, rate):
            ifound = i
            if not (ofound == i and not ibinput):
                cflag |= BAUD_BITS[i] << IBSHIFT
    if ofound == -1:
        cflag |= Cflag.BOTHER
    if ifound == -1 and (ibaud != obaud or ibinput):
        cflag |= Cflag.BOTHER << IBSHIFT
    termios.c_cflag = cflag


def tty_termios_copy_hw(new: Ktermios, old: Ktermios) -> None:
    """tty_termios_copy_hw(): for a driver that cannot change its hardware settings, keep
    the old ones in `new` — every c_cflag bit but HUPCL, CREAD and CLOCAL, and the speeds.
    Context: atomic."""
    soft = Cflag.HUPCL | Cflag.CREAD | Cflag.CLOCAL
    new.c_cflag = (int(new.c_cflag) & soft) | (int(old.c_cflag) & ~soft & _U32)
    new.c_ispeed, new.c_ospeed = old.c_ispeed, old.c_ospeed


def tty_termios_hw_change(a: Ktermios, b: Ktermios) -> bool:
    """tty_termios_hw_change(): whether the speeds or a c_cflag bit other than HUPCL,
    CREAD and CLOCAL differ.  Context: atomic."""
    if a.c_ispeed != b.c_ispeed or a.c_ospeed != b.c_ospeed:
        return True
    return bool((int(a.c_cflag) ^ int(b.c_cflag)) & ~(Cflag.HUPCL | Cflag.CREAD | Cflag.CLOCAL)
                & _U32)


def tty_get_char_size(cflag: int) -> int:
    """tty_get_char_size(): 5 to 8 data bits, from CSIZE."""
    return {Cflag.CS5: 5, Cflag.CS6: 6, Cflag.CS7: 7}.get(int(cflag) & Cflag.CSIZE, 8)


def tty_get_frame_size(cflag: int) -> int:
    """tty_get_frame_size(): bits per character on the wire — start, data, parity (PARENB),
    address (ADDRB) and one or two stop bits (CSTOPB)."""
    cflag = int(cflag)
    extra = sum(1 for bit in (Cflag.CSTOPB, Cflag.PARENB, Cflag.ADDRB) if cflag & bit)
    return 2 + tty_get_char_size(cflag) + extra


# -- what glibc adds for applications ------------------------------------------------------------


def cfmakeraw(termios: Ktermios) -> None:
    """cfmakeraw(3): no input or output processing, no echo, no signals, 8 bits without
    parity, reads return after one byte (VMIN 1, VTIME 0)."""
    termios.c_iflag = int(termios.c_iflag) & ~(
        Iflag.IGNBRK | Iflag.BRKINT | Iflag.PARMRK | Iflag.ISTRIP | Iflag.INLCR | Iflag.IGNCR
        | Iflag.ICRNL | Iflag.IXON) & _U32
    termios.c_oflag = int(termios.c_oflag) & ~Oflag.OPOST & _U32
    termios.c_lflag = int(termios.c_lflag) & ~(
        Lflag.ECHO | Lflag.ECHONL | Lflag.ICANON | Lflag.ISIG | Lflag.IEXTEN) & _U32
    termios.c_cflag = (int(termios.c_cflag) & ~(Cflag.CSIZE | Cflag.PARENB) & _U32) | Cflag.CS8
    termios.c_cc[VMIN] = 1
    termios.c_cc[VTIME] = 0


def cfsetspeed(termios: Ktermios, baud: int) -> None:
    """cfsetspeed(3) with termios2: input and output at `baud` bits per second — its
    B-code when it is a standard speed, else BOTHER with c_ispeed/c_ospeed (set with
    `tcsetattr`, which uses TCSETS2).  Raises ValueError for a speed outside speed_t."""
    baud = _u32(baud, "baud")
    cflag = int(termios.c_cflag) & ~(Cflag.CBAUD | Cflag.CIBAUD) & _U32
    termios.c_cflag = cflag | BAUD_CODES.get(baud, Cflag.BOTHER)
    termios.c_ispeed = termios.c_ospeed = baud


_TCSETATTR: Final[dict[int, int]] = {TCSANOW: TCSETS2, TCSADRAIN: TCSETSW2,
                                     TCSAFLUSH: TCSETSF2}


async def tcgetattr(afile: AsyncFile) -> Ktermios:
    """tcgetattr(3) (TCGETS2).  Raises OSError as the ioctl fails (ENOTTY: not a tty,
    EIO: hung up).  Context: may sleep."""
    buf = bytearray(TERMIOS2_SIZE)
    await afile.ioctl(TCGETS2, buf)
    return Ktermios.from_termios2(buf)


async def tcsetattr(afile: AsyncFile, when: int, termios: Ktermios) -> None:
    """tcsetattr(3): TCSANOW, TCSADRAIN (after the output drained) or TCSAFLUSH (also
    discarding unread input), with TCSETS2/TCSETSW2/TCSETSF2.  Raises ValueError for
    another `when`, OSError as the ioctl fails.  Context: may sleep."""
    cmd = _TCSETATTR.get(when)
    if cmd is None:
        raise ValueError(f"tcsetattr: when = {when!r}: use TCSANOW, TCSADRAIN or TCSAFLUSH")
    await afile.ioctl(cmd, bytearray(termios.to_termios2()))


async def tcdrain(afile: AsyncFile) -> None:
    """tcdrain(3): wait until the output has been sent (TCSBRK with a non-zero argument).
    Context: may sleep."""
    await afile.ioctl(TCSBRK, 1)


async def tcsendbreak(afile: AsyncFile, duration: int = 0) -> None:
    """tcsendbreak(3): a break of 250 ms for duration 0, else `duration` tenths of a
    second (TCSBRKP).  Context: may sleep."""
    await afile.ioctl(TCSBRKP, duration)


async def tcflush(afile: AsyncFile, queue: int) -> None:
    """tcflush(3): discard unread input (TCIFLUSH), unsent output (TCOFLUSH) or both
    (TCIOFLUSH).  Context: may sleep."""
    await afile.ioctl(TCFLSH, queue)


async def tcflow(afile: AsyncFile, action: int) -> None:
    """tcflow(3): suspend or resume output (TCOOFF, TCOON), send STOP or START
    (TCIOFF, TCION).  Context: may sleep."""
    await afile.ioctl(TCXONC, action)
