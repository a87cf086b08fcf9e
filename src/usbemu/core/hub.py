"""The hub driver and enumeration — counterpart of drivers/usb/core/hub.c.

Everything that turns "something changed on a port" into a registered `UsbDevice`:
the hub interface driver "hub" (probe, hub_configure, hub_activate, the status-change URB
and its completion `hub_irq`), the hub event worker `HubWorker` (hub_wq: hub_event,
port_event, debounce, connect and disconnect), device initialisation (port reset, the
new and old addressing schemes, SET_ADDRESS or the controller's `address_device`, ep0
maxpacket, device/BOS descriptors, retries and power cycles, and the ports' `early_stop`
and `quirks`), `usb_new_device` with its announcement, `usb_disconnect` and
`usb_reset_device`.  Requests, timing, retry counts and kernel messages are Linux 6.12's.
The port devices are `port.py`, root-hub registration is the HCD framework's (`hcd.py`)
and the usbfs driver is `devio.py`.

SuperSpeed hubs (bDeviceProtocol 3, such as a USB 3 root hub) are configured from their
SuperSpeed hub descriptor (type 0x2A), with SuperSpeed power units, the hub delay, SET_HUB_DEPTH
for a hub below another, the SuperSpeed port power bit, link-state port disable, warm resets
of ports in SS.Inactive or Compliance Mode, and the SuperSpeed speed for their children, which
are addressed before their device descriptor is read and get SET_ISOCH_DELAY.

What it does not do: link power management (U1/U2 timeouts, SET_SEL; `lpm_capable` is
only worked out, with Linux's messages), port power management
(C_PORT_SUSPEND is acknowledged, no runtime PM of ports behind it), hub LED blinking
(blinkenlights), OTG, or TT buffer clearing.  Hub events are processed one at a time
(Linux's hub_wq may run different hubs concurrently).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Final

from ..errors import Errno
from ..kernel.device import Uevent
from ..kernel.printk import Printk
from ..spec.ch9 import (
    ClassCode,
    DescriptorSize,
    DescriptorType,
    DeviceState,
    DeviceStatus,
    Direction,
    EndpointType,
    Recipient,
    Request,
    Speed,
)
from ..spec.config import parse_device
from ..spec.descriptors import (
    BosDescriptor,
    CapabilityType,
    DescriptorError,
    DeviceDescriptor,
    EndpointDescriptor,
)
from ..spec.hub import (
    HUB_CHAR_COMPOUND,
    HUB_CHAR_LPSM,
    HUB_CHAR_OCPM,
    HUB_CHAR_PORTIND,
    HUB_CHAR_TTTT,
    USB_DT_HUB_NONVAR_SIZE,
    USB_DT_SS_HUB_SIZE,
    USB_MAXCHILDREN,
    USB_PORT_STAT_C_CONNECTION,
    USB_PORT_STAT_C_ENABLE,
    USB_PORT_STAT_C_OVERCURRENT,
    USB_PORT_STAT_C_RESET,
    USB_PORT_STAT_C_SUSPEND,
    USB_PORT_STAT_CONNECTION,
    USB_PORT_STAT_ENABLE,
    USB_PORT_STAT_HIGH_SPEED,
    USB_PORT_STAT_LINK_STATE,
    USB_PORT_STAT_LOW_SPEED,
    USB_PORT_STAT_OVERCURRENT,
    USB_PORT_STAT_POWER,
    USB_PORT_STAT_RESET,
    USB_SS_PORT_STAT_POWER,
    HubChange,
    HubDescriptor,
    HubFeature,
    HubLed,
    HubProtocol,
    HubRequest,
    HubRequestType,
    HubStat,
    PortFeature,
    SsLinkState,
    SsPortFeature,
    hub_bitmap_len,
)
from .config import usb_get_bos_descriptor, usb_get_configuration
from .devtable import MatchFlag, UsbDeviceId
from .driver import UsbDriver
from .message import (
    USB_CTRL_GET_TIMEOUT,
    USB_CTRL_SET_TIMEOUT,
    usb_cache_string,
    usb_control_msg,
    usb_disable_device,
    usb_disable_endpoint,
    usb_disable_interface,
    usb_enable_interface,
    usb_get_descriptor,
    usb_set_interface,
    usb_string,
)
from .port import USB_PORT_QUIRK_FAST_ENUM, USB_PORT_QUIRK_OLD_SCHEME, UsbPort
from .urb import PIPE_CONTROL, PIPE_INTERRUPT, Urb, make_pipe, usb_kill_urb
from .urb import usb_submit_urb as _submit
from .usb import InterfaceCondition, UsbDevice, UsbInterface

if TYPE_CHECKING:
    from ..spec.descriptors import StringRef
    from .usbcore import UsbCore

__all__ = [
    "MAX_TOPO_LEVEL",
    "HubActivation",
    "HubDriver",
    "HubParams",
    "HubWorker",
    "UsbHub",
    "UsbTT",
    "hub_driver",
    "hub_is_superspeed",
    "hub_port_debounce",
    "hub_port_init",
    "hub_port_reset",
    "kick_hub_wq",
    "usb_device_is_owned",
    "usb_device_supports_lpm",
    "usb_disconnect",
    "usb_get_device_descriptor",
    "usb_hub_find_child",
    "usb_hub_port_status",
    "usb_hub_to_struct_hub",
    "usb_new_device",
    "usb_reset_device",
    "usb_ttport",
]

# -- constants (hub.c, hub.h, include/linux/usb.h) ------------------------------------------------

MAX_TOPO_LEVEL: Final = 6
PORT_RESET_TRIES: Final = 5
SET_ADDRESS_TRIES: Final = 2
GET_DESCRIPTOR_TRIES: Final = 2
GET_MAXPACKET0_TRIES: Final = 3
PORT_INIT_TRIES: Final = 4
HUB_ROOT_RESET_TIME: Final = 60
HUB_SHORT_RESET_TIME: Final = 10
HUB_LONG_RESET_TIME: Final = 200
HUB_RESET_TIMEOUT: Final = 800
HUB_DEBOUNCE_TIMEOUT: Final = 2000
HUB_DEBOUNCE_STEP: Final = 25
HUB_DEBOUNCE_STABLE: Final = 100
USB_STS_TIMEOUT: Final = 1000
USB_STS_RETRIES: Final = 5
RESET_RECOVERY_TIME: Final = 10 + 40  # TRSTRCY = 10 ms, plus some extra
FAST_ENUM_RECOVERY_TIME: Final = 10  # usleep_range(10000, 12000) of USB_PORT_QUIRK_FAST_ENUM
UNIT_LOAD: Final = 100  # mA, USB 2.0 (150 for SuperSpeed)
FULL_LOAD: Final = 500  # mA, USB 2.0 (900 for SuperSpeed)
#: (unit load, full load) in mA, by hub_is_superspeed().
_LOADS: Final = {False: (UNIT_LOAD, FULL_LOAD), True: (150, 900)}
USB_TP_TRANSMISSION_DELAY: Final = 40  # ns, tTPTransmissionDelay
USB_TP_TRANSMISSION_DELAY_MAX: Final = 65535  # ns
GET_DESCRIPTOR_BUFSIZE: Final = 64
HUB_DESCRIPTOR_SIZE: Final = 15  # sizeof(struct usb_hub_descriptor)
IRQ_BUFFER_SIZE: Final = 8  # hub->buffer
IRQ_URB_RETRY: Final = 1.0  # seconds (HZ)
DEVPATH_SIZE: Final = 16  # sizeof(udev->devpath), with its NUL

HUB_QUIRK_CHECK_PORT_AUTOSUSPEND: Final = 1 << 0
HUB_QUIRK_DISABLE_AUTOSUSPEND: Final = 1 << 1
HUB_QUIRK_REDUCE_FRAME_INTR_BINTERVAL: Final = 1 << 2
USB_REDUCE_FRAME_INTR_BINTERVAL: Final = 9

_VALID_MAXP0: Final = frozenset({8, 16, 32, 64, 9})
_FS_HS_EP0: Final = frozenset({8, 16, 32, 64})
#: Initial ep0 maxpacket guess per speed (hub_port_init).
_EP0_GUESS: Final = {Speed.SUPER_PLUS: 512, Speed.SUPER: 512, Speed.WIRELESS: 512,
                     Speed.HIGH: 64, Speed.FULL: 64, Speed.LOW: 8}
_UNLINKED: Final = frozenset({-Errno.ENOENT, -Errno.ECONNRESET, -Errno.ESHUTDOWN})
_PORT_SPEED: Final = ((USB_PORT_STAT_HIGH_SPEED, "480 Mb/s"), (USB_PORT_STAT_LOW_SPEED, "1.5 Mb/s"))
#: Link states in which a SuperSpeed port needs a warm reset (hub_port_warm_reset_required).
_WARM_RESET_STATES: Final = frozenset({SsLinkState.SS_INACTIVE, SsLinkState.COMP_MOD})
_TT_THINK_BITS: Final = {0x00: 8, 0x20: 16, 0x40: 24, 0x60: 32}
_LPSM_TEXT: Final = {0: "ganged power switching", 1: "individual port power switching",
                     2: "no power switching (usb 1.0)", 3: "no power switching (usb 1.0)"}
_OCPM_TEXT: Final = {0x00: "global over-current protection",
                     0x08: "individual port over-current protection",
                     0x10: "no over-current protection", 0x18: "no over-current protection"}

_SND_ADDR0_PIPE: Final = PIPE_CONTROL << 30  # usb_sndaddr0pipe()
_RT_HUB_IN: Final = HubRequestType.HUB_IN
_RT_PORT_IN: Final = HubRequestType.PORT_IN
_RT_HUB: Final = HubRequestType.HUB_OUT
_RT_PORT: Final = HubRequestType.PORT_OUT


@dataclass
class HubParams:
    """The hub driver's module parameters (usbcore.old_scheme_first, use_both_schemes,
    initial_descriptor_timeout), with Linux's defaults."""

    old_scheme_first: bool = False
    use_both_schemes: bool = True
    initial_descriptor_timeout: int = USB_CTRL_GET_TIMEOUT


class HubActivation(Enum):
    """enum hub_activation_type."""

    INIT = "init"
    INIT2 = "init2"
    INIT3 = "init3"
    POST_RESET = "post-reset"
    RESUME = "resume"
    RESET_RESUME = "reset-resume"


class _Quiesce(Enum):
    """enum hub_quiescing_type."""

    DISCONNECT = "disconnect"
    PRE_RESET = "pre-reset"
    SUSPEND = "suspend"


async def msleep(ms: float) -> None:
    """msleep(): let `ms` milliseconds of machine time pass.  Context: may sleep."""
    await asyncio.sleep(ms / 1000)


def _plural(n: int) -> str:
    return "" if n == 1 else "s"


def _index(ref: StringRef) -> int:
    return ref if isinstance(ref, int) else 0


def _log(dev: UsbDevice) -> Printk:
    return dev.usb_bus.core.log


def hub_is_superspeed(hdev: UsbDevice) -> bool:
    """hub_is_superspeed(): the hub's device descriptor says USB_HUB_PR_SS.
    Context: atomic."""
    return hdev.descriptor is not None and hdev.descriptor.bDeviceProtocol == HubProtocol.SS


def _port_power_on(hub: UsbHub, portstatus: int) -> bool:
    """port_is_power_on(): the power bit of the hub's generation."""
    bit = USB_SS_PORT_STAT_POWER if hub_is_superspeed(hub.hdev) else USB_PORT_STAT_POWER
    return bool(portstatus & bit)


def hub_port_warm_reset_required(hub: UsbHub, port1: int, portstatus: int) -> bool:
    """hub_port_warm_reset_required(): a SuperSpeed port in SS.Inactive or Compliance
    Mode.  Context: atomic."""
    return hub_is_superspeed(hub.hdev) \
        and (portstatus & USB_PORT_STAT_LINK_STATE) in _WARM_RESET_STATES


def usb_device_supports_lpm(udev: UsbDevice) -> bool:
    """usb_device_supports_lpm(): a USB 2.1 device with the LPM bit of its USB 2.0
    extension; a SuperSpeed device with U1/U2 exit latencies and an LPM-capable parent
    ("No LPM exit latency info found, disabling LPM.", "LPM exit latency is zeroed,
    disabling LPM." or, for a root hub, "We don't know the algorithms for LPM for this
    host, disabling LPM." otherwise).  Context: atomic."""
    bos, log = udev.bos, _log(udev)
    if bos is None:
        return False
    if udev.speed in (Speed.HIGH, Speed.FULL):
        ext = bos.capability(CapabilityType.USB20_EXTENSION)
        return ext is not None and len(ext.data) >= 1 and bool(ext.data[0] & 0x02)
    ss_cap = bos.capability(CapabilityType.SUPERSPEED_USB)
    if ss_cap is None or len(ss_cap.data) < 7:
        log.dev_info(udev, "No LPM exit latency info found, disabling LPM.")
        return False
    if ss_cap.data[4] == 0 and ss_cap.data[5] | ss_cap.data[6] == 0:
        log.dev_info(udev, "LPM exit latency is zeroed, disabling LPM." if udev.usb_parent
                     else "We don't know the algorithms for LPM for this host, disabling "
                          "LPM.")
        return False
    return udev.usb_parent is None or udev.usb_parent.lpm_capable


def _descriptor(udev: UsbDevice) -> DeviceDescriptor:
    if udev.descriptor is None:
        raise ValueError(f"{udev.name} has no device descriptor yet")
    return udev.descriptor


