"""The sans-I/O half of the pty bridge: what PtyLink lets move, in which order, with what
backpressure, and what a flush, a hangup and a close do — no pty, no loop."""

from __future__ import annotations

import pytest

from usbemu.bridges.pty_link import (
    MIRRORED_CFLAG,
    LineSettings,
    LinkState,
    PacketStatus,
    PtyLink,
)
from usbemu.errors import IllegalStateTransition
from usbemu.kernel.termios import (
    IBSHIFT,
    TTY_STD_TERMIOS,
    Cflag,
    Ktermios,
    cfsetspeed,
    tty_termios_baud_rate,
    tty_termios_input_baud_rate,
)

S9600 = LineSettings(int(Cflag.CS8 | Cflag.CLOCAL), 9600, 9600)
S115200 = LineSettings(int(Cflag.CS8 | Cflag.CLOCAL), 115200, 115200)


def drain_to_tty(link: PtyLink) -> list[bytes | LineSettings]:
    """Everything the tty would get, applying settings as they come."""
    got: list[bytes | LineSettings] = []
    while (item := link.next_for_tty()) is not None:
        if isinstance(item, LineSettings):
            got.append(item)
            link.settings_applied()
        else:
            got.append(bytes(item))
            link.tty_took(len(item))
    return got


# -- line settings --------------------------------------------------------------------------------


def test_line_settings_keep_only_the_line_bits_and_the_speeds() -> None:
    t = TTY_STD_TERMIOS.copy()
    t.c_cflag = int(t.c_cflag) | Cflag.CRTSCTS | Cflag.CSTOPB
    s = LineSettings.of(t)
    assert s.cflag == Cflag.CS8 | Cflag.HUPCL | Cflag.CRTSCTS | Cflag.CSTOPB
    assert (s.ispeed, s.ospeed) == (38400, 38400)
    assert s.describe() == "38400 8N2 crtscts hupcl"


@pytest.mark.parametrize("baud", [50, 9600, 115200, 250000, 3000000, 1234567])
def test_applied_speeds_read_back_the_same(baud: int) -> None:
    t = TTY_STD_TERMIOS.copy()
    LineSettings(int(Cflag.CS7 | Cflag.PARENB), baud, baud).apply(t)
    assert tty_termios_baud_rate(t) == baud
    assert tty_termios_input_baud_rate(t) == baud
    assert (int(t.c_cflag) >> IBSHIFT) & Cflag.CBAUD == 0          # input: as the output
    assert int(t.c_cflag) & Cflag.CREAD                             # kept
    assert int(t.c_cflag) & Cflag.CSIZE == Cflag.CS7
    assert LineSettings.of(t) == LineSettings(int(Cflag.CS7 | Cflag.PARENB), baud, baud)


def test_split_speeds_and_bother() -> None:
    t = Ktermios(c_cflag=Cflag.CS8)
    LineSettings(int(Cflag.CS8), 250000, 9600).apply(t)
    assert int(t.c_cflag) & Cflag.CBAUD == 13                       # B9600
    assert (int(t.c_cflag) >> IBSHIFT) & Cflag.CBAUD == Cflag.BOTHER
    assert (t.c_ispeed, t.c_ospeed) == (250000, 9600)
    assert LineSettings.of(t).describe() == "250000/9600 8N1"


def test_settings_of_a_bother_termios() -> None:
    t = TTY_STD_TERMIOS.copy()
    cfsetspeed(t, 250000)
    assert LineSettings.of(t).ospeed == 250000
    assert int(t.c_cflag) & MIRRORED_CFLAG == LineSettings.of(t).cflag


@pytest.mark.parametrize(("cflag", "text"), [
    (Cflag.CS7 | Cflag.PARENB, "9600 7E1"),
    (Cflag.CS7 | Cflag.PARENB | Cflag.PARODD, "9600 7O1"),
    (Cflag.CS8 | Cflag.PARENB | Cflag.CMSPAR | Cflag.PARODD, "9600 8M1"),
    (Cflag.CS8 | Cflag.PARENB | Cflag.CMSPAR, "9600 8S1"),
    (Cflag.CS5, "9600 5N1"),
])
def test_describe_names_the_frame(cflag: Cflag, text: str) -> None:
    assert LineSettings(int(cflag), 9600, 9600).describe() == text


