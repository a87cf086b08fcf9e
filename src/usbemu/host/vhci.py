"""USB/IP's virtual host controller — counterpart of drivers/usb/usbip/vhci_hcd.c, vhci_rx.c,
vhci_tx.c and vhci_sysfs.c (vhci-hcd), with the event handler of usbip_event.c.

`VhciHCD` (controller kind "vhci": driver vhci_hcd on the platform device vhci_hcd.0,
"USB/IP Virtual Host Controller") holds devices imported from USB/IP servers.  As in Linux
it has two root hubs of VHCI_HC_PORTS ports each: its own, high-speed one (bus N) and, as
its shared hcd, a SuperSpeed one (`VhciSsHCD`, bus N + 1), whose ports are port numbers
8..15 in the sysfs files.  The ports hold no device models but connections: `attach_device`
connects a port to a `VhciTransport` (the client end of a TCP connection,
usbemu.bridges.usbip.client) as `usbip attach` does by writing "port sockfd devid speed" to
the `attach` file — a SuperSpeed device goes to the SuperSpeed root hub, any other to the
high-speed one — and the root hub reports the connect, so that the hub driver enumerates the
remote device like a local one.  Each URB goes to the transport with a sequence number from
the controller's counter (vhci_tx); a control transfer to address 0 is looked at first:
SET_ADDRESS is answered here ("SetAddress Request (%d) to port %d"), since the remote device
keeps the address its own host gave it, and GET_DESCRIPTOR goes through.  The transport
hands back what the server answered (`VhciDevice.ret_submit`, `ret_unlink`: vhci_rx), or
that the connection is lost.  An unlink sends CMD_UNLINK while the connection is up — the
URB is given back when its RET_SUBMIT or RET_UNLINK comes — and gives the URB back at once
once it is gone.  A lost connection or a detach goes to the event handler, which does what
vhci_shutdown_connection does ("stop threads", "release socket", unanswered unlinks given
back with -ENODEV, the port disconnected: an unplug for the hub driver, "disconnect device")
and frees the port.  Each root hub answers as vhci_hub_control does, with its 32-bit port
status words, a reset that ends at the first GetPortStatus 50 ms after it began, and its
quirks (a full-speed device gets no speed bit: "vhci_device speed not set"); the SuperSpeed
one with its SuperSpeed hub descriptor, its BOS (no U1/U2 exit latencies, so usbcore
disables LPM), the SuperSpeed power bit, link-state and U1/U2 requests accepted and ignored,
and the USB 2.0-only requests refused with vhci-hcd's messages.  The platform device has
Linux's files: /sys/devices/platform/vhci_hcd.0/{attach, detach, status, nports,
usbip_debug}.

What it does not do: SuperSpeedPlus (an attach at that speed is refused as in Linux); more
than one controller (VHCI_NR_HCS is 1, Linux's default); the socket, which is the
transport's; the debug messages the usbip_debug flags select (the flags are kept and shown).
An isochronous answer keeps the URB's own packet offsets and lengths, taking only each
packet's actual_length and status from the server, where Linux copies the server's offsets
as well.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Awaitable, Callable, Sequence
from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

from ..core.hcd import HostController
from ..core.urb import (
    PIPE_CONTROL,
    PIPE_ISOCHRONOUS,
    Urb,
    usb_pipedevice,
    usb_pipein,
    usb_pipetype,
)
from ..errors import Errno
from ..kernel.printk import Level
from ..kernel.ratelimit import Ratelimit
from ..kernel.sysfs import SysAttr, device_create_file, device_remove_file, scan_int
from ..spec.ch9 import DescriptorType, Request, SetupPacket, Speed
from ..spec.descriptors import BosDescriptor, superspeed_capability
from ..spec.hub import (
    USB_DT_SS_HUB_SIZE,
    USB_SS_PORT_STAT_POWER,
    HubDescriptor,
    PortChange,
    PortFeature,
    PortStat,
    SsPortFeature,
)

if TYPE_CHECKING:
    from ..core.usb import UsbDevice
    from ..core.usbcore import UsbCore
    from ..kernel.device import Device

__all__ = ["SS_HUB_DESCRIPTOR", "USB3_BOS_DESCRIPTOR", "VHCI_HC_PORTS", "VHCI_NR_HCS",
           "VHCI_PORTS", "VdevStatus", "VhciDevice", "VhciHCD", "VhciSsHCD", "VhciTransport"]

#: Root ports per root hub (CONFIG_USBIP_VHCI_HC_PORTS, 8 by default).
VHCI_HC_PORTS: Final = 8
#: Port numbers per controller in the sysfs files: the high-speed hub's, then the
#: SuperSpeed hub's.
VHCI_PORTS: Final = 2 * VHCI_HC_PORTS
#: Controllers the module creates (CONFIG_USBIP_VHCI_NR_HCS, 1 by default).
VHCI_NR_HCS: Final = 1


class VdevStatus(IntEnum):
    """enum usbip_device_status, the vhci side (include/uapi/linux/usbip.h)."""

    NULL = 4  #: no remote device
    NOTASSIGNED = 5  #: attached, no USB address assigned yet
    USED = 6
    ERROR = 7


class UsbipEvent(IntFlag):
    """The event handler's work (USBIP_EH_*)."""

    SHUTDOWN = 1 << 0
    BYE = 1 << 1
    RESET = 1 << 2
    UNUSABLE = 1 << 3


VDEV_EVENT_REMOVED: Final = UsbipEvent.SHUTDOWN | UsbipEvent.RESET | UsbipEvent.BYE
VDEV_EVENT_DOWN: Final = UsbipEvent.SHUTDOWN | UsbipEvent.RESET
VDEV_EVENT_ERROR_TCP: Final = UsbipEvent.SHUTDOWN | UsbipEvent.RESET

#: The speeds an attach may name (valid_args): SuperSpeed goes to the SuperSpeed root hub.
_ATTACH_SPEEDS: Final = frozenset({Speed.LOW, Speed.FULL, Speed.HIGH, Speed.WIRELESS,
                                   Speed.SUPER})

#: hub_control's typeReq: bmRequestType << 8 | bRequest (include/linux/usb/hcd.h).
CLEAR_HUB_FEATURE: Final = 0x2001
CLEAR_PORT_FEATURE: Final = 0x2301
GET_HUB_DESCRIPTOR: Final = 0xA006
GET_HUB_STATUS: Final = 0xA000
GET_PORT_STATUS: Final = 0xA300
SET_HUB_FEATURE: Final = 0x2003
SET_PORT_FEATURE: Final = 0x2303
GET_PORT_ERROR_COUNT: Final = 0xA30D
SET_HUB_DEPTH: Final = 0x200C
#: DeviceRequest | USB_REQ_GET_DESCRIPTOR: the BOS, which rh_call_control hands over.
DEVICE_GET_DESCRIPTOR: Final = 0x8006

