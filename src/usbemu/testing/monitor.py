"""A usbmon reader for tests: every URB a machine's controllers see, as events.

`UrbRecorder` attaches to a machine's USB subsystem through the HCD framework's usbmon
hooks (`usbemu.core.hcd.UsbMonitor`) and records each submission ("S"), submission error
("E") and giveback ("C") with a snapshot of what the URB said at that moment, the machine
time, and the status.  It is what usbemu's own tests use to compare enumeration with a real
kernel's capture, and what a driver's tests can use to see the requests a driver makes.
It is not usbmon's text or binary interface (no URB tags, no data words).

    with UrbRecorder(system) as rec:
        system.plug(PenDrive(), "1-1")
        system.settle()
    requests = [e.setup_packet for e in rec.submitted() if e.setup is not None]
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from ..core.hcd import UsbBus
from ..core.urb import (
    PIPE_CONTROL,
    Urb,
    usb_pipedevice,
    usb_pipeendpoint,
    usb_pipein,
    usb_pipetype,
)
from ..spec.ch9 import SetupPacket

if TYPE_CHECKING:
    from ..system import System

__all__ = ["UrbEvent", "UrbRecorder"]


@dataclass(frozen=True, slots=True)
class UrbEvent:
    """One hook call: `kind` is "S" (submitted), "E" (submission failed) or "C" (given
    back); `status` is -EINPROGRESS for "S", the error for "E", the final status for "C".
    The other fields are the URB's at that moment; `urb` is the URB itself, which lives on
    (the synchronous messages reuse their endpoint's idle URB), so read its state here."""

    kind: str
    urb: Urb
    time: float
    busnum: int
    pipe: int
    status: int
    length: int
    actual_length: int
    interval: int
    setup: bytes | None

    @property
    def devnum(self) -> int:
        return usb_pipedevice(self.pipe)

    @property
    def endpoint(self) -> int:
        return usb_pipeendpoint(self.pipe)

    @property
    def is_in(self) -> bool:
        return usb_pipein(self.pipe)

    @property
    def pipe_type(self) -> int:
        """PIPE_ISOCHRONOUS, PIPE_INTERRUPT, PIPE_CONTROL or PIPE_BULK."""
        return usb_pipetype(self.pipe)

    @property
    def setup_packet(self) -> SetupPacket | None:
        """The setup packet of a control URB, decoded."""
        return None if self.setup is None else SetupPacket.unpack(self.setup)


class UrbRecorder:
    """Records the URB traffic of every bus of `system` (present and future) from
    construction until `close()` (or the end of a `with` block).  Context: the hooks are
    atomic; construct and close it from outside the machine's loop or on it."""

    def __init__(self, system: System) -> None:
        self.events: list[UrbEvent] = []
        self._system = system
        self._attached = True
        system.usb.add_monitor(self)

    def __enter__(self) -> UrbRecorder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Detach from the machine; the events recorded so far stay."""
        if self._attached:
            self._attached = False
            self._system.usb.remove_monitor(self)

    # -- UsbMonitor ----------------------------------------------------------------------------

    def urb_submit(self, bus: UsbBus, urb: Urb) -> None:
        self._record("S", bus, urb, urb.status)

    def urb_submit_error(self, bus: UsbBus, urb: Urb, status: int) -> None:
        self._record("E", bus, urb, status)

    def urb_complete(self, bus: UsbBus, urb: Urb, status: int) -> None:
        self._record("C", bus, urb, status)

    def _record(self, kind: str, bus: UsbBus, urb: Urb, status: int) -> None:
        setup = urb.setup_packet if usb_pipetype(urb.pipe) == PIPE_CONTROL else None
        self.events.append(UrbEvent(kind, urb, bus.hcd.loop.time(), bus.busnum, urb.pipe,
                                    status, urb.transfer_buffer_length, urb.actual_length,
                                    urb.interval, setup))

    # -- views ---------------------------------------------------------------------------------

    def submitted(self) -> list[UrbEvent]:
        """The "S" events of the submissions the controller accepted (not followed by an
        "E" for the same submission), in order."""
        failed = {id(e) for e in self._failed_submissions()}
        return [e for e in self.events if e.kind == "S" and id(e) not in failed]

    def completed(self) -> list[UrbEvent]:
        """The "C" events, in giveback order."""
        return [e for e in self.events if e.kind == "C"]

    def _failed_submissions(self) -> list[UrbEvent]:
        last_submit: dict[int, UrbEvent] = {}
        failed: list[UrbEvent] = []
        for event in self.events:
            if event.kind == "S":
                last_submit[id(event.urb)] = event
            elif event.kind == "E" and id(event.urb) in last_submit:
                failed.append(last_submit.pop(id(event.urb)))
        return failed
