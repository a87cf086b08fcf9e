"""Gadget Zero — counterpart of Linux's drivers/usb/gadget/legacy/zero.c with its two functions,
drivers/usb/gadget/function/f_sourcesink.c and f_loopback.c: the device usbtest and testusb
are written against (0525:a4a0).

Two configurations, as g_zero registers them: source/sink (bConfigurationValue 3, "source
and sink data") listed first, and loopback (2, "loop input to output"); `loopdefault=True`
lists loopback first.  Descriptors are built per speed from f_sourcesink's and f_loopback's
tables (high speed: 512-byte bulk, 1024-byte isochronous; full speed: 64 and 1023), with the
other speed's set behind DEVICE_QUALIFIER / OTHER_SPEED_CONFIGURATION.  Endpoint addresses
are the ones usb_ep_autoconfig() gives on dummy_hcd's fixed endpoints (ep1in-bulk 0x81,
ep2out-bulk 0x02, ep3in-iso 0x83, ep4out-iso 0x04, ep5in-int 0x85), string ids the ones
composite.c hands out (manufacturer "Linux <release> with <udc>", as composite_default_mfr()
writes it, and bcdDevice the kernel version, as get_default_bcdDevice() does).

Source/sink: interface 0 altsetting 0 has bulk IN/OUT, altsetting 1 adds isochronous IN/OUT.
With `interrupt=True` an altsetting 2 holds an interrupt IN/OUT pair (0x85, 0x06): this
model's addition, off by default, for Linux 6.12's f_sourcesink has no interrupt endpoints
(though usbtest's gadget-zero entry still asks for them, `intr`); with it, usbtest's cases
25 and 26 run against source/sink with `usbtest alt=2`.  Every IN endpoint sources
`pattern` data (0: zeros, 1: mod63, byte i = (i % maxpacket) % 63; 2: none, sent as zeros);
bulk and interrupt OUT data is checked against the pattern and a mismatch halts the OUT
endpoint after the transfer completes, as check_read_data() does; isochronous OUT is
discarded.  Vendor requests 0x5b (bmRequestType 0x40: store up to 4096 bytes) and
0x5c (0xc0: return them) work in this configuration only, as sourcesink_setup() does.

Loopback: altsetting 0 is f_loopback's bulk pair — each OUT transfer is queued and returned
on bulk IN in order, ended with a ZLP when it filled a whole number of packets but not its
buffer (`in_req->zero`); at most `qlen` buffers of `buflen` bytes are held, and OUT NAKs
while all are in use.  g_zero's loopback has no interrupt or isochronous endpoints; this
model adds them in a further altsetting 1 (not in Linux): bulk, isochronous (0x83/0x04) and
interrupt (0x85 IN, 0x06 OUT) pairs, each looped back the same way (isochronous OUT packets
that find the queue full are lost, there being no handshake).

What it does not do: SuperSpeed descriptors, OTG, autoresume timers, or the usbtest
guard-byte and unaligned-buffer cases (those are host-side).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import cache
from typing import ClassVar, Final

from ...spec.ch9 import ClassCode, ConfigAttributes, EndpointType, SetupPacket, Speed
from ...spec.descriptors import (
    ConfigDescriptor,
    DescriptorSet,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
    build_descriptors,
)
from ..device import DeviceModel, request
from ..endpoint import Endpoint, Outcome, Stall

# -- g_zero.h / zero.c / composite.c numbers ----------------------------------------------------

GZERO_BULK_BUFLEN: Final = 4096
GZERO_QLEN: Final = 32
GZERO_ISOC_INTERVAL: Final = 4
GZERO_ISOC_MAXPACKET: Final = 1024
USB_COMP_EP0_BUFSIZ: Final = 4096

SOURCESINK_CONFIG: Final = 3
LOOPBACK_CONFIG: Final = 2

BULK_IN: Final = 0x81
BULK_OUT: Final = 0x02
ISO_IN: Final = 0x83
ISO_OUT: Final = 0x04
INT_IN: Final = 0x85
INT_OUT: Final = 0x06

CONTROL_WRITE: Final = 0x5B
CONTROL_READ: Final = 0x5C

MANUFACTURER: Final = "Linux 6.12.0 with dummy_udc"
PRODUCT: Final = "Gadget Zero"
SERIAL: Final = "0123456789.0123456789.0123456789"

# String ids as usb_string_ids_tab() and loopback_bind() allocate them.
_STRINGS: Final = {1: MANUFACTURER, 2: PRODUCT, 3: SERIAL, 4: "source and sink data",
                   5: "loop input to output", 6: "loop input to output"}
_I_SOURCESINK, _I_LOOPBACK, _I_LOOPBACK_INTF = 4, 5, 6

_VENDOR_OUT: Final = 0x40  # USB_DIR_OUT | USB_TYPE_VENDOR
_VENDOR_IN: Final = 0xC0  # USB_DIR_IN | USB_TYPE_VENDOR


# -- descriptors, per speed -------------------------------------------------------------------


@dataclass(frozen=True)
class _SpeedTable:
    """wMaxPacketSize / bInterval per speed, and f_sourcesink's listing order: its
    full-speed tables put the OUT (sink) endpoint first, the high-speed ones the IN."""

    bulk: int
    iso: int
    intr: int
    intr_interval: int
    in_first: bool


_TABLES: Final = {
    Speed.HIGH: _SpeedTable(bulk=512, iso=GZERO_ISOC_MAXPACKET, intr=1024, intr_interval=4,
                            in_first=True),
    Speed.FULL: _SpeedTable(bulk=64, iso=min(GZERO_ISOC_MAXPACKET, 1023), intr=64,
                            intr_interval=1, in_first=False),
}


def _pair(t: _SpeedTable, ep_in: EndpointDescriptor,
          ep_out: EndpointDescriptor) -> tuple[EndpointDescriptor, ...]:
    return (ep_in, ep_out) if t.in_first else (ep_out, ep_in)


def _bulk(t: _SpeedTable) -> tuple[EndpointDescriptor, ...]:
    return _pair(t, EndpointDescriptor.bulk(BULK_IN, t.bulk),
                 EndpointDescriptor.bulk(BULK_OUT, t.bulk))


def _iso(t: _SpeedTable) -> tuple[EndpointDescriptor, ...]:
    return _pair(t, EndpointDescriptor.isochronous(ISO_IN, t.iso, GZERO_ISOC_INTERVAL),
                 EndpointDescriptor.isochronous(ISO_OUT, t.iso, GZERO_ISOC_INTERVAL))


def _intr(t: _SpeedTable) -> tuple[EndpointDescriptor, ...]:
    return _pair(t, EndpointDescriptor.interrupt(INT_IN, t.intr, t.intr_interval),
                 EndpointDescriptor.interrupt(INT_OUT, t.intr, t.intr_interval))


_SELF_POWERED: Final = ConfigAttributes.ONE | ConfigAttributes.SELF_POWERED


def _sourcesink_config(t: _SpeedTable, interrupt: bool) -> ConfigDescriptor:
    vendor = ClassCode.VENDOR_SPEC
    return ConfigDescriptor(
        interfaces=(InterfaceDescriptor(vendor, endpoints=_bulk(t)),
                    InterfaceDescriptor(vendor, endpoints=_bulk(t) + _iso(t),
                                        bAlternateSetting=1))
        + ((InterfaceDescriptor(vendor, endpoints=_intr(t), bAlternateSetting=2),)
           if interrupt else ()),
        bConfigurationValue=SOURCESINK_CONFIG, iConfiguration=_I_SOURCESINK,
        bmAttributes=_SELF_POWERED, bMaxPower=1)


def _loopback_config(t: _SpeedTable) -> ConfigDescriptor:
    vendor = ClassCode.VENDOR_SPEC
    return ConfigDescriptor(
        interfaces=(InterfaceDescriptor(vendor, endpoints=_bulk(t),
                                        iInterface=_I_LOOPBACK_INTF),
                    InterfaceDescriptor(vendor, endpoints=_bulk(t) + _iso(t) + _intr(t),
                                        bAlternateSetting=1, iInterface=_I_LOOPBACK_INTF)),
        bConfigurationValue=LOOPBACK_CONFIG, iConfiguration=_I_LOOPBACK,
        bmAttributes=_SELF_POWERED, bMaxPower=1)


def _configs(speed: Speed, loopdefault: bool,
             interrupt: bool) -> tuple[ConfigDescriptor, ...]:
    t = _TABLES[speed]
    pair = (_sourcesink_config(t, interrupt), _loopback_config(t))
    return pair[::-1] if loopdefault else pair


def gadget_zero_descriptor(speed: Speed = Speed.HIGH, loopdefault: bool = False,
                           interrupt: bool = False) -> DeviceDescriptor:
    """The descriptor tree g_zero presents when connected at `speed` (HIGH or FULL), with
    source/sink's interrupt altsetting 2 when `interrupt` is set.

    Context: pure function.  Raises ValueError for another speed.
    """
    if speed not in _TABLES:
        raise ValueError(f"gadget zero runs at high or full speed, not {speed.linux_name}")
    other = Speed.FULL if speed == Speed.HIGH else Speed.HIGH
    return DeviceDescriptor(
        idVendor=0x0525, idProduct=0xA4A0, bcdDevice=0x0612, bcdUSB=0x0200,
        bDeviceClass=ClassCode.VENDOR_SPEC, bMaxPacketSize0=64,
        iManufacturer=1, iProduct=2, iSerialNumber=3,
        configurations=_configs(speed, loopdefault, interrupt),
        other_speed_configurations=_configs(other, loopdefault, interrupt),
        strings=_STRINGS,
    )


@cache
def _descriptor_set(speed: Speed, loopdefault: bool, interrupt: bool) -> DescriptorSet:
    """`gadget_zero_descriptor` built, once per set of options (shared by every instance)."""
    return build_descriptors(gadget_zero_descriptor(speed, loopdefault, interrupt))


# -- data patterns ----------------------------------------------------------------------------

_CHECK_SPAN: Final = 64 * 1024


@cache
def pattern_bytes(pattern: int, maxpacket: int, length: int) -> bytes:
    """`length` bytes of source/sink pattern for endpoints of `maxpacket` bytes:
    0 (and 2) all zeros, 1 mod63 — byte i is (i % maxpacket) % 63, as reinit_write_data()."""
    if pattern != 1:
        return bytes(length)
    packet = bytes(i % 63 for i in range(maxpacket))
    whole, rest = divmod(length, maxpacket)
    return packet * whole + packet[:rest]


class _SourceSink:
    """f_sourcesink's data side: pattern source on IN, pattern check on OUT, per endpoint
    (bulk and this model's interrupt pair alike); isochronous OUT is discarded."""

    __slots__ = ("_check", "_source", "buflen", "pattern")

    def __init__(self, pattern: int, buflen: int) -> None:
        self.pattern = pattern
        self.buflen = buflen
        self._source: dict[int, bytes] = {}
        self._check: dict[int, bytes] = {}

    def enable(self, model: DeviceModel) -> None:
        """set_alt(): (re)bind every active endpoint of the interface."""
        for ep in model.endpoints():
            maxp = ep.maxpacket
            if ep.is_in:
                # an isochronous IN request is one (micro)frame's worth, a bulk one buflen
                size = maxp * ep.mult if ep.type == EndpointType.ISOC else self.buflen
                self._source[ep.address] = pattern_bytes(self.pattern, maxp, size)
                ep.in_handler = self._source_in
            elif ep.type == EndpointType.ISOC:
                ep.out_handler = self._iso_out
            else:
                span = -(-max(self.buflen, _CHECK_SPAN) // maxp) * maxp
                self._check[ep.address] = pattern_bytes(self.pattern, maxp, span)
                ep.out_handler = self._sink_out

    def _source_in(self, ep: Endpoint, room: int) -> bytes:
        return self._source[ep.address]

    def _sink_out(self, ep: Endpoint, data: memoryview) -> None:
        if self.pattern == 2:
            return
        check = self._check[ep.address]
        span = len(check)
        for offset in range(0, len(data), span):
            if not check.startswith(data[offset:offset + span]):
                ep.halt()  # "bad OUT byte": the transfer completed, the endpoint halts
                return

    def _iso_out(self, ep: Endpoint, data: memoryview) -> None:
        return None


class _LoopQueue:
    """One looped endpoint pair: OUT transfers held in at most `qlen` buffers of `buflen`
    bytes and given back on IN in order (f_loopback's request recycling)."""

    __slots__ = ("_entries", "_in_waiting", "_model", "_out_blocked", "_zlp_due", "buflen",
                 "in_address", "out_address", "qlen", "used", "zlp")

    def __init__(self, model: DeviceModel, in_address: int, out_address: int, qlen: int,
                 buflen: int, *, zlp: bool) -> None:
        self._model = model
        self.in_address = in_address
        self.out_address = out_address
        self.qlen = qlen
        self.buflen = buflen
        self.zlp = zlp
        self.used = 0
        self._entries: deque[tuple[bytes, int, bool]] = deque()
        self._zlp_due = False
        self._in_waiting = False
        self._out_blocked = False

    def __len__(self) -> int:
        """Transfers held and not yet given back."""
        return len(self._entries)

    def reset(self) -> None:
        """Drop everything held (the endpoints were disabled)."""
        self._entries.clear()
        self.used = 0
        self._zlp_due = self._in_waiting = self._out_blocked = False

    def bind(self, ep_in: Endpoint | None, ep_out: Endpoint | None) -> None:
        if ep_in is not None:
            ep_in.in_handler = self._in
        if ep_out is not None:
            ep_out.out_handler = self._out

    def _out(self, ep: Endpoint, data: memoryview) -> Outcome | None:
        if self.used >= self.qlen:
            self._out_blocked = True
            return Outcome.NAK
        size = len(data)
        slots = max(1, -(-size // self.buflen))
        # in_req->zero: the last buffer was not filled, so a full last packet needs a ZLP.
        zlp = self.zlp and (size % self.buflen != 0 or size == 0)
        self._entries.append((bytes(data), slots, zlp))
        self.used += slots
        if self._in_waiting:
            self._in_waiting = False
            self._wake(self.in_address)
        return None

    def _in(self, ep: Endpoint, room: int) -> bytes | None:
        if self._zlp_due:
            self._zlp_due = False
            return b""
        if not self._entries:
            self._in_waiting = True
            return None
        data, slots, zlp = self._entries.popleft()
        self.used -= slots
        self._zlp_due = zlp and bool(data) and not len(data) % ep.maxpacket
        if self._out_blocked:
            self._out_blocked = False
            self._wake(self.out_address)
        return data

    def _wake(self, address: int) -> None:
        ep = self._model.endpoint(address)
        if ep is not None:
            ep.notify_ready()


class _Loopback:
    """f_loopback's data side, with this model's interrupt and isochronous additions."""

    __slots__ = ("queues",)

    def __init__(self, model: DeviceModel, qlen: int, buflen: int) -> None:
        self.queues = {
            EndpointType.BULK: _LoopQueue(model, BULK_IN, BULK_OUT, qlen, buflen, zlp=True),
            EndpointType.INT: _LoopQueue(model, INT_IN, INT_OUT, qlen, buflen, zlp=True),
            EndpointType.ISOC: _LoopQueue(model, ISO_IN, ISO_OUT, qlen, buflen, zlp=False),
        }

    def enable(self, model: DeviceModel) -> None:
        """set_alt(): fresh queues bound to the active endpoints."""
        for queue in self.queues.values():
            queue.reset()
            queue.bind(model.endpoint(queue.in_address), model.endpoint(queue.out_address))

    def reset(self) -> None:
        for queue in self.queues.values():
            queue.reset()


# -- the model --------------------------------------------------------------------------------


class GadgetZero(DeviceModel):
    """g_zero: source/sink and loopback configurations for usbtest-style testing.

    Options (zero.c's module parameters): `speed` HIGH or FULL, `loopdefault`, `pattern`
    (0 zeros, 1 mod63, 2 none), `qlen` (loopback buffers) and `buflen` (bytes per buffer);
    and `interrupt`, this model's interrupt source/sink altsetting 2.
    """

    model_name: ClassVar[str] = "zero"
    speed = Speed.HIGH
    descriptor: ClassVar[DeviceDescriptor] = gadget_zero_descriptor()

    def __init__(self, *, speed: Speed = Speed.HIGH, loopdefault: bool = False,
                 pattern: int = 0, qlen: int = GZERO_QLEN,
                 buflen: int = GZERO_BULK_BUFLEN, interrupt: bool = False) -> None:
        if pattern not in (0, 1, 2):
            raise ValueError(f"pattern={pattern!r}: 0 = all zeroes, 1 = mod63, 2 = none")
        if qlen <= 0 or buflen <= 0:
            raise ValueError(f"qlen={qlen!r} and buflen={buflen!r} must be positive")
        super().__init__(_descriptor_set(speed, loopdefault, interrupt), speed=speed)
        self.loopdefault = loopdefault
        self.sourcesink = _SourceSink(pattern, buflen)
        self.loopback = _Loopback(self, qlen, buflen)
        self._control_buffer = bytearray(USB_COMP_EP0_BUFSIZ)

    @property
    def pattern(self) -> int:
        return self.sourcesink.pattern

    def loop_queued(self, kind: EndpointType = EndpointType.BULK) -> int:
        """Loopback transfers of `kind` held and not yet read back by the host."""
        return len(self.loopback.queues[kind])

    # -- configuration changes: composite.c's set_config() / set_alt() --------------------

    def on_configuration(self, config: ConfigDescriptor | None) -> None:
        self._enable()

    def on_interface(self, interface: int, alt: int) -> None:
        self._enable()

    def on_reset(self) -> None:
        self.loopback.reset()

    def on_disconnect(self) -> None:
        self.loopback.reset()

    def _enable(self) -> None:
        value = self.configuration.bConfigurationValue if self.configuration else None
        if value == SOURCESINK_CONFIG:
            self.sourcesink.enable(self)
        elif value == LOOPBACK_CONFIG:
            self.loopback.enable(self)
        else:
            self.loopback.reset()

    # -- sourcesink_setup(): the control-OUT / control-IN test requests -------------------

    def _check_control_test(self, setup: SetupPacket) -> None:
        config = self.configuration
        if (config is None or config.bConfigurationValue != SOURCESINK_CONFIG
                or setup.wValue or setup.wIndex or setup.wLength > USB_COMP_EP0_BUFSIZ):
            raise Stall

    @request(_VENDOR_OUT, CONTROL_WRITE)
    def _control_write(self, setup: SetupPacket, data: bytes) -> None:
        """0x5b: "control WRITE test -- fill the buffer"."""
        self._check_control_test(setup)
        self._control_buffer[:len(data)] = data

    @request(_VENDOR_IN, CONTROL_READ)
    def _control_read(self, setup: SetupPacket, data: bytes) -> bytes:
        """0x5c: "control READ test -- return the buffer"."""
        self._check_control_test(setup)
        return bytes(self._control_buffer[:setup.wLength])
