"""The USB/IP codec and connection state (usbemu.bridges.usbip.protocol): the bytes of each
message as usbip_protocol.rst lays them out, round trips of every message, the phases and
roles, and what a broken peer gets — a ProtocolError naming the field, never a crash."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usbemu.bridges.usbip.protocol import (
    HEADER_SIZE,
    USBIP_MAX_ISO_PACKETS,
    CmdSubmit,
    CmdUnlink,
    ConnectionClosed,
    Direction,
    Event,
    ExportedDevice,
    ExportedInterface,
    IsoPacket,
    OpRepDevlist,
    OpRepImport,
    OpReqDevlist,
    OpReqImport,
    OpStatus,
    Phase,
    ProtocolError,
    RetSubmit,
    RetUnlink,
    Role,
    UsbipConnection,
    encode,
)

PEN = ExportedDevice("/sys/devices/pci0000:00/0000:00:1d.0/usb1/1-1", "1-1", 1, 2, 3,
                     0x058F, 0x6387, 0x0100, 0, 0, 0, 1, 1, 1,
                     (ExportedInterface(8, 6, 0x50),))
ECONNRESET = 104


def events_of(conn: UsbipConnection, data: bytes, *, eof: bool = False) -> list[Event]:
    """Feed `data` (and the end of the stream if `eof`); the messages it completes."""
    if data or eof:
        conn.receive_data(data)
    out: list[Event] = []
    while (event := conn.next_event()) is not None:
        out.append(event)
        if isinstance(event, ConnectionClosed):
            break
    return out


def imported_pair() -> tuple[UsbipConnection, UsbipConnection]:
    """A client and a server past a successful import."""
    client, server = UsbipConnection(Role.CLIENT), UsbipConnection(Role.SERVER)
    assert events_of(server, client.send(OpReqImport("1-1"))) == [OpReqImport("1-1")]
    reply = OpRepImport(OpStatus.OK, PEN)
    assert events_of(client, server.send(reply)) == [OpRepImport(OpStatus.OK,
                                                                 _no_interfaces(PEN))]
    assert client.phase is server.phase is Phase.URB
    return client, server


def _no_interfaces(dev: ExportedDevice) -> ExportedDevice:
    return ExportedDevice(*(getattr(dev, f) for f in ExportedDevice.__dataclass_fields__
                            if f != "interfaces"))


# -- the bytes ---------------------------------------------------------------------------------


def test_op_req_devlist_and_import_bytes() -> None:
    assert encode(OpReqDevlist()) == bytes.fromhex("0111 8005 00000000")
    assert encode(OpReqImport("1-1")) == bytes.fromhex("0111 8003 00000000") + \
        b"1-1".ljust(32, b"\0")


def test_op_rep_devlist_bytes_follow_the_offsets_of_the_rst() -> None:
    raw = encode(OpRepDevlist((PEN,)))
    assert raw[:12] == bytes.fromhex("0111 0005 00000000 00000001")
    assert raw[0x0C:0x0C + 256].rstrip(b"\0") == PEN.path.encode()
    assert raw[0x10C:0x10C + 32].rstrip(b"\0") == b"1-1"
    assert struct.unpack(">III", raw[0x12C:0x138]) == (1, 2, 3)
    assert struct.unpack(">HHH", raw[0x138:0x13E]) == (0x058F, 0x6387, 0x0100)
    assert raw[0x13E:0x144] == bytes([0, 0, 0, 1, 1, 1])
    assert raw[0x144:] == bytes([8, 6, 0x50, 0])


def test_op_rep_import_ends_after_the_status_when_it_fails() -> None:
    assert encode(OpRepImport(OpStatus.DEV_BUSY)) == bytes.fromhex("0111 0003 00000002")
    assert len(encode(OpRepImport(OpStatus.OK, PEN))) == 8 + 312


def test_cmd_submit_header_and_buffer() -> None:
    setup = bytes.fromhex("8006000100001200")
    raw = encode(CmdSubmit(5, 0x10002, Direction.IN, 0, 0x200, 18, number_of_packets=0,
                           setup=setup))
    assert len(raw) == HEADER_SIZE
    assert struct.unpack(">IIIIIIiiii", raw[:40]) == (1, 5, 0x10002, 1, 0, 0x200, 18, 0, 0, 0)
    assert raw[40:48] == setup
    out = encode(CmdSubmit(6, 0x10002, Direction.OUT, 1, 0, 4, data=b"abcd"))
    assert out[HEADER_SIZE:] == b"abcd"
    not_iso = encode(CmdSubmit(7, 1, Direction.IN, 2, 0, 8, number_of_packets=0xFFFFFFFF))
    assert not_iso[0x20:0x24] == b"\xff\xff\xff\xff"


def test_ret_submit_and_unlink_headers_are_padded_to_48_bytes() -> None:
    raw = encode(RetSubmit(5, -32, 0))
    assert len(raw) == HEADER_SIZE and raw[40:] == bytes(8)
    assert struct.unpack(">IIIIIi", raw[:24]) == (3, 5, 0, 0, 0, -32)
    assert encode(CmdUnlink(9, 0x10002, 0, 0, 5))[20:24] == struct.pack(">I", 5)
    ret = encode(RetUnlink(9, -ECONNRESET))
    assert len(ret) == HEADER_SIZE and struct.unpack(">i", ret[20:24]) == (-ECONNRESET,)


def test_iso_descriptors_follow_the_buffer() -> None:
    packets = (IsoPacket(0, 8), IsoPacket(8, 8))
    raw = encode(CmdSubmit(1, 1, Direction.OUT, 3, 2, 16, number_of_packets=2,
                           data=bytes(16), iso=packets))
    assert len(raw) == HEADER_SIZE + 16 + 32
    assert struct.unpack(">IIIi", raw[-16:]) == (8, 8, 0, 0)


# -- round trips -------------------------------------------------------------------------------


u32 = st.integers(0, 0xFFFFFFFF)
s32 = st.integers(-(1 << 31), (1 << 31) - 1)


@st.composite
def devices(draw: st.DrawFn) -> ExportedDevice:
    nif = draw(st.integers(0, 4))
    ifaces = tuple(ExportedInterface(*draw(st.tuples(*[st.integers(0, 255)] * 3)))
                   for _ in range(nif))
    text = st.text("abcdefghijklmnopqrstuvwxyz0123456789-./:", max_size=20)
    return ExportedDevice(draw(text), draw(text), draw(u32), draw(u32), draw(u32),
                          *draw(st.tuples(*[st.integers(0, 0xFFFF)] * 3)),
                          *draw(st.tuples(*[st.integers(0, 255)] * 5)), nif, ifaces)


@given(st.lists(devices(), max_size=3))
def test_devlist_round_trip(devs: list[ExportedDevice]) -> None:
    client, server = UsbipConnection(Role.CLIENT), UsbipConnection(Role.SERVER)
    assert events_of(server, client.send(OpReqDevlist())) == [OpReqDevlist()]
    reply = OpRepDevlist(tuple(devs))
    assert events_of(client, server.send(reply)) == [reply]


@st.composite
def submits(draw: st.DrawFn, seqnum: int) -> CmdSubmit:
    direction = draw(st.sampled_from(Direction))
    length = draw(st.integers(0, 300))
    npackets = draw(st.sampled_from([0, 0xFFFFFFFF, 1, 3]))
    iso = tuple(IsoPacket(*draw(st.tuples(u32, u32, u32, s32)))
                for _ in range(npackets if 0 < npackets < 100 else 0))
    data = draw(st.binary(min_size=length, max_size=length)) if direction == Direction.OUT \
        else b""
    return CmdSubmit(seqnum, draw(u32), direction, draw(st.integers(0, 15)), draw(u32),
                     length, draw(s32), npackets, draw(s32),
                     draw(st.binary(min_size=8, max_size=8)), data, iso)


@given(st.data())
def test_urbs_round_trip_and_each_answer_is_read_with_its_submission(data: st.DataObject
                                                                     ) -> None:
    client, server = imported_pair()
    cmds = [data.draw(submits(n)) for n in range(1, 5)]
    wire = b"".join(client.send(c) for c in cmds)
    # the bytes may arrive in any pieces
    cut = data.draw(st.integers(0, len(wire)))
    assert events_of(server, wire[:cut]) + events_of(server, wire[cut:]) == cmds
    for cmd in reversed(cmds):
        actual = data.draw(st.integers(0, cmd.transfer_buffer_length))
        if cmd.is_iso:
            sizes = [0] * (cmd.number_of_packets - 1) + [actual]
            iso = tuple(IsoPacket(p.offset, p.length, s, 0) for p, s in zip(cmd.iso, sizes,
                                                                          strict=True))
        else:
            iso = ()
        payload = bytes(actual) if cmd.direction == Direction.IN else b""
        ret = RetSubmit(cmd.seqnum, 0, actual, 0, cmd.number_of_packets, 0, payload, iso)
        got = events_of(client, server.send(ret))
        assert got == [ret]
    assert client.pending() == frozenset()


def test_unlink_round_trip_and_no_ret_submit_expected_after_it() -> None:
    client, server = imported_pair()
    events_of(server, client.send(CmdSubmit(1, 2, Direction.IN, 1, 0, 64)))
    assert events_of(server, client.send(CmdUnlink(2, 2, 0, 0, 1))) == \
        [CmdUnlink(2, 2, 0, 0, 1)]
    assert events_of(client, server.send(RetUnlink(2, -ECONNRESET))) == \
        [RetUnlink(2, -ECONNRESET)]
    assert client.pending() == frozenset()
    with pytest.raises(ProtocolError, match="seqnum 1, which is not pending"):
        events_of(client, server.send(RetSubmit(1, 0, 0)))


def test_eof_between_messages_and_in_the_middle_of_one() -> None:
    server = UsbipConnection(Role.SERVER)
    assert events_of(server, b"", eof=True) == [ConnectionClosed()]
    assert server.phase is Phase.CLOSED
    server = UsbipConnection(Role.SERVER)
    server.receive_data(encode(OpReqDevlist())[:5])
    assert server.next_event() is None
    server.receive_data(b"")
    with pytest.raises(ProtocolError, match="in the middle of a message"):
        server.next_event()


# -- what a broken peer gets -------------------------------------------------------------------


@pytest.mark.parametrize(("role", "data", "reason"), [
    (Role.SERVER, bytes.fromhex("0110 8005 00000000"), "version 0x0110, not 0x0111"),
    (Role.SERVER, bytes.fromhex("0111 1234 00000000"), "unexpected operation code 0x1234"),
    (Role.SERVER, bytes.fromhex("0111 0005 00000000"), "unexpected operation code 0x0005"),
    (Role.CLIENT, bytes.fromhex("0111 0003 00000000"), "reply REP_IMPORT to no request"),
])
def test_bad_operations(role: Role, data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        events_of(UsbipConnection(role), data)


def _cmd_header(**fields: int) -> bytes:
    values = {"command": 1, "seqnum": 1, "devid": 2, "direction": 0, "ep": 1, "flags": 0,
              "length": 0, "start": 0, "packets": 0, "interval": 0} | fields
    return struct.pack(">IIIIIIiiii8x", *values.values())


@pytest.mark.parametrize(("header", "reason"), [
    (_cmd_header(command=3), "unexpected command RET_SUBMIT"),
    (_cmd_header(command=77), "unexpected command 0x4d"),
    (_cmd_header(direction=2), "direction 2"),
    (_cmd_header(ep=16), "endpoint 16"),
    (_cmd_header(length=-1), "transfer_buffer_length -1"),
    (_cmd_header(length=(16 << 20) + 1), "transfer_buffer_length 16777217"),
    (_cmd_header(packets=USBIP_MAX_ISO_PACKETS + 1), "number_of_packets 1025"),
])
def test_bad_urb_headers(header: bytes, reason: str) -> None:
    _, server = imported_pair()
    with pytest.raises(ProtocolError, match=reason):
        events_of(server, header)
    assert server.phase is Phase.CLOSED


def test_a_ret_submit_that_lies_about_its_length() -> None:
    client, _ = imported_pair()
    client.send(CmdSubmit(1, 2, Direction.IN, 1, 0, 8))
    lie = struct.pack(">IIIIIiiiii8x", 3, 1, 0, 0, 0, 0, 9, 0, 0, 0) + bytes(9)
    with pytest.raises(ProtocolError, match="actual_length 9 of a 8-byte transfer"):
        events_of(client, lie)


def test_urbs_before_an_import_are_refused_both_ways() -> None:
    server = UsbipConnection(Role.SERVER)
    with pytest.raises(ProtocolError, match="CMD_SUBMIT before any import"):
        events_of(server, _cmd_header())
    with pytest.raises(ValueError, match="cannot send CmdSubmit"):
        UsbipConnection(Role.CLIENT).send(CmdSubmit(1, 1, 0, 0, 0, 0))


def test_a_message_waits_for_its_data_and_what_follows_is_the_next_message() -> None:
    _, server = imported_pair()
    server.max_transfer = 1024
    server.receive_data(_cmd_header(length=1024) + bytes(500))
    assert server.next_event() is None and server.buffered == HEADER_SIZE + 500
    server.receive_data(bytes(2000))
    assert isinstance(server.next_event(), CmdSubmit)
    with pytest.raises(ProtocolError, match="unexpected command 0x0"):
        server.next_event()                              # 1476 zero bytes: command 0


@given(st.binary(max_size=400), st.sampled_from(Role), st.booleans())
def test_random_bytes_never_crash(data: bytes, role: Role, imported: bool) -> None:
    if imported:
        client, server = imported_pair()
        conn = server if role is Role.SERVER else client
        if role is Role.CLIENT:
            conn.send(CmdSubmit(1, 2, Direction.IN, 1, 0, 64))
    else:
        conn = UsbipConnection(role)
        if role is Role.CLIENT:
            conn.send(OpReqDevlist())
    try:
        events_of(conn, data)
        events_of(conn, b"", eof=True)
    except ProtocolError as exc:
        assert exc.reason and conn.phase is Phase.CLOSED