# -- objects: struct usb_tt, usb_port, usb_hub --------------------------------------------------


@dataclass(eq=False)
class UsbTT:
    """struct usb_tt: the transaction translator of a high-speed hub."""

    hub: UsbDevice
    multi: bool = False
    think_time: int = 0  #: ns


class UsbHub:
    """struct usb_hub: the hub driver's state for one bound hub interface."""

    def __init__(self, intf: UsbInterface, driver: HubDriver, quirks: int) -> None:
        self.intf = intf
        self.hdev: UsbDevice = intf.usb_dev
        self.driver = driver
        self.descriptor: HubDescriptor | None = None
        self.ports: list[UsbPort] = []
        self.urb: Urb | None = None
        #: The status-change endpoint hub_probe found (hub_configure's `endpoint`): a
        #: multi-TT hub's SET_INTERFACE may select an altsetting without it.
        self.endpoint: EndpointDescriptor | None = None
        self.buffer = bytearray(IRQ_BUFFER_SIZE)
        self.tt: UsbTT | None = None
        self.mA_per_port = 0
        self.limited_power = False
        self.quiescing = False
        self.disconnected = False
        self.in_reset = False
        self.has_indicators = False
        self.error = 0
        self.nerrors = 0
        self.event_bits = 0
        self.change_bits = 0
        self.removed_bits = 0
        self.wakeup_bits = 0
        self.power_bits = 0
        self.irq_urb_retry: asyncio.TimerHandle | None = None
        self.init_work: _DelayedWork | None = None
        self.quirk_check_port_auto_suspend = bool(quirks & HUB_QUIRK_CHECK_PORT_AUTOSUSPEND)
        self.counted_high_speed = False

    def __repr__(self) -> str:
        return f"<UsbHub {self.intf.name} ports={len(self.ports)}>"

    @property
    def log(self) -> Printk:
        return _log(self.hdev)

    @property
    def wq(self) -> HubWorker:
        return self.hdev.usb_bus.core.hub_wq

    def port(self, port1: int) -> UsbPort:
        """The port `port1` (one-based) of this hub (hub->ports[port1 - 1]); IndexError
        past the last port.  Context: atomic."""
        return self.ports[port1 - 1]

    @property
    def power_switchable(self) -> bool:
        """hub_is_port_power_switchable(): LPSM ganged or per-port."""
        desc = self.descriptor
        return desc is not None and (desc.wHubCharacteristics & HUB_CHAR_LPSM) < 2

    def power_on_good_delay(self) -> int:
        """hub_power_on_good_delay(): bPwrOn2PwrGood × 2 ms, at least 100 ms below the
        root hub.  Context: atomic."""
        delay = 2 * (self.descriptor.bPwrOn2PwrGood if self.descriptor else 0)
        return delay if self.hdev.is_root_hub else max(delay, 100)


def usb_hub_to_struct_hub(hdev: UsbDevice | None) -> UsbHub | None:
    """usb_hub_to_struct_hub(): the hub driver's state for a hub device, or None.
    Context: atomic."""
    if hdev is None or hdev.actconfig is None or not hdev.maxchild:
        return None
    interfaces = hdev.actconfig.interface
    data = interfaces[0].driver_data if interfaces else None
    return data if isinstance(data, UsbHub) else None


def usb_hub_find_child(hdev: UsbDevice, port1: int) -> UsbDevice | None:
    """usb_hub_find_child(): the device on port `port1` of hub `hdev`, or None.  Context: atomic."""
    if not 1 <= port1 <= hdev.maxchild:
        return None
    return hdev.children.get(port1)


def usb_device_is_owned(udev: UsbDevice) -> bool:
    """usb_device_is_owned(): True when a usbfs user has claimed the device's port.
    Context: atomic."""
    if udev.state is DeviceState.NOTATTACHED or udev.usb_parent is None:
        return False
    hub = usb_hub_to_struct_hub(udev.usb_parent)
    return hub is not None and hub.port(udev.portnum).port_owner is not None


def usb_ttport(udev: UsbDevice) -> int:
    """udev->ttport: the port of the transaction translator's hub that leads to `udev`
    (0 when the device has no TT).  Context: atomic."""
    tt = udev.tt
    node: UsbDevice | None = udev
    while isinstance(tt, UsbTT) and node is not None and node.usb_parent is not None:
        if node.usb_parent is tt.hub:
            return node.portnum
        node = node.usb_parent
    return 0


# -- hub_wq ---------------------------------------------------------------------------------


class _DelayedWork:
    """A delayed work item (queue_delayed_work on system_power_efficient_wq)."""

    def __init__(self, worker: HubWorker, delay_ms: int,
                 work: Callable[[], Awaitable[None]]) -> None:
        self.worker = worker
        self.started = False
        self.task = worker.core.loop.create_task(self._run(delay_ms, work), name="hub_wq")

    async def _run(self, delay_ms: int, work: Callable[[], Awaitable[None]]) -> None:
        await msleep(delay_ms)
        self.started = True
        try:
            await work()
        except BaseException as exc:  # a bug in delayed work: oops, the machine goes on
            self.worker.core.driver_core.contain("hub delayed work", exc)

    def cancel(self) -> None:
        """cancel_delayed_work(): only a work that has not started yet is cancelled.
        Context: atomic."""
        if not self.started:
            self.task.cancel()


class HubWorker:
    """hub_wq: runs `hub_event` for each kicked hub, as a workqueue runs its work items —
    different hubs at the same time, one event at a time for each hub (a hub kicked while
    its event runs is run again afterwards); it also tracks the hub driver's delayed work
    (hub_activate's power-on and debounce continuations), so that `idle` means "nothing
    queued, running or due".  A hub whose event blocks (a probe that never returns) holds
    up that hub only, as in Linux."""

    def __init__(self, core: UsbCore) -> None:
        self.core = core
        self._queued: set[UsbHub] = set()
        self._running: dict[UsbHub, asyncio.Task[None]] = {}
        self._delayed: set[_DelayedWork] = set()
        self._started = False
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        """Start taking hub events (usb_hub_init).  Context: atomic, called from the loop."""
        self._started = True
        for hub in tuple(self._queued):
            self._run(hub)

    async def stop(self) -> None:
        """Stop the worker: cancel the events running and pending delayed work
        (usb_hub_cleanup).  Context: may sleep."""
        self._started = False
        tasks = [work.task for work in self._delayed] + list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._queued.clear()
        self._running.clear()
        self._delayed.clear()
        self._update_idle()

    @property
    def idle(self) -> bool:
        """No hub event queued or in progress, and no delayed hub work pending."""
        return not self._queued and not self._running and not self._delayed

    def busy(self) -> list[str]:
        """The hubs whose events are queued or running, by interface name.
        Context: atomic."""
        return sorted(hub.intf.name for hub in self._queued | set(self._running))

    async def wait_idle(self) -> None:
        """Return once `idle` holds.  Context: may sleep."""
        while not self.idle:
            await self._idle.wait()

    def kick(self, hub: UsbHub) -> None:
        """kick_hub_wq(): queue `hub` for hub_event unless it is disconnected or already
        queued (and not yet running).  Context: atomic."""
        if hub.disconnected or hub in self._queued:
            return
        self._queued.add(hub)
        self._idle.clear()
        if self._started and hub not in self._running:
            self._run(hub)

    def defer(self, delay_ms: int, work: Callable[[], Awaitable[None]]) -> _DelayedWork:
        """Run `work` after `delay_ms` ms of machine time, as a tracked delayed work.
        Context: atomic."""
        item = _DelayedWork(self, delay_ms, work)
        self._delayed.add(item)
        self._idle.clear()
        item.task.add_done_callback(lambda _: self._finished(item))
        return item

    def _finished(self, item: _DelayedWork) -> None:
        self._delayed.discard(item)
        self._update_idle()

    def _update_idle(self) -> None:
        if self.idle:
            self._idle.set()
        else:
            self._idle.clear()

    def _run(self, hub: UsbHub) -> None:
        self._queued.discard(hub)
        self._running[hub] = self.core.loop.create_task(self._event(hub), name="hub_wq")

    async def _event(self, hub: UsbHub) -> None:
        try:
            await hub_event(hub)
        except BaseException as exc:  # a bug in the hub driver: oops, hub_wq goes on
            self.core.driver_core.contain(f"hub_event of {hub.intf.name}", exc)
        finally:
            del self._running[hub]
            if hub in self._queued and self._started:
                self._run(hub)
            self._update_idle()


def kick_hub_wq(hub: UsbHub) -> None:
    """kick_hub_wq(): let hub_wq look at `hub`.  Context: atomic."""
    hub.wq.kick(hub)


def usb_kick_hub_wq(hdev: UsbDevice) -> None:
    """usb_kick_hub_wq(): kick hub_wq for hub device `hdev` (if the hub driver has it).
    Context: atomic."""
    hub = usb_hub_to_struct_hub(hdev)
    if hub is not None:
        kick_hub_wq(hub)


# -- hub class requests (USB 2.0 §11.24.2) ------------------------------------------------------


def _rcvctrl(dev: UsbDevice) -> int:
    return make_pipe(dev, PIPE_CONTROL, 0, True)


def _sndctrl(dev: UsbDevice) -> int:
    return make_pipe(dev, PIPE_CONTROL, 0, False)


async def get_hub_descriptor(hdev: UsbDevice) -> bytes | int:
    """get_hub_descriptor() (§11.24.2.5): the descriptor read with wLength 15 (3 tries),
    -EMSGSIZE when DeviceRemovable is missing, -EINVAL when no read got 9 bytes; from a
    SuperSpeed hub the SuperSpeed hub descriptor, which must come whole (12 bytes).
    Context: may sleep."""
    if hub_is_superspeed(hdev):
        return await _get_ss_hub_descriptor(hdev)
    buf = bytearray(HUB_DESCRIPTOR_SIZE)
    for _ in range(3):
        ret = await usb_control_msg(hdev, _rcvctrl(hdev), HubRequest.GET_DESCRIPTOR,
                                    _RT_HUB_IN, DescriptorType.HUB << 8, 0, buf,
                                    HUB_DESCRIPTOR_SIZE, USB_CTRL_GET_TIMEOUT)
        if ret >= USB_DT_HUB_NONVAR_SIZE + 2:
            if ret < USB_DT_HUB_NONVAR_SIZE + buf[2] // 8 + 1:
                return -Errno.EMSGSIZE
            return bytes(buf[:ret])
    return -Errno.EINVAL


async def _get_ss_hub_descriptor(hdev: UsbDevice) -> bytes | int:
    buf = bytearray(USB_DT_SS_HUB_SIZE)
    for _ in range(3):
        ret = await usb_control_msg(hdev, _rcvctrl(hdev), HubRequest.GET_DESCRIPTOR,
                                    _RT_HUB_IN, DescriptorType.SS_HUB << 8, 0, buf,
                                    USB_DT_SS_HUB_SIZE, USB_CTRL_GET_TIMEOUT)
        if ret == USB_DT_SS_HUB_SIZE:
            return bytes(buf)
    return -Errno.EINVAL


async def clear_hub_feature(hdev: UsbDevice, feature: int) -> int:
    """ClearHubFeature (§11.24.2.1).  Context: may sleep."""
    return await usb_control_msg(hdev, _sndctrl(hdev), HubRequest.CLEAR_FEATURE, _RT_HUB,
                                 feature, 0, None, 0, 1000)


async def usb_clear_port_feature(hdev: UsbDevice, port1: int, feature: int) -> int:
    """ClearPortFeature (§11.24.2.2).  Context: may sleep."""
    return await usb_control_msg(hdev, _sndctrl(hdev), HubRequest.CLEAR_FEATURE, _RT_PORT,
                                 feature, port1, None, 0, 1000)


async def set_port_feature(hdev: UsbDevice, port1: int, feature: int) -> int:
    """SetPortFeature (§11.24.2.13); `port1` may carry a selector in its high byte.
    Context: may sleep."""
    return await usb_control_msg(hdev, _sndctrl(hdev), HubRequest.SET_FEATURE, _RT_PORT,
                                 feature, port1, None, 0, 1000)


async def _get_status(hdev: UsbDevice, rtype: int, index: int, buf: bytearray) -> int:
    """get_hub_status / get_port_status: up to 5 tries while -ETIMEDOUT or -EPIPE."""
    status = -Errno.ETIMEDOUT
    for _ in range(USB_STS_RETRIES):
        if status not in (-Errno.ETIMEDOUT, -Errno.EPIPE):
            break
        status = await usb_control_msg(hdev, _rcvctrl(hdev), HubRequest.GET_STATUS, rtype,
                                       0, index, buf, 4, USB_STS_TIMEOUT)
    return status


async def usb_hub_port_status(hub: UsbHub, port1: int) -> tuple[int, int, int]:
    """usb_hub_port_status(): (0, wPortStatus, wPortChange), or (-errno, 0, 0) with
    "hub_ext_port_status failed (err = %d)".  Context: may sleep."""
    buf = bytearray(4)
    ret = await _get_status(hub.hdev, _RT_PORT_IN, port1, buf)
    if ret < 4:
        if ret != -Errno.ENODEV:
            hub.log.dev_err(hub.intf, f"hub_ext_port_status failed (err = {ret})")
        return (ret if ret < 0 else -Errno.EIO), 0, 0
    return 0, buf[0] | buf[1] << 8, buf[2] | buf[3] << 8


