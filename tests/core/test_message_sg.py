"""Scatter-gather requests (core/message.py: usb_sg_init, usb_sg_wait, usb_sg_cancel, as
message.c has them): one URB per entry with message.c's flags, a list moved through gadget
zero's loopback and read back, a fault that unlinks the rest of the list, a request
cancelled before it starts, and the pipes it refuses.  On virtual time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from usbemu.core.message import UsbSgRequest, usb_sg_cancel, usb_sg_init, usb_sg_wait
from usbemu.core.urb import (
    PIPE_BULK,
    PIPE_CONTROL,
    PIPE_ISOCHRONOUS,
    UrbFlag,
    make_pipe,
)
from usbemu.core.usb import UsbDevice
from usbemu.emulated.faults import Fault, FaultKind, FaultPlan, Match, inject_faults
from usbemu.emulated.models.zero import GadgetZero
from usbemu.errors import Errno
from usbemu.system import System
from usbemu.testing import blacklist


@pytest.fixture
def system() -> Iterator[System]:
    with System() as machine:
        machine.add_controller("inproc")
        blacklist(machine, "usbtest")
        yield machine


@pytest.fixture
def model(system: System) -> GadgetZero:
    zero = GadgetZero(loopdefault=True)
    system.plug(zero, "1-1")
    system.settle()
    return zero


@pytest.fixture
def udev(system: System, model: GadgetZero) -> UsbDevice:
    dev = system.find_device("1-1")
    assert dev is not None
    return dev


def test_init_makes_one_urb_per_entry(udev: UsbDevice) -> None:
    io = UsbSgRequest()
    sg = [bytearray(100), bytearray(200), bytearray(300)]
    assert usb_sg_init(io, udev, make_pipe(udev, PIPE_BULK, 1, True), 8, sg) == 0
    assert (io.entries, io.count, io.status) == (3, 3, 0)
    assert [u.transfer_buffer_length for u in io.urbs] == [100, 200, 300]
    in_flags = UrbFlag.NO_INTERRUPT | UrbFlag.SHORT_NOT_OK
    assert [u.transfer_flags for u in io.urbs] == [in_flags, in_flags, UrbFlag.SHORT_NOT_OK]
    assert usb_sg_init(io, udev, make_pipe(udev, PIPE_BULK, 2, False), 8, sg, 250) == 0
    assert [u.transfer_buffer_length for u in io.urbs] == [100, 150]
    assert io.urbs[-1].transfer_flags == 0


def test_init_refuses_control_isochronous_and_empty(udev: UsbDevice) -> None:
    io = UsbSgRequest()
    assert usb_sg_init(io, udev, make_pipe(udev, PIPE_CONTROL, 0, True), 0,
                       [bytearray(8)]) == -Errno.EINVAL
    assert usb_sg_init(io, udev, make_pipe(udev, PIPE_ISOCHRONOUS, 3, True), 0,
                       [bytearray(8)]) == -Errno.EINVAL
    assert usb_sg_init(io, udev, make_pipe(udev, PIPE_BULK, 1, True), 0, []) == -Errno.EINVAL


def test_a_list_goes_out_and_comes_back(system: System, udev: UsbDevice) -> None:
    async def run() -> tuple[int, int, int, int, bytes]:
        out = UsbSgRequest()
        usb_sg_init(out, udev, make_pipe(udev, PIPE_BULK, 2, False), 8,
                    [bytearray(b"a" * 500), bytearray(b"b" * 100)])
        await usb_sg_wait(out)
        back = UsbSgRequest()
        bufs = [bytearray(500), bytearray(100)]
        usb_sg_init(back, udev, make_pipe(udev, PIPE_BULK, 1, True), 8, bufs)
        await usb_sg_wait(back)
        return out.status, out.bytes, back.status, back.bytes, bytes(bufs[0] + bufs[1])
    assert system.run(run()) == (0, 600, 0, 600, b"a" * 500 + b"b" * 100)


def test_a_fault_unlinks_the_rest(system: System, model: GadgetZero,
                                  udev: UsbDevice) -> None:
    inject_faults(model, FaultPlan([Fault(FaultKind.STALL, Match(ep=0x02, nth=2))]))

    async def run() -> tuple[int, int, list[int]]:
        io = UsbSgRequest()
        usb_sg_init(io, udev, make_pipe(udev, PIPE_BULK, 2, False), 8,
                    [bytearray(64) for _ in range(4)])
        await usb_sg_wait(io)
        return io.status, io.bytes, [u.status for u in io.urbs]
    status, moved, statuses = system.run(run())
    assert (status, moved) == (-Errno.EPIPE, 64)
    assert statuses[:2] == [0, -Errno.EPIPE]
    assert all(s in (-Errno.ECONNRESET, -Errno.EPERM) for s in statuses[2:])


def test_cancel_before_wait(system: System, udev: UsbDevice) -> None:
    async def run() -> tuple[int, int]:
        io = UsbSgRequest()
        usb_sg_init(io, udev, make_pipe(udev, PIPE_BULK, 2, False), 8, [bytearray(64)])
        usb_sg_cancel(io)
        await usb_sg_wait(io)
        return io.status, io.bytes
    assert system.run(run()) == (-Errno.ECONNRESET, 0)