#: Bits of a port status word: wPortStatus low, wPortChange high.
_CONNECTION: Final = int(PortStat.CONNECTION)
_ENABLE: Final = int(PortStat.ENABLE)
_SUSPEND: Final = int(PortStat.SUSPEND)
_RESET: Final = int(PortStat.RESET)
_POWER: Final = int(PortStat.POWER)
_SS_POWER: Final = USB_SS_PORT_STAT_POWER
_LOW_SPEED: Final = int(PortStat.LOW_SPEED)
_HIGH_SPEED: Final = int(PortStat.HIGH_SPEED)
_C_CONNECTION: Final = int(PortChange.C_CONNECTION) << 16
_C_SUSPEND: Final = int(PortChange.C_SUSPEND) << 16
_C_RESET: Final = int(PortChange.C_RESET) << 16
PORT_C_MASK: Final = (int(PortChange.C_CONNECTION | PortChange.C_ENABLE | PortChange.C_SUSPEND
                          | PortChange.C_OVERCURRENT | PortChange.C_RESET) << 16)
#: The speed bit rh_port_connect and a finished reset give a device (none for full speed).
_SPEED_BITS: Final[dict[int, int]] = {Speed.HIGH: _HIGH_SPEED, Speed.LOW: _LOW_SPEED}

#: 50 ms of reset signalling, 20 ms of resume signalling (vhci_hub_control).
RESET_TIME_S: Final = 0.050
RESUME_TIME_S: Final = 0.020
#: sizeof(struct usb_hub_descriptor): what rh_call_control returns for GetHubDescriptor.
_HUB_DESCRIPTOR_SIZE: Final = 15
_STATUS_WORDS: Final = struct.Struct("<HH")

#: vhci_hub_control's messages for the requests a USB 2.0 root hub refuses.
_USB3_ONLY: Final[dict[int, str]] = {
    SsPortFeature.LINK_STATE: "USB_PORT_FEAT_LINK_STATE req not supported for USB 2.0 "
                              "roothub",
    SsPortFeature.U1_TIMEOUT: "USB_PORT_FEAT_U1/2_TIMEOUT req not supported for USB 2.0 "
                              "roothub",
    SsPortFeature.U2_TIMEOUT: "USB_PORT_FEAT_U1/2_TIMEOUT req not supported for USB 2.0 "
                              "roothub",
}

#: The SuperSpeed root hub's refusals of USB 2.0-only requests: (typeReq, feature) →
#: message.
_USB2_ONLY: Final[dict[tuple[int, int], str]] = {
    (CLEAR_PORT_FEATURE, PortFeature.SUSPEND): " ClearPortFeature: USB_PORT_FEAT_SUSPEND req "
                                                "not supported for USB 3.0 roothub",
    (SET_PORT_FEATURE, PortFeature.SUSPEND): "USB_PORT_FEAT_SUSPEND req not supported for "
                                              "USB 3.0 roothub",
}
#: SetPortFeature requests the SuperSpeed root hub takes and does nothing with.
_SS_IGNORED: Final = frozenset({SsPortFeature.LINK_STATE, SsPortFeature.U1_TIMEOUT,
                                SsPortFeature.U2_TIMEOUT})
#: ss_hub_descriptor: 8 ports, individual power switching, global over-current protection,
#: bHubHdrDecLat 4 (0.4 µs), every device non-removable (12 bytes).
SS_HUB_DESCRIPTOR: Final = bytes((12, DescriptorType.SS_HUB, VHCI_HC_PORTS, 0x01, 0x00, 0, 0,
                                  0x04, 0, 0, 0xFF, 0xFF))
#: usb3_bos_desc: the BOS with one SuperSpeed capability (5 Gb/s only, exit latencies 0).
USB3_BOS_DESCRIPTOR: Final = BosDescriptor((superspeed_capability(
    wSpeedsSupported=0x0008, bFunctionalitySupport=3, bU1DevExitLat=0, wU2DevExitLat=0),
)).to_bytes()

_U32: Final = 0xFFFFFFFF


def _signed32(value: int) -> int:
    """An atomic_t's value as %d prints it."""
    return value - (1 << 32) if value & 0x80000000 else value


def _speed_string(speed: int) -> str:
    """usb_speed_string(): "UNKNOWN" for a value that is no speed."""
    try:
        return Speed(speed).linux_name
    except ValueError:
        return Speed.UNKNOWN.linux_name


class VhciTransport(Protocol):
    """The connection a vhci port is attached to (the client end of a USB/IP connection):
    it carries the port's URBs to the server as USBIP_CMD_SUBMIT and its unlinks as
    USBIP_CMD_UNLINK, in the order given, and hands the answers to the port's
    `VhciDevice` (`ret_submit`, `ret_unlink`, `connection_lost`).  Every method is atomic
    and must not raise; a transport whose connection is already gone drops what it is
    given (the event handler shuts it down next)."""

    def submit(self, seqnum: int, urb: Urb) -> None:
        """Send `urb` as CMD_SUBMIT `seqnum`; its buffer and fields are read now.
        Context: atomic."""

    def unlink(self, seqnum: int, unlink_seqnum: int) -> None:
        """Send CMD_UNLINK `seqnum` for the URB sent as `unlink_seqnum`.  Context: atomic."""

    def shutdown(self) -> None:
        """Stop reading and writing and close the connection (kernel_sock_shutdown,
        kthread_stop).  Context: atomic."""