async def hub_hub_status(hub: UsbHub) -> tuple[int, int, int]:
    """hub_hub_status(): (0, wHubStatus, wHubChange) or (-errno, 0, 0).  Context: may sleep."""
    buf = bytearray(4)
    ret = await _get_status(hub.hdev, _RT_HUB_IN, 0, buf)
    if ret < 0:
        if ret != -Errno.ENODEV:
            hub.log.dev_err(hub.intf, f"hub_hub_status failed (err = {ret})")
        return ret, 0, 0
    return 0, buf[0] | buf[1] << 8, buf[2] | buf[3] << 8


async def usb_get_std_status(udev: UsbDevice) -> tuple[int, int]:
    """usb_get_std_status(udev, USB_RECIP_DEVICE, 0): (0, status word) or (-errno, 0).
    Context: may sleep."""
    buf = bytearray(2)
    ret = await usb_control_msg(udev, _rcvctrl(udev), Request.GET_STATUS,
                                Direction.IN | Recipient.DEVICE, 0, 0, buf, 2,
                                USB_CTRL_GET_TIMEOUT)
    if ret == 2:
        return 0, buf[0] | buf[1] << 8
    return (ret if ret < 0 else -Errno.EIO), 0


async def usb_get_device_descriptor(udev: UsbDevice) -> DeviceDescriptor | int:
    """usb_get_device_descriptor(): the 18-byte device descriptor, or -errno (-EMSGSIZE
    when fewer than 18 bytes came).  Context: may sleep."""
    buf = bytearray(DescriptorSize.DEVICE)
    ret = await usb_get_descriptor(udev, DescriptorType.DEVICE, 0, buf, DescriptorSize.DEVICE)
    if ret < 0:
        return ret
    if ret != DescriptorSize.DEVICE:
        return -Errno.EMSGSIZE
    try:
        return parse_device(buf)
    except DescriptorError:
        return -Errno.ENODATA


async def usb_ep0_reinit(udev: UsbDevice) -> None:
    """usb_ep0_reinit(): flush endpoint 0 and let the controller forget its state.
    Context: may sleep."""
    await usb_disable_endpoint(udev, 0x80)
    await usb_disable_endpoint(udev, 0x00)


# -- port power, LEDs, disable ------------------------------------------------------------------


async def usb_hub_set_port_power(hub: UsbHub, port1: int, on: bool) -> int:
    """usb_hub_set_port_power(): Set/ClearPortFeature(PORT_POWER), tracking power_bits.
    Context: may sleep."""
    if on:
        ret = await set_port_feature(hub.hdev, port1, PortFeature.POWER)
    else:
        ret = await usb_clear_port_feature(hub.hdev, port1, PortFeature.POWER)
    if ret == 0:
        hub.power_bits = hub.power_bits | 1 << port1 if on else hub.power_bits & ~(1 << port1)
    return ret


async def hub_power_on(hub: UsbHub, do_delay: bool) -> None:
    """hub_power_on(): SetPortFeature(PORT_POWER) on every powered port (ClearPortFeature
    on the others), then optionally wait the power-on-to-power-good time.  Context: may sleep."""
    hub.log.dev_dbg(hub.intf, "enabling power on all ports" if hub.power_switchable
                    else "trying to enable port power on non-switchable hub")
    for port1 in range(1, hub.hdev.maxchild + 1):
        if hub.power_bits & 1 << port1:
            await set_port_feature(hub.hdev, port1, PortFeature.POWER)
        else:
            await usb_clear_port_feature(hub.hdev, port1, PortFeature.POWER)
    if do_delay:
        await msleep(hub.power_on_good_delay())


async def set_port_led(hub: UsbHub, port1: int, selector: HubLed) -> None:
    """set_port_led(): SetPortFeature(PORT_INDICATOR) with the selector in wIndex.
    Context: may sleep."""
    status = await set_port_feature(hub.hdev, selector << 8 | port1, PortFeature.INDICATOR)
    hub.log.dev_dbg(hub.port(port1), f"indicator {selector.name.lower()} status {status}")


async def hub_port_disable(hub: UsbHub, port1: int, set_state: bool) -> int:
    """hub_port_disable(): ClearPortFeature(PORT_ENABLE), or on a SuperSpeed hub the
    link put in U3 (unless the hub is in error); the child becomes NOTATTACHED when
    `set_state`.  Context: may sleep."""
    port = hub.port(port1)
    ret = 0
    if not hub.error and hub_is_superspeed(hub.hdev):
        ret = await hub_set_port_link_state(hub, port1, SsLinkState.U3)
    elif not hub.error:
        ret = await usb_clear_port_feature(hub.hdev, port1, PortFeature.ENABLE)
    child = port.child
    if child is not None and set_state:
        child.set_state(DeviceState.NOTATTACHED)
    if ret and ret != -Errno.ENODEV:
        hub.log.dev_err(port, f"cannot disable (err = {ret})")
    return ret


async def hub_set_port_link_state(hub: UsbHub, port1: int, link_status: int) -> int:
    """hub_set_port_link_state(): SetPortFeature(PORT_LINK_STATE) with the state in
    wIndex bits 15..8.  Context: may sleep."""
    return await set_port_feature(hub.hdev, port1 | link_status << 3, SsPortFeature.LINK_STATE)


async def hub_port_logical_disconnect(hub: UsbHub, port1: int) -> None:
    """hub_port_logical_disconnect(): disable the port and have hub_wq treat it as a
    connect change (re-enumeration).  Context: may sleep."""
    hub.log.dev_dbg(hub.port(port1), "logical disconnect")
    await hub_port_disable(hub, port1, True)
    hub.change_bits |= 1 << port1
    kick_hub_wq(hub)


# -- the status-change URB ----------------------------------------------------------------------


def hub_irq(urb: Urb) -> None:
    """hub_irq(): completion of the status-change URB.  Status 0 records the change
    bitmap and kicks hub_wq; unlinks stop; other errors resubmit, and the tenth error in a
    row is handed to hub_wq as hub->error.  Context: atomic."""
    hub: UsbHub = urb.context
    status = urb.status
    if status in _UNLINKED:
        return
    if status:
        hub.log.dev_dbg(hub.intf, f"transfer --> {status}")
        hub.nerrors += 1
        if hub.nerrors < 10 or hub.error:
            _resubmit_irq_urb(hub)
            return
        hub.error = status
    hub.event_bits = int.from_bytes(hub.buffer[:urb.actual_length], "little")
    hub.nerrors = 0
    kick_hub_wq(hub)
    _resubmit_irq_urb(hub)


def _resubmit_irq_urb(hub: UsbHub) -> None:
    """hub_resubmit_irq_urb(): resubmit, or retry in a second.  Context: atomic."""
    hub.irq_urb_retry = None
    if hub.quiescing or hub.urb is None:
        return
    status = _submit(hub.urb)
    if status and status not in (-Errno.ENODEV, -Errno.EPERM, -Errno.ESHUTDOWN):
        hub.log.dev_err(hub.intf, f"resubmit --> {status}")
        hub.irq_urb_retry = hub.hdev.usb_bus.core.loop.call_later(
            IRQ_URB_RETRY, _resubmit_irq_urb, hub)


def _cancel_irq_retry(hub: UsbHub) -> None:
    if hub.irq_urb_retry is not None:
        hub.irq_urb_retry.cancel()
        hub.irq_urb_retry = None


# -- hub_activate, hub_quiesce ------------------------------------------------------------------


async def hub_activate(hub: UsbHub, kind: HubActivation) -> None:
    """hub_activate(): power the ports, find out which need attention, submit the
    status URB and kick hub_wq.  HUB_INIT continues in delayed work after the power-on
    delay (INIT2) and, when a port needs debouncing, 100 ms later (INIT3), each under the
    hub device's lock.  Context: may sleep."""
    if kind in (HubActivation.INIT2, HubActivation.INIT3):
        async with hub.hdev.lock:
            if hub.disconnected:
                return
            if kind is HubActivation.INIT2:
                await _activate_scan(hub, kind)
            else:
                await _activate_finish(hub)
        return
    if kind is not HubActivation.RESUME:
        await _set_hub_depth(hub)
    if kind is HubActivation.INIT:
        delay = hub.power_on_good_delay()
        await hub_power_on(hub, False)
        hub.init_work = hub.wq.defer(delay, lambda: hub_activate(hub, HubActivation.INIT2))
        return
    if kind is not HubActivation.RESUME:
        await hub_power_on(hub, True)
    await _activate_scan(hub, kind)


async def _set_hub_depth(hub: UsbHub) -> None:
    """SET_HUB_DEPTH to a SuperSpeed hub below another hub (its offset in route strings):
    "set hub depth failed"."""
    hdev = hub.hdev
    if hdev.usb_parent is None or not hub_is_superspeed(hdev):
        return
    ret = await usb_control_msg(hdev, _sndctrl(hdev), HubRequest.SET_DEPTH, _RT_HUB,
                                hdev.level - 1, 0, None, 0, USB_CTRL_SET_TIMEOUT)
    if ret < 0:
        hub.log.dev_err(hub.intf, "set hub depth failed")


async def _activate_scan(hub: UsbHub, kind: HubActivation) -> None:
    """The init2 part of hub_activate: read every port's status."""
    need_debounce = False
    for port1 in range(1, hub.hdev.maxchild + 1):
        ret, portstatus, portchange = await usb_hub_port_status(hub, port1)
        if ret:
            return
        if await _activate_port(hub, port1, kind, portstatus, portchange):
            need_debounce = True
    if need_debounce:
        if kind is HubActivation.INIT2:
            hub.init_work = hub.wq.defer(HUB_DEBOUNCE_STABLE,
                                         lambda: hub_activate(hub, HubActivation.INIT3))
            return
        await msleep(HUB_DEBOUNCE_STABLE)
    await _activate_finish(hub)


#: Change bits hub_activate acknowledges (they ask for a debounce delay).
_ACTIVATE_CLEARS: Final = ((USB_PORT_STAT_C_CONNECTION, PortFeature.C_CONNECTION),
                           (USB_PORT_STAT_C_ENABLE, PortFeature.C_ENABLE),
                           (USB_PORT_STAT_C_RESET, PortFeature.C_RESET))


async def _activate_port(hub: UsbHub, port1: int, kind: HubActivation, portstatus: int,
                         portchange: int) -> bool:
    """One port of hub_activate's scan; True when it needs debouncing."""
    hdev, port, bit = hub.hdev, hub.port(port1), 1 << port1
    udev = port.child
    if udev is not None or portstatus & USB_PORT_STAT_CONNECTION:
        hub.log.dev_dbg(port, f"status {portstatus:04x} change {portchange:04x}")
    if portstatus & USB_PORT_STAT_ENABLE and (
            kind is not HubActivation.RESUME or not portstatus & USB_PORT_STAT_CONNECTION
            or udev is None or udev.state is DeviceState.NOTATTACHED):
        portstatus &= ~USB_PORT_STAT_ENABLE
        await usb_clear_port_feature(hdev, port1, PortFeature.ENABLE)
    need_debounce = False
    for change, feature in _ACTIVATE_CLEARS:
        if portchange & change:
            need_debounce = True
            await usb_clear_port_feature(hdev, port1, feature)
    if not portstatus & USB_PORT_STAT_CONNECTION or portchange & USB_PORT_STAT_C_CONNECTION:
        hub.removed_bits &= ~bit
    if udev is None or udev.state is DeviceState.NOTATTACHED:
        if udev is not None or portstatus & (USB_PORT_STAT_CONNECTION | USB_PORT_STAT_OVERCURRENT) \
                or portchange & (USB_PORT_STAT_C_CONNECTION | USB_PORT_STAT_C_OVERCURRENT):
            hub.change_bits |= bit
    elif portstatus & USB_PORT_STAT_ENABLE:
        if portchange:
            hub.event_bits |= bit
    else:
        udev.set_state(DeviceState.NOTATTACHED)
        hub.change_bits |= bit
    return need_debounce


async def _activate_finish(hub: UsbHub) -> None:
    """The init3 part of hub_activate: start the status URB and scan the ports."""
    hub.quiescing = False
    if hub.urb is not None:
        status = _submit(hub.urb)
        if status < 0:
            hub.log.dev_err(hub.intf, f"activate --> {status}")
    kick_hub_wq(hub)


async def hub_quiesce(hub: UsbHub, kind: _Quiesce) -> None:
    """hub_quiesce(): stop the status URB (and, unless suspending, disconnect every
    child).  Context: may sleep."""
    hub.quiescing = True
    if kind is not _Quiesce.SUSPEND:
        for port1 in range(1, hub.hdev.maxchild + 1):
            child = hub.hdev.children.get(port1)
            if child is not None:
                await usb_disconnect(child)
    _cancel_irq_retry(hub)
    await usb_kill_urb(hub.urb)


# -- probe: hub_probe, hub_configure ------------------------------------------------------------


def _descriptor_is_sane(intf: UsbInterface) -> bool:
    """hub_descriptor_is_sane(): subclass 0 or 1, exactly one endpoint, interrupt IN."""
    alt = intf.cur_altsetting
    desc = alt.desc
    count = desc.bNumEndpoints if desc.bNumEndpoints is not None else len(alt.endpoint)
    if desc.bInterfaceSubClass not in (0, 1) or count != 1 or not alt.endpoint:
        return False
    ep = alt.endpoint[0].desc
    return ep.type == EndpointType.INT and ep.is_in


