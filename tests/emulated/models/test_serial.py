"""Generic serial converters driven with raw setup packets and bulk transfers, as a host
would."""

from __future__ import annotations

import pytest

from usbemu.emulated.endpoint import Outcome
from usbemu.emulated.models import load_model
from usbemu.emulated.models.serial import (
    EightPortSerialConverter,
    ModemStatus,
    SerialConverter,
    TwoPortSerialConverter,
    serial_state_notification,
    serial_state_of,
)
from usbemu.emulated.uart import FlowControl, LineError, Uart, UartSettings
from usbemu.spec.ch9 import SetupPacket, Speed
from usbemu.spec.descriptors import string_descriptor
from usbemu.testing import RecordingHost, enumerate_model, get_descriptor, pull, push


def device_descriptor(product_lo: int) -> bytes:
    return bytes((
        0x12,        # bLength
        0x01,        # bDescriptorType (DEVICE)
        0x10, 0x01,  # bcdUSB 1.10
        0x00,        # bDeviceClass (per interface)
        0x00,        # bDeviceSubClass
        0x00,        # bDeviceProtocol
        0x40,        # bMaxPacketSize0 64
        0xFF, 0xFF,  # idVendor 0xffff
        product_lo, 0xFF,  # idProduct 0xfff8 / 0xfff9 / 0xfffa
        0x00, 0x01,  # bcdDevice 1.00
        0x00,        # iManufacturer
        0x00,        # iProduct
        0x00,        # iSerialNumber
        0x01,        # bNumConfigurations
    ))


def config_header(total: int, endpoints: int) -> bytes:
    return bytes((
        0x09,        # bLength
        0x02,        # bDescriptorType (CONFIGURATION)
        total, 0x00,  # wTotalLength
        0x01,        # bNumInterfaces
        0x01,        # bConfigurationValue
        0x00,        # iConfiguration
        0x80,        # bmAttributes (bus powered)
        0x32,        # bMaxPower 50 = 100 mA
        # interface 0
        0x09,        # bLength
        0x04,        # bDescriptorType (INTERFACE)
        0x00,        # bInterfaceNumber
        0x00,        # bAlternateSetting
        endpoints,   # bNumEndpoints
        0xFF,        # bInterfaceClass (vendor specific)
        0x00,        # bInterfaceSubClass
        0x00,        # bInterfaceProtocol
        0x00,        # iInterface
    ))


def bulk_pair(n: int) -> bytes:
    return bytes((
        0x07,        # bLength
        0x05,        # bDescriptorType (ENDPOINT)
        0x80 | n,    # bEndpointAddress (IN n)
        0x02,        # bmAttributes (bulk)
        0x40, 0x00,  # wMaxPacketSize 64
        0x00,        # bInterval
        0x07,        # bLength
        0x05,        # bDescriptorType (ENDPOINT)
        n,           # bEndpointAddress (OUT n)
        0x02,        # bmAttributes (bulk)
        0x40, 0x00,  # wMaxPacketSize 64
        0x00,        # bInterval
    ))


GOLDEN_ONE_PORT_DEVICE = device_descriptor(0xF8)
GOLDEN_ONE_PORT_CONFIG = config_header(32, 2) + bulk_pair(1)
GOLDEN_TWO_PORT_DEVICE = device_descriptor(0xF9)
GOLDEN_TWO_PORT_CONFIG = config_header(53, 5) + bulk_pair(1) + bulk_pair(2) + bytes((
    0x07,        # bLength
    0x05,        # bDescriptorType (ENDPOINT)
    0x83,        # bEndpointAddress (IN 3)
    0x03,        # bmAttributes (interrupt)
    0x10, 0x00,  # wMaxPacketSize 16
    0x01,        # bInterval 1 ms
))
GOLDEN_EIGHT_PORT_DEVICE = device_descriptor(0xFA)
GOLDEN_EIGHT_PORT_CONFIG = config_header(130, 16) + b"".join(bulk_pair(n) for n in range(1, 9))

GOLDEN_STATUS_BLOB = bytes((
    0xA1,        # bmRequestType (device-to-host, class, interface)
    0x20,        # bNotification SERIAL_STATE
    0x00, 0x00,  # wValue
    0x01, 0x00,  # wIndex: port 1
    0x02, 0x00,  # wLength 2
    0x0B, 0x00,  # UART state: DCD | DSR | RI
))


def write(model: SerialConverter, port: int, data: bytes) -> tuple[Outcome, int]:
    """One bulk OUT transfer to serial port `port` (endpoint port + 1)."""
    return push(model.endpoint(port + 1), data)


def read(model: SerialConverter, port: int, size: int = 64) -> tuple[Outcome, bytes]:
    """One bulk IN transfer from serial port `port` (endpoint 0x81 + port)."""
    return pull(model.endpoint(0x81 + port), size)


