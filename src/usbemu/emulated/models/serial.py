"""Generic USB serial converters — device-side counterpart of the converters Linux's
drivers/usb/serial/generic.c drives, declared the way QEMU's hw/usb/dev-serial.c declares its
FTDI converter (static descriptor tables, small handlers).

Three vendor-specific converters (class 0xff, full speed, 64-byte bulk packets, bcdUSB 1.10,
VID 0xffff) in the shape the usb-serial layer expects: `SerialConverter` (PID 0xfff8, one bulk
IN/OUT pair), `TwoPortSerialConverter` (PID 0xfff9, two pairs plus an interrupt IN endpoint
for modem-status notifications) and `EightPortSerialConverter` (PID 0xfffa, pairs
0x01/0x81 … 0x08/0x88).  Ports are found from the descriptors exactly as usb_serial_probe()
pairs them: the i-th bulk IN and the i-th bulk OUT endpoint make port i.  Each port is a
`SerialPort`: a `Uart` (usbemu.emulated.uart) behind its bulk pair, moving bytes as they are,
so `serial_port(n).received()` takes what the host wrote, `serial_port(n).send()` queues
bytes for the host to read, and `loopback=True` echoes a port's OUT data on its own IN.
`UartDevice` is the base every model with UARTs behind bulk pairs builds on (the FTDI and
CDC-ACM models too).

What they do not do: the generic protocol has no control requests (a vendor request
STALLs), so a port's line settings stay at the UART's power-up values, and a line error the
far end sends is delivered as the bare byte.  On the two-port converter a change of a
port's DCD, DSR or RI queues a status notification.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import ClassVar, Final, Generic, TypeVar

from ...spec.cdc import CdcNotification, SerialState, serial_state_notification
from ...spec.ch9 import ClassCode, EndpointType, Speed
from ...spec.descriptors import (
    ConfigDescriptor,
    DescriptorSet,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from ..device import DeviceModel, endpoint_in
from ..endpoint import Endpoint, Outcome
from ..uart import (
    ByteFifo,
    LinesListener,
    ModemLines,
    Uart,
    UartSettings,
    covering_packets,
    zlp_follows,
)

__all__ = [
    "NOTIFY_ENDPOINT",
    "NOTIFY_MAXPACKET",
    "SERIAL_STATE",
    "ByteFifo",
    "EightPortSerialConverter",
    "ModemStatus",
    "SerialConverter",
    "SerialPort",
    "TwoPortSerialConverter",
    "UartDevice",
    "port_pairs",
    "serial_state_notification",
    "serial_state_of",
]

ModemStatus = SerialState
"""UART state bits of the two-port converter's status notification: the CDC PSTN
SERIAL_STATE bitmap (`usbemu.spec.cdc.SerialState`)."""

SERIAL_STATE: Final = int(CdcNotification.SERIAL_STATE)
"""bNotification of the status blob (CDC SERIAL_STATE)."""

_LEVELS: Final = ((ModemLines.DCD, SerialState.DCD), (ModemLines.DSR, SerialState.DSR),
                  (ModemLines.RI, SerialState.RI))


def serial_state_of(lines: ModemLines) -> SerialState:
    """The SERIAL_STATE levels (DCD, DSR, RI) of a UART's input lines."""
    state = SerialState(0)
    for line, bit in _LEVELS:
        if lines & line:
            state |= bit
    return state