def _decode_hub_descriptor(raw: bytes) -> HubDescriptor:
    """The hub descriptor as hub.c uses it: bounded by the bytes read, whatever
    bDescLength and bDescriptorType say."""
    patched = bytes((len(raw), DescriptorType.HUB)) + raw[2:]
    return replace(HubDescriptor.from_bytes(patched), bDescLength=raw[0])


def _decode_ss_hub_descriptor(raw: bytes) -> HubDescriptor:
    """The SuperSpeed hub descriptor (USB 3.2 §10.15.2.1) as the fields hub.c uses: its
    16-bit DeviceRemovable as the bitmap of a hub with that many ports."""
    nports = raw[2]
    size = hub_bitmap_len(nports)
    removable = (raw[10] | raw[11] << 8) & ((1 << 8 * size) - 1)
    return HubDescriptor(nports, wHubCharacteristics=raw[3] | raw[4] << 8,
                         bPwrOn2PwrGood=raw[5], bHubContrCurrent=raw[6],
                         DeviceRemovable=removable.to_bytes(size, "little"),
                         bDescLength=raw[0])


def _set_hub_delay(hdev: UsbDevice, wHubDelay: int) -> None:
    """The hub delay of a SuperSpeed hub: its wHubDelay plus its parent's, plus 40 ns."""
    parent = hdev.usb_parent.hub_delay if hdev.usb_parent is not None else 0
    hdev.hub_delay = min(wHubDelay + parent + USB_TP_TRANSMISSION_DELAY,
                         USB_TP_TRANSMISSION_DELAY_MAX)


async def hub_probe(driver: HubDriver, intf: UsbInterface, id: UsbDeviceId) -> int:
    """hub_probe(): sanity checks, then hub_configure; -E2BIG for a hub nested too deep,
    -EIO for a bad descriptor, -ENODEV when configuration fails.  Context: may sleep."""
    hdev, log = intf.usb_dev, _log(intf.usb_dev)
    if hdev.level == MAX_TOPO_LEVEL:
        log.dev_err(intf, "Unsupported bus topology: hub nested too deep")
        return -Errno.E2BIG
    if not _descriptor_is_sane(intf):
        log.dev_err(intf, "bad descriptor, ignoring hub")
        return -Errno.EIO
    log.dev_info(intf, "USB hub found")
    # Hubs suspend as soon as they are idle: bus suspend need not wait for them.
    hdev.autosuspend_delay_ms = 0
    quirks = id.driver_info if isinstance(id.driver_info, int) else 0
    hub = UsbHub(intf, driver, quirks)
    intf.driver_data = hub
    intf.needs_remote_wakeup = True
    if hdev.speed == Speed.HIGH:
        driver.highspeed_hubs += 1
        hub.counted_high_speed = True
    await _reduce_interval_quirk(intf, quirks)
    hub.endpoint = intf.cur_altsetting.endpoint[0].desc
    if await hub_configure(hub) >= 0:
        return 0
    await hub_disconnect(intf)
    return -Errno.ENODEV


async def _reduce_interval_quirk(intf: UsbInterface, quirks: int) -> None:
    """HUB_QUIRK_REDUCE_FRAME_INTR_BINTERVAL: poll the status endpoint at most every
    2^(9-1) microframes."""
    ep = intf.cur_altsetting.endpoint[0]
    if quirks & HUB_QUIRK_REDUCE_FRAME_INTR_BINTERVAL \
            and ep.desc.bInterval > USB_REDUCE_FRAME_INTR_BINTERVAL:
        ep.desc = replace(ep.desc, bInterval=USB_REDUCE_FRAME_INTR_BINTERVAL)
        await usb_set_interface(intf.usb_dev, 0, 0)


class _ConfigureFailed(Exception):
    def __init__(self, message: str, errno: int) -> None:
        super().__init__(message)
        self.message, self.errno = message, errno


async def hub_configure(hub: UsbHub) -> int:
    """hub_configure(): read the hub descriptor, set up TT and power budget, the
    status URB and the port devices, then hub_activate(HUB_INIT).  0, or -errno with
    "config failed, %s (err %d)".  Context: may sleep."""
    try:
        await _configure(hub)
    except _ConfigureFailed as failure:
        hub.log.dev_err(hub.intf, f"config failed, {failure.message} (err {failure.errno})")
        return failure.errno
    await hub_activate(hub, HubActivation.INIT)
    return 0


async def _configure(hub: UsbHub) -> None:
    raw = await get_hub_descriptor(hub.hdev)
    if isinstance(raw, int):
        raise _ConfigureFailed("can't read hub descriptor", raw)
    superspeed = hub_is_superspeed(hub.hdev)
    desc = _decode_ss_hub_descriptor(raw) if superspeed else _decode_hub_descriptor(raw)
    if desc.bNbrPorts > USB_MAXCHILDREN:
        raise _ConfigureFailed("hub has too many ports!", -Errno.ENODEV)
    if desc.bNbrPorts == 0:
        raise _ConfigureFailed("hub doesn't have any ports!", -Errno.ENODEV)
    if superspeed:
        _set_hub_delay(hub.hdev, raw[8] | raw[9] << 8)
    hub.descriptor = desc
    nports = desc.bNbrPorts
    hub.log.dev_info(hub.intf, f"{nports} port{_plural(nports)} detected")
    _describe_characteristics(hub, desc)
    await _setup_tt(hub, desc)
    if desc.wHubCharacteristics & HUB_CHAR_PORTIND:
        hub.has_indicators = True
        hub.log.dev_dbg(hub.intf, "Port indicators are supported")
    hub.log.dev_dbg(hub.intf, f"power on to power good time: {desc.bPwrOn2PwrGood * 2}ms")
    await _power_budget(hub, desc)
    ret, hubstatus, _ = await hub_hub_status(hub)
    if ret < 0:
        raise _ConfigureFailed("can't get hub status", ret)
    _describe_hub_status(hub, desc, hubstatus)
    _setup_status_urb(hub)
    await _create_ports(hub, nports)


def _describe_characteristics(hub: UsbHub, desc: HubDescriptor) -> None:
    """The dev_dbg lines of hub_configure about wHubCharacteristics."""
    log, chars = hub.log, desc.wHubCharacteristics
    if not log.debug:
        return
    if chars & HUB_CHAR_COMPOUND:
        ports = "".join("F" if not desc.removable(p) else "R"
                        for p in range(1, desc.bNbrPorts + 1))
        log.dev_dbg(hub.intf, f"compound device; port removable status: {ports}")
    else:
        log.dev_dbg(hub.intf, "standalone hub")
    log.dev_dbg(hub.intf, _LPSM_TEXT[chars & HUB_CHAR_LPSM])
    log.dev_dbg(hub.intf, _OCPM_TEXT[chars & HUB_CHAR_OCPM])


async def _setup_tt(hub: UsbHub, desc: HubDescriptor) -> None:
    """The transaction translator, from bDeviceProtocol; think time from TTTT."""
    hdev, log = hub.hdev, hub.log
    protocol = _descriptor(hdev).bDeviceProtocol
    if protocol == HubProtocol.HS_SINGLE_TT:
        log.dev_dbg(hub.intf, "Single TT")
        hub.tt = UsbTT(hdev)
    elif protocol == HubProtocol.HS_MULTI_TT:
        ret = await usb_set_interface(hdev, 0, 1)
        if ret == 0:
            log.dev_dbg(hub.intf, "TT per port")
        else:
            log.dev_err(hub.intf, f"Using single TT (err {ret})")
        hub.tt = UsbTT(hdev, multi=ret == 0)
    elif protocol not in (HubProtocol.FS, HubProtocol.SS):
        log.dev_dbg(hub.intf, f"Unrecognized hub protocol {protocol}")
    bits = _TT_THINK_BITS[desc.wHubCharacteristics & HUB_CHAR_TTTT]
    if hub.tt is not None and (bits != 8 or protocol != 0):
        hub.tt.think_time = 666 * bits // 8
        log.dev_dbg(hub.intf, f"TT requires at most {bits} FS bit times "
                              f"({hub.tt.think_time} ns)")


async def _power_budget(hub: UsbHub, desc: HubDescriptor) -> None:
    """The power budget (mA_per_port, limited_power, the root hub's bus_mA)."""
    hdev, log, nports = hub.hdev, hub.log, desc.bNbrPorts
    unit_load, full_load = _LOADS[hub_is_superspeed(hdev)]
    ret, hubstatus = await usb_get_std_status(hdev)
    if ret:
        raise _ConfigureFailed("can't get hub status", ret)
    if hdev.is_root_hub:
        budget = int(getattr(hdev.usb_bus.hcd, "power_budget", 0) or 0)
        hdev.bus_mA = budget if budget > 0 else full_load * nports
        hub.mA_per_port = min(hdev.bus_mA, full_load)
        hub.limited_power = hdev.bus_mA < full_load
    elif not hubstatus & DeviceStatus.SELF_POWERED:
        log.dev_dbg(hub.intf, f"hub controller current requirement: "
                              f"{desc.bHubContrCurrent}mA")
        hub.limited_power = True
        if hdev.bus_mA - desc.bHubContrCurrent < nports * unit_load:
            log.dev_warn(hub.intf, "insufficient power available to use all downstream ports")
        hub.mA_per_port = unit_load
    else:
        hub.mA_per_port = full_load
    if hub.mA_per_port < full_load:
        log.dev_dbg(hub.intf, f"{hub.mA_per_port}mA bus power budget for each child")


def _describe_hub_status(hub: UsbHub, desc: HubDescriptor, hubstatus: int) -> None:
    log, config = hub.log, hub.hdev.actconfig
    if config is not None and config.desc.self_powered:
        log.dev_dbg(hub.intf, "local power source is " + (
            "lost (inactive)" if hubstatus & HubStat.LOCAL_POWER else "good"))
    if not desc.wHubCharacteristics & HUB_CHAR_OCPM:
        log.dev_dbg(hub.intf, ("" if hubstatus & HubStat.OVERCURRENT else "no ")
                    + "over-current condition exists")


def _setup_status_urb(hub: UsbHub) -> None:
    """The interrupt URB on the status-change endpoint probe found, maxpacket capped at 8
    bytes: usb_maxpacket(), 0 when the current altsetting lacks the endpoint (its
    submission then fails, "activate --> -2")."""
    hdev = hub.hdev
    ep = hub.endpoint
    assert ep is not None
    pipe = make_pipe(hdev, PIPE_INTERRUPT, ep.bEndpointAddress, True)
    hep = hdev.ep_in[ep.number]
    maxp = min(hep.desc.maxpacket if hep is not None else 0, IRQ_BUFFER_SIZE)
    hub.urb = Urb().fill_int(hdev, pipe, hub.buffer, maxp, hub_irq, hub, ep.bInterval)


async def _create_ports(hub: UsbHub, nports: int) -> None:
    """usb_hub_create_port_device() for each port (registered, powered)."""
    core = hub.hdev.usb_bus.core
    for port1 in range(1, nports + 1):
        port = UsbPort(hub, port1)
        hub.ports.append(port)
        hub.power_bits |= 1 << port1
        await core.driver_core.device_add(port)
    hub.hdev.maxchild = nports


async def hub_disconnect(intf: UsbInterface) -> None:
    """hub_disconnect(): stop events, disconnect the children, kill the status URB,
    remove the port devices.  Context: may sleep."""
    hub = intf.driver_data
    if not isinstance(hub, UsbHub):
        return
    hub.disconnected = True
    if hub.init_work is not None:
        hub.init_work.cancel()
    hub.error = 0
    await hub_quiesce(hub, _Quiesce.DISCONNECT)
    hdev = hub.hdev
    hdev.maxchild = 0
    intf.driver_data = None
    driver_core = hdev.usb_bus.core.driver_core
    for port in reversed(hub.ports):
        await driver_core.device_del(port)
    if hub.counted_high_speed:
        hub.driver.highspeed_hubs -= 1
        hub.counted_high_speed = False
    hub.urb = None


# -- hub_event, port_event ----------------------------------------------------------------------


async def hub_event(hub: UsbHub) -> None:
    """hub_event(): handle the hub's pending port and hub status changes, holding the hub
    device's lock.  Context: may sleep."""
    hdev = hub.hdev
    async with hdev.lock:
        if hub.disconnected:
            return
        if hdev.state is DeviceState.NOTATTACHED:
            hub.error = -Errno.ENODEV
            await hub_quiesce(hub, _Quiesce.DISCONNECT)
            return
        if hub.quiescing or (hub.error and not await _recover(hub)):
            return
        for port1 in range(1, hdev.maxchild + 1):
            if (hub.event_bits | hub.change_bits | hub.wakeup_bits) & 1 << port1:
                async with hub.port(port1).status_lock:
                    connect = await port_event(hub, port1)
                if connect is not None:
                    await hub_port_connect(hub, port1, *connect)
        if hub.event_bits & 1:
            hub.event_bits &= ~1
            await _hub_status_event(hub)


async def _recover(hub: UsbHub) -> bool:
    """A hub whose status URB failed ten times in a row is reset."""
    hub.log.dev_dbg(hub.intf, f"resetting for error {hub.error}")
    ret = await usb_reset_device(hub.hdev)
    if ret:
        hub.log.dev_dbg(hub.intf, f"error resetting hub: {ret}")
        return False
    hub.nerrors = 0
    hub.error = 0
    return True


