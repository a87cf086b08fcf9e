"""The CDC-ACM model (STM32 Virtual ComPort) driven with raw setup packets and transfers, as
cdc-acm would drive it."""

from __future__ import annotations

import pytest

from usbemu.emulated.endpoint import Outcome
from usbemu.emulated.models import load_model
from usbemu.emulated.models.cdc_acm import CdcAcm
from usbemu.emulated.uart import LineError, Parity, StopBits
from usbemu.spec.cdc import AcmCapability, LineCoding, parse_cdc_header
from usbemu.spec.ch9 import SetupPacket, Speed
from usbemu.spec.config import parse_configuration
from usbemu.spec.descriptors import string_descriptor
from usbemu.testing import (
    RecordingHost,
    control_in,
    control_out,
    enumerate_model,
    get_descriptor,
    pull,
    push,
)

GOLDEN_DEVICE = bytes((
    0x12,        # bLength
    0x01,        # bDescriptorType (DEVICE)
    0x00, 0x02,  # bcdUSB 2.00
    0x02,        # bDeviceClass (communications)
    0x02,        # bDeviceSubClass (ACM)
    0x00,        # bDeviceProtocol
    0x40,        # bMaxPacketSize0 64
    0x83, 0x04,  # idVendor 0x0483 (STMicroelectronics)
    0x40, 0x57,  # idProduct 0x5740
    0x00, 0x02,  # bcdDevice 2.00
    0x01,        # iManufacturer "STMicroelectronics"
    0x02,        # iProduct "STM32 Virtual ComPort"
    0x03,        # iSerialNumber
    0x01,        # bNumConfigurations
))


def golden_config(dtype: int, maxp_lo: int, maxp_hi: int, interval: int) -> bytes:
    return bytes((
        0x09,        # bLength
        dtype,       # bDescriptorType (CONFIGURATION / OTHER_SPEED_CONFIGURATION)
        0x43, 0x00,  # wTotalLength 67
        0x02,        # bNumInterfaces
        0x01,        # bConfigurationValue
        0x00,        # iConfiguration
        0xC0,        # bmAttributes (self powered)
        0x32,        # bMaxPower 100 mA
        # interface 0: communications
        0x09,        # bLength
        0x04,        # bDescriptorType (INTERFACE)
        0x00,        # bInterfaceNumber
        0x00,        # bAlternateSetting
        0x01,        # bNumEndpoints
        0x02,        # bInterfaceClass (communications)
        0x02,        # bInterfaceSubClass (ACM)
        0x01,        # bInterfaceProtocol (AT commands, V.25ter)
        0x00,        # iInterface
        0x05,        # bFunctionLength
        0x24,        # bDescriptorType (CS_INTERFACE)
        0x00,        # bDescriptorSubtype (header)
        0x10, 0x01,  # bcdCDC 1.10
        0x05,        # bFunctionLength
        0x24,        # bDescriptorType (CS_INTERFACE)
        0x01,        # bDescriptorSubtype (call management)
        0x00,        # bmCapabilities
        0x01,        # bDataInterface
        0x04,        # bFunctionLength
        0x24,        # bDescriptorType (CS_INTERFACE)
        0x02,        # bDescriptorSubtype (ACM)
        0x06,        # bmCapabilities (line coding and serial state, send break)
        0x05,        # bFunctionLength
        0x24,        # bDescriptorType (CS_INTERFACE)
        0x06,        # bDescriptorSubtype (union)
        0x00,        # bMasterInterface
        0x01,        # bSlaveInterface0
        0x07,        # bLength
        0x05,        # bDescriptorType (ENDPOINT)
        0x83,        # bEndpointAddress (IN 3)
        0x03,        # bmAttributes (interrupt)
        0x10, 0x00,  # wMaxPacketSize 16
        interval,    # bInterval (16 ms)
        # interface 1: CDC data
        0x09,        # bLength
        0x04,        # bDescriptorType (INTERFACE)
        0x01,        # bInterfaceNumber
        0x00,        # bAlternateSetting
        0x02,        # bNumEndpoints
        0x0A,        # bInterfaceClass (CDC data)
        0x00,        # bInterfaceSubClass
        0x00,        # bInterfaceProtocol
        0x00,        # iInterface
        0x07,        # bLength
        0x05,        # bDescriptorType (ENDPOINT)
        0x01,        # bEndpointAddress (OUT 1)
        0x02,        # bmAttributes (bulk)
        maxp_lo, maxp_hi,  # wMaxPacketSize
        0x00,        # bInterval
        0x07,        # bLength
        0x05,        # bDescriptorType (ENDPOINT)
        0x81,        # bEndpointAddress (IN 1)
        0x02,        # bmAttributes (bulk)
        maxp_lo, maxp_hi,  # wMaxPacketSize
        0x00,        # bInterval
    ))


GOLDEN_CONFIG = golden_config(0x02, 0x40, 0x00, 0x10)
GOLDEN_HS_CONFIG = golden_config(0x02, 0x00, 0x02, 0x08)
GOLDEN_HS_OTHER_SPEED = golden_config(0x07, 0x40, 0x00, 0x10)


