"""The protocol handlers (protocol.py) as the CBWs show them: transparent SCSI and RBC send
the command block as it is, the ATAPI-like command sets pad it to 12 bytes, UFI pads it
and fixes the allocation lengths of INQUIRY, MODE SENSE(10) and REQUEST SENSE."""

from __future__ import annotations

import pytest
from usbemu_tests_storage_helpers import Harness, Stick  # type: ignore[import-not-found]

from usbemu.spec.scsi import Opcode, SamStatus
from usbemu.spec.storage import StorageSubclass


def _cbws(stor: Harness, subclass: int) -> list[bytes]:
    model = Stick(subclass=subclass)
    seen: list[bytes] = []
    bot = model.bulk_only
    assert bot is not None
    take = bot.accept_out

    def spy(ep: object, data: memoryview) -> object:
        if bot.phase.value == "command":
            seen.append(bytes(data))
        return take(ep, data)  # type: ignore[arg-type]

    bot.accept_out = spy  # type: ignore[method-assign]
    stor.plug(model)
    return seen


def _cb(raw: bytes) -> bytes:
    return raw[15:15 + raw[14]]


@pytest.mark.parametrize(("subclass", "name"), [
    (StorageSubclass.SCSI, "Transparent SCSI"),
    (StorageSubclass.RBC, "Reduced Block Commands (RBC)"),
])
def test_transparent_protocols_pass_the_command_as_it_is(stor: Harness, subclass: int,
                                                        name: str) -> None:
    cbws = _cbws(stor, subclass)
    assert stor.us().protocol_name == name
    stor.command(bytes(6))
    assert _cb(cbws[-1]) == bytes(6)


@pytest.mark.parametrize(("subclass", "name"), [
    (StorageSubclass.SFF8020, "8020i"), (StorageSubclass.QIC, "QIC-157"),
    (StorageSubclass.SFF8070, "8070i"),
])
def test_atapi_protocols_pad_to_twelve_bytes(stor: Harness, subclass: int, name: str) -> None:
    cbws = _cbws(stor, subclass)
    us = stor.us()
    assert us.protocol_name == name
    assert _cb(cbws[0]) == bytes([Opcode.INQUIRY, 0, 0, 0, 36]) + bytes(7)
    stor.command(bytes(6))
    assert _cb(cbws[-1]) == bytes(12)
    long = bytes([Opcode.READ_16]) + bytes(15)
    stor.command(long, data_in=0)
    assert _cb(cbws[-1]) == long                       # longer blocks stay as they are


def test_ufi_fixes_the_allocation_lengths(stor: Harness) -> None:
    cbws = _cbws(stor, StorageSubclass.UFI)
    inquiry = stor.command(bytes([Opcode.INQUIRY, 0, 0, 0, 255, 0]), data_in=255)
    assert inquiry.result == SamStatus.GOOD
    assert _cb(cbws[-1]) == bytes([Opcode.INQUIRY, 0, 0, 0, 36]) + bytes(7)
    stor.command(bytes([Opcode.MODE_SENSE_10, 0, 0x3F, 0, 0, 0, 0, 0, 0xC0, 0]), data_in=192)
    assert _cb(cbws[-1]) == bytes([Opcode.MODE_SENSE_10, 0, 0x3F, 0, 0, 0, 0, 0, 8, 0, 0, 0])
    stor.command(bytes([Opcode.REQUEST_SENSE, 0, 0, 0, 96, 0]), data_in=96)
    assert _cb(cbws[-1]) == bytes([Opcode.REQUEST_SENSE, 0, 0, 0, 18]) + bytes(7)
    stor.command(bytes(6))
    assert _cb(cbws[-1]) == bytes(12)