async def _hub_status_event(hub: UsbHub) -> None:
    """Hub status changes: local power and over-current."""
    log, hdev = hub.log, hub.hdev
    ret, hubstatus, hubchange = await hub_hub_status(hub)
    if ret < 0:
        log.dev_err(hub.intf, "get_hub_status failed")
        return
    if hubchange & HubChange.C_LOCAL_POWER:
        log.dev_dbg(hub.intf, "power change")
        await clear_hub_feature(hdev, HubFeature.C_HUB_LOCAL_POWER)
        hub.limited_power = bool(hubstatus & HubStat.LOCAL_POWER)
    if hubchange & HubChange.C_OVERCURRENT:
        log.dev_dbg(hub.intf, "over-current change")
        await clear_hub_feature(hdev, HubFeature.C_HUB_OVER_CURRENT)
        await msleep(500)
        await hub_power_on(hub, True)
        _, status, _ = await hub_hub_status(hub)
        if status & HubStat.OVERCURRENT:
            log.dev_err(hub.intf, "over-current condition")


_Connect = tuple[int, int]
"""(wPortStatus, wPortChange) for a hub_port_connect that is due once the port's lock is
released."""


async def port_event(hub: UsbHub, port1: int) -> _Connect | None:
    """port_event(): read the port's status, acknowledge every change bit with Linux's
    messages, then handle a connect change.  Called with the port's lock held; returns the
    arguments of the hub_port_connect its caller must run after releasing the lock (in
    Linux, the tail of port_event with that lock dropped), or None.  Context: may sleep."""
    port, hdev, bit = hub.port(port1), hub.hdev, 1 << port1
    udev = port.child
    connect_change = bool(hub.change_bits & bit)
    hub.event_bits &= ~bit
    hub.wakeup_bits &= ~bit
    ret, portstatus, portchange = await usb_hub_port_status(hub, port1)
    if ret < 0:
        return None
    if portchange & USB_PORT_STAT_C_CONNECTION:
        await usb_clear_port_feature(hdev, port1, PortFeature.C_CONNECTION)
        connect_change = True
    if portchange & USB_PORT_STAT_C_ENABLE:
        if not connect_change:
            hub.log.dev_dbg(port, f"enable change, status {portstatus:08x}")
        await usb_clear_port_feature(hdev, port1, PortFeature.C_ENABLE)
        if not portstatus & USB_PORT_STAT_ENABLE and not connect_change and udev is not None:
            hub.log.dev_err(port, "disabled by hub (EMI?), re-enabling...")
            connect_change = True
    if portchange & USB_PORT_STAT_C_OVERCURRENT:
        await _over_current(hub, port)
    if portchange & USB_PORT_STAT_C_RESET:
        hub.log.dev_dbg(port, "reset change")
        await usb_clear_port_feature(hdev, port1, PortFeature.C_RESET)
    if port.ignore_event and port.early_stop:  # an early-stopping port that gave up
        return None
    if await hub_handle_remote_wakeup(hub, port1, portchange):
        connect_change = True
    if connect_change and await hub_port_connect_change(hub, port1, portstatus, portchange):
        return portstatus, portchange
    return None


async def _over_current(hub: UsbHub, port: UsbPort) -> None:
    """C_PORT_OVER_CURRENT: count it, tell userspace, cool down, power the ports again."""
    port.over_current_count += 1
    _over_current_notify(port)
    hub.log.dev_dbg(port, f"over-current change #{port.over_current_count}")
    await usb_clear_port_feature(hub.hdev, port.portnum, PortFeature.C_OVER_CURRENT)
    await msleep(100)
    await hub_power_on(hub, True)
    _, status, _ = await usb_hub_port_status(hub, port.portnum)
    if status & USB_PORT_STAT_OVERCURRENT:
        hub.log.dev_err(port, "over-current condition")


def _over_current_notify(port: UsbPort) -> None:
    """port_over_current_notify(): a "change" uevent on the hub interface."""
    driver_core = port.hub.hdev.usb_bus.core.driver_core
    event = Uevent("change", port.hub.intf.sysfs_path(),
                   (("OVER_CURRENT_PORT", port.sysfs_path()),
                    ("OVER_CURRENT_COUNT", str(port.over_current_count))))
    for listener in tuple(driver_core.listeners):
        listener(event)


async def hub_handle_remote_wakeup(hub: UsbHub, port1: int, portchange: int) -> bool:
    """hub_handle_remote_wakeup() (USB 2.0 part): acknowledge C_PORT_SUSPEND; a port
    without a device is disabled.  Returns True for a connect change (never, here: remote
    wakeup is not modelled further).  Context: may sleep."""
    if not portchange & USB_PORT_STAT_C_SUSPEND:
        return False
    await usb_clear_port_feature(hub.hdev, port1, PortFeature.C_SUSPEND)
    udev = hub.port(port1).child
    if udev is not None:
        await msleep(10)
        ret = 0
    else:
        ret = -Errno.ENODEV
        await hub_port_disable(hub, port1, True)
    hub.log.dev_dbg(hub.port(port1), f"resume, status {ret}")
    return False


def _portspeed(hub: UsbHub, portstatus: int) -> str:
    if hub_is_superspeed(hub.hdev):
        return "5.0 Gb/s"
    return next((text for bit, text in _PORT_SPEED if portstatus & bit), "12 Mb/s")


async def hub_port_connect_change(hub: UsbHub, port1: int, portstatus: int,
                                  portchange: int) -> bool:
    """hub_port_connect_change(): revalidate a device that is still there; True when it is
    not, and hub_port_connect must run (without the port's lock, which the caller holds
    now).  Context: may sleep."""
    port = hub.port(port1)
    udev = port.child
    hub.log.dev_dbg(port, f"status {portstatus:04x}, change {portchange:04x}, "
                          f"{_portspeed(hub, portstatus)}")
    if hub.has_indicators:
        await set_port_led(hub, port1, HubLed.AUTO)
    status = -Errno.ENODEV
    if portstatus & USB_PORT_STAT_CONNECTION and udev is not None \
            and udev.state is not DeviceState.NOTATTACHED and portstatus & USB_PORT_STAT_ENABLE:
        status = await _revalidate(udev)
    hub.change_bits &= ~(1 << port1)
    return status != 0


async def _revalidate(udev: UsbDevice) -> int:
    """0 when the device on the port is still the same device."""
    log = _log(udev)
    descr = await usb_get_device_descriptor(udev)
    if isinstance(descr, int):
        log.dev_dbg(udev, f"can't read device descriptor {descr}")
        return -Errno.ENODEV
    if await descriptors_changed(udev, descr, udev.bos):
        log.dev_dbg(udev, "device descriptor has changed")
        return -Errno.ENODEV
    return 0


# -- debounce, reset ----------------------------------------------------------------------------


async def hub_port_debounce(hub: UsbHub, port1: int, must_be_connected: bool) -> int:
    """hub_port_debounce(): poll the port every 25 ms until its connection has been
    stable for 100 ms (2 s at most).  Returns wPortStatus, or -ETIMEDOUT / -errno.
    Context: may sleep."""
    connection, stable, total, portstatus = 0xFFFF, 0, 0, 0
    while True:
        ret, portstatus, portchange = await usb_hub_port_status(hub, port1)
        if ret < 0:
            return ret
        if not portchange & USB_PORT_STAT_C_CONNECTION \
                and portstatus & USB_PORT_STAT_CONNECTION == connection:
            if not must_be_connected or connection == USB_PORT_STAT_CONNECTION:
                stable += HUB_DEBOUNCE_STEP
            if stable >= HUB_DEBOUNCE_STABLE:
                break
        else:
            stable, connection = 0, portstatus & USB_PORT_STAT_CONNECTION
        if portchange & USB_PORT_STAT_C_CONNECTION:
            await usb_clear_port_feature(hub.hdev, port1, PortFeature.C_CONNECTION)
        if total >= HUB_DEBOUNCE_TIMEOUT:
            break
        await msleep(HUB_DEBOUNCE_STEP)
        total += HUB_DEBOUNCE_STEP
    hub.log.dev_dbg(hub.port(port1), f"debounce total {total}ms stable {stable}ms status "
                                     f"0x{portstatus:x}")
    return -Errno.ETIMEDOUT if stable < HUB_DEBOUNCE_STABLE else portstatus


async def hub_port_wait_reset(hub: UsbHub, port1: int, udev: UsbDevice | None,
                              delay: int) -> int:
    """hub_port_wait_reset(): poll until the reset ended; the speed of `udev` from the
    status bits.  0, -EBUSY (still resetting or not enabled), -ENOTCONN (gone), -EAGAIN
    (connect change) or -errno.  Context: may sleep."""
    delay_time, portstatus, portchange = 0, 0, 0
    while delay_time < HUB_RESET_TIMEOUT:
        await msleep(delay)
        ret, portstatus, portchange = await usb_hub_port_status(hub, port1)
        if ret < 0:
            return ret
        if not portstatus & USB_PORT_STAT_RESET and portstatus & USB_PORT_STAT_CONNECTION:
            break
        if delay_time >= 2 * HUB_SHORT_RESET_TIME:
            delay = HUB_LONG_RESET_TIME
        hub.log.dev_dbg(hub.port(port1), f"not reset yet, waiting {delay}ms")
        delay_time += delay
    if portstatus & USB_PORT_STAT_RESET:
        return -Errno.EBUSY
    if hub_port_warm_reset_required(hub, port1, portstatus) \
            or not portstatus & USB_PORT_STAT_CONNECTION:
        return -Errno.ENOTCONN
    superspeed = hub_is_superspeed(hub.hdev)
    if not superspeed and portchange & USB_PORT_STAT_C_CONNECTION:
        await usb_clear_port_feature(hub.hdev, port1, PortFeature.C_CONNECTION)
        return -Errno.EAGAIN
    if not portstatus & USB_PORT_STAT_ENABLE:
        return -Errno.EBUSY
    if udev is not None:
        udev.speed = (Speed.SUPER if superspeed else
                      Speed.HIGH if portstatus & USB_PORT_STAT_HIGH_SPEED else
                      Speed.LOW if portstatus & USB_PORT_STAT_LOW_SPEED else Speed.FULL)
    return 0


async def hub_port_reset(hub: UsbHub, port1: int, udev: UsbDevice | None,
                         delay: int) -> int:
    """hub_port_reset(): SetPortFeature(PORT_RESET) up to 5 times, wait for the end,
    ClearPortFeature(C_PORT_RESET), 50 ms recovery; `udev` is then at address 0 in the
    DEFAULT state (NOTATTACHED on failure).  A SuperSpeed port that needs it gets a warm
    reset (BH_PORT_RESET) instead, and its other reset-related change bits are cleared
    too.  0 or -errno.  Context: may sleep."""
    port, hdev, status = hub.port(port1), hub.hdev, 0
    warm = await _warm_reset_needed(hub, port1)
    for i in range(PORT_RESET_TRIES):
        feature = SsPortFeature.BH_PORT_RESET if warm else PortFeature.RESET
        status = await set_port_feature(hdev, port1, feature)
        if status and status != -Errno.ENODEV:
            hub.log.dev_err(port, f"cannot {'warm ' if warm else ''}reset (err = {status})")
        elif not status:
            status = await hub_port_wait_reset(hub, port1, udev, delay)
            if status and status not in (-Errno.ENOTCONN, -Errno.ENODEV):
                hub.log.dev_dbg(hub.intf, f"port_wait_reset: err = {status}")
        if status in (0, -Errno.ENOTCONN, -Errno.ENODEV) or (
                status == -Errno.EBUSY and i == PORT_RESET_TRIES - 1):
            await usb_clear_port_feature(hdev, port1, PortFeature.C_RESET)
            if not await _ss_reset_failed(hub, port1, udev):
                break
            if not warm:
                hub.log.dev_dbg(port, "hot reset failed, warm reset")
                warm = True
        hub.log.dev_dbg(port, f"not enabled, trying {'warm ' if warm else ''}reset again...")
        delay = HUB_LONG_RESET_TIME
    else:
        hub.log.dev_err(port, "Cannot enable. Maybe the USB cable is bad?")
    if status == 0:
        fast = port.quirks & USB_PORT_QUIRK_FAST_ENUM
        await msleep(FAST_ENUM_RECOVERY_TIME if fast else RESET_RECOVERY_TIME)
        if udev is not None:
            udev.devnum = 0
            hcd = udev.usb_bus.hcd
            if hcd.has_op("reset_device"):  # the controller may think it is reset already
                await hcd.reset_device(udev)
            udev.set_state(DeviceState.DEFAULT)
    elif udev is not None:
        udev.set_state(DeviceState.NOTATTACHED)
    return status


async def _warm_reset_needed(hub: UsbHub, port1: int) -> bool:
    """A SuperSpeed port whose link state asks for a warm reset."""
    if not hub_is_superspeed(hub.hdev):
        return False
    ret, portstatus, _ = await usb_hub_port_status(hub, port1)
    return ret == 0 and hub_port_warm_reset_required(hub, port1, portstatus)


async def _ss_reset_failed(hub: UsbHub, port1: int, udev: UsbDevice | None) -> bool:
    """After a SuperSpeed reset: clear C_BH_PORT_RESET, C_PORT_LINK_STATE and (with a
    device) C_PORT_CONFIG_ERROR; True when the port fell into a state that needs another
    (warm) reset."""
    hdev = hub.hdev
    if not hub_is_superspeed(hdev):
        return False
    await usb_clear_port_feature(hdev, port1, SsPortFeature.C_BH_PORT_RESET)
    await usb_clear_port_feature(hdev, port1, SsPortFeature.C_PORT_LINK_STATE)
    if udev is not None:
        await usb_clear_port_feature(hdev, port1, SsPortFeature.C_PORT_CONFIG_ERROR)
    ret, portstatus, _ = await usb_hub_port_status(hub, port1)
    return ret == 0 and hub_port_warm_reset_required(hub, port1, portstatus)


