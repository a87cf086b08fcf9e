"""A CDC-ACM virtual COM port — the device Linux's drivers/usb/class/cdc-acm.c drives, in
the shape of STMicroelectronics' "STM32 Virtual ComPort" (0483:5740, the CDC example of the
STM32 USB device library), with the device side of drivers/usb/gadget/function/f_acm.c as
the reference for the requests.

Descriptors: device class 0x02 (subclass 0x02), bcdUSB 2.00, bMaxPacketSize0 64, bcdDevice
2.00, strings "STMicroelectronics" / "STM32 Virtual ComPort" / a serial number; one
self-powered configuration (100 mA) with two interfaces.  Interface 0, communications class
(0x02), subclass ACM (0x02), protocol AT V.25ter (0x01), carries the functional descriptors
Header (bcdCDC 1.10), Call Management (bmCapabilities 0, bDataInterface 1), ACM
(bmCapabilities 0x06: line coding and serial state, SEND_BREAK) and Union (master 0,
slave 1), and interrupt IN 0x83 (16 bytes, every 16 ms: bInterval 16 at full speed, 8 at
high speed).  Interface 1, CDC data (0x0A), has bulk OUT 0x01 and bulk IN 0x81 of 64 bytes
(512 with `high_speed=True`, which makes it a high-speed device with the full-speed
configuration as its other-speed one).

Class requests to interface 0 (bmRequestType 0x21 / 0xA1, wIndex 0; another wIndex or
request STALLs): SET_LINE_CODING (0x20, 7 bytes: dwDTERate, bCharFormat 0/1/2 = 1, 1.5, 2
stop bits, bParityType 0-4, bDataBits 5-8 or 16; other values STALL) and GET_LINE_CODING
(0x21) set and read the UART's settings (115200 8N1 after power-up, as ST's firmware
starts); SET_CONTROL_LINE_STATE (0x22) sets DTR (wValue bit 0) and RTS (bit 1);
SEND_BREAK (0x23) holds the break for 0xFFFF and ends it for 0 — any other duration is a
break raised and ended at once, the model having no clock.  The data interface is a plain
byte pipe to the `Uart` (`uart`, also `serial_port(0)`), NAKed while its buffer is full.

SERIAL_STATE notifications (bmRequestType 0xA1, bNotification 0x20, wValue 0, wIndex 0,
wLength 2, then the bitmap: DCD 0x01, DSR 0x02, break 0x04, RI 0x08, framing 0x10, parity
0x20, overrun 0x40) are queued when the UART's DCD or DSR changes or RI rises (CTS has no
bit), and when the host reads up to a byte the far end sent with an error — the notification
carries the DCD/DSR levels and the error, once; a break's NUL byte is not passed on, since
cdc-acm inserts its own.  Each poll of the interrupt endpoint returns one notification, and
it NAKs when none is queued.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar, Final

from ...spec.cdc import (
    CdcProtocol,
    CdcRequest,
    CdcSubclass,
    LineCoding,
    SerialState,
    acm_functional_descriptors,
    serial_state_notification,
)
from ...spec.ch9 import ClassCode, SetupPacket, Speed
from ...spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
)
from ..device import DeviceModel, endpoint_in, request
from ..endpoint import Endpoint, Stall
from ..uart import LineError, ModemLines, Parity, StopBits, UartSettings
from .serial import SerialPort, UartDevice, serial_state_of

__all__ = ["NOTIFY_ENDPOINT", "AcmPort", "CdcAcm"]

NOTIFY_ENDPOINT: Final = 0x83
NOTIFY_MAXPACKET: Final = 16
DATA_IN: Final = 0x81
DATA_OUT: Final = 0x01
_CONTROL_INTERFACE: Final = 0
_DATA_INTERFACE: Final = 1
_CLASS_OUT: Final = 0x21  # host-to-device, class, interface
_CLASS_IN: Final = 0xA1  # device-to-host, class, interface
_BREAK_ON: Final = 0xFFFF
_BREAK_OFF: Final = 0

_ERROR_BITS: Final = ((LineError.BREAK, SerialState.BREAK),
                      (LineError.FRAMING, SerialState.FRAMING),
                      (LineError.PARITY, SerialState.PARITY),
                      (LineError.OVERRUN, SerialState.OVERRUN))
_LEVELS: Final = SerialState.DCD | SerialState.DSR
_DATA_BITS: Final = frozenset({5, 6, 7, 8, 16})
_POWER_UP: Final = UartSettings(baud=115200)


def _error_state(error: LineError) -> SerialState:
    state = SerialState(0)
    for line_error, bit in _ERROR_BITS:
        if error & line_error:
            state |= bit
    return state


class AcmPort(SerialPort):
    """The UART behind the data interface.  Input-line changes and receive errors go to
    `report` as SERIAL_STATE bitmaps.  Context: every method is atomic and never blocks."""

    __slots__ = ("report",)

    def __init__(self, model: DeviceModel, report: Callable[[SerialState], None], *,
                 loopback: bool = False, buffer_size: int = 64 * 1024) -> None:
        super().__init__(model, 0, DATA_IN, DATA_OUT, loopback=loopback,
                         buffer_size=buffer_size, settings=_POWER_UP)
        self.report = report

    def levels(self) -> SerialState:
        """The steady SERIAL_STATE bits: DCD and DSR as the far end drives them."""
        return serial_state_of(self.inputs) & _LEVELS

    def take_in(self, limit: int) -> memoryview | bytes | None:
        """The next bytes for the host; a byte received with an error is reported, and a
        break's NUL byte is dropped."""
        while True:
            data, error = self.read(limit)
            if data is None or not error:
                return data
            self.report(self.levels() | _error_state(error))
            if error & LineError.BREAK:
                data = data[:-1]
            if data:
                return data

    def lines_changed(self, old: ModemLines, new: ModemLines) -> None:
        before, after = serial_state_of(old), serial_state_of(new)
        ring = after & ~before & SerialState.RI
        if ring or (before ^ after) & _LEVELS:
            self.report(after & _LEVELS | ring)