# -- data and settings, in order ----------------------------------------------------------------


def test_packet_mode_data_and_status_bytes() -> None:
    link = PtyLink()
    assert link.from_master_packet(b"\x00hello") == PacketStatus(0)
    assert link.from_master_packet(b"\x40") == PacketStatus.IOCTL
    assert link.from_master_packet(b"") == PacketStatus(0)
    assert drain_to_tty(link) == [b"hello"]
    assert link.to_tty_total == 5


def test_settings_travel_after_the_data_written_before_them() -> None:
    link = PtyLink()
    assert not link.settings_seen(S9600)          # the first look only records
    link.from_master(b"at 9600")
    assert link.settings_seen(S115200)
    assert not link.settings_seen(S115200)        # unchanged: nothing queued
    link.from_master(b"at 115200")
    assert drain_to_tty(link) == [b"at 9600", S115200, b"at 115200"]
    assert link.settings == S115200


def test_partial_writes_to_the_tty_keep_the_rest() -> None:
    link = PtyLink()
    link.from_master(b"abcdef")
    link.tty_took(2)
    assert bytes(link.next_for_tty()) == b"cdef"  # type: ignore[arg-type]
    assert link.pending_to_tty == 4
    with pytest.raises(ValueError, match="tty_took"):
        link.tty_took(5)
    with pytest.raises(ValueError, match="not settings"):
        link.settings_applied()


def test_backpressure_both_ways() -> None:
    link = PtyLink(high_water=8)
    assert link.wants_master_read and link.wants_tty_read
    link.from_master(b"12345678")
    assert not link.wants_master_read
    link.tty_took(1)
    assert link.wants_master_read
    link.from_tty(b"abcdefgh")
    assert not link.wants_tty_read
    assert bytes(link.for_master()) == b"abcdefgh"
    link.master_took(3)
    assert link.wants_tty_read and bytes(link.for_master()) == b"defgh"
    assert link.to_master_total == 3
    with pytest.raises(ValueError, match="master_took"):
        link.master_took(6)
    with pytest.raises(ValueError, match="at least 1 byte"):
        PtyLink(high_water=0)


def test_flushes_drop_only_their_direction_and_keep_settings() -> None:
    link = PtyLink()
    link.settings_seen(S9600)
    link.from_master(b"old output")
    link.settings_seen(S115200)
    link.from_tty(b"unread input")
    assert link.flush(PacketStatus.FLUSHREAD) == (12, 0)
    assert link.pending_to_master == 0 and link.pending_to_tty == 10
    assert link.flush(PacketStatus.FLUSHWRITE) == (0, 10)
    assert drain_to_tty(link) == [S115200]


# -- the end ---------------------------------------------------------------------------------------


def test_a_hangup_drops_what_the_tty_cannot_take_and_drains_the_rest() -> None:
    link = PtyLink()
    link.from_master(b"for the device")
    link.from_tty(b"for the program")
    assert link.tty_hung_up() == 14
    assert link.state is LinkState.DRAINING
    assert link.next_for_tty() is None and not link.wants_master_read
    assert not link.wants_tty_read and not link.drained
    link.from_master(b"late")                      # nothing more for the tty
    link.from_tty(b"!")                            # what was read still goes out
    assert link.pending_to_tty == 0
    assert bytes(link.for_master()) == b"for the program!"
    link.master_took(16)
    assert link.drained
    assert link.tty_hung_up() == 0                 # once
    assert link.close() == 0
    assert link.state is LinkState.CLOSED and link.close() == 0


def test_close_drops_both_queues_and_settings_stop() -> None:
    link = PtyLink()
    link.settings_seen(S9600)
    link.from_master(b"ab")
    link.from_tty(b"cde")
    assert link.close() == 5
    assert not link.settings_seen(S115200)
    link.from_tty(b"x")
    assert link.pending_to_master == 0 and not link.wants_master_read
    with pytest.raises(IllegalStateTransition, match="closed -> draining"):
        link._move(LinkState.DRAINING)