class SerialPort(Uart):
    """One port of a converter: a `Uart` behind a bulk IN/OUT endpoint pair, bytes passed
    as they are.  A read gets whole packets and ends with a short packet, or with a
    zero-length packet when what was there filled whole packets, so it never waits for
    bytes that are not there; a write that does not fit the buffer is NAKed.

    Context: every method is atomic and never blocks; `send` and `received` may be called in
    any device state (data waits until the host reads it or makes room).
    """

    __slots__ = ("_in_waiting", "_model", "_zlp_due", "in_address", "index", "out_address")

    def __init__(self, model: DeviceModel, index: int, in_address: int, out_address: int,
                 *, loopback: bool = False, buffer_size: int = 64 * 1024,
                 settings: UartSettings | None = None) -> None:
        super().__init__(loopback=loopback, buffer_size=buffer_size, settings=settings)
        self._model = model
        self.index = index
        self.in_address = in_address
        self.out_address = out_address
        self._in_waiting = False
        self._zlp_due = False

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.index} in={self.in_address:#04x} "
                f"out={self.out_address:#04x}>")

    # -- endpoint handlers ----------------------------------------------------------------

    def bind(self) -> None:
        """Attach the handlers to the model's active endpoints (after SET_CONFIGURATION or
        SET_INTERFACE created them)."""
        self._in_waiting = self._zlp_due = False
        ep_in = self._model.endpoint(self.in_address)
        ep_out = self._model.endpoint(self.out_address)
        if ep_in is not None:
            ep_in.in_handler = self.serve_in
        if ep_out is not None:
            ep_out.out_handler = self.accept_out

    def serve_in(self, ep: Endpoint, room: int) -> memoryview | bytes | bytearray | None:
        """IN handler: data for a host read with `room` bytes left, None to NAK.

        Offers whole packets covering `room` (more than fits is the host's babble, as on the
        wire); a read that ends on a packet boundary with room left gets a ZLP next.
        """
        if self._zlp_due:
            self._zlp_due = False
            return b""
        maxp = ep.maxpacket
        data = self.take_in(covering_packets(room, maxp))
        if data is None:
            self._in_waiting = True
            return None
        self._zlp_due = zlp_follows(len(data), room, maxp, self.pending_in)
        return data

    def take_in(self, limit: int) -> memoryview | bytes | None:
        """The next at most `limit` bytes for the host, None when there are none.  The bare
        bulk protocol cannot carry line errors, so the bytes come without them."""
        return self.read(limit)[0]

    def accept_out(self, ep: Endpoint, data: memoryview) -> Outcome | None:
        """OUT handler: the host's bytes go to the UART, or NAK while it has no room."""
        return None if self.write(data) else Outcome.NAK

    def data_ready(self) -> None:
        if self._in_waiting:
            self._in_waiting = False
            _notify(self._model, self.in_address)

    def room_ready(self) -> None:
        _notify(self._model, self.out_address)


def _notify(model: DeviceModel, address: int) -> None:
    ep = model.endpoint(address)
    if ep is not None:
        ep.notify_ready()


PortT = TypeVar("PortT", bound=SerialPort)


class UartDevice(DeviceModel, Generic[PortT]):
    """A device model with UARTs behind bulk endpoint pairs: its `serial_ports`, each
    bound to its endpoints whenever a configuration or altsetting creates them.
    Subclasses create the ports in their constructor."""

    def __init__(self, descriptors: DeviceDescriptor | DescriptorSet | None = None, *,
                 speed: Speed | None = None) -> None:
        super().__init__(descriptors, speed=speed)
        self._ports: tuple[PortT, ...] = ()

    @property
    def serial_ports(self) -> tuple[PortT, ...]:
        """Every port, in port-number order."""
        return self._ports

    def serial_port(self, n: int) -> PortT:
        """Port `n` (0-based, as usb-serial numbers them); raises IndexError past the last.

        (Named so because `DeviceModel.port` is the upstream port the model is plugged into.)
        """
        if not 0 <= n < len(self._ports):
            raise IndexError(f"{type(self).__name__} has ports 0..{len(self._ports) - 1}, "
                             f"not {n}")
        return self._ports[n]

    def on_configuration(self, config: ConfigDescriptor | None) -> None:
        if config is not None:
            self._bind()

    def on_interface(self, interface: int, alt: int) -> None:
        self._bind()

    def _bind(self) -> None:
        for port in self._ports:
            port.bind()


# -- descriptors ------------------------------------------------------------------------------

_MAXP: Final = 64
_VENDOR: Final = 0xFFFF
NOTIFY_ENDPOINT: Final = 0x83
NOTIFY_MAXPACKET: Final = 16


def _bulk_pairs(count: int) -> tuple[EndpointDescriptor, ...]:
    """Port n (1-based) uses bulk IN 0x80|n and bulk OUT n."""
    return tuple(ep for n in range(1, count + 1)
                 for ep in (EndpointDescriptor.bulk(0x80 | n, _MAXP),
                            EndpointDescriptor.bulk(n, _MAXP)))


def _converter(product: int, endpoints: tuple[EndpointDescriptor, ...]) -> DeviceDescriptor:
    return DeviceDescriptor(
        idVendor=_VENDOR, idProduct=product, bcdDevice=0x0100, bcdUSB=0x0110,
        bMaxPacketSize0=64,
        configurations=(ConfigDescriptor(
            interfaces=(InterfaceDescriptor(ClassCode.VENDOR_SPEC, 0, 0, endpoints),),
            bmAttributes=0x80, bMaxPower=50),),
    )