class VhciDevice:
    """struct vhci_device: one root port of a vhci controller and the remote device on it.

    `urbs` are the URBs sent and not answered (priv_rx), by seqnum; `unlinks` the unlinks
    sent and not answered (unlink_rx), unlink seqnum → seqnum of the URB.  Context: every
    method is atomic."""

    def __init__(self, hcd: VhciHCD, rhport: int) -> None:
        self.hcd = hcd
        self.rhport = rhport
        self.status = VdevStatus.NULL
        self.devid = 0
        self.speed = 0
        self.sockfd = -1
        self.transport: VhciTransport | None = None
        self.udev: UsbDevice | None = None
        self.urbs: dict[int, Urb] = {}
        self.unlinks: dict[int, int] = {}
        self.event = UsbipEvent(0)

    def __repr__(self) -> str:
        return f"<VhciDevice port {self.port} {self.status.name}>"

    @property
    def port(self) -> int:
        """The port number user space names in the sysfs files (the SuperSpeed root
        hub's after the high-speed one's)."""
        offset = VHCI_HC_PORTS if self.hcd.usb3 else 0
        return self.hcd.pdev_nr * VHCI_PORTS + offset + self.rhport

    # -- vhci_rx: what the server answered ----------------------------------------------------

    def ret_submit(self, seqnum: int, status: int, actual_length: int,
                   data: bytes | bytearray | memoryview = b"", *, start_frame: int = 0,
                   error_count: int = 0, iso: Sequence[tuple[int, int]] = ()) -> None:
        """USBIP_RET_SUBMIT (vhci_recv_ret_submit): give back the URB sent as `seqnum` with
        `status`, `actual_length` and, for an IN transfer, `data` (its `actual_length`
        bytes; an isochronous URB's packets back to back), and for an isochronous URB each
        packet's (actual_length, status) in `iso`.  An unknown seqnum is a broken
        connection ("cannot find a urb of seqnum %u max seqnum %d"); data that does not
        fit the URB gives it back with -EPROTO and breaks the connection.  Context:
        atomic."""
        urb = self._pickup(seqnum)
        if urb is None:
            self.hcd.pr(Level.ERR, f"cannot find a urb of seqnum {seqnum} max seqnum "
                                   f"{_signed32(self.hcd.seqnum)}")
            self.hcd.event_add(self, VDEV_EVENT_ERROR_TCP)
            return
        urb.status, urb.actual_length = status, actual_length
        urb.start_frame, urb.error_count = start_frame, error_count
        if not self._recv_xbuff(urb, data) or not self._recv_iso(urb, iso):
            urb.status = -Errno.EPROTO
        self.hcd.unlink_urb_from_ep(urb)
        self.hcd.giveback_urb(urb, urb.status)

    def _recv_xbuff(self, urb: Urb, data: bytes | bytearray | memoryview) -> bool:
        """usbip_recv_xbuff(): an IN transfer's data to the start of the URB's buffer."""
        size = urb.actual_length if usb_pipein(urb.pipe) else 0
        if size <= 0:
            return True
        if size > urb.transfer_buffer_length or len(data) != size:
            received = len(data) if size <= urb.transfer_buffer_length else 0
            return self._recv_error(urb, f"recv xbuf, {received}")
        urb.buffer_view()[:size] = data
        return True

    def _recv_iso(self, urb: Urb, iso: Sequence[tuple[int, int]]) -> bool:
        """usbip_recv_iso(): each packet's (actual_length, status), which must add up to
        the URB's actual_length; then usbip_pad_iso()."""
        count = urb.number_of_packets
        if usb_pipetype(urb.pipe) != PIPE_ISOCHRONOUS or count == 0:
            return True
        if len(iso) != count:
            return self._recv_error(urb, f"recv iso_frame_descriptor, {16 * len(iso)}")
        packets = urb.iso_frame_desc[:count]
        total = 0
        for packet, (actual, status) in zip(packets, iso, strict=True):
            packet.actual_length, packet.status = actual, status
            total += actual
        if total != urb.actual_length:
            return self._recv_error(urb, f"total length of iso packets {total} not equal to "
                                         f"actual length of buffer {urb.actual_length}")
        _pad_iso(urb)
        return True

    def _recv_error(self, urb: Urb, text: str) -> bool:
        assert urb.dev is not None
        self.hcd.core.log.dev_err(urb.dev, text)
        self.hcd.event_add(self, VDEV_EVENT_ERROR_TCP)
        return False

    def ret_unlink(self, seqnum: int, status: int) -> None:
        """USBIP_RET_UNLINK (vhci_recv_ret_unlink): the server's answer to the unlink sent
        as `seqnum`; the URB, unless its RET_SUBMIT came first, is given back (with the
        status of its unlink).  Context: atomic."""
        target = self._dequeue_pending_unlink(seqnum)
        if target is None:
            self.hcd.pr(Level.INFO, f"cannot find the pending unlink {seqnum}")
            return
        urb = self._pickup(target)
        if urb is None:
            self.hcd.pr(Level.INFO, f"the urb (seqnum {seqnum}) was already given back")
            return
        urb.status = status
        self.hcd.pr(Level.INFO, f"urb->status {status}")
        self.hcd.unlink_urb_from_ep(urb)
        self.hcd.giveback_urb(urb, status)

    def _dequeue_pending_unlink(self, seqnum: int) -> int | None:
        """dequeue_pending_unlink(): walks the unlinks in the order they were sent, naming
        each ("unlink->seqnum %lu"), until the one answered."""
        for unlink_seqnum in self.unlinks:
            self.hcd.pr(Level.INFO, f"unlink->seqnum {unlink_seqnum}")
            if unlink_seqnum == seqnum:
                return self.unlinks.pop(unlink_seqnum)
        return None

    def _pickup(self, seqnum: int) -> Urb | None:
        """pickup_urb_and_free_priv(): the URB sent as `seqnum`, no longer pending."""
        urb = self.urbs.pop(seqnum, None)
        if urb is None:
            return None
        self.hcd.inflight.pop(urb, None)
        if urb.unlinked and urb.dev is not None:
            self.hcd.core.log.dev_dbg(
                urb.dev, f"urb seq# {seqnum} was unlinked "
                         f"{'' if urb.unlinked == -Errno.ENOENT else 'a'}synchronously")
        return urb

    def connection_lost(self, reason: str, level: Level = Level.INFO) -> None:
        """The connection ended or broke: log `reason` as vhci_rx does ("connection
        closed", "connection reset by peer", a protocol error at Level.ERR) and let the
        event handler shut the port down.  Context: atomic."""
        self.hcd.pr(level, reason)
        self.hcd.event_add(self, VDEV_EVENT_ERROR_TCP)

    # -- the event handler's operations -------------------------------------------------------

    def shutdown(self) -> None:
        """vhci_shutdown_connection(): stop the transport, forget the socket, give back
        the URBs whose unlink was never answered (-ENODEV), disconnect the port."""
        transport = self.transport
        if transport is not None:
            transport.shutdown()
        self.hcd.pr(Level.INFO, "stop threads")
        self.transport = None
        self.sockfd = -1
        self.hcd.pr(Level.INFO, "release socket")
        self._unlink_cleanup()
        self.hcd.rh_port_disconnect(self)
        self.hcd.pr(Level.INFO, "disconnect device")

    def _unlink_cleanup(self) -> None:
        """vhci_device_unlink_cleanup(): the unlinks sent and not answered."""
        while self.unlinks:
            unlink_seqnum, target = next(iter(self.unlinks.items()))
            del self.unlinks[unlink_seqnum]
            self.hcd.pr(Level.INFO, f"unlink cleanup rx {target}")
            urb = self._pickup(target)
            if urb is None:
                self.hcd.pr(Level.INFO, f"the urb (seqnum {target}) was already given back")
                continue
            urb.status = -Errno.ENODEV
            self.hcd.unlink_urb_from_ep(urb)
            self.hcd.giveback_urb(urb, urb.status)

    def reset(self) -> None:
        """vhci_device_reset(): the port is free again."""
        self.speed = 0
        self.devid = 0
        self.udev = None
        self.transport = None
        self.sockfd = -1
        self.status = VdevStatus.NULL

    def unusable(self) -> None:
        """vhci_device_unusable()."""
        self.status = VdevStatus.ERROR