def notification(state: int) -> bytes:
    return bytes((
        0xA1,        # bmRequestType (device-to-host, class, interface)
        0x20,        # bNotification (SERIAL_STATE)
        0x00, 0x00,  # wValue
        0x00, 0x00,  # wIndex: interface 0
        0x02, 0x00,  # wLength 2
        state, 0x00,  # UART state bitmap
    ))


def class_out(model: CdcAcm, request: int, value: int = 0, data: bytes = b"",
              index: int = 0) -> Outcome:
    return control_out(model, SetupPacket(0x21, request, value, index, len(data)), data)


def line_coding(model: CdcAcm) -> bytes:
    return control_in(model, SetupPacket(0xA1, 0x21, 0, 0, 7))


def acm(host: RecordingHost | None = None, **options: object) -> CdcAcm:
    model = CdcAcm(**options)  # type: ignore[arg-type]
    enumerate_model(model, host=host)
    return model


# -- descriptors ----------------------------------------------------------------------------------


def test_descriptors_are_those_of_the_stm32_virtual_com_port() -> None:
    assert load_model("acm") is CdcAcm
    model = CdcAcm()
    assert model.speed is Speed.FULL
    enumerate_model(model, configuration=None)
    assert get_descriptor(model, 0x01) == GOLDEN_DEVICE
    assert get_descriptor(model, 0x02) == GOLDEN_CONFIG
    assert get_descriptor(model, 0x03, 1, 0x0409) == string_descriptor("STMicroelectronics")
    assert get_descriptor(model, 0x03, 2, 0x0409) == string_descriptor("STM32 Virtual ComPort")
    assert get_descriptor(model, 0x03, 3, 0x0409) == string_descriptor("207F33A4534B")
    assert model.control(SetupPacket(0x80, 0x06, 0x0600, 0, 10))[0] is Outcome.STALL


def test_high_speed_option() -> None:
    model = CdcAcm(high_speed=True, serial="0001")
    assert model.speed is Speed.HIGH
    enumerate_model(model, configuration=None)
    assert get_descriptor(model, 0x02) == GOLDEN_HS_CONFIG
    assert get_descriptor(model, 0x07) == GOLDEN_HS_OTHER_SPEED
    assert get_descriptor(model, 0x06)[:2] == b"\x0a\x06"
    assert get_descriptor(model, 0x03, 3, 0x0409) == string_descriptor("0001")
    with pytest.raises(ValueError, match="buffer_size"):
        CdcAcm(buffer_size=0)


def test_linux_finds_the_functional_descriptors() -> None:
    parsed = parse_configuration(GOLDEN_CONFIG)
    comm = parsed.config.interfaces[0]
    header = parse_cdc_header(comm.extra)
    assert header.result == 4 and header.notices == ()
    assert header.union is not None and header.union.bSlaveInterfaces == (1,)
    assert header.acm is not None and header.acm.bmCapabilities == (
        AcmCapability.LINE | AcmCapability.BREAK)
    assert header.call_management is not None
    assert header.call_management.bDataInterface == 1


# -- class requests -------------------------------------------------------------------------------


def test_line_coding_starts_at_115200_8n1() -> None:
    model = acm()
    assert line_coding(model) == bytes.fromhex("00c20100 00 00 08".replace(" ", ""))
    assert model.uart.changes == []


def test_set_line_coding_lands_in_the_uart_and_reads_back() -> None:
    model = acm()
    coding = LineCoding(921600, bCharFormat=2, bParityType=3, bDataBits=7).to_bytes()
    assert class_out(model, 0x20, data=coding) is Outcome.DONE
    uart = model.uart
    assert (uart.baud, uart.stop_bits, uart.parity, uart.data_bits) == (
        921600, StopBits.TWO, Parity.MARK, 7)
    assert line_coding(model) == coding
    assert class_out(model, 0x20, data=LineCoding(300, 1, 4, 16).to_bytes()) is Outcome.DONE
    assert (uart.stop_bits, uart.parity, uart.data_bits) == (
        StopBits.ONE_AND_HALF, Parity.SPACE, 16)
    assert len(uart.changes) == 2


@pytest.mark.parametrize("coding", [
    LineCoding(9600, 3).to_bytes(), LineCoding(9600, 0, 5).to_bytes(),
    LineCoding(9600, 0, 0, 9).to_bytes(), LineCoding(0).to_bytes(),
    LineCoding(9600).to_bytes()[:6]])
def test_a_line_coding_the_uart_cannot_have_stalls(coding: bytes) -> None:
    model = acm()
    assert class_out(model, 0x20, data=coding) is Outcome.STALL
    assert model.uart.changes == []


def test_set_control_line_state_drives_dtr_and_rts() -> None:
    model = acm()
    uart = model.uart
    assert class_out(model, 0x22, 0x0003) is Outcome.DONE
    assert (uart.dtr, uart.rts) == (True, True)
    assert class_out(model, 0x22, 0x0001) is Outcome.DONE
    assert (uart.dtr, uart.rts) == (True, False)
    assert class_out(model, 0x22, 0x0000) is Outcome.DONE
    assert (uart.dtr, uart.rts) == (False, False)