def port_pairs(desc: DeviceDescriptor) -> list[tuple[int, int]]:
    """(IN, OUT) address pairs of the first configuration in usb_serial_probe() order: the
    i-th bulk IN with the i-th bulk OUT, over every interface's altsetting 0."""
    first = desc.configurations[0]
    eps = [ep for alt in first.interfaces if alt.bAlternateSetting == 0 for ep in alt.endpoints
           if ep.type == EndpointType.BULK]
    ins = [ep.bEndpointAddress for ep in eps if ep.is_in]
    outs = [ep.bEndpointAddress for ep in eps if not ep.is_in]
    return list(zip(ins, outs, strict=True))


# -- the models -------------------------------------------------------------------------------


class SerialConverter(UartDevice[SerialPort]):
    """One-port generic converter: ffff:fff8, bulk IN 0x81 / OUT 0x01, 64-byte packets.

    `serial_port(0)` is its UART.  Options: `loopback` echoes OUT data on IN; `buffer_size`
    bounds the bytes a port holds of the host's writes (with `loopback`, and of their echo):
    OUT NAKs when full; `manufacturer`, `product`, `serial` add string descriptors.
    """

    model_name: ClassVar[str] = "serial"
    speed = Speed.FULL
    descriptor: ClassVar[DeviceDescriptor] = _converter(0xFFF8, _bulk_pairs(1))

    def __init__(self, *, loopback: bool = False, buffer_size: int = 64 * 1024,
                 manufacturer: str = "", product: str = "", serial: str = "") -> None:
        if buffer_size <= 0:
            raise ValueError(f"buffer_size={buffer_size!r} must be positive")
        desc = type(self).descriptor
        if manufacturer or product or serial:
            desc = replace(desc, iManufacturer=manufacturer, iProduct=product,
                           iSerialNumber=serial)
        super().__init__(desc)
        self._ports = tuple(
            SerialPort(self, i, ep_in, ep_out, loopback=loopback, buffer_size=buffer_size)
            for i, (ep_in, ep_out) in enumerate(port_pairs(desc)))


class TwoPortSerialConverter(SerialConverter):
    """Two-port converter: ffff:fff9, bulk pairs 0x81/0x01 and 0x82/0x02, and interrupt IN
    0x83 (16 bytes, 1 ms) carrying `serial_state_notification` blobs, queued by
    `notify_status` and whenever a port's DCD, DSR or RI changes; the endpoint NAKs when
    none is queued."""

    model_name: ClassVar[str] = "serial2"
    descriptor: ClassVar[DeviceDescriptor] = _converter(
        0xFFF9, (*_bulk_pairs(2),
                 EndpointDescriptor.interrupt(NOTIFY_ENDPOINT, NOTIFY_MAXPACKET, 1)))

    def __init__(self, *, loopback: bool = False, buffer_size: int = 64 * 1024,
                 manufacturer: str = "", product: str = "", serial: str = "") -> None:
        super().__init__(loopback=loopback, buffer_size=buffer_size,
                         manufacturer=manufacturer, product=product, serial=serial)
        self._notifications: deque[bytes] = deque()
        for port in self._ports:
            port.on_inputs.append(self._lines_listener(port.index))

    def _lines_listener(self, index: int) -> LinesListener:
        def changed(old: ModemLines, new: ModemLines) -> None:
            if serial_state_of(old) != serial_state_of(new):
                self.notify_status(index, serial_state_of(new))
        return changed

    def notify_status(self, port: int, status: ModemStatus) -> None:
        """Queue one modem-status blob for `port` (see `serial_state_notification`); each
        poll of the interrupt endpoint returns one.  Raises IndexError for a bad port."""
        self.serial_port(port)
        self._notifications.append(serial_state_notification(port, status))
        _notify(self, NOTIFY_ENDPOINT)

    @property
    def pending_notifications(self) -> int:
        return len(self._notifications)

    @endpoint_in(NOTIFY_ENDPOINT)
    def _status_in(self, ep: Endpoint, room: int) -> bytes | None:
        return self._notifications.popleft() if self._notifications else None


class EightPortSerialConverter(SerialConverter):
    """Eight-port converter: ffff:fffa, bulk pairs 0x81/0x01 … 0x88/0x08."""

    model_name: ClassVar[str] = "serial8"
    descriptor: ClassVar[DeviceDescriptor] = _converter(0xFFFA, _bulk_pairs(8))