_EVENT_STEPS: Final[tuple[tuple[UsbipEvent, Callable[[VhciDevice], None]], ...]] = (
    (UsbipEvent.SHUTDOWN, VhciDevice.shutdown),
    (UsbipEvent.RESET, VhciDevice.reset),
    (UsbipEvent.UNUSABLE, VhciDevice.unusable),
)


def _pad_iso(urb: Urb) -> None:
    """usbip_pad_iso(): the server sends an isochronous IN URB's packets back to back;
    move each, last first, to its offset in the buffer (at most its length)."""
    actual = urb.actual_length
    if not usb_pipein(urb.pipe) or actual in (0, urb.transfer_buffer_length):
        return
    view = urb.buffer_view()
    packets = urb.iso_frame_desc[:urb.number_of_packets]
    for packet in reversed(packets[1:]):
        actual -= packet.actual_length
        n = max(0, min(packet.actual_length, packet.length, len(view) - packet.offset))
        view[packet.offset:packet.offset + n] = bytes(view[actual:actual + n])


def _scan_u32s(data: bytes, count: int) -> list[int] | None:
    """sscanf(buf, "%u %u …"): `count` numbers, each after optional white space, with an
    optional sign (a negative one wraps, as %u stores it); None when fewer match."""
    text = data.decode("latin-1")
    values, pos = [], 0
    for _ in range(count):
        while pos < len(text) and text[pos] in " \t\n\v\f\r":
            pos += 1
        start = pos
        if pos < len(text) and text[pos] in "+-":
            pos += 1
        digits = pos
        while pos < len(text) and "0" <= text[pos] <= "9":
            pos += 1
        if pos == digits:
            return None
        values.append(int(text[start:pos]) & _U32)
    return values


def _kstrtoint(data: bytes) -> int | None:
    """kstrtoint(buf, 10): an optional sign and decimal digits, one trailing newline
    allowed, nothing else; None otherwise (or out of int's range)."""
    text = data.decode("latin-1")
    text = text[:-1] if text.endswith("\n") else text
    body = text[1:] if text[:1] in "+-" else text
    if not body.isascii() or not body.isdigit():
        return None
    value = int(text)
    return value if -(1 << 31) <= value < (1 << 31) else None


def _scan_hex(data: bytes) -> int | None:
    """sscanf(buf, "%lx"): white space, an optional 0x, hex digits."""
    text = data.decode("latin-1").lstrip(" \t\n\v\f\r")
    if text[:2].lower() == "0x" and len(text) > 2 and text[2] in "0123456789abcdefABCDEF":
        text = text[2:]
    digits = ""
    for char in text:
        if char not in "0123456789abcdefABCDEF":
            break
        digits += char
    return int(digits, 16) & ((1 << 64) - 1) if digits else None


