"""The UART behind a converter port, driven from both sides: the far end (received, send,
input lines) and the USB side (write, read, configure), without any endpoint."""

from __future__ import annotations

import pytest

from usbemu.emulated.uart import (
    ByteFifo,
    FlowControl,
    LineError,
    ModemLines,
    Parity,
    StopBits,
    Uart,
    UartSettings,
    covering_packets,
    zlp_follows,
)


class Recorder(Uart):
    """A Uart whose USB-side hooks are counted."""

    __slots__ = ("events",)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.events: list[str] = []

    def data_ready(self) -> None:
        self.events.append("data")

    def room_ready(self) -> None:
        self.events.append("room")

    def lines_changed(self, old: ModemLines, new: ModemLines) -> None:
        self.events.append(f"lines {int(old):#x}->{int(new):#x}")


def read_all(uart: Uart, limit: int = 1 << 20) -> bytes:
    data, _ = uart.read(limit)
    return b"" if data is None else bytes(data)


# -- the byte pipe ----------------------------------------------------------------------------


def test_host_writes_are_received_by_the_far_end() -> None:
    uart = Uart()
    assert uart.write(memoryview(b"AT\r")) and uart.write(b"ATZ\r")
    assert uart.pending_out == 7
    assert uart.received() == b"AT\rATZ\r"
    assert uart.received() == b"" and uart.pending_out == 0


def test_sent_bytes_are_read_by_the_host_in_order_across_chunks() -> None:
    uart = Recorder()
    uart.send(b"OK")
    uart.send(bytearray(b"\r\n"))
    assert uart.events == ["data", "data"] and uart.pending_in == 4
    data, error = uart.read(3)
    assert bytes(data or b"") == b"OK\r" and error is LineError.NONE
    assert read_all(uart) == b"\n"
    assert uart.read(64) == (None, LineError.NONE)


def test_reads_within_one_chunk_do_not_copy() -> None:
    uart = Uart()
    payload = bytes(range(200))
    assert uart.write(payload)
    uart.loopback = True
    data, _ = uart.read(64)
    assert isinstance(data, memoryview) and data.obj is not None and bytes(data) == payload[:64]


def test_a_full_buffer_refuses_writes_once_and_never_drops_accepted_bytes() -> None:
    uart = Recorder(buffer_size=128)
    assert uart.write(bytes(100))
    assert not uart.write(bytes(64))
    assert not uart.write(bytes(64))
    assert uart.events == []
    assert uart.received() == bytes(100)
    assert uart.events == ["room"]
    assert uart.write(bytes(64)) and uart.received() == bytes(64)
    assert uart.events == ["room"]


def test_an_empty_buffer_takes_a_write_larger_than_itself() -> None:
    uart = Uart(buffer_size=16)
    assert uart.write(bytes(1000))
    assert uart.received() == bytes(1000)


def test_clear_and_purges_drop_each_direction_and_make_room() -> None:
    uart = Recorder(buffer_size=8)
    uart.send(b"in", LineError.PARITY)
    assert uart.write(b"out")
    assert not uart.write(b"more bytes")
    uart.purge_tx()
    assert uart.events == ["data", "room"] and uart.pending_out == 0 and uart.pending_in == 2
    uart.purge_rx()
    assert uart.read(8) == (None, LineError.NONE)
    uart.send(b"next", LineError.FRAMING)
    assert uart.read(8)[1] is LineError.FRAMING  # the purged mark does not linger
    assert uart.write(b"x")
    uart.send(b"y")
    uart.clear()
    assert uart.pending_in == 0 and uart.pending_out == 0


def test_bad_buffer_size_is_refused() -> None:
    with pytest.raises(ValueError, match="buffer_size"):
        Uart(buffer_size=0)


# -- loopback ---------------------------------------------------------------------------------


def test_loopback_returns_what_the_host_writes() -> None:
    uart = Recorder(loopback=True)
    assert uart.write(b"ping")
    assert uart.events == ["data"]
    assert uart.received() == b""
    assert read_all(uart) == b"ping"


def test_loopback_holds_the_echo_against_the_buffer() -> None:
    uart = Recorder(loopback=True, buffer_size=64)
    assert uart.write(bytes(64))
    assert not uart.write(b"1")
    assert read_all(uart, 32) == bytes(32)
    assert uart.events == ["data", "room"]
    assert uart.write(b"1")


def test_loopback_switched_on_later_sends_the_queued_bytes_round() -> None:
    uart = Recorder()
    assert uart.write(b"queued")
    uart.loopback = True
    assert uart.events == ["data"] and read_all(uart) == b"queued"
    assert uart.loopback


def test_rts_cts_flow_control_holds_the_loop_while_cts_is_low() -> None:
    uart = Recorder(loopback=True)
    uart.configure(flow=FlowControl.RTS_CTS)
    assert uart.write(b"held") and not uart.transmitting
    assert uart.pending_out == 4 and uart.pending_in == 0 and uart.events == []
    uart.cts = True
    assert uart.transmitting and uart.pending_out == 0
    assert read_all(uart) == b"held"


def test_dtr_dsr_flow_control_holds_the_far_end_while_dsr_is_low() -> None:
    uart = Uart()
    uart.configure(flow=FlowControl.DTR_DSR)
    assert uart.write(b"wait")
    assert uart.received() == b""
    uart.dsr = True
    assert uart.received() == b"wait"


