"""usbemu's test kit — public test doubles and helpers, for usbemu's own tests and yours.

In the manner of `trio.testing`: a host double that records what a device model tells its
host (`RecordingHost`), helpers that drive a model exactly as a host would — raw setup
packets on endpoint 0, transfers on data endpoints — `virtual_machine()`, an emulated
machine on virtual time with a controller, ready for `plug()`; `blacklist()`, which keeps
udev from autoloading drivers a test does not want (usb-storage claiming a raw pen drive);
`UrbRecorder`, a usbmon
reader that records every URB a machine's controllers see (`monitor.py`); and the host
controller conformance suite, `check_host_controller(kind)` (`conformance.py`), which every
controller kind must pass.  `usbemu.testing.soak` runs plug / unplug soaks with I/O in
flight and checks that nothing leaks (`soak()`, `python -m usbemu.testing.soak`).  Nothing
under `usbemu` imports this package.

    model = enumerate_model(MyDevice())                  # reset, SET_ADDRESS, SET_CONFIGURATION
    assert get_descriptor(model, DescriptorType.DEVICE)[:2] == b"\\x12\\x01"
    assert push(model.endpoint(0x01), b"hi") == (Outcome.DONE, 2)
    assert pull(model.endpoint(0x81), 64) == (Outcome.DONE, b"HI")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..emulated.device import DeviceModel
from ..emulated.endpoint import Endpoint, Outcome
from ..spec.ch9 import Request, SetupPacket
from ..system import System
from .conformance import (
    ConformanceError,
    ConformanceReport,
    check_host_controller,
    run_conformance,
)
from .monitor import UrbEvent, UrbRecorder

__all__ = [
    "ConformanceError",
    "ConformanceReport",
    "RecordingHost",
    "UrbEvent",
    "UrbRecorder",
    "blacklist",
    "check_host_controller",
    "control_in",
    "control_out",
    "enumerate_model",
    "get_descriptor",
    "pull",
    "push",
    "run_conformance",
    "virtual_machine",
]


@dataclass
class RecordingHost:
    """A `DeviceHost` that records every callback: the endpoints made ready (as
    addresses), remote wakeups and disconnects."""

    ready: list[int] = field(default_factory=list)
    wakeups: list[DeviceModel] = field(default_factory=list)
    disconnected: list[DeviceModel] = field(default_factory=list)

    def endpoint_ready(self, device: DeviceModel, ep: Endpoint) -> None:
        self.ready.append(ep.address)

    def remote_wakeup(self, device: DeviceModel) -> None:
        self.wakeups.append(device)

    def device_disconnected(self, device: DeviceModel) -> None:
        self.disconnected.append(device)


def control_in(model: DeviceModel, setup: SetupPacket) -> bytes:
    """Run an IN control transfer; returns the data.  Raises AssertionError unless the
    device completed it (a STALL, NAK or no answer is a failed expectation)."""
    buf = memoryview(bytearray(setup.wLength))
    outcome, n = model.control(setup, dst=buf)
    assert outcome is Outcome.DONE, f"{setup}: {outcome.value}"
    return bytes(buf[:n])


def control_out(model: DeviceModel, setup: SetupPacket, data: bytes = b"") -> Outcome:
    """Run an OUT or no-data control transfer; returns the outcome."""
    outcome, _ = model.control(setup, data)
    return outcome


def get_descriptor(model: DeviceModel, dtype: int, index: int = 0, langid: int = 0,
                   length: int = 0xFF) -> bytes:
    """GET_DESCRIPTOR(dtype, index) with `length` as wLength; the bytes returned."""
    return control_in(model, SetupPacket(0x80, Request.GET_DESCRIPTOR, dtype << 8 | index,
                                         langid, length))


def enumerate_model(model: DeviceModel, *, address: int = 2, configuration: int | None = 1,
                    host: RecordingHost | None = None) -> DeviceModel:
    """Plug `model` into a recording host, reset it, give it `address` and select
    `configuration` (None: stay in the address state).  Returns the model."""
    model.connect(None, host if host is not None else RecordingHost())
    model.bus_reset()
    assert control_out(model, SetupPacket(0x00, Request.SET_ADDRESS, address)) is Outcome.DONE
    if configuration is not None:
        outcome = control_out(model, SetupPacket(0x00, Request.SET_CONFIGURATION,
                                                 configuration))
        assert outcome is Outcome.DONE, f"SET_CONFIGURATION {configuration}: {outcome.value}"
    return model


def pull(ep: Endpoint | None, room: int) -> tuple[Outcome, bytes]:
    """One IN transfer into a host buffer of `room` bytes: (outcome, bytes received)."""
    assert ep is not None, "no such endpoint in the active configuration"
    buf = bytearray(room)
    outcome, n = ep.pull_in(memoryview(buf))
    return outcome, bytes(buf[:n])


def push(ep: Endpoint | None, data: bytes, zlp: bool = False) -> tuple[Outcome, int]:
    """One OUT transfer of `data` (plus a ZLP if `zlp`): (outcome, bytes accepted)."""
    assert ep is not None, "no such endpoint in the active configuration"
    return ep.push_out(memoryview(data), zlp)


@contextmanager
def virtual_machine(nports: int = 6, *, kind: str = "inproc",
                    **options: object) -> Iterator[System]:
    """An emulated machine on virtual time with one controller of `kind` (the in-process
    EHCI-like one by default; `options` such as has_tt=False go to it) as bus 1, booted;
    closed on exit."""
    with System() as system:
        system.add_controller(kind, nports=nports, **options)
        yield system


#: The /etc/modprobe.d file `blacklist()` writes.
BLACKLIST_CONF = "usbemu-testing.conf"


def blacklist(system: System, *modules: str) -> None:
    """Blacklist `modules` on `system` as ``echo "blacklist NAME" > /etc/modprobe.d/…``
    does: udev's autoload leaves them out, modprobe by name still loads them.  Each call
    replaces the previous list.  Context: atomic."""
    system.modules.write_config(BLACKLIST_CONF, "".join(f"blacklist {name}\n" for name in modules))