class VhciHCD(HostController):
    """The vhci_hcd controller's high-speed root hub and its VHCI_HC_PORTS ports
    (`vdevs`, one `VhciDevice` each); its `shared_hcd`, `ss`, is the SuperSpeed root hub.
    `sockets` is the table `attach_device` looks a sockfd up in (a process's descriptor
    table: the client puts its transport there for the attach); both root hubs share it,
    the sysfs files and the event handler, which are the high-speed (primary) one's.
    Context: atomic unless a method says otherwise."""

    description = "vhci_hcd"
    product_desc = "USB/IP Virtual Host Controller"
    driver_name = "vhci_hcd"
    platform_name = "vhci_hcd"
    rh_speed = Speed.HIGH
    default_nports = VHCI_HC_PORTS
    has_tt = True
    #: The root hub's hub descriptor (vhci_hcd.c hub_descriptor): individual port power
    #: switching, global over-current protection.
    hub_desc: ClassVar[HubDescriptor] = HubDescriptor(VHCI_HC_PORTS, wHubCharacteristics=0x0001)

    def __init__(self, core: UsbCore, controller: Device, nports: int = VHCI_HC_PORTS, *,
                 primary: VhciHCD | None = None) -> None:
        """Raises ValueError for another port count or a platform device other than
        vhci_hcd.0."""
        if nports != VHCI_HC_PORTS:
            raise ValueError(f"nports={nports}: a vhci_hcd root hub has {VHCI_HC_PORTS} ports")
        pdev_nr = self._name_to_id(controller.name)
        if not 0 <= pdev_nr < VHCI_NR_HCS:
            raise ValueError(f"{controller.name}: vhci_hcd has {VHCI_NR_HCS} controller "
                             f"(vhci_hcd.0), and this machine has it already")
        super().__init__(core, controller, nports)
        self.pdev_nr = pdev_nr
        #: The high-speed root hub, whose sysfs files and event handler both use.
        self.primary: VhciHCD = self if primary is None else primary
        self.vdevs = tuple(VhciDevice(self, rhport) for rhport in range(VHCI_HC_PORTS))
        self.port_status = [0] * VHCI_HC_PORTS
        self.resuming = False
        self.re_timeout = 0.0
        #: The last sequence number given (atomic_t seqnum, 32 bits).
        self.seqnum = 0
        #: sockfd → transport, for `attach_device` (sockfd_lookup).
        self.sockets: dict[int, VhciTransport] = {} if primary is None else primary.sockets
        #: URB → (its port, its seqnum): urb->hcpriv's vhci_priv.
        self.inflight: dict[Urb, tuple[VhciDevice, int]] = {}
        #: usbip-core's usbip_debug_flag, shown and set through `usbip_debug`.
        self.debug_flag = 0
        self.suspended = False
        self._events: list[VhciDevice] = []
        self._eh_scheduled = False
        self._frame_ratelimit = Ratelimit("vhci_get_frame_number")
        self._files: tuple[SysAttr[Any], ...] = ()
        #: The SuperSpeed root hub (this one, for the SuperSpeed root hub itself).
        self.ss: VhciHCD = self if primary is not None else VhciSsHCD(core, controller,
                                                                        primary=self)
        if primary is None:
            self.shared_hcd = self.ss

    @property
    def usb3(self) -> bool:
        """This is the SuperSpeed root hub (hcd->speed == HCD_USB3)."""
        return self.rh_speed >= Speed.SUPER

    @property
    def hubs(self) -> tuple[VhciHCD, VhciHCD]:
        """The high-speed and the SuperSpeed root hub."""
        return self.primary, self.primary.ss

    @staticmethod
    def _name_to_id(name: str) -> int:
        """hcd_name_to_id(): the number after the dot of "vhci_hcd.0" (0 without one)."""
        _, dot, number = name.partition(".")
        if not dot:
            return 0
        value = scan_int(number.encode())
        return -1 if value is None else value

    def pr(self, level: Level, text: str) -> None:
        """pr_*() of the vhci_hcd module: "vhci_hcd: text".  Context: atomic."""
        self.core.log.log(level, f"vhci_hcd: {text}")

    # -- hc_driver: start, stop ---------------------------------------------------------------

    def start(self) -> int:
        """vhci_start(): the ports are empty, the seqnum counter 0, and for the primary
        root hub the sysfs files appear on the platform device ("created sysfs
        vhci_hcd.0").  Context: atomic."""
        self.seqnum = 0
        if self.primary is not self:
            return 0
        self._files = tuple(SysAttr(name, _bound_show(self, show), _bound_store(self, store),
                                    mode) for name, show, store, mode in _FILES)
        for attr in self._files:
            device_create_file(self.controller, attr)
        self.pr(Level.INFO, f"created sysfs {self.controller.name}")
        return 0

    def stop(self) -> None:
        """vhci_stop(): the sysfs files go, and every port is shut down as a removed
        device is (its connection closed, "stop threads", "release socket", "disconnect
        device").  Context: atomic."""
        for attr in self._files:
            device_remove_file(self.controller, attr)
        self._files = ()
        for vdev in self.vdevs:
            self.event_add(vdev, VDEV_EVENT_REMOVED)
        self.primary._event_handler()

    # -- the event handler (usbip_event.c) ----------------------------------------------------

    def event_add(self, vdev: VhciDevice, event: UsbipEvent) -> None:
        """usbip_event_add(): queue `event` for `vdev`'s port (nothing once it said BYE);
        the handler runs soon, in the order ports were queued.  Context: atomic."""
        if self.primary is not self:
            self.primary.event_add(vdev, event)
            return
        if vdev.event & UsbipEvent.BYE:
            return
        vdev.event |= event
        if vdev not in self._events:
            self._events.append(vdev)
        if not self._eh_scheduled:
            self._eh_scheduled = True
            self.loop.call_soon(self._event_handler)

    def _event_handler(self) -> None:
        """event_handler(): shut down, then reset, then mark unusable, port by port."""
        self._eh_scheduled = False
        while self._events:
            vdev = self._events.pop(0)
            for flag, step in _EVENT_STEPS:
                if vdev.event & flag:
                    step(vdev)
                    vdev.event &= ~flag

    # -- attach and detach (vhci_sysfs.c) -----------------------------------------------------

    def _valid_port(self, pdev_nr: int, rhport: int) -> bool:
        if pdev_nr >= VHCI_NR_HCS:
            self.pr(Level.ERR, f"pdev {pdev_nr}")
            return False
        if rhport >= VHCI_HC_PORTS:
            self.pr(Level.ERR, f"rhport {rhport}")
            return False
        return True

    def attach_device(self, port: int, sockfd: int, devid: int, speed: int) -> int:
        """attach_store(): connect port number `port` to the transport `sockets[sockfd]`
        for the remote device `devid` at `speed` (enum usb_device_speed); the root hub then
        shows the connect: root port `port` % 8 of the SuperSpeed root hub for a
        SuperSpeed device, of the high-speed one for any other, whichever half `port`
        names.  0, or -EINVAL (bad port or speed, or no such socket), -EBUSY (the port is
        in use).  Context: atomic."""
        pdev_nr, rhport = port // VHCI_PORTS, port % VHCI_HC_PORTS
        if not self._valid_port(pdev_nr, rhport):
            return -Errno.EINVAL
        if speed not in _ATTACH_SPEEDS:
            self.pr(Level.ERR, f"Failed attach request for unsupported USB speed: "
                               f"{_speed_string(speed)}")
            return -Errno.EINVAL
        transport = self.sockets.get(sockfd)
        log = self.core.log
        if transport is None:
            log.dev_err(self.controller, "failed to lookup sock")
            return -Errno.EINVAL
        hs, ss = self.hubs
        vdev = (ss if speed == Speed.SUPER else hs).vdevs[rhport]
        if vdev.status is not VdevStatus.NULL:
            log.dev_err(self.controller, f"port {rhport} already used")
            return -Errno.EBUSY
        log.dev_info(self.controller, f"pdev({pdev_nr}) rhport({rhport}) sockfd({sockfd})")
        log.dev_info(self.controller, f"devid({devid}) speed({speed}) "
                                      f"speed_str({_speed_string(speed)})")
        vdev.devid, vdev.speed, vdev.sockfd = devid, speed, sockfd
        vdev.transport = transport
        vdev.status = VdevStatus.NOTASSIGNED
        vdev.hcd.rh_port_connect(vdev, Speed(speed))
        log.dev_info(self.controller, "Device attached")
        return 0

    def detach_device(self, port: int) -> int:
        """detach_store(): shut the connection of port number `port` down (by the event
        handler, soon).  0, or -EINVAL for a bad port or one with no device ("not
        connected %d").  Context: atomic."""
        pdev_nr, rhport = port // VHCI_PORTS, port % VHCI_HC_PORTS
        if not self._valid_port(pdev_nr, rhport):
            return -Errno.EINVAL
        vdev = self.hubs[(port // VHCI_HC_PORTS) % 2].vdevs[rhport]
        if vdev.status is VdevStatus.NULL:
            self.pr(Level.ERR, f"not connected {int(vdev.status)}")
            return -Errno.EINVAL
        self.event_add(vdev, VDEV_EVENT_DOWN)
        return 0

    def free_port(self, speed: int) -> int | None:
        """usbip_vhci_get_free_port(): the first port number of the hub for `speed` (the
        SuperSpeed root hub's for SuperSpeed, else the high-speed one's, whether the
        attach will take that speed or not) that holds no device, or None.
        Context: atomic."""
        hub = self.hubs[speed == Speed.SUPER]
        return next((vdev.port for vdev in hub.vdevs if vdev.status is VdevStatus.NULL),
                    None)

    def device(self, port: int) -> VhciDevice:
        """The port with sysfs port number `port`.  Raises ValueError for one this
        controller does not have.  Context: atomic."""
        index = port - self.pdev_nr * VHCI_PORTS
        if not 0 <= index < VHCI_PORTS:
            hs, ss = self.hubs
            raise ValueError(f"port {port}: {self.controller.name} has high-speed ports "
                             f"{hs.vdevs[0].port}..{hs.vdevs[-1].port} and SuperSpeed ports "
                             f"{ss.vdevs[0].port}..{ss.vdevs[-1].port}")
        return self.hubs[index // VHCI_HC_PORTS].vdevs[index % VHCI_HC_PORTS]

    def status_text(self) -> str:
        """The `status` file: a legend, then a line per port, the high-speed root hub's
        ("hs") then the SuperSpeed one's ("ss") (port_show_vhci)."""
        return "hub port sta spd dev      sockfd local_busid\n" + "".join(
            self._port_line(vdev) for hub in self.hubs for vdev in hub.vdevs)

    @staticmethod
    def _port_line(vdev: VhciDevice) -> str:
        hub = "ss" if vdev.hcd.usb3 else "hs"
        head = f"{hub}  {vdev.port:04d} {int(vdev.status):03d} "
        if vdev.status is VdevStatus.USED and vdev.udev is not None:
            return (f"{head}{vdev.speed:03d} {vdev.devid:08x} {vdev.sockfd & _U32:06d} "
                    f"{vdev.udev.name}\n")
        return f"{head}000 00000000 000000 0-0\n"

    # -- sysfs stores -------------------------------------------------------------------------

    async def _store_attach(self, data: bytes) -> int:
        values = _scan_u32s(data, 4)
        if values is None:
            return -Errno.EINVAL
        port, sockfd, devid, speed = values
        rc = self.attach_device(port, _signed32(sockfd), devid, speed)
        return rc or len(data)

    async def _store_detach(self, data: bytes) -> int:
        port = _kstrtoint(data)
        if port is None:
            return -Errno.EINVAL
        rc = self.detach_device(port & _U32)
        return -Errno.EINVAL if rc else len(data)

    async def _store_debug(self, data: bytes) -> int:
        flag = _scan_hex(data)
        if flag is None:
            return -Errno.EINVAL
        self.debug_flag = flag
        return len(data)

    def _show_nports(self) -> str:
        return f"{VHCI_PORTS * VHCI_NR_HCS}\n"

    def _show_debug(self) -> str:
        return f"{self.debug_flag:x}\n"

    # -- the root hub (vhci_hub_status, vhci_hub_control) -------------------------------------

    def rh_port_connect(self, vdev: VhciDevice, speed: Speed) -> None:
        """rh_port_connect(): the port shows a connected device of `speed`.
        Context: atomic."""
        self.port_status[vdev.rhport] |= _CONNECTION | _C_CONNECTION | _SPEED_BITS.get(speed, 0)
        self.poll_rh_status()

    def rh_port_disconnect(self, vdev: VhciDevice) -> None:
        """rh_port_disconnect(): the port shows its device gone.  Context: atomic."""
        status = self.port_status[vdev.rhport]
        self.port_status[vdev.rhport] = (status & ~_CONNECTION) | _C_CONNECTION
        self.poll_rh_status()

    def hub_status_data(self) -> bytes:
        """vhci_hub_status(): bit rhport + 1 for each port with a change bit."""
        bits = 0
        for rhport, status in enumerate(self.port_status):
            if status & PORT_C_MASK:
                bits |= 1 << (rhport + 1)
        return bits.to_bytes((VHCI_HC_PORTS + 8) // 8, "little")

    def hub_control(self, setup: SetupPacket, buf: memoryview) -> int:
        """vhci_hub_control(), and the length rh_call_control gives each answer: bytes
        written to `buf`, or -EPIPE."""
        type_req = setup.bmRequestType << 8 | setup.bRequest
        windex = setup.wIndex & 0xFF
        rhport = windex - 1 if 1 <= windex <= VHCI_HC_PORTS else None
        if windex > VHCI_HC_PORTS:
            self.pr(Level.ERR, f"invalid port number {windex}")
        handler = _HUB_CONTROL.get(type_req)
        if handler is None:
            self.pr(Level.ERR, f"default hub control req: {type_req:04x} v{setup.wValue:04x} "
                               f"i{windex:04x} l{setup.wLength}")
            retval = -Errno.EPIPE
        else:
            retval = handler(self, setup, rhport, buf)
        if rhport is not None and self.port_status[rhport] & PORT_C_MASK:
            self.poll_rh_status()
        return retval

    def _invalid_port(self, windex: int) -> None:
        self.pr(Level.ERR, f"invalid port number {windex}")

    def _clear_hub_feature(self, setup: SetupPacket, rhport: int | None,
                           buf: memoryview) -> int:
        return 0

    def _clear_port_feature(self, setup: SetupPacket, rhport: int | None,
                            buf: memoryview) -> int:
        if rhport is None:
            self._invalid_port(setup.wIndex & 0xFF)
            return -Errno.EPIPE
        feature = setup.wValue
        if self._refused(CLEAR_PORT_FEATURE, feature):
            return -Errno.EPIPE
        if feature == PortFeature.SUSPEND:
            if self.port_status[rhport] & _SUSPEND:
                self.resuming = True
                self.re_timeout = self.loop.time() + RESUME_TIME_S
        elif feature == PortFeature.POWER:
            self.port_status[rhport] &= ~self._power_bit
        else:
            self.port_status[rhport] &= ~(1 << (feature & 31))
        return 0

    @property
    def _power_bit(self) -> int:
        """PORT_POWER in wPortStatus: bit 9 on the SuperSpeed root hub, bit 8 otherwise."""
        return _SS_POWER if self.usb3 else _POWER

    def _refused(self, type_req: int, feature: int) -> bool:
        """A USB 2.0-only port request to the SuperSpeed root hub: refused with its
        message."""
        refusal = _USB2_ONLY.get((type_req, feature)) if self.usb3 else None
        if refusal is not None:
            self.pr(Level.ERR, refusal)
        return refusal is not None

    def _get_hub_descriptor(self, setup: SetupPacket, rhport: int | None,
                            buf: memoryview) -> int:
        if self.usb3 and (setup.wLength < USB_DT_SS_HUB_SIZE
                          or setup.wValue != DescriptorType.SS_HUB << 8):
            self.pr(Level.ERR, "Wrong hub descriptor type for USB 3.0 roothub.")
            return -Errno.EPIPE
        desc = SS_HUB_DESCRIPTOR if self.usb3 else self.hub_desc.to_bytes()
        raw = desc.ljust(_HUB_DESCRIPTOR_SIZE, b"\0")
        n = min(len(raw), len(buf))
        buf[:n] = raw[:n]
        return n

    def _get_descriptor(self, setup: SetupPacket, rhport: int | None,
                        buf: memoryview) -> int:
        """GET_DESCRIPTOR(BOS), which only the SuperSpeed root hub answers."""
        if not self.usb3 or setup.wValue >> 8 != DescriptorType.BOS:
            return -Errno.EPIPE
        n = min(len(USB3_BOS_DESCRIPTOR), len(buf))
        buf[:n] = USB3_BOS_DESCRIPTOR[:n]
        return n

    def _get_hub_status(self, setup: SetupPacket, rhport: int | None,
                        buf: memoryview) -> int:
        n = min(4, len(buf))
        buf[:n] = bytes(n)
        return n

    def _get_port_status(self, setup: SetupPacket, rhport: int | None,
                         buf: memoryview) -> int:
        if rhport is None:
            self._invalid_port(setup.wIndex & 0xFF)
            return -Errno.EPIPE
        now = self.loop.time()
        if self.resuming and now > self.re_timeout:
            self.port_status[rhport] = (self.port_status[rhport] | _C_SUSPEND) & ~_SUSPEND
            self.resuming = False
            self.re_timeout = 0.0
        if self.port_status[rhport] & _RESET and now > self.re_timeout:
            self._end_reset(rhport)
        status = self.port_status[rhport]
        length = 4 if setup.wValue == 0 else 8
        raw = _STATUS_WORDS.pack(status & 0xFFFF, status >> 16).ljust(length, b"\0")
        n = min(length, len(buf))
        buf[:n] = raw[:n]
        return n

    def _end_reset(self, rhport: int) -> None:
        """A GetPortStatus after the reset's 50 ms: C_RESET, the port enabled for a device
        not yet addressed, its speed bit."""
        status = (self.port_status[rhport] | _C_RESET) & ~_RESET
        self.re_timeout = 0.0
        vdev = self.vdevs[rhport]
        if vdev.status is VdevStatus.NOTASSIGNED:
            status |= _ENABLE
        self.port_status[rhport] = status if self.usb3 else status | self._speed_bit(vdev)

    def _speed_bit(self, vdev: VhciDevice) -> int:
        """A high-speed root port's speed bit for its device ("vhci_device speed not set"
        and none at full speed)."""
        speed_bit = _SPEED_BITS.get(vdev.speed)
        if speed_bit is None:
            self.pr(Level.ERR, "vhci_device speed not set")
            return 0
        return speed_bit

    def _set_hub_feature(self, setup: SetupPacket, rhport: int | None,
                         buf: memoryview) -> int:
        return -Errno.EPIPE

    def _set_port_feature(self, setup: SetupPacket, rhport: int | None,
                          buf: memoryview) -> int:
        feature, windex = setup.wValue, setup.wIndex & 0xFF
        if self.usb3 and feature in _SS_IGNORED:
            return 0
        refusal = None if self.usb3 else _USB3_ONLY.get(feature)
        if refusal is not None:
            self.pr(Level.ERR, refusal)
            return -Errno.EPIPE
        if self._refused(SET_PORT_FEATURE, feature):
            return -Errno.EPIPE
        if rhport is None:
            self._invalid_port(windex)
            return -Errno.EPIPE
        if feature == SsPortFeature.BH_PORT_RESET and not self.usb3:
            self.pr(Level.ERR, "USB_PORT_FEAT_BH_PORT_RESET req not supported for USB 2.0 "
                               "roothub")
            return -Errno.EPIPE
        if feature == PortFeature.SUSPEND:
            self.port_status[rhport] |= _SUSPEND
        elif feature == PortFeature.POWER:
            self.port_status[rhport] |= self._power_bit
        else:
            if feature in (PortFeature.RESET, SsPortFeature.BH_PORT_RESET):
                self._start_reset(rhport)
            if self.port_status[rhport] & self._power_bit:
                self.port_status[rhport] = (self.port_status[rhport]
                                            | 1 << (feature & 31)) & _U32
        return 0

    def _start_reset(self, rhport: int) -> None:
        """PORT_RESET: the SuperSpeed root hub's port is powered, connected and resetting
        and nothing else; a high-speed port loses its enable and speed bits.  The reset
        ends 50 ms later."""
        if self.usb3:
            self.port_status[rhport] = _SS_POWER | _CONNECTION | _RESET
        elif self.port_status[rhport] & _ENABLE:
            self.port_status[rhport] &= ~(_ENABLE | _LOW_SPEED | _HIGH_SPEED)
        self.re_timeout = self.loop.time() + RESET_TIME_S

    def _usb3_only(self, setup: SetupPacket, rhport: int | None, buf: memoryview) -> int:
        """GetPortErrorCount (always 0 errors) and SetHubDepth, which only the SuperSpeed
        root hub takes."""
        if self.usb3:
            return 0
        name = "GetPortErrorCount" if setup.bRequest == 13 else "SetHubDepth"
        self.pr(Level.ERR, f"{name} req not supported for USB 2.0 roothub")
        return -Errno.EPIPE

    # -- URBs (vhci_urb_enqueue, vhci_urb_dequeue, vhci_tx_urb) -------------------------------

    def urb_enqueue(self, urb: Urb) -> int:
        """vhci_urb_enqueue(): -ENODEV for a port with no connection; a SET_ADDRESS to
        address 0 is answered here, anything else goes to the port's transport.
        Context: atomic."""
        udev = urb.dev
        assert udev is not None
        if udev.portnum > VHCI_HC_PORTS:
            self.pr(Level.ERR, f"invalid port number {udev.portnum}")
            return -Errno.ENODEV
        vdev = self.vdevs[udev.portnum - 1]
        if vdev.status in (VdevStatus.NULL, VdevStatus.ERROR):
            self.core.log.dev_err(udev, f"enqueue for inactive port {vdev.rhport}")
            return -Errno.ENODEV
        rc = self.link_urb_to_ep(urb)
        if rc:
            return rc
        if usb_pipedevice(urb.pipe) == 0:
            return self._enqueue_address0(vdev, urb)
        self._tx_urb(vdev, urb)
        return 0

    def _enqueue_address0(self, vdev: VhciDevice, urb: Urb) -> int:
        """The enumeration's requests to address 0: SET_ADDRESS answered, GET_DESCRIPTOR
        sent on, anything else refused."""
        udev = urb.dev
        assert udev is not None
        log = self.core.log
        setup = urb.setup_packet
        if usb_pipetype(urb.pipe) != PIPE_CONTROL or setup is None:
            log.dev_err(udev, "invalid request to devnum 0")
            self.unlink_urb_from_ep(urb)
            return -Errno.EINVAL
        request, value = setup[1], setup[2] | setup[3] << 8
        if request == Request.SET_ADDRESS:
            log.dev_info(udev, f"SetAddress Request ({value}) to port {vdev.rhport}")
            vdev.udev = udev
            vdev.status = VdevStatus.USED
            self.unlink_urb_from_ep(urb)
            self.giveback_urb(urb, 0)
            return 0
        if request == Request.GET_DESCRIPTOR:
            vdev.udev = udev
            self._tx_urb(vdev, urb)
            return 0
        log.dev_err(udev, f"invalid request to devnum 0 bRequest {request}, wValue {value}")
        self.unlink_urb_from_ep(urb)
        return -Errno.EINVAL

    def _next_seqnum(self) -> int:
        """atomic_inc_return(&vhci_hcd->seqnum)."""
        self.seqnum = (self.seqnum + 1) & _U32
        return self.seqnum

    def _tx_urb(self, vdev: VhciDevice, urb: Urb) -> None:
        """vhci_tx_urb(): a seqnum for the URB, remembered until its answer, and the URB
        to the transport."""
        seqnum = self._next_seqnum()
        if seqnum == 0xFFFF:
            assert urb.dev is not None
            self.core.log.dev_info(urb.dev, "seqnum max")
        vdev.urbs[seqnum] = urb
        self.inflight[urb] = (vdev, seqnum)
        if vdev.transport is not None:
            vdev.transport.submit(seqnum, urb)

    def urb_dequeue(self, urb: Urb, status: int) -> int:
        """vhci_urb_dequeue(): -EIDRM for a URB that is not pending; while the connection
        is up, CMD_UNLINK (the URB comes back with its answer), else the URB is given back
        now.  Context: atomic."""
        pending = self.inflight.get(urb)
        if pending is None:
            return -Errno.EIDRM
        rc = self.check_unlink_urb(urb, status)
        if rc:
            return rc
        vdev, seqnum = pending
        transport = vdev.transport
        if transport is None:
            del self.inflight[urb]
            vdev.urbs.pop(seqnum, None)
            self.unlink_urb_from_ep(urb)
            self.giveback_urb(urb, urb.unlinked)
            return 0
        unlink_seqnum = self._next_seqnum()
        if unlink_seqnum == 0xFFFF:
            self.pr(Level.INFO, "seqnum max")
        vdev.unlinks[unlink_seqnum] = seqnum
        transport.unlink(unlink_seqnum, seqnum)
        return 0

    # -- the rest of hc_driver ----------------------------------------------------------------

    def get_frame_number(self) -> int:
        """vhci_get_frame_number(): "Not yet implemented" (rate limited); 0."""
        bus = self.bus
        root = bus.root_hub if bus is not None else None
        if root is not None and self._frame_ratelimit.allow(self.loop.time(), self.core.log):
            self.core.log.dev_err(root, "Not yet implemented")
        return 0

    def bus_suspend(self) -> int:
        """vhci_bus_suspend(): the controller is suspended.  Context: atomic."""
        bus = self.bus
        if bus is not None and bus.root_hub is not None:
            self.core.log.dev_dbg(bus.root_hub, "vhci_bus_suspend")
        self.suspended = True
        return 0

    def bus_resume(self) -> int:
        """vhci_bus_resume(): the controller runs again.  Context: atomic."""
        bus = self.bus
        if bus is not None and bus.root_hub is not None:
            self.core.log.dev_dbg(bus.root_hub, "vhci_bus_resume")
        self.suspended = False
        return 0


class VhciSsHCD(VhciHCD):
    """The SuperSpeed root hub of vhci_hcd (the shared hcd, HCD_USB3): VHCI_HC_PORTS
    ports for SuperSpeed imports, created and registered with the high-speed one
    (`VhciHCD.ss`).  Context: atomic unless a method says otherwise."""

    rh_speed = Speed.SUPER
    has_tt = False


_HubHandler = Callable[[VhciHCD, SetupPacket, int | None, memoryview], int]

#: vhci_hub_control's requests, by typeReq.
_HUB_CONTROL: Final[dict[int, _HubHandler]] = {
    CLEAR_HUB_FEATURE: VhciHCD._clear_hub_feature,
    CLEAR_PORT_FEATURE: VhciHCD._clear_port_feature,
    GET_HUB_DESCRIPTOR: VhciHCD._get_hub_descriptor,
    GET_HUB_STATUS: VhciHCD._get_hub_status,
    GET_PORT_STATUS: VhciHCD._get_port_status,
    SET_HUB_FEATURE: VhciHCD._set_hub_feature,
    SET_PORT_FEATURE: VhciHCD._set_port_feature,
    GET_PORT_ERROR_COUNT: VhciHCD._usb3_only,
    SET_HUB_DEPTH: VhciHCD._usb3_only,
    DEVICE_GET_DESCRIPTOR: VhciHCD._get_descriptor,
}

_Show = Callable[[VhciHCD], str]
_Store = Callable[[VhciHCD, bytes], Awaitable[int]]

#: The attribute group vhci_start creates on the platform device (vhci_init_attr_group).
_FILES: Final[tuple[tuple[str, _Show | None, _Store | None, int], ...]] = (
    ("nports", VhciHCD._show_nports, None, 0o444),
    ("detach", None, VhciHCD._store_detach, 0o200),
    ("attach", None, VhciHCD._store_attach, 0o200),
    ("usbip_debug", VhciHCD._show_debug, VhciHCD._store_debug, 0o644),
    ("status", VhciHCD.status_text, None, 0o444),
)


def _bound_show(hcd: VhciHCD, show: _Show | None) -> Callable[[Device], str] | None:
    if show is None:
        return None
    return lambda dev: show(hcd)


def _bound_store(hcd: VhciHCD, store: _Store | None
                 ) -> Callable[[Device, bytes], Awaitable[int]] | None:
    if store is None:
        return None
    return functools.partial(_call_store, hcd, store)


async def _call_store(hcd: VhciHCD, store: _Store, dev: Device, data: bytes) -> int:
    return await store(hcd, data)