# -- addressing and the first descriptors --------------------------------------------------------


def use_new_scheme(udev: UsbDevice, retry: int, params: HubParams,
                   port: UsbPort | None = None) -> bool:
    """use_new_scheme(): the "Windows" 64-byte read first, for the first half of the
    attempts (never for SuperSpeed); a port with USB_PORT_QUIRK_OLD_SCHEME starts with
    the old scheme as `old_scheme_first` does.  Context: atomic."""
    old_scheme_first = params.old_scheme_first or bool(
        port is not None and port.quirks & USB_PORT_QUIRK_OLD_SCHEME)
    if udev.speed >= Speed.SUPER:
        return False
    if params.use_both_schemes and retry >= (PORT_INIT_TRIES + 1) // 2:
        return old_scheme_first
    return not old_scheme_first


def hub_port_stop_enumerate(hub: UsbHub, port1: int, retries: int) -> bool:
    """hub_port_stop_enumerate(): on a port whose `early_stop` is set, give up from the
    second attempt on and ignore the port's events until early_stop is cleared.  False
    (keep trying) for any other port.  Context: atomic."""
    port = hub.port(port1)
    if not port.early_stop:
        port.ignore_event = False
        return False
    if port.ignore_event:
        return True
    if retries < 1:
        return False
    port.ignore_event = True
    return True


async def get_bMaxPacketSize0(udev: UsbDevice, size: int, first_time: bool,
                              timeout_ms: int) -> int:
    """get_bMaxPacketSize0(): GET_DESCRIPTOR(DEVICE, `size`) on ep0 at the device's current
    address, up to 3 tries; bMaxPacketSize0 when the reply is a device descriptor with a
    legal value (8, 16, 32, 64, or 9), else -EPROTO / -errno.  Context: may sleep."""
    buf = bytearray(GET_DESCRIPTOR_BUFSIZE)
    rc = 0
    for _ in range(GET_MAXPACKET0_TRIES):
        buf[1] = buf[7] = 0
        rc = await usb_control_msg(udev, _rcvctrl(udev), Request.GET_DESCRIPTOR, Direction.IN,
                                   DescriptorType.DEVICE << 8, 0, buf, size, timeout_ms)
        if buf[7] in _VALID_MAXP0 and buf[1] == DescriptorType.DEVICE:
            rc = buf[7]
        elif rc >= 0:
            rc = -Errno.EPROTO
        if rc > 0 or (rc == -Errno.ETIMEDOUT and first_time and udev.speed > Speed.FULL):
            break
    return rc


async def hub_set_address(udev: UsbDevice, devnum: int) -> int:
    """hub_set_address(): the controller's `address_device`, or else SET_ADDRESS(devnum)
    sent to address 0; on success the device has that number and is in the ADDRESS state.
    Context: may sleep."""
    hcd = udev.usb_bus.hcd
    addresses_itself = hcd.has_op("address_device")
    if not addresses_itself and devnum <= 1:
        return -Errno.EINVAL
    if udev.state is DeviceState.ADDRESS:
        return 0
    if udev.state is not DeviceState.DEFAULT:
        return -Errno.EINVAL
    if addresses_itself:
        retval = await hcd.address_device(udev, USB_CTRL_SET_TIMEOUT)
    else:
        retval = await usb_control_msg(udev, _SND_ADDR0_PIPE, Request.SET_ADDRESS, 0, devnum,
                                       0, None, 0, USB_CTRL_SET_TIMEOUT)
    if retval == 0:
        udev.devnum = devnum
        udev.set_state(DeviceState.ADDRESS)
        await usb_ep0_reinit(udev)
    return retval


async def hub_enable_device(udev: UsbDevice) -> int:
    """hub_enable_device(): the controller's `enable_device` for a device in the DEFAULT
    state (0 when the controller has none).  Context: may sleep."""
    hcd = udev.usb_bus.hcd
    if not hcd.has_op("enable_device") or udev.state is DeviceState.ADDRESS:
        return 0
    if udev.state is not DeviceState.DEFAULT:
        return -Errno.EINVAL
    return await hcd.enable_device(udev)


async def _set_address(udev: UsbDevice, devnum: int) -> int:
    retval = 0
    for _ in range(SET_ADDRESS_TRIES):
        retval = await hub_set_address(udev, devnum)
        if retval >= 0:
            break
        await msleep(200)
    if retval < 0 and retval != -Errno.ENODEV:
        _log(udev).dev_err(udev, f"device not accepting address {devnum}, error {retval}")
    return retval


@dataclass
class _Init:
    """What one hub_port_init call works with."""

    hub: UsbHub
    udev: UsbDevice
    port1: int
    retry_counter: int
    initial: bool
    devnum: int
    delay: int = HUB_SHORT_RESET_TIME
    oldspeed: Speed = Speed.UNKNOWN
    maxp0: int = 0

    @property
    def log(self) -> Printk:
        return _log(self.udev)


async def hub_port_init(hub: UsbHub, udev: UsbDevice, port1: int, retry_counter: int,
                        initial: bool = True) -> tuple[int, DeviceDescriptor | None]:
    """hub_port_init(): reset the port, address the device and read its device
    descriptor (stored in `udev.descriptor` when `initial`, returned either way) and BOS.

    Returns (0 or -errno, descriptor).  On failure the port is disabled and `udev.devnum`
    restored.  Context: may sleep; the caller holds the port's lock and the bus's
    address-0 lock.
    """
    init = _Init(hub, udev, port1, retry_counter, initial, udev.devnum)
    retval, descr = await _port_init(init)
    if retval:
        await hub_port_disable(hub, port1, False)
        udev.devnum = init.devnum
    return retval, descr


async def _port_init(init: _Init) -> tuple[int, DeviceDescriptor | None]:
    udev = init.udev
    init.delay = HUB_ROOT_RESET_TIME if init.hub.hdev.is_root_hub else HUB_SHORT_RESET_TIME
    init.oldspeed = udev.speed
    if init.oldspeed == Speed.LOW:
        init.delay = HUB_LONG_RESET_TIME
    retval = await hub_port_reset(init.hub, init.port1, udev, init.delay)
    if retval < 0:
        return retval, None
    retval = _after_first_reset(init)
    if retval:
        return retval, None
    retval = await _scheme_loop(init)
    if retval:
        return retval, None
    retval = await _fix_ep0(init)
    if retval:
        return retval, None
    return await _read_descriptors(init)


def _after_first_reset(init: _Init) -> int:
    """Speed checks, the ep0 guess, "new %s USB device number %d using %s", the TT."""
    udev = init.udev
    if init.oldspeed not in (Speed.UNKNOWN, udev.speed):
        init.log.dev_dbg(udev, "device reset changed speed!")
        return -Errno.ENODEV
    init.oldspeed = udev.speed
    if init.initial:
        guess = _EP0_GUESS.get(udev.speed)
        if guess is None:
            return -Errno.ENODEV
        udev.ep0.desc = EndpointDescriptor(0x00, EndpointType.CONTROL, guess)
    if udev.speed < Speed.SUPER:
        init.log.dev_info(udev, f"{'new' if init.initial else 'reset'} "
                                f"{udev.speed.linux_name} USB device number {init.devnum} "
                                f"using {_driver_name(udev)}")
    return _attach_tt(init.hub, udev, init.port1) if init.initial else 0


def _driver_name(udev: UsbDevice) -> str:
    """The controller's driver, as "using %s" names it."""
    hcd = udev.usb_bus.hcd
    driver = hcd.controller.driver
    return driver.name if driver is not None else hcd.description


def _announce_superspeed(init: _Init) -> None:
    """A SuperSpeed device is announced once it has its address."""
    udev = init.udev
    if udev.speed >= Speed.SUPER:
        plus = " Plus" if udev.speed == Speed.SUPER_PLUS else ""
        init.log.dev_info(udev, f"{'reset' if udev.config else 'new'} SuperSpeed{plus} USB "
                                f"device number {udev.devnum} using {_driver_name(udev)}")


def _attach_tt(hub: UsbHub, udev: UsbDevice, port1: int) -> int:
    """A full/low-speed device below a high-speed hub uses that hub's TT."""
    hdev = hub.hdev
    if hdev.tt is not None:
        udev.tt = hdev.tt
    elif udev.speed != Speed.HIGH and hdev.speed == Speed.HIGH:
        if hub.tt is None:
            _log(udev).dev_err(udev, "parent hub has no TT")
            return -Errno.EINVAL
        udev.tt = hub.tt
    return 0


async def _scheme_loop(init: _Init) -> int:
    """The GET_DESCRIPTOR_TRIES loop of hub_port_init: new or old scheme, SET_ADDRESS."""
    udev, retval = init.udev, 0
    do_new_scheme = use_new_scheme(udev, init.retry_counter, init.hub.driver.params,
                                   init.hub.port(init.port1))
    for retries in range(GET_DESCRIPTOR_TRIES):
        if hub_port_stop_enumerate(init.hub, init.port1, retries):
            return -Errno.ENODEV
        if do_new_scheme:
            retval = await _new_scheme_read(init, retries == 0)
            if retval == _RETRY:
                retval = init.maxp0
                await msleep(100)
                continue
            if retval:
                return retval
        retval = await _set_address(udev, init.devnum)
        if retval < 0:
            return retval
        _announce_superspeed(init)
        await msleep(10)
        if do_new_scheme:
            return 0
        retval = await _old_scheme_read(init, retries == 0)
        if retval <= 0:
            return retval
        retval = init.maxp0
        await msleep(100)
    return retval


_RETRY: Final = 1  # _new_scheme_read: the 64-byte read failed, try again


async def _new_scheme_read(init: _Init, first_time: bool) -> int:
    """GET_DESCRIPTOR(DEVICE, 64) at address 0, then the second port reset.  0, _RETRY
    (read failed, logged) or -errno (give up)."""
    udev, log = init.udev, init.log
    retval = await hub_enable_device(udev)
    if retval < 0:
        log.dev_err(udev, f"hub failed to enable device, error {retval}")
        return retval
    timeout = init.hub.driver.params.initial_descriptor_timeout
    init.maxp0 = await get_bMaxPacketSize0(udev, GET_DESCRIPTOR_BUFSIZE, first_time, timeout)
    if init.maxp0 > 0 and not init.initial \
            and init.maxp0 != _descriptor(udev).bMaxPacketSize0:
        log.dev_err(udev, "device reset changed ep0 maxpacket size!")
        return -Errno.ENODEV
    retval = await hub_port_reset(init.hub, init.port1, udev, init.delay)
    if retval < 0:
        return retval
    if init.oldspeed != udev.speed:
        log.dev_dbg(udev, "device reset changed speed!")
        return -Errno.ENODEV
    if init.maxp0 < 0:
        if init.maxp0 != -Errno.ENODEV:
            log.dev_err(udev, f"device descriptor read/64, error {init.maxp0}")
        return _RETRY
    return 0


async def _old_scheme_read(init: _Init, first_time: bool) -> int:
    """The 8-byte read after SET_ADDRESS: 0 (done), 1 (failed, try again) or -errno."""
    udev, log = init.udev, init.log
    timeout = init.hub.driver.params.initial_descriptor_timeout
    init.maxp0 = await get_bMaxPacketSize0(udev, 8, first_time, timeout)
    if init.maxp0 < 0:
        if init.maxp0 != -Errno.ENODEV:
            log.dev_err(udev, f"device descriptor read/8, error {init.maxp0}")
        return 1
    if not init.initial and init.maxp0 != _descriptor(udev).bMaxPacketSize0:
        log.dev_err(udev, "device reset changed ep0 maxpacket size!")
        return -Errno.ENODEV
    parent = udev.usb_parent
    udev.hub_delay = min(parent.hub_delay if parent is not None else 0,
                         USB_TP_TRANSMISSION_DELAY_MAX)
    ret = await usb_set_isoch_delay(udev)
    if ret:
        log.dev_dbg(udev, f"Failed set isoch delay, error {ret}")
    return 0


async def usb_set_isoch_delay(udev: UsbDevice) -> int:
    """usb_set_isoch_delay() (message.c): SET_ISOCH_DELAY(hub_delay) to a SuperSpeed
    device; 0 or -errno.  Context: may sleep."""
    if udev.speed < Speed.SUPER:
        return 0
    ret = await usb_control_msg(udev, _sndctrl(udev), Request.SET_ISOCH_DELAY,
                                Direction.OUT | Recipient.DEVICE, udev.hub_delay, 0, None, 0,
                                USB_CTRL_SET_TIMEOUT)
    return min(ret, 0)


def _ep0_size(udev: UsbDevice, maxp0: int) -> int:
    """The ep0 maxpacket bMaxPacketSize0 encodes: 2^n at SuperSpeed (0 past 2^16)."""
    if udev.speed < Speed.SUPER:
        return maxp0
    return 1 << maxp0 if maxp0 <= 16 else 0