def test_a_break_stops_transmission_and_loops_back_as_a_break() -> None:
    uart = Recorder(loopback=True)
    assert uart.write(b"ab")
    uart.configure(break_on=True)
    assert not uart.transmitting
    assert uart.write(b"c")
    assert uart.pending_out == 1
    data, error = uart.read(64)
    assert bytes(data or b"") == b"ab\0" and error is LineError.BREAK
    uart.configure(break_on=False)
    assert read_all(uart) == b"c"


# -- line errors --------------------------------------------------------------------------------


def test_a_read_stops_after_the_byte_with_an_error() -> None:
    uart = Uart()
    uart.send(b"abc", LineError.PARITY)
    uart.send(b"de")
    uart.send(b"f", LineError.FRAMING | LineError.OVERRUN)
    data, error = uart.read(64)
    assert bytes(data or b"") == b"abc" and error is LineError.PARITY
    data, error = uart.read(2)
    assert bytes(data or b"") == b"de" and error is LineError.NONE
    data, error = uart.read(64)
    assert bytes(data or b"") == b"f" and error == LineError.FRAMING | LineError.OVERRUN


def test_a_short_read_before_the_error_byte_carries_no_error() -> None:
    uart = Uart()
    uart.send(b"0123456789", LineError.OVERRUN)
    assert uart.read(4)[1] is LineError.NONE
    data, error = uart.read(64)
    assert bytes(data or b"") == b"456789" and error is LineError.OVERRUN


def test_send_break_is_a_nul_with_the_break_error() -> None:
    uart = Uart()
    uart.send_break()
    data, error = uart.read(8)
    assert bytes(data or b"") == b"\0" and error is LineError.BREAK


def test_an_error_needs_a_byte() -> None:
    with pytest.raises(ValueError, match="last byte"):
        Uart().send(b"", LineError.PARITY)


# -- settings and lines -------------------------------------------------------------------------


def test_settings_start_at_power_up_values() -> None:
    uart = Uart()
    assert uart.settings == UartSettings()
    assert (uart.baud, uart.data_bits, uart.parity, uart.stop_bits, uart.flow) == (
        9600, 8, Parity.NONE, StopBits.ONE, FlowControl.NONE)
    assert not (uart.dtr or uart.rts or uart.break_on)
    assert uart.changes == [] and repr(uart) == "<Uart 9600 8N1 lines=<ModemLines: 0>>"


def test_every_host_change_is_recorded_and_reported() -> None:
    uart = Uart()
    seen: list[tuple[UartSettings, UartSettings]] = []
    uart.on_settings.append(lambda old, new: seen.append((old, new)))
    assert uart.configure(baud=115200, parity=Parity.EVEN, stop_bits=StopBits.ONE_AND_HALF)
    assert not uart.configure(baud=115200)
    assert uart.configure(dtr=True, rts=True)
    assert [s.baud for s in uart.changes] == [115200, 115200]
    assert uart.changes[-1].dtr and uart.rts
    assert seen[0][0] == UartSettings() and seen[1][1] is uart.settings
    assert uart.modem_lines == ModemLines.DTR | ModemLines.RTS
    assert repr(uart).startswith("<Uart 115200 8E1.5")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("baud", 0, "baud=0 must be a positive"),
    ("data_bits", 9, "data_bits=9 must be one of"),
    ("parity", 2, "parity=2 must be a Parity"),
    ("xon", 256, "xon=256 must be a character"),
])
def test_impossible_settings_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Uart().configure(**{field: value})
    with pytest.raises(TypeError):
        Uart().configure(speed=9600)


def test_stop_bits_know_their_count() -> None:
    assert [s.bits for s in StopBits] == [1.0, 1.5, 2.0]


def test_input_lines_are_reported_once_per_change() -> None:
    uart = Recorder()
    seen: list[tuple[ModemLines, ModemLines]] = []
    uart.on_inputs.append(lambda old, new: seen.append((old, new)))
    uart.cts = True
    uart.cts = True
    uart.set_inputs(dsr=True, dcd=True, ri=False)
    uart.ri = True
    assert uart.cts and uart.dsr and uart.dcd and uart.ri
    assert uart.inputs == ModemLines.CTS | ModemLines.DSR | ModemLines.DCD | ModemLines.RI
    assert seen == [(ModemLines(0), ModemLines.CTS),
                    (ModemLines.CTS, ModemLines.CTS | ModemLines.DSR | ModemLines.DCD),
                    (ModemLines.CTS | ModemLines.DSR | ModemLines.DCD, uart.inputs)]
    assert uart.events == ["lines 0x0->0x20", "lines 0x20->0x160", "lines 0x160->0x1e0"]
    uart.set_inputs(cts=False, dsr=False, ri=False, dcd=False)
    assert uart.inputs == ModemLines(0) and not uart.dcd


# -- the FIFO and packet rules --------------------------------------------------------------------


def test_byte_fifo_moves_chunks_without_copying() -> None:
    a, b = ByteFifo(), ByteFifo()
    a.put(b"hello world")
    assert bytes(a.take(6) or b"") == b"hello "
    assert a.move_to(b) == 5 and len(a) == 0 and a.move_to(b) == 0
    b.put(b"!")
    assert b.drain() == b"world!" and b.drain() == b""
    assert a.take(0) is None and a.read(4) is None


def test_packet_rules() -> None:
    assert covering_packets(0, 64) == 64 and covering_packets(65, 64) == 128
    assert zlp_follows(64, 100, 64, 0)
    assert not zlp_follows(64, 64, 64, 0)  # the read is full
    assert not zlp_follows(63, 100, 64, 0)  # a short packet ended it
    assert not zlp_follows(64, 100, 64, 1)  # more is coming