def test_send_break_holds_ends_or_pulses_the_break() -> None:
    model = acm()
    uart = model.uart
    assert class_out(model, 0x23, 0xFFFF) is Outcome.DONE
    assert uart.break_on
    assert class_out(model, 0x23, 0x0000) is Outcome.DONE
    assert not uart.break_on
    assert class_out(model, 0x23, 250) is Outcome.DONE
    assert [s.break_on for s in uart.changes] == [True, False, True, False]


def test_other_requests_and_interfaces_stall() -> None:
    model = acm()
    assert class_out(model, 0x22, 0x0003, index=1) is Outcome.STALL
    assert class_out(model, 0x00, data=b"AT\r") is Outcome.STALL  # SEND_ENCAPSULATED_COMMAND
    assert class_out(model, 0x02, 1, data=b"\0\0") is Outcome.STALL  # SET_COMM_FEATURE
    assert model.control(SetupPacket(0xA1, 0x21, 0, 1, 7))[0] is Outcome.STALL
    assert [s.bRequest for s in model.unhandled] == [0x00, 0x02]


# -- the data interface ---------------------------------------------------------------------------


def test_data_flows_both_ways() -> None:
    model = acm()
    assert push(model.endpoint(0x01), b"AT\r") == (Outcome.DONE, 3)
    assert model.uart.received() == b"AT\r"
    assert model.serial_port(0) is model.uart
    model.uart.send(bytes(64))
    assert pull(model.endpoint(0x81), 512) == (Outcome.DONE, bytes(64))  # packet + ZLP
    assert pull(model.endpoint(0x81), 512) == (Outcome.NAK, b"")


def test_loopback_and_a_full_buffer() -> None:
    host = RecordingHost()
    model = acm(host, loopback=True, buffer_size=64)
    assert push(model.endpoint(0x01), bytes(64)) == (Outcome.DONE, 64)
    assert push(model.endpoint(0x01), b"1") == (Outcome.NAK, 0)
    assert pull(model.endpoint(0x81), 512) == (Outcome.DONE, bytes(64))
    assert host.ready == [0x01]
    assert push(model.endpoint(0x01), b"1") == (Outcome.DONE, 1)


# -- SERIAL_STATE notifications -------------------------------------------------------------------


def test_input_line_changes_are_notified() -> None:
    host = RecordingHost()
    model = acm(host)
    notify, uart = model.endpoint(0x83), model.uart
    assert pull(notify, 16) == (Outcome.NAK, b"")
    uart.dcd = True
    assert host.ready == [0x83]
    uart.cts = True  # SERIAL_STATE has no CTS bit
    uart.dsr = True
    uart.ri = True
    uart.ri = False  # the ring is an event, reported when it starts
    uart.dcd = False
    assert model.pending_notifications == 4
    assert [pull(notify, 16)[1] for _ in range(4)] == [
        notification(0x01), notification(0x03), notification(0x0B), notification(0x02)]
    assert pull(notify, 16) == (Outcome.NAK, b"")
    assert host.ready == [0x83]


@pytest.mark.parametrize(("error", "bit"), [
    (LineError.FRAMING, 0x10), (LineError.PARITY, 0x20), (LineError.OVERRUN, 0x40),
    (LineError.PARITY | LineError.OVERRUN, 0x60)])
def test_a_receive_error_is_notified_when_the_host_reads_the_byte(error: LineError,
                                                                  bit: int) -> None:
    model = acm()
    model.uart.dsr = True
    assert pull(model.endpoint(0x83), 16) == (Outcome.DONE, notification(0x02))
    model.uart.send(b"ab", error)
    model.uart.send(b"c")
    assert model.pending_notifications == 0
    assert pull(model.endpoint(0x81), 64) == (Outcome.DONE, b"ab")
    assert pull(model.endpoint(0x83), 16) == (Outcome.DONE, notification(0x02 | bit))
    assert pull(model.endpoint(0x81), 64) == (Outcome.DONE, b"c")
    assert model.pending_notifications == 0


def test_a_break_is_notified_and_its_nul_is_not_passed_on() -> None:
    host = RecordingHost()
    model = acm(host)
    uart = model.uart
    uart.send(b"xy")
    uart.send_break()
    uart.send(b"z")
    assert pull(model.endpoint(0x81), 64) == (Outcome.DONE, b"xy")
    assert pull(model.endpoint(0x81), 64) == (Outcome.DONE, b"z")
    uart.send_break()
    assert pull(model.endpoint(0x81), 64) == (Outcome.NAK, b"")
    assert [pull(model.endpoint(0x83), 16)[1] for _ in range(2)] == [notification(0x04)] * 2


def test_a_looped_back_break_comes_back_as_a_notification() -> None:
    model = acm(loopback=True)
    assert class_out(model, 0x23, 0xFFFF) is Outcome.DONE
    assert pull(model.endpoint(0x81), 64) == (Outcome.NAK, b"")
    assert pull(model.endpoint(0x83), 16) == (Outcome.DONE, notification(0x04))