async def _fix_ep0(init: _Init) -> int:
    """Correct the ep0 maxpacket guess from bMaxPacketSize0 ("Using ep0 maxpacket: %d"
    at high speed), or -EMSGSIZE with "Invalid ep0 maxpacket: %d"."""
    udev, maxp0 = init.udev, init.maxp0
    if udev.ep0.desc.maxpacket == _ep0_size(udev, maxp0):
        return 0
    if udev.speed in (Speed.FULL, Speed.HIGH) and maxp0 in _FS_HS_EP0:
        if udev.speed == Speed.FULL:
            init.log.dev_dbg(udev, f"ep0 maxpacket = {maxp0}")
        else:
            init.log.dev_warn(udev, f"Using ep0 maxpacket: {maxp0}")
        udev.ep0.desc = replace(udev.ep0.desc, wMaxPacketSize=maxp0)
        await usb_ep0_reinit(udev)
        return 0
    init.log.dev_err(udev, f"Invalid ep0 maxpacket: {maxp0}")
    return -Errno.EMSGSIZE


async def _read_descriptors(init: _Init) -> tuple[int, DeviceDescriptor | None]:
    """GET_DESCRIPTOR(DEVICE, 18), then the BOS when bcdUSB ≥ 0x0201."""
    udev = init.udev
    descr = await usb_get_device_descriptor(udev)
    if isinstance(descr, int):
        if descr != -Errno.ENODEV:
            init.log.dev_err(udev, f"device descriptor read/all, error {descr}")
        return descr, None
    if init.initial:
        udev.descriptor = descr
    if _descriptor(udev).bcdUSB >= 0x0201 and await usb_get_bos_descriptor(udev) == 0:
        udev.lpm_capable = usb_device_supports_lpm(udev)
    hcd = udev.usb_bus.hcd
    if hcd.has_op("update_device"):  # notify the HCD: a device connected and addressed
        await hcd.update_device(udev)
    return 0, descr


# -- connect ------------------------------------------------------------------------------------

async def hub_port_connect(hub: UsbHub, port1: int, portstatus: int, portchange: int) -> None:
    """hub_port_connect(): disconnect what was there, debounce, then up to four attempts
    to enumerate the new device ("unable to enumerate USB device" when all fail).
    Context: may sleep."""
    port, bit = hub.port(port1), 1 << port1
    if port.child is not None:
        await usb_disconnect(port.child)
    if not portstatus & USB_PORT_STAT_CONNECTION or portchange & USB_PORT_STAT_C_CONNECTION:
        hub.removed_bits &= ~bit
    if portchange & (USB_PORT_STAT_C_CONNECTION | USB_PORT_STAT_C_ENABLE):
        portstatus = await _debounce(hub, port1, portstatus)
    if not portstatus & USB_PORT_STAT_CONNECTION or hub.removed_bits & bit:
        if hub.power_switchable and not _port_power_on(hub, portstatus) \
                and port.port_owner is None:
            await set_port_feature(hub.hdev, port1, PortFeature.POWER)
        if portstatus & USB_PORT_STAT_ENABLE:
            await hub_port_disable(hub, port1, True)
        return
    status = await _connect_attempts(hub, port1)
    if status is None:
        return
    if status not in (-Errno.ENOTCONN, -Errno.ENODEV):
        hub.log.dev_err(port, "unable to enumerate USB device")
    await hub_port_disable(hub, port1, True)


async def _debounce(hub: UsbHub, port1: int, portstatus: int) -> int:
    """hub_port_debounce_be_stable(), with "connect-debounce failed"."""
    status = await hub_port_debounce(hub, port1, False)
    if status >= 0:
        return status
    if status != -Errno.ENODEV and port1 != hub.driver.unreliable_port:
        hub.log.dev_err(hub.port(port1), "connect-debounce failed")
    hub.driver.unreliable_port = port1
    return portstatus & ~USB_PORT_STAT_CONNECTION


def _devpath_fits(hdev: UsbDevice, port1: int) -> bool:
    """usb_alloc_dev() refuses a devpath that does not fit its 16-byte buffer."""
    devpath = f"{port1}" if hdev.is_root_hub else f"{hdev.devpath}.{port1}"
    return len(devpath) < DEVPATH_SIZE


async def _connect_attempts(hub: UsbHub, port1: int) -> int | None:
    """The PORT_INIT_TRIES loop: None once a device is registered, else the last status
    (-ENODEV, which is not reported, when no usb_device could be allocated)."""
    if not _devpath_fits(hub.hdev, port1):
        hub.log.dev_err(hub.port(port1), "couldn't allocate usb_device")
        return -Errno.ENODEV
    status = 0
    for i in range(PORT_INIT_TRIES):
        if hub_port_stop_enumerate(hub, port1, i):
            return -Errno.ENODEV
        result = await _connect_attempt(hub, port1, i)
        if result is None:
            return None
        status = result
        if status in (-Errno.ENOTCONN, -Errno.ENOTSUPP):
            break
        if i == (PORT_INIT_TRIES - 1) // 2:
            await _power_cycle(hub, port1)
    return status


async def _power_cycle(hub: UsbHub, port1: int) -> None:
    hub.log.dev_info(hub.port(port1), "attempt power cycle")
    await usb_hub_set_port_power(hub, port1, False)
    await msleep(2 * hub.power_on_good_delay())
    await usb_hub_set_port_power(hub, port1, True)
    await msleep(hub.power_on_good_delay())


async def _connect_attempt(hub: UsbHub, port1: int, attempt: int) -> int | None:
    """One attempt: allocate, choose a number, hub_port_init, then register.  None on
    success, else the status (the number is released)."""
    hdev, port = hub.hdev, hub.port(port1)
    async with port.status_lock, hdev.usb_bus.address0_mutex:
        udev = UsbDevice(hdev.usb_bus, hdev, port1)
        udev.set_state(DeviceState.POWERED)
        udev.bus_mA = hub.mA_per_port
        if hub_is_superspeed(hdev):
            udev.speed = Speed.SUPER
        devnum = hdev.usb_bus.choose_devnum()
        if devnum <= 0:
            status = -Errno.ENOTCONN
        else:
            udev.devnum = devnum
            status, _ = await hub_port_init(hub, udev, port1, attempt)
        if status < 0:
            await _release(udev)
            return status
    status = await _register(hub, udev, port1)
    if status == 0:
        remaining = hub_power_remaining(hub)
        if remaining:
            hub.log.dev_dbg(hub.intf, f"{remaining}mA power budget left")
        return None
    await hub_port_disable(hub, port1, True)
    await _release(udev)
    return status


async def _release(udev: UsbDevice) -> None:
    """The loop: label of hub_port_connect: forget ep0 state, free the number."""
    await usb_ep0_reinit(udev)
    _release_devnum(udev)


def _release_devnum(udev: UsbDevice) -> None:
    if udev.devnum > 0:
        udev.usb_bus.release_devnum(udev.devnum)
        udev.devnum = -1


async def _register(hub: UsbHub, udev: UsbDevice, port1: int) -> int:
    """After addressing: the bus-powered-hub and top-speed checks, then the device
    becomes the port's child and goes through usb_new_device."""
    hdev, desc = hub.hdev, _descriptor(udev)
    if desc.bDeviceClass == ClassCode.HUB and udev.bus_mA <= UNIT_LOAD:
        status = await _check_bus_powered_hub(udev)
        if status:
            return status
    if desc.bcdUSB >= 0x0200 and udev.speed == Speed.FULL and hub.driver.highspeed_hubs:
        await check_highspeed(udev)
    if hdev.state is DeviceState.NOTATTACHED:
        return -Errno.ENOTCONN
    hdev.children[port1] = udev
    status = await usb_new_device(udev)
    if status and hdev.children.get(port1) is udev:
        del hdev.children[port1]
    return status


async def _check_bus_powered_hub(udev: UsbDevice) -> int:
    """A hub on a port giving one unit load must be self-powered."""
    log = _log(udev)
    status, devstat = await usb_get_std_status(udev)
    if status:
        log.dev_dbg(udev, f"get status {status} ?")
        return status
    if not devstat & DeviceStatus.SELF_POWERED:
        log.dev_err(udev, "can't connect bus-powered hub to this port")
        return -Errno.ENOTCONN
    return 0


async def check_highspeed(udev: UsbDevice) -> None:
    """check_highspeed(): a full-speed USB 2.0 device that has a device qualifier could
    run at high speed ("not running at top speed; connect to a high speed hub").
    Context: may sleep."""
    buf = bytearray(DescriptorSize.DEVICE_QUALIFIER)
    status = await usb_get_descriptor(udev, DescriptorType.DEVICE_QUALIFIER, 0, buf,
                                      DescriptorSize.DEVICE_QUALIFIER)
    if status == DescriptorSize.DEVICE_QUALIFIER:
        _log(udev).dev_info(udev, "not running at top speed; connect to a high speed hub")


def hub_power_remaining(hub: UsbHub) -> int:
    """hub_power_remaining(): mA left on a power-limited hub, with Linux's warnings.
    Context: atomic."""
    if not hub.limited_power or hub.descriptor is None:
        return 0
    remaining = hub.hdev.bus_mA - hub.descriptor.bHubContrCurrent
    for port in hub.ports:
        udev = port.child
        if udev is None:
            continue
        config = udev.actconfig
        delta = config.desc.max_power_ma(udev.speed) if config is not None else UNIT_LOAD
        if delta > hub.mA_per_port:
            hub.log.dev_warn(port, f"{delta}mA is over {hub.mA_per_port}mA budget!")
        remaining -= delta
    if remaining < 0:
        hub.log.dev_warn(hub.intf, f"{-remaining}mA over power budget!")
        remaining = 0
    return remaining


# -- usb_new_device, announce, root hub ---------------------------------------------------------


async def usb_enumerate_device(udev: UsbDevice) -> int:
    """usb_enumerate_device(): read the configurations (unless cached), then the product,
    manufacturer and serial-number strings, in that order.  0 or -errno.  Context: may sleep."""
    if not udev.config:
        err = await usb_get_configuration(udev)
        if err < 0:
            if err != -Errno.ENODEV:
                _log(udev).dev_err(udev, f"can't read configurations, error {err}")
            return err
    desc = _descriptor(udev)
    udev.product = await usb_cache_string(udev, _index(desc.iProduct))
    udev.manufacturer = await usb_cache_string(udev, _index(desc.iManufacturer))
    udev.serial = await usb_cache_string(udev, _index(desc.iSerialNumber))
    return 0


def announce_device(udev: UsbDevice) -> None:
    """announce_device(): "New USB device found, …", "New USB device strings: …", then
    each string that is present.  Context: atomic."""
    log, desc = _log(udev), _descriptor(udev)
    bcd = desc.bcdDevice
    log.dev_info(udev, f"New USB device found, idVendor={desc.idVendor:04x}, "
                       f"idProduct={desc.idProduct:04x}, bcdDevice={bcd >> 8:2x}."
                       f"{bcd & 0xFF:02x}")
    log.dev_info(udev, f"New USB device strings: Mfr={_index(desc.iManufacturer)}, "
                       f"Product={_index(desc.iProduct)}, "
                       f"SerialNumber={_index(desc.iSerialNumber)}")
    for label, text in (("Product", udev.product), ("Manufacturer", udev.manufacturer),
                        ("SerialNumber", udev.serial)):
        if text:
            log.dev_info(udev, f"{label}: {text}")


async def usb_new_device(udev: UsbDevice) -> int:
    """usb_new_device(): enumerate the device's descriptors, announce it and register it
    (device_add: the generic driver binds and configures it, interface drivers probe).
    0, or -errno and the device is NOTATTACHED.  Context: may sleep; only the hub driver
    and the root-hub registrar call it."""
    err = await usb_enumerate_device(udev)
    if err < 0:
        udev.set_state(DeviceState.NOTATTACHED)
        return err
    _log(udev).dev_dbg(udev, f"udev {udev.devnum}, busnum {udev.busnum}, minor = "
                             f"{udev.minor}")
    announce_device(udev)
    await udev.usb_bus.core.driver_core.device_add(udev)
    return 0


# -- disconnect ---------------------------------------------------------------------------------


async def usb_disconnect(udev: UsbDevice) -> None:
    """usb_disconnect(): the device is gone.  It becomes NOTATTACHED with everything
    below it, "USB disconnect, device number %d" is logged for it and then (depth first,
    port order) for its children as they are disconnected, its configuration and
    endpoints are dropped (unbinding interface drivers), it is unregistered, and its
    number and its place in the parent's children are freed.  Context: may sleep; only the
    hub driver and the HCD framework call it."""
    udev.set_state(DeviceState.NOTATTACHED)
    _log(udev).dev_info(udev, f"USB disconnect, device number {udev.devnum}")
    async with udev.lock:
        for port1 in sorted(udev.children):
            child = udev.children.get(port1)
            if child is not None:
                await usb_disconnect(child)
        _log(udev).dev_dbg(udev, "unregistering device")
        await usb_disable_device(udev, False)
    await udev.usb_bus.core.driver_core.device_del(udev)
    _release_devnum(udev)
    parent = udev.usb_parent
    if parent is not None and parent.children.get(udev.portnum) is udev:
        del parent.children[udev.portnum]


# -- reset --------------------------------------------------------------------------------------

_resetting: weakref.WeakSet[UsbDevice] = weakref.WeakSet()


def _has_hook(drv: UsbDriver, name: str) -> bool:
    """Whether an interface driver supplies its own `pre_reset` / `post_reset`."""
    return getattr(type(drv), name) is not getattr(UsbDriver, name) or name in vars(drv)


async def _call_hook(drv: UsbDriver, name: str, intf: UsbInterface) -> int:
    result = getattr(drv, name)(intf)
    if asyncio.iscoroutine(result):
        result = await result
    return result if isinstance(result, int) else 0