# -- descriptors --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "cls", "device", "config"), [
    ("serial", SerialConverter, GOLDEN_ONE_PORT_DEVICE, GOLDEN_ONE_PORT_CONFIG),
    ("serial2", TwoPortSerialConverter, GOLDEN_TWO_PORT_DEVICE, GOLDEN_TWO_PORT_CONFIG),
    ("serial8", EightPortSerialConverter, GOLDEN_EIGHT_PORT_DEVICE, GOLDEN_EIGHT_PORT_CONFIG),
])
def test_golden_descriptors(name: str, cls: type[SerialConverter], device: bytes,
                            config: bytes) -> None:
    assert load_model(name) is cls
    model = cls()
    assert model.speed is Speed.FULL
    model.connect(None, None)
    model.bus_reset()
    assert get_descriptor(model, 0x01, length=0x40) == device
    assert get_descriptor(model, 0x02, length=9) == config[:9]
    assert get_descriptor(model, 0x02) == config
    # No strings by default; a full-speed-only device has no qualifier.
    assert model.control(SetupPacket(0x80, 0x06, 0x0300, 0, 0xFF))[0] is Outcome.DONE
    assert model.control(SetupPacket(0x80, 0x06, 0x0301, 0x0409, 0xFF))[0] is Outcome.STALL
    assert model.control(SetupPacket(0x80, 0x06, 0x0600, 0, 10))[0] is Outcome.STALL


def test_optional_strings() -> None:
    model = SerialConverter(manufacturer="usbemu", product="Generic Serial", serial="S1")
    model.connect(None, None)
    model.bus_reset()
    device = get_descriptor(model, 0x01, length=18)
    assert device[14:17] == b"\x01\x02\x03"
    assert get_descriptor(model, 0x03, 2, 0x0409) == string_descriptor("Generic Serial")
    assert get_descriptor(model, 0x03, 3, 0x0409) == bytes(
        (0x06, 0x03, ord("S"), 0, ord("1"), 0))


def test_ports_pair_like_usb_serial_probe() -> None:
    assert [(p.in_address, p.out_address) for p in SerialConverter().serial_ports] == [
        (0x81, 0x01)]
    eight = EightPortSerialConverter()
    assert [(p.in_address, p.out_address) for p in eight.serial_ports] == [
        (0x80 | n, n) for n in range(1, 9)]
    assert eight.serial_port(7).index == 7
    with pytest.raises(IndexError, match=r"ports 0\.\.7"):
        eight.serial_port(8)


# -- byte pipes -----------------------------------------------------------------------------------


def test_host_writes_are_received() -> None:
    model = SerialConverter()
    enumerate_model(model)
    assert write(model, 0, b"AT\r") == (Outcome.DONE, 3)
    assert write(model, 0, b"ATZ\r") == (Outcome.DONE, 4)
    assert model.serial_port(0).pending_out == 7
    assert model.serial_port(0).received() == b"AT\rATZ\r"
    assert model.serial_port(0).received() == b""


def test_sent_data_is_read_by_the_host_and_idle_port_naks() -> None:
    model = SerialConverter()
    enumerate_model(model)
    assert read(model, 0) == (Outcome.NAK, b"")
    model.serial_port(0).send(b"OK\r\n")
    assert read(model, 0) == (Outcome.DONE, b"OK\r\n")
    assert read(model, 0) == (Outcome.NAK, b"")


def test_long_send_is_read_in_packets_and_ends_with_zlp() -> None:
    model = SerialConverter()
    enumerate_model(model)
    data = bytes(range(200))
    model.serial_port(0).send(data)
    assert read(model, 0, 64) == (Outcome.DONE, data[:64])  # the generic driver reads maxp
    assert read(model, 0, 1024) == (Outcome.DONE, data[64:])
    model.serial_port(0).send(bytes(128))
    assert read(model, 0, 1024) == (Outcome.DONE, bytes(128))  # two full packets + ZLP
    assert read(model, 0, 1024) == (Outcome.NAK, b"")


def test_data_sent_before_configuration_waits() -> None:
    model = SerialConverter()
    model.serial_port(0).send(b"boot banner")
    enumerate_model(model)
    assert read(model, 0) == (Outcome.DONE, b"boot banner")


def test_ports_are_independent() -> None:
    model = EightPortSerialConverter()
    enumerate_model(model)
    for n in range(8):
        assert write(model, n, f"to {n}".encode()) == (Outcome.DONE, 4)
        model.serial_port(n).send(f"from {n}".encode())
    for n in reversed(range(8)):
        assert read(model, n) == (Outcome.DONE, f"from {n}".encode())
        assert model.serial_port(n).received() == f"to {n}".encode()
    assert all(read(model, n)[0] is Outcome.NAK for n in range(8))


def test_full_receive_buffer_naks_until_the_model_reads() -> None:
    host = RecordingHost()
    model = SerialConverter(buffer_size=128)
    enumerate_model(model, host=host)
    assert write(model, 0, bytes(100)) == (Outcome.DONE, 100)
    assert write(model, 0, bytes(64)) == (Outcome.NAK, 0)
    assert model.serial_port(0).received() == bytes(100)
    assert host.ready == [0x01]
    assert write(model, 0, bytes(64)) == (Outcome.DONE, 64)
    assert host.wakeups == []