def _acm_config(maxp: int, interval: int) -> ConfigDescriptor:
    return ConfigDescriptor(
        interfaces=(
            InterfaceDescriptor(
                ClassCode.COMM, CdcSubclass.ACM, CdcProtocol.AT_V25TER,
                endpoints=(EndpointDescriptor.interrupt(NOTIFY_ENDPOINT, NOTIFY_MAXPACKET,
                                                        interval),),
                extra=acm_functional_descriptors(data_interface=_DATA_INTERFACE,
                                                 control_interface=_CONTROL_INTERFACE)),
            InterfaceDescriptor(ClassCode.CDC_DATA, 0, 0,
                                endpoints=(EndpointDescriptor.bulk(DATA_OUT, maxp),
                                           EndpointDescriptor.bulk(DATA_IN, maxp)))),
        bmAttributes=0xC0, bMaxPower=50)


_FULL_SPEED: Final = _acm_config(64, 16)
_HIGH_SPEED: Final = _acm_config(512, 8)


class CdcAcm(UartDevice[AcmPort]):
    """STM32 Virtual ComPort (0483:5740): a CDC-ACM device with one UART, `uart`.

    Options: `loopback`, `buffer_size` (as for the generic converters), `high_speed` (512-byte
    bulk packets at high speed), `serial` (the serial-number string).
    """

    model_name: ClassVar[str] = "acm"
    speed = Speed.FULL
    descriptor: ClassVar[DeviceDescriptor] = DeviceDescriptor(
        idVendor=0x0483, idProduct=0x5740, bcdDevice=0x0200, bcdUSB=0x0200,
        bDeviceClass=ClassCode.COMM, bDeviceSubClass=CdcSubclass.ACM, bMaxPacketSize0=64,
        iManufacturer="STMicroelectronics", iProduct="STM32 Virtual ComPort",
        iSerialNumber="207F33A4534B", configurations=(_FULL_SPEED,),
    )

    def __init__(self, *, loopback: bool = False, buffer_size: int = 64 * 1024,
                 high_speed: bool = False, serial: str = "207F33A4534B") -> None:
        if buffer_size <= 0:
            raise ValueError(f"buffer_size={buffer_size!r} must be positive")
        desc = replace(type(self).descriptor, iSerialNumber=serial,
                       configurations=(_HIGH_SPEED,) if high_speed else (_FULL_SPEED,),
                       other_speed_configurations=(_FULL_SPEED,) if high_speed else ())
        super().__init__(desc, speed=Speed.HIGH if high_speed else Speed.FULL)
        self._notifications: deque[bytes] = deque()
        self._notify_waiting = False
        self._ports = (AcmPort(self, self._queue_state, loopback=loopback,
                               buffer_size=buffer_size),)

    @property
    def uart(self) -> AcmPort:
        """The UART behind the data interface."""
        return self._ports[0]

    @property
    def pending_notifications(self) -> int:
        """SERIAL_STATE notifications queued and not yet read by the host."""
        return len(self._notifications)

    def _queue_state(self, state: SerialState) -> None:
        self._notifications.append(serial_state_notification(_CONTROL_INTERFACE, state))
        if self._notify_waiting:
            self._notify_waiting = False
            ep = self.endpoint(NOTIFY_ENDPOINT)
            if ep is not None:
                ep.notify_ready()

    @endpoint_in(NOTIFY_ENDPOINT)
    def _notification_in(self, ep: Endpoint, room: int) -> bytes | None:
        if self._notifications:
            return self._notifications.popleft()
        self._notify_waiting = True
        return None

    def on_configuration(self, config: ConfigDescriptor | None) -> None:
        self._notify_waiting = False
        super().on_configuration(config)

    # -- class requests (CDC PSTN 1.2 §6.3) -----------------------------------------------

    def _check(self, setup: SetupPacket) -> None:
        if setup.wIndex != _CONTROL_INTERFACE:
            raise Stall

    @request(_CLASS_OUT, CdcRequest.SET_LINE_CODING)
    def _set_line_coding(self, setup: SetupPacket, data: bytes) -> None:
        self._check(setup)
        try:
            coding = LineCoding.from_bytes(data)
        except ValueError:
            raise Stall from None
        if (not coding.dwDTERate or coding.bCharFormat > StopBits.TWO
                or coding.bParityType > Parity.SPACE or coding.bDataBits not in _DATA_BITS):
            raise Stall
        self.uart.configure(baud=coding.dwDTERate, stop_bits=StopBits(coding.bCharFormat),
                            parity=Parity(coding.bParityType), data_bits=coding.bDataBits)

    @request(_CLASS_IN, CdcRequest.GET_LINE_CODING)
    def _get_line_coding(self, setup: SetupPacket, data: bytes) -> bytes:
        self._check(setup)
        s = self.uart.settings
        return LineCoding(s.baud, s.stop_bits, s.parity, s.data_bits).to_bytes()

    @request(_CLASS_OUT, CdcRequest.SET_CONTROL_LINE_STATE)
    def _set_control_line_state(self, setup: SetupPacket, data: bytes) -> None:
        self._check(setup)
        self.uart.configure(dtr=bool(setup.wValue & 0x01), rts=bool(setup.wValue & 0x02))

    @request(_CLASS_OUT, CdcRequest.SEND_BREAK)
    def _send_break(self, setup: SetupPacket, data: bytes) -> None:
        self._check(setup)
        if setup.wValue != _BREAK_OFF:
            self.uart.configure(break_on=True)
        if setup.wValue != _BREAK_ON:
            self.uart.configure(break_on=False)