async def usb_reset_device(udev: UsbDevice) -> int:
    """usb_reset_device(): reset a device in place, warning its interface drivers.

    Drivers with pre_reset/post_reset are told before and after; other bound drivers are
    unbound and rebound.  Returns 0, -EINVAL (not attached), -EISDIR (root hub),
    -EINPROGRESS (a reset is already running), or -ENODEV when the device had to be
    re-enumerated.  Context: may sleep; the caller holds the device's lock (a probe
    routine does)."""
    log = _log(udev)
    if udev.state is DeviceState.NOTATTACHED:
        log.dev_dbg(udev, f"device reset not allowed in state {int(udev.state)}")
        return -Errno.EINVAL
    parent_hub = usb_hub_to_struct_hub(udev.usb_parent)
    if udev.usb_parent is None or parent_hub is None:
        log.dev_dbg(udev, "usb_reset_device for root hub!")
        return -Errno.EISDIR
    if udev in _resetting:
        return -Errno.EINPROGRESS
    _resetting.add(udev)
    try:
        interfaces = list(udev.interfaces())
        await _pre_reset(interfaces)
        async with parent_hub.port(udev.portnum).status_lock:
            ret = await usb_reset_and_verify_device(udev)
        await _post_reset(interfaces, ret)
    finally:
        _resetting.discard(udev)
    return ret


async def _pre_reset(interfaces: list[UsbInterface]) -> None:
    core = interfaces[0].usb_dev.usb_bus.core if interfaces else None
    for intf in interfaces:
        drv = intf.driver
        if not isinstance(drv, UsbDriver) or core is None:
            continue
        if _has_hook(drv, "pre_reset") and _has_hook(drv, "post_reset"):
            unbind = await _call_hook(drv, "pre_reset", intf)
        else:
            unbind = int(intf.condition is InterfaceCondition.BOUND)
        if unbind:
            await core.driver_core.device_release_driver(intf)
            intf.needs_binding = True


async def _post_reset(interfaces: list[UsbInterface], ret: int) -> None:
    for intf in reversed(interfaces):
        drv = intf.driver
        rebind = intf.needs_binding
        if not rebind and isinstance(drv, UsbDriver):
            if _has_hook(drv, "post_reset"):
                rebind = bool(await _call_hook(drv, "post_reset", intf))
            else:
                rebind = intf.condition is InterfaceCondition.BOUND
            intf.needs_binding = rebind
    if ret == 0:
        await _rebind_marked(interfaces)


async def _rebind_marked(interfaces: list[UsbInterface]) -> None:
    """usb_unbind_and_rebind_marked_interfaces()."""
    for intf in interfaces:
        if not intf.needs_binding or not intf.registered:
            continue
        driver_core = intf.usb_dev.usb_bus.core.driver_core
        if intf.driver is not None:
            await driver_core.device_release_driver(intf)
        intf.needs_binding = False
        await driver_core.device_attach(intf)


async def usb_reset_and_verify_device(udev: UsbDevice) -> int:
    """usb_reset_and_verify_device(): re-run hub_port_init on the same number ("reset
    %s USB device number %d using %s"), check the descriptors did not change, restore the
    configuration and altsettings.  0, or -ENODEV after asking hub_wq to re-enumerate.
    Context: may sleep; the caller holds the device's and the port's locks."""
    if udev.state in (DeviceState.NOTATTACHED, DeviceState.SUSPENDED):
        _log(udev).dev_dbg(udev, f"device reset not allowed in state {int(udev.state)}")
        return -Errno.EINVAL
    parent_hub = usb_hub_to_struct_hub(udev.usb_parent)
    if parent_hub is None:
        return -Errno.EISDIR
    bos, udev.bos = udev.bos, None
    try:
        ret, descriptor = await _reset_port(parent_hub, udev)
        if ret >= 0 and descriptor is not None:
            ret = await _verify_and_restore(udev, descriptor, bos)
    finally:
        udev.bos = bos
    if ret < 0:
        await hub_port_logical_disconnect(parent_hub, udev.portnum)
        return -Errno.ENODEV
    return 0


async def _reset_port(hub: UsbHub, udev: UsbDevice) -> tuple[int, DeviceDescriptor | None]:
    ret, descriptor = -Errno.ENODEV, None
    async with udev.usb_bus.address0_mutex:
        for i in range(PORT_INIT_TRIES):
            if hub_port_stop_enumerate(hub, udev.portnum, i):
                ret = -Errno.ENODEV
                break
            await usb_ep0_reinit(udev)
            ret, descriptor = await hub_port_init(hub, udev, udev.portnum, i, initial=False)
            if ret >= 0 or ret in (-Errno.ENOTCONN, -Errno.ENODEV):
                break
    return ret, descriptor


async def _verify_and_restore(udev: UsbDevice, descriptor: DeviceDescriptor,
                              bos: BosDescriptor | None) -> int:
    log = _log(udev)
    if await descriptors_changed(udev, descriptor, bos):
        log.dev_info(udev, "device firmware changed")
        return -Errno.ENODEV
    config = udev.actconfig
    if config is None:
        return 0
    ret = await usb_control_msg(udev, _sndctrl(udev), Request.SET_CONFIGURATION, 0,
                                config.value, 0, None, 0, USB_CTRL_SET_TIMEOUT)
    if ret < 0:
        log.dev_err(udev, f"can't restore configuration #{config.value} (error={ret})")
        return ret
    udev.set_state(DeviceState.CONFIGURED)
    for intf in config.interface:
        alt = intf.cur_altsetting.desc
        if alt.bAlternateSetting == 0:
            await usb_disable_interface(udev, intf, True)
            usb_enable_interface(udev, intf)
            ret = 0
        else:
            ret = await usb_set_interface(udev, intf.number, alt.bAlternateSetting)
        if ret < 0:
            log.dev_err(udev, f"failed to restore interface {intf.number} altsetting "
                              f"{alt.bAlternateSetting} (error={ret})")
            return ret
    return 0


async def descriptors_changed(udev: UsbDevice, new: DeviceDescriptor,
                              old_bos: BosDescriptor | None) -> bool:
    """descriptors_changed(): device descriptor, BOS, every configuration (re-read) and
    the serial number compared with what was cached.  Context: may sleep."""
    log, desc = _log(udev), _descriptor(udev)
    if desc.to_bytes() != new.to_bytes():
        return True
    if (old_bos is None) != (udev.bos is None):
        return True
    if udev.bos is not None and old_bos is not None \
            and udev.bos.to_bytes() != old_bos.to_bytes():
        return True
    for index, config in enumerate(udev.config):
        old_length = config.desc.wTotalLength or 0
        buf = bytearray(max(old_length, 1))
        length = await usb_get_descriptor(udev, DescriptorType.CONFIG, index, buf, old_length)
        if length != old_length:
            log.dev_dbg(udev, f"config index {index}, error {length}")
            return True
        if bytes(buf[:old_length]) != udev.rawdescriptors[index][:old_length]:
            log.dev_dbg(udev, f"config index {index} changed (#{buf[5]})")
            return True
    return await _serial_changed(udev, desc)


async def _serial_changed(udev: UsbDevice, desc: DeviceDescriptor) -> bool:
    if not udev.serial:
        return False
    text = await usb_string(udev, _index(desc.iSerialNumber),
                            len(udev.serial.encode()) + 1)
    if not isinstance(text, str) or text != udev.serial:
        _log(udev).dev_dbg(udev, "serial string changed")
        return True
    return False


# -- the drivers --------------------------------------------------------------------------------

USB_VENDOR_GENESYS_LOGIC: Final = 0x05E3
USB_VENDOR_SMSC: Final = 0x0424
USB_PRODUCT_USB5534B: Final = 0x5534
USB_VENDOR_CYPRESS: Final = 0x04B4
USB_PRODUCT_CY7C65632: Final = 0x6570
USB_VENDOR_TEXAS_INSTRUMENTS: Final = 0x0451
USB_PRODUCT_TUSB8041_USB3: Final = 0x8140
USB_PRODUCT_TUSB8041_USB2: Final = 0x8142
USB_VENDOR_MICROCHIP: Final = 0x0424
USB_PRODUCT_USB4913: Final = 0x4913
USB_PRODUCT_USB4914: Final = 0x4914
USB_PRODUCT_USB4915: Final = 0x4915

_VP: Final = MatchFlag.VENDOR | MatchFlag.PRODUCT


def _quirk(vendor: int, product: int, info: int) -> UsbDeviceId:
    return UsbDeviceId(_VP, idVendor=vendor, idProduct=product, driver_info=info)


HUB_ID_TABLE: Final = (
    UsbDeviceId(_VP | MatchFlag.INT_CLASS, idVendor=USB_VENDOR_SMSC,
                idProduct=USB_PRODUCT_USB5534B, bInterfaceClass=ClassCode.HUB,
                driver_info=HUB_QUIRK_DISABLE_AUTOSUSPEND),
    _quirk(USB_VENDOR_CYPRESS, USB_PRODUCT_CY7C65632, HUB_QUIRK_DISABLE_AUTOSUSPEND),
    UsbDeviceId(MatchFlag.VENDOR | MatchFlag.INT_CLASS, idVendor=USB_VENDOR_GENESYS_LOGIC,
                bInterfaceClass=ClassCode.HUB, driver_info=HUB_QUIRK_CHECK_PORT_AUTOSUSPEND),
    _quirk(USB_VENDOR_TEXAS_INSTRUMENTS, USB_PRODUCT_TUSB8041_USB2,
           HUB_QUIRK_DISABLE_AUTOSUSPEND),
    _quirk(USB_VENDOR_TEXAS_INSTRUMENTS, USB_PRODUCT_TUSB8041_USB3,
           HUB_QUIRK_DISABLE_AUTOSUSPEND),
    _quirk(USB_VENDOR_MICROCHIP, USB_PRODUCT_USB4913, HUB_QUIRK_REDUCE_FRAME_INTR_BINTERVAL),
    _quirk(USB_VENDOR_MICROCHIP, USB_PRODUCT_USB4914, HUB_QUIRK_REDUCE_FRAME_INTR_BINTERVAL),
    _quirk(USB_VENDOR_MICROCHIP, USB_PRODUCT_USB4915, HUB_QUIRK_REDUCE_FRAME_INTR_BINTERVAL),
    UsbDeviceId(MatchFlag.DEV_CLASS, bDeviceClass=ClassCode.HUB),
    UsbDeviceId(MatchFlag.INT_CLASS, bInterfaceClass=ClassCode.HUB),
)
"""hub_id_table, entry for entry."""


class HubDriver(UsbDriver):
    """The hub interface driver "hub" (struct usb_driver hub_driver), with the hub
    driver's per-machine state: module parameters, the count of high-speed hubs, and the
    last port whose debounce failed."""

    id_table = HUB_ID_TABLE
    supports_autosuspend = True

    def __init__(self) -> None:
        super().__init__("hub")
        self.params = HubParams()
        self.highspeed_hubs = 0
        self.unreliable_port = -1

    async def probe(self, intf: UsbInterface, id: UsbDeviceId) -> int:
        """hub_probe().  Context: may sleep."""
        return await hub_probe(self, intf, id)

    async def disconnect(self, intf: UsbInterface) -> None:
        """hub_disconnect().  Context: may sleep."""
        await hub_disconnect(intf)

    async def suspend(self, intf: UsbInterface, message: str) -> int:
        """hub_suspend(): refuse (-EBUSY) while a child is not suspended ("device %s not
        suspended yet"), else stop the status URB; children stay connected.
        Context: may sleep."""
        hub = intf.driver_data
        if not isinstance(hub, UsbHub):
            return 0
        for port1, child in sorted(hub.hdev.children.items()):
            if child.state not in (DeviceState.SUSPENDED, DeviceState.NOTATTACHED):
                hub.log.dev_warn(hub.port(port1), f"device {child.name} not suspended yet")
                return -Errno.EBUSY
        await hub_quiesce(hub, _Quiesce.SUSPEND)
        return 0

    async def resume(self, intf: UsbInterface) -> int:
        """hub_resume(): hub_activate(HUB_RESUME).  Context: may sleep."""
        return await self._activate(intf, HubActivation.RESUME)

    async def reset_resume(self, intf: UsbInterface) -> int:
        """hub_reset_resume(): hub_activate(HUB_RESET_RESUME).  Context: may sleep."""
        return await self._activate(intf, HubActivation.RESET_RESUME)

    async def pre_reset(self, intf: UsbInterface) -> int:
        """hub_pre_reset(): quiesce the hub and disconnect its children.  Context: may sleep."""
        hub = intf.driver_data
        if isinstance(hub, UsbHub):
            await hub_quiesce(hub, _Quiesce.PRE_RESET)
            hub.in_reset = True
        return 0

    async def post_reset(self, intf: UsbInterface) -> int:
        """hub_post_reset(): hub_activate(HUB_POST_RESET).  Context: may sleep."""
        hub = intf.driver_data
        if isinstance(hub, UsbHub):
            hub.in_reset = False
        return await self._activate(intf, HubActivation.POST_RESET)

    @staticmethod
    async def _activate(intf: UsbInterface, kind: HubActivation) -> int:
        hub = intf.driver_data
        if isinstance(hub, UsbHub):
            await hub_activate(hub, kind)
        return 0


def hub_driver() -> HubDriver:
    """A new instance of the hub driver "hub" (one per machine; usbcore registers it).
    Context: atomic."""
    return HubDriver()