def test_waiting_reader_is_woken_by_send() -> None:
    host = RecordingHost()
    model = TwoPortSerialConverter()
    enumerate_model(model, host=host)
    assert read(model, 1)[0] is Outcome.NAK
    model.serial_port(0).send(b"x")  # another port: nobody waits there
    assert host.ready == []
    model.serial_port(1).send(b"y")
    assert host.ready == [0x82]
    assert host.wakeups == []


def test_loopback_echoes_each_port_on_its_own_in() -> None:
    model = TwoPortSerialConverter(loopback=True)
    enumerate_model(model)
    assert write(model, 0, b"ping 0") == (Outcome.DONE, 6)
    assert write(model, 1, b"ping 1") == (Outcome.DONE, 6)
    assert read(model, 1) == (Outcome.DONE, b"ping 1")
    assert read(model, 0) == (Outcome.DONE, b"ping 0")
    assert model.serial_port(0).received() == b""


def test_loopback_naks_when_the_echo_is_not_read() -> None:
    host = RecordingHost()
    model = SerialConverter(loopback=True, buffer_size=64)
    enumerate_model(model, host=host)
    assert write(model, 0, bytes(64)) == (Outcome.DONE, 64)
    assert write(model, 0, b"1") == (Outcome.NAK, 0)
    assert read(model, 0) == (Outcome.DONE, bytes(64))
    assert host.ready == [0x01]
    assert write(model, 0, b"1") == (Outcome.DONE, 1)
    assert host.wakeups == []


def test_set_interface_keeps_the_pipes_working() -> None:
    model = SerialConverter()
    enumerate_model(model)
    model.serial_port(0).send(b"kept")
    assert model.control(SetupPacket(0x01, 0x0B, 0, 0)) == (Outcome.DONE, 0)
    assert read(model, 0) == (Outcome.DONE, b"kept")
    assert write(model, 0, b"in") == (Outcome.DONE, 2)
    assert model.serial_port(0).received() == b"in"


# -- modem status on the two-port converter's interrupt endpoint ----------------------------------


def test_status_blob_format() -> None:
    status = ModemStatus.DCD | ModemStatus.DSR | ModemStatus.RI
    assert serial_state_notification(1, status) == GOLDEN_STATUS_BLOB


def test_notify_status_is_polled_on_the_interrupt_endpoint() -> None:
    host = RecordingHost()
    model = TwoPortSerialConverter()
    enumerate_model(model, host=host)
    notify = model.endpoint(0x83)
    assert pull(notify, 16) == (Outcome.NAK, b"")
    model.notify_status(1, ModemStatus.DCD | ModemStatus.DSR | ModemStatus.RI)
    model.notify_status(0, ModemStatus.BREAK)
    assert model.pending_notifications == 2
    assert host.ready == [0x83, 0x83]
    assert pull(notify, 16) == (Outcome.DONE, GOLDEN_STATUS_BLOB)
    assert pull(notify, 16) == (Outcome.DONE, bytes.fromhex("a120 0000 0000 0200 0400"))
    assert pull(notify, 16) == (Outcome.NAK, b"")
    with pytest.raises(IndexError):
        model.notify_status(2, ModemStatus.DCD)
    assert host.wakeups == []  # serial converters never signal remote wakeup


def test_input_lines_of_a_port_are_notified_on_the_two_port_converter() -> None:
    host = RecordingHost()
    model = TwoPortSerialConverter()
    enumerate_model(model, host=host)
    port = model.serial_port(1)
    port.set_inputs(dcd=True, dsr=True, ri=True)
    port.cts = True  # not part of the bitmap
    assert host.ready == [0x83]
    assert pull(model.endpoint(0x83), 16) == (Outcome.DONE, GOLDEN_STATUS_BLOB)
    assert pull(model.endpoint(0x83), 16) == (Outcome.NAK, b"")
    assert serial_state_of(port.inputs) == ModemStatus.DCD | ModemStatus.DSR | ModemStatus.RI


def test_every_port_has_a_uart_behind_it() -> None:
    model = SerialConverter(loopback=True)
    enumerate_model(model)
    port = model.serial_port(0)
    assert isinstance(port, Uart) and port.settings == UartSettings()
    port.send(b"OK")
    port.send(b"\r\n")
    port.send(b"!", LineError.PARITY)  # the bare protocol cannot say so: the byte comes alone
    assert read(model, 0) == (Outcome.DONE, b"OK\r\n!")
    port.configure(flow=FlowControl.RTS_CTS)
    assert write(model, 0, b"held") == (Outcome.DONE, 4)
    assert read(model, 0) == (Outcome.NAK, b"")
    port.cts = True
    assert read(model, 0) == (Outcome.DONE, b"held")


def test_vendor_requests_stall() -> None:
    model = SerialConverter()
    enumerate_model(model)
    assert model.control(SetupPacket(0x40, 0x01, 0, 0))[0] is Outcome.STALL
    with pytest.raises(ValueError, match="buffer_size"):
        SerialConverter(buffer_size=0)
