"""Terminal settings (usbemu.kernel.termios): Linux x86-64 values of the flag words, B-codes,
ioctl numbers and modem bits; tty_std_termios; the user ABI layouts (termios, termios2,
termio, winsize, serial_icounter_struct, serial_struct) byte for byte; tty_baudrate.c's
decoding and encoding with its 2 % rule and BOTHER (hypothesis round trips); copy_hw,
hw_change; cfmakeraw and cfsetspeed.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usbemu.kernel import termios as T
from usbemu.kernel.termios import (
    BAUD_BITS,
    BAUD_TABLE,
    TTY_STD_TERMIOS,
    Cflag,
    Iflag,
    Ktermios,
    Lflag,
    Oflag,
    SerialIcounter,
    SerialStruct,
    Winsize,
    cfmakeraw,
    cfsetspeed,
    tty_get_char_size,
    tty_get_frame_size,
    tty_termios_baud_rate,
    tty_termios_copy_hw,
    tty_termios_encode_baud_rate,
    tty_termios_hw_change,
    tty_termios_input_baud_rate,
)


def test_flag_values_are_linux_x86_64() -> None:
    assert (Iflag.IGNBRK, Iflag.ICRNL, Iflag.IXON, Iflag.IXOFF, Iflag.IUTF8) == \
        (0x1, 0x100, 0x400, 0x1000, 0x4000)
    assert (Oflag.OPOST, Oflag.ONLCR, Oflag.OCRNL, Oflag.ONOCR, Oflag.ONLRET, Oflag.XTABS) == \
        (0x1, 0x4, 0x8, 0x10, 0x20, 0x1800)
    assert (Cflag.CBAUD, Cflag.CSIZE, Cflag.CS7, Cflag.CSTOPB, Cflag.CREAD, Cflag.PARENB,
            Cflag.HUPCL, Cflag.CLOCAL, Cflag.BOTHER, Cflag.CIBAUD, Cflag.CMSPAR,
            Cflag.CRTSCTS) == (0x100F, 0x30, 0x20, 0x40, 0x80, 0x100, 0x400, 0x800, 0x1000,
                               0x100F0000, 0x40000000, 0x80000000)
    assert (Lflag.ISIG, Lflag.ICANON, Lflag.ECHO, Lflag.ECHOCTL, Lflag.ECHOKE, Lflag.IEXTEN,
            Lflag.EXTPROC) == (0x1, 0x2, 0x8, 0x200, 0x800, 0x8000, 0x10000)
    assert (T.VINTR, T.VEOF, T.VTIME, T.VMIN, T.VSTART, T.VEOL, T.VLNEXT, T.VEOL2, T.NCCS) == \
        (0, 4, 5, 6, 8, 11, 15, 16, 19)
    assert (T.B0, T.B9600, T.B38400, T.B57600, T.B115200, T.B921600, T.B4000000) == \
        (0, 0xD, 0xF, 0x1001, 0x1002, 0x1007, 0x100F)


def test_ioctl_numbers_and_modem_bits() -> None:
    assert (T.TCGETS, T.TCSETS, T.TCSETSW, T.TCSETSF, T.TCSBRK, T.TCXONC, T.TCFLSH) == \
        (0x5401, 0x5402, 0x5403, 0x5404, 0x5409, 0x540A, 0x540B)
    assert (T.TIOCOUTQ, T.TIOCMGET, T.TIOCMSET, T.FIONREAD, T.TIOCINQ, T.TIOCGSERIAL,
            T.TIOCSBRK, T.TIOCCBRK, T.TIOCMIWAIT, T.TIOCGICOUNT, T.TIOCVHANGUP) == \
        (0x5411, 0x5415, 0x5418, 0x541B, 0x541B, 0x541E, 0x5427, 0x5428, 0x545C, 0x545D,
         0x5437)
    assert (T.TCGETS2, T.TCSETS2, T.TCSETSW2, T.TCSETSF2) == \
        (0x802C542A, 0x402C542B, 0x402C542C, 0x402C542D)
    assert (T.TIOCM_LE, T.TIOCM_DTR, T.TIOCM_RTS, T.TIOCM_CTS, T.TIOCM_CD, T.TIOCM_RI,
            T.TIOCM_DSR, T.TIOCM_OUT1, T.TIOCM_OUT2, T.TIOCM_LOOP) == \
        (0x1, 0x2, 0x4, 0x20, 0x40, 0x80, 0x100, 0x2000, 0x4000, 0x8000)


def test_tty_std_termios() -> None:
    t = TTY_STD_TERMIOS
    assert (t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag) == (0x500, 0x5, 0x4BF, 0x8A3B)
    assert t.c_cc == [3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0]
    assert (t.c_ispeed, t.c_ospeed, tty_termios_baud_rate(t.copy())) == (38400, 38400, 38400)


def test_user_layouts_byte_for_byte() -> None:
    t = TTY_STD_TERMIOS.copy()
    cc = bytes(t.c_cc)
    assert t.to_termios() == struct.pack("<IIIIB", 0x500, 5, 0x4BF, 0x8A3B, 0) + cc
    assert t.to_termios2() == t.to_termios() + struct.pack("<II", 38400, 38400)
    assert len(t.to_termios()) == 36 and len(t.to_termios2()) == 44
    assert t.to_termio() == struct.pack("<HHHHB", 0x500, 5, 0x4BF, 0x8A3B, 0) + cc[:8] + b"\0"
    assert Ktermios.from_termios2(t.to_termios2()) == t
    # TCSETS carries no speeds: they stay what the tty had
    other = Ktermios(c_cflag=0x1002, c_ispeed=1, c_ospeed=2)
    back = Ktermios.from_termios(other.to_termios(), t)
    assert (back.c_cflag, back.c_ispeed, back.c_ospeed) == (0x1002, 38400, 38400)
    assert len(t.to_termio()) == 18
    t.update_from_termio(struct.pack("<HHHHB", 1, 2, 3, 4, 0) + bytes(range(8)) + b"\0")
    assert (t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag, t.c_cc[:9]) == \
        (1, 2, 3, 4, [*range(8), 17])
    with pytest.raises(ValueError, match="44 bytes"):
        Ktermios.from_termios2(bytes(43))
    with pytest.raises(ValueError, match="NCCS"):
        Ktermios(c_cc=[0] * 18)
    with pytest.raises(ValueError, match="c_cflag"):
        Ktermios(c_cflag=1 << 32).to_termios()


def test_winsize_icounter_and_serial_struct() -> None:
    ws = Winsize(24, 80, 640, 480)
    assert ws.pack() == struct.pack("<4H", 24, 80, 640, 480) and Winsize.unpack(ws.pack()) == ws
    ic = SerialIcounter(cts=1, dsr=2, rng=3, dcd=4, rx=5, tx=6, frame=7, overrun=8, parity=9,
                        brk=10, buf_overrun=11)
    assert ic.pack() == struct.pack("<20i", *range(1, 12), *[0] * 9)
    assert SerialIcounter.unpack(ic.pack()) == ic and len(ic.pack()) == 80
    assert SerialIcounter(rx=2**31).pack()[16:20] == struct.pack("<i", -2**31)  # C int wraps
    ss = SerialStruct(type=4, line=3, baud_base=115200, close_delay=50, closing_wait=3000,
                      iomem_base=0x1000, port_high=7, iomap_base=9)
    raw = ss.pack()
    assert len(raw) == 72
    assert struct.unpack_from("<i", raw, 28)[0] == 115200
    assert struct.unpack_from("<HH", raw, 40) == (3000, 0)
    assert struct.unpack_from("<Q", raw, 48)[0] == 0x1000
    assert struct.unpack_from("<I", raw, 60)[0] == 7
    assert SerialStruct.unpack(raw) == ss
    with pytest.raises(ValueError):
        SerialIcounter.unpack(bytes(79))


# -- baud rates -------------------------------------------------------------------------------


def _with_speed(code: int) -> Ktermios:
    return Ktermios(c_cflag=Cflag.CS8 | code)


def test_every_b_code_decodes_to_its_speed() -> None:
    for rate, code in zip(BAUD_TABLE, BAUD_BITS, strict=True):
        assert tty_termios_baud_rate(_with_speed(code)) == rate
    both = Ktermios(c_cflag=Cflag.BOTHER, c_ospeed=123456, c_ispeed=654321)
    assert tty_termios_baud_rate(both) == 123456
    assert tty_termios_input_baud_rate(both) == 123456          # CIBAUD B0: as output
    both.c_cflag |= Cflag.BOTHER << T.IBSHIFT
    assert tty_termios_input_baud_rate(both) == 654321
    assert tty_termios_input_baud_rate(Ktermios(c_cflag=T.B9600 | T.B1200 << 16)) == 1200


def test_encoding_prefers_b_codes_within_two_percent() -> None:
    t = _with_speed(T.B9600)
    tty_termios_encode_baud_rate(t, 115000, 115000)
    assert t.c_cflag & Cflag.CBAUD == T.B115200 and t.c_cflag & Cflag.CIBAUD == 0
    assert (t.c_ospeed, tty_termios_baud_rate(t)) == (115000, 115200)
    tty_termios_encode_baud_rate(t, 250000, 250000)
    assert t.c_cflag & Cflag.CBAUD == Cflag.BOTHER and tty_termios_baud_rate(t) == 250000
    assert t.c_cflag & Cflag.CSIZE == Cflag.CS8          # the rest of c_cflag is kept
    # asked with BOTHER: only an exact speed gets a B-code
    t = Ktermios(c_cflag=Cflag.BOTHER)
    tty_termios_encode_baud_rate(t, 115000, 115000)
    assert t.c_cflag & Cflag.CBAUD == Cflag.BOTHER and tty_termios_baud_rate(t) == 115000
    # input differs: CIBAUD gets its own code
    t = _with_speed(T.B9600)
    tty_termios_encode_baud_rate(t, 1200, 9600)
    assert (t.c_cflag >> T.IBSHIFT) & Cflag.CBAUD == T.B1200
    assert tty_termios_input_baud_rate(t) == 1200
    tty_termios_encode_baud_rate(t, 300000, 9600)
    assert (t.c_cflag >> T.IBSHIFT) & Cflag.CBAUD == Cflag.BOTHER
    assert tty_termios_input_baud_rate(t) == 300000
    # output 0 is a hangup: the input speed goes too
    tty_termios_encode_baud_rate(t, 9600, 0)
    assert (t.c_ispeed, t.c_ospeed, t.c_cflag & Cflag.CBAUD) == (0, 0, T.B0)
    with pytest.raises(ValueError, match="speed_t"):
        tty_termios_encode_baud_rate(t, -1, 9600)


@given(st.integers(min_value=1, max_value=0xFFFFFFFF))
def test_encode_then_decode_gives_the_speed_or_the_b_code_within_two_percent(baud: int) -> None:
    t = _with_speed(T.B38400)
    tty_termios_encode_baud_rate(t, baud, baud)
    near = [rate for rate in BAUD_TABLE
            if (baud - baud // 50) & 0xFFFFFFFF <= rate <= (baud + baud // 50) & 0xFFFFFFFF]
    assert tty_termios_baud_rate(t) == (near[-1] if near else baud)
    assert tty_termios_input_baud_rate(t) == tty_termios_baud_rate(t)
    exact = Ktermios(c_cflag=Cflag.BOTHER)
    tty_termios_encode_baud_rate(exact, baud, baud)
    assert tty_termios_baud_rate(exact) == baud


@given(st.integers(min_value=1, max_value=4_000_000), st.integers(min_value=1,
                                                                    max_value=4_000_000))
def test_split_speeds_round_trip_with_bother(ibaud: int, obaud: int) -> None:
    t = Ktermios(c_cflag=Cflag.BOTHER | Cflag.BOTHER << T.IBSHIFT)
    tty_termios_encode_baud_rate(t, ibaud, obaud)
    assert (tty_termios_input_baud_rate(t), tty_termios_baud_rate(t)) == (ibaud, obaud)


def test_copy_hw_and_hw_change() -> None:
    old = Ktermios(c_cflag=T.B9600 | Cflag.CS8 | Cflag.CREAD, c_ispeed=9600, c_ospeed=9600)
    new = Ktermios(c_cflag=T.B115200 | Cflag.CS7 | Cflag.CLOCAL | Cflag.HUPCL,
                   c_ispeed=115200, c_ospeed=115200)
    assert tty_termios_hw_change(new, old)
    tty_termios_copy_hw(new, old)
    assert new.c_cflag == T.B9600 | Cflag.CS8 | Cflag.CLOCAL | Cflag.HUPCL
    assert (new.c_ispeed, new.c_ospeed) == (9600, 9600)
    assert not tty_termios_hw_change(new, old)
    assert tty_termios_hw_change(Ktermios(c_ispeed=1), Ktermios())


def test_char_and_frame_sizes() -> None:
    assert [tty_get_char_size(c) for c in (Cflag.CS5, Cflag.CS6, Cflag.CS7, Cflag.CS8)] == \
        [5, 6, 7, 8]
    assert tty_get_frame_size(Cflag.CS8) == 10
    assert tty_get_frame_size(Cflag.CS7 | Cflag.PARENB | Cflag.CSTOPB) == 11


def test_cfmakeraw_and_cfsetspeed() -> None:
    t = TTY_STD_TERMIOS.copy()
    cfmakeraw(t)
    assert t.c_iflag == 0 and t.c_oflag == Oflag.ONLCR
    assert t.c_lflag == Lflag.ECHOE | Lflag.ECHOK | Lflag.ECHOCTL | Lflag.ECHOKE
    assert t.c_cflag & Cflag.CSIZE == Cflag.CS8 and (t.c_cc[T.VMIN], t.c_cc[T.VTIME]) == (1, 0)
    cfsetspeed(t, 115200)
    assert t.c_cflag & Cflag.CBAUD == T.B115200 and (t.c_ispeed, t.c_ospeed) == (115200,) * 2
    cfsetspeed(t, 250000)
    assert t.c_cflag & (Cflag.CBAUD | Cflag.CIBAUD) == Cflag.BOTHER
    assert tty_termios_baud_rate(t) == 250000
    assert TTY_STD_TERMIOS.c_lflag == 0x8A3B               # the shared one is untouched
