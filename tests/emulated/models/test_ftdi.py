"""FTDI FT232R and FT2232H models driven with raw setup packets and bulk transfers, as
ftdi_sio would drive them; the divisor arithmetic against Linux's."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usbemu.emulated.endpoint import Outcome
from usbemu.emulated.models import load_model
from usbemu.emulated.models.ftdi import (
    FT232R,
    FT232R_CHIP,
    FT2232H,
    BitMode,
    FtdiChip,
    FtdiDevice,
    FtdiRequest,
    baud_of_divisor,
    divisor_232bm,
    divisor_2232h,
    divisor_of_request,
    eeprom_checksum,
    speed_request,
)
from usbemu.emulated.uart import FlowControl, LineError, Parity, StopBits
from usbemu.spec.ch9 import SetupPacket, Speed
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

GOLDEN_FT232R_DEVICE = bytes((
    0x12,        # bLength
    0x01,        # bDescriptorType (DEVICE)
    0x00, 0x02,  # bcdUSB 2.00
    0x00,        # bDeviceClass (per interface)
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol
    0x08,        # bMaxPacketSize0 8
    0x03, 0x04,  # idVendor 0x0403 (FTDI)
    0x01, 0x60,  # idProduct 0x6001
    0x00, 0x06,  # bcdDevice 6.00 (FT232R)
    0x01,        # iManufacturer "FTDI"
    0x02,        # iProduct "FT232R USB UART"
    0x03,        # iSerialNumber "A50285BI"
    0x01,        # bNumConfigurations
))
GOLDEN_FT232R_CONFIG = bytes((
    0x09,        # bLength
    0x02,        # bDescriptorType (CONFIGURATION)
    0x20, 0x00,  # wTotalLength 32
    0x01,        # bNumInterfaces
    0x01,        # bConfigurationValue
    0x00,        # iConfiguration
    0xA0,        # bmAttributes (bus powered, remote wakeup)
    0x2D,        # bMaxPower 90 mA
    0x09,        # bLength
    0x04,        # bDescriptorType (INTERFACE)
    0x00,        # bInterfaceNumber
    0x00,        # bAlternateSetting
    0x02,        # bNumEndpoints
    0xFF,        # bInterfaceClass (vendor specific)
    0xFF,        # bInterfaceSubClass
    0xFF,        # bInterfaceProtocol
    0x02,        # iInterface "FT232R USB UART"
    0x07,        # bLength
    0x05,        # bDescriptorType (ENDPOINT)
    0x81,        # bEndpointAddress (IN 1)
    0x02,        # bmAttributes (bulk)
    0x40, 0x00,  # wMaxPacketSize 64
    0x00,        # bInterval
    0x07,        # bLength
    0x05,        # bDescriptorType (ENDPOINT)
    0x02,        # bEndpointAddress (OUT 2)
    0x02,        # bmAttributes (bulk)
    0x40, 0x00,  # wMaxPacketSize 64
    0x00,        # bInterval
))
GOLDEN_FT2232H_DEVICE = bytes((
    0x12,        # bLength
    0x01,        # bDescriptorType (DEVICE)
    0x00, 0x02,  # bcdUSB 2.00
    0x00,        # bDeviceClass (per interface)
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol
    0x40,        # bMaxPacketSize0 64
    0x03, 0x04,  # idVendor 0x0403 (FTDI)
    0x10, 0x60,  # idProduct 0x6010
    0x00, 0x07,  # bcdDevice 7.00 (FT2232H)
    0x01,        # iManufacturer "FTDI"
    0x02,        # iProduct "Dual RS232-HS"
    0x00,        # iSerialNumber (none)
    0x01,        # bNumConfigurations
))


def ft2232h_config(dtype: int, maxp_lo: int, maxp_hi: int) -> bytes:
    def interface(number: int, ep_in: int, ep_out: int) -> bytes:
        return bytes((
            0x09,        # bLength
            0x04,        # bDescriptorType (INTERFACE)
            number,      # bInterfaceNumber
            0x00,        # bAlternateSetting
            0x02,        # bNumEndpoints
            0xFF,        # bInterfaceClass (vendor specific)
            0xFF,        # bInterfaceSubClass
            0xFF,        # bInterfaceProtocol
            0x02,        # iInterface "Dual RS232-HS"
            0x07,        # bLength
            0x05,        # bDescriptorType (ENDPOINT)
            ep_in,       # bEndpointAddress (IN)
            0x02,        # bmAttributes (bulk)
            maxp_lo, maxp_hi,  # wMaxPacketSize
            0x00,        # bInterval
            0x07,        # bLength
            0x05,        # bDescriptorType (ENDPOINT)
            ep_out,      # bEndpointAddress (OUT)
            0x02,        # bmAttributes (bulk)
            maxp_lo, maxp_hi,  # wMaxPacketSize
            0x00,        # bInterval
        ))
    return bytes((
        0x09,        # bLength
        dtype,       # bDescriptorType (CONFIGURATION / OTHER_SPEED_CONFIGURATION)
        0x37, 0x00,  # wTotalLength 55
        0x02,        # bNumInterfaces
        0x01,        # bConfigurationValue
        0x00,        # iConfiguration
        0x80,        # bmAttributes (bus powered)
        0xFA,        # bMaxPower 500 mA
    )) + interface(0, 0x81, 0x02) + interface(1, 0x83, 0x04)


GOLDEN_FT2232H_CONFIG = ft2232h_config(0x02, 0x00, 0x02)  # 512-byte packets
GOLDEN_FT2232H_OTHER_SPEED = ft2232h_config(0x07, 0x40, 0x00)  # 64 at full speed
GOLDEN_FT2232H_QUALIFIER = bytes((
    0x0A,        # bLength
    0x06,        # bDescriptorType (DEVICE_QUALIFIER)
    0x00, 0x02,  # bcdUSB 2.00
    0x00,        # bDeviceClass
    0x00,        # bDeviceSubClass
    0x00,        # bDeviceProtocol
    0x40,        # bMaxPacketSize0 64
    0x01,        # bNumConfigurations
    0x00,        # bReserved
))

IDLE = b"\x01\x60"  # modem status (bit 0 always set), line status THRE | TEMT


def vendor_out(model: FtdiDevice, request: int, value: int = 0, index: int = 0) -> Outcome:
    return control_out(model, SetupPacket(0x40, request, value, index))


def vendor_in(model: FtdiDevice, request: int, value: int = 0, index: int = 0,
              length: int = 2) -> bytes:
    return control_in(model, SetupPacket(0xC0, request, value, index, length))


def stalls(model: FtdiDevice, setup: SetupPacket) -> bool:
    return model.control(setup)[0] is Outcome.STALL


def ready(model: FtdiDevice, host: RecordingHost | None = None) -> FtdiDevice:
    """Enumerate and take the status packet the chip sends first."""
    enumerate_model(model, host=host)
    for port in model.serial_ports:
        assert pull(model.endpoint(port.in_address), 512) == (Outcome.DONE, IDLE)
    return model


def packets(data: bytes, maxp: int) -> list[bytes]:
    return [data[i:i + maxp] for i in range(0, len(data), maxp)]


def payload(data: bytes, maxp: int) -> bytes:
    """What ftdi_process_read_urb() keeps: each packet without its two status bytes."""
    return b"".join(p[2:] for p in packets(data, maxp))


# -- descriptors ----------------------------------------------------------------------------------


def test_ft232r_descriptors_are_the_real_parts() -> None:
    assert load_model("ftdi") is FT232R
    model = FT232R()
    assert model.speed is Speed.FULL
    enumerate_model(model, configuration=None)
    assert get_descriptor(model, 0x01) == GOLDEN_FT232R_DEVICE
    assert get_descriptor(model, 0x02) == GOLDEN_FT232R_CONFIG
    assert get_descriptor(model, 0x03, 1, 0x0409) == string_descriptor("FTDI")
    assert get_descriptor(model, 0x03, 2, 0x0409) == string_descriptor("FT232R USB UART")
    assert get_descriptor(model, 0x03, 3, 0x0409) == string_descriptor("A50285BI")
    assert model.control(SetupPacket(0x80, 0x06, 0x0600, 0, 10))[0] is Outcome.STALL


def test_ft2232h_descriptors_are_the_real_parts() -> None:
    assert load_model("ft2232h") is FT2232H
    model = FT2232H()
    assert model.speed is Speed.HIGH
    enumerate_model(model, configuration=None)
    assert get_descriptor(model, 0x01) == GOLDEN_FT2232H_DEVICE
    assert get_descriptor(model, 0x02) == GOLDEN_FT2232H_CONFIG
    assert get_descriptor(model, 0x06) == GOLDEN_FT2232H_QUALIFIER
    assert get_descriptor(model, 0x07) == GOLDEN_FT2232H_OTHER_SPEED
    assert get_descriptor(model, 0x03, 2, 0x0409) == string_descriptor("Dual RS232-HS")


def test_serial_number_option() -> None:
    model = FT2232H(serial="FT4ZL9QB")
    enumerate_model(model, configuration=None)
    assert get_descriptor(model, 0x01)[16] == 3
    assert get_descriptor(model, 0x03, 3, 0x0409) == string_descriptor("FT4ZL9QB")
    no_serial = enumerate_model(FT232R(serial=""), configuration=None)
    assert get_descriptor(no_serial, 0x01)[16] == 0
    with pytest.raises(ValueError, match="buffer_size"):
        FT232R(buffer_size=0)


def test_channels_pair_like_usb_serial_probe() -> None:
    assert [(p.in_address, p.out_address, p.channel) for p in FT2232H().serial_ports] == [
        (0x81, 0x02, 1), (0x83, 0x04, 2)]
    assert [(p.in_address, p.out_address) for p in FT232R().serial_ports] == [(0x81, 0x02)]


# -- bulk IN: the two status bytes ----------------------------------------------------------------


def test_the_first_read_gets_the_status_then_an_idle_chip_naks() -> None:
    model = FT232R()
    enumerate_model(model)
    assert pull(model.endpoint(0x81), 64) == (Outcome.DONE, IDLE)
    assert pull(model.endpoint(0x81), 64) == (Outcome.NAK, b"")


@pytest.mark.parametrize("cls", [FT232R, FT2232H])
@pytest.mark.parametrize("size", [63, 200, 510])
def test_status_bytes_come_off_without_losing_a_byte(cls: type[FtdiDevice], size: int) -> None:
    model = ready(cls())
    maxp = model.endpoint(0x81).maxpacket  # type: ignore[union-attr]
    data = bytes((i * 7) & 0xFF for i in range(size))
    model.serial_port(0).send(data)
    got = b""
    while True:
        outcome, chunk = pull(model.endpoint(0x81), 512)
        if outcome is Outcome.NAK:
            break
        assert outcome is Outcome.DONE
        assert all(p[:2] == IDLE for p in packets(chunk, maxp))
        assert all(len(p) == maxp for p in packets(chunk, maxp)[:-1])
        got += payload(chunk, maxp)
    assert got == data


def test_a_read_is_full_packets_then_a_short_one() -> None:
    model = ready(FT232R())
    model.serial_port(0).send(bytes(range(200)))
    outcome, chunk = pull(model.endpoint(0x81), 512)
    assert outcome is Outcome.DONE
    assert [len(p) for p in packets(chunk, 64)] == [64, 64, 64, 16]


def test_data_ending_on_a_packet_boundary_ends_with_a_status_packet() -> None:
    model = ready(FT232R())
    model.serial_port(0).send(bytes(62))
    outcome, chunk = pull(model.endpoint(0x81), 512)
    assert outcome is Outcome.DONE and len(chunk) == 66 and chunk[64:] == IDLE
    model = ready(FT2232H())
    model.serial_port(1).send(bytes(510))
    outcome, chunk = pull(model.endpoint(0x83), 1024)
    assert outcome is Outcome.DONE and len(chunk) == 514 and chunk[512:] == IDLE


def test_a_read_that_fills_the_host_buffer_ends_there() -> None:
    model = ready(FT232R())
    model.serial_port(0).send(bytes(124))
    assert pull(model.endpoint(0x81), 128) == (Outcome.DONE, (IDLE + bytes(62)) * 2)
    assert pull(model.endpoint(0x81), 128) == (Outcome.NAK, b"")


def test_a_modem_status_change_wakes_the_reader_with_a_status_packet() -> None:
    host = RecordingHost()
    model = ready(FT232R(), host)
    uart = model.serial_port(0)
    assert pull(model.endpoint(0x81), 64) == (Outcome.NAK, b"")
    uart.cts = True
    assert host.ready == [0x81]
    assert pull(model.endpoint(0x81), 64) == (Outcome.DONE, b"\x11\x60")
    uart.set_inputs(dsr=True, ri=True, dcd=True)
    assert pull(model.endpoint(0x81), 64) == (Outcome.DONE, b"\xF1\x60")
    uart.send(b"x")
    assert pull(model.endpoint(0x81), 64) == (Outcome.DONE, b"\xF1\x60x")
    assert pull(model.endpoint(0x81), 64) == (Outcome.NAK, b"")


@pytest.mark.parametrize(("error", "status"), [
    (LineError.PARITY, 0x64), (LineError.FRAMING, 0x68), (LineError.OVERRUN, 0x62),
    (LineError.FRAMING | LineError.PARITY, 0x6C)])
def test_a_line_error_is_in_the_packet_carrying_the_byte(error: LineError, status: int) -> None:
    model = ready(FT232R())
    uart = model.serial_port(0)
    uart.send(b"ab")
    uart.send(b"c", error)
    uart.send(b"de")
    assert pull(model.endpoint(0x81), 512) == (Outcome.DONE, bytes((0x01, status)) + b"abc")
    assert pull(model.endpoint(0x81), 512) == (Outcome.DONE, IDLE + b"de")


def test_a_break_is_a_nul_last_in_a_packet_with_bi() -> None:
    model = ready(FT232R())
    uart = model.serial_port(0)
    uart.send(b"xy")
    uart.send_break()
    assert pull(model.endpoint(0x81), 512) == (Outcome.DONE, b"\x01\x70xy\0")


def test_an_error_byte_that_fills_its_packet_marks_only_that_packet() -> None:
    model = ready(FT232R())
    uart = model.serial_port(0)
    uart.send(bytes(62), LineError.PARITY)
    uart.send(b"z")
    assert pull(model.endpoint(0x81), 512) == (
        Outcome.DONE, b"\x01\x64" + bytes(62) + IDLE + b"z")


def test_line_status_shows_the_transmitter() -> None:
    model = ready(FT232R(buffer_size=4))
    uart = model.serial_port(0)
    assert push(model.endpoint(0x02), b"abc") == (Outcome.DONE, 3)
    assert vendor_in(model, FtdiRequest.GET_MODEM_STATUS) == b"\x01\x20"  # THRE, not TEMT
    assert push(model.endpoint(0x02), b"d") == (Outcome.DONE, 1)
    assert vendor_in(model, FtdiRequest.GET_MODEM_STATUS) == b"\x01\x00"  # full
    uart.send(b"!")
    assert pull(model.endpoint(0x81), 64) == (Outcome.DONE, b"\x01\x00!")
    assert uart.received() == b"abcd"
    assert vendor_in(model, FtdiRequest.GET_MODEM_STATUS) == IDLE


# -- bulk OUT -------------------------------------------------------------------------------------


def test_host_writes_reach_the_uart_without_a_header() -> None:
    model = ready(FT2232H())
    assert push(model.endpoint(0x02), b"to A") == (Outcome.DONE, 4)
    assert push(model.endpoint(0x04), b"to B") == (Outcome.DONE, 4)
    assert model.serial_port(0).received() == b"to A"
    assert model.serial_port(1).received() == b"to B"


def test_a_full_channel_naks_until_the_far_end_reads() -> None:
    host = RecordingHost()
    model = ready(FT232R(buffer_size=128), host)
    assert push(model.endpoint(0x02), bytes(100)) == (Outcome.DONE, 100)
    assert push(model.endpoint(0x02), bytes(64)) == (Outcome.NAK, 0)
    assert model.serial_port(0).received() == bytes(100)
    assert host.ready == [0x02]
    assert push(model.endpoint(0x02), bytes(64)) == (Outcome.DONE, 64)


def test_loopback_frames_the_echo() -> None:
    model = ready(FT2232H(loopback=True))
    assert push(model.endpoint(0x04), b"ping") == (Outcome.DONE, 4)
    assert pull(model.endpoint(0x83), 512) == (Outcome.DONE, IDLE + b"ping")
    assert pull(model.endpoint(0x81), 512) == (Outcome.NAK, b"")


# -- vendor requests ------------------------------------------------------------------------------


def test_reset_sio_restores_the_channel_but_keeps_baud_and_format() -> None:
    model = ready(FT232R())
    uart = model.serial_port(0)
    assert vendor_out(model, FtdiRequest.SET_BAUD_RATE, divisor_232bm(115200)) is Outcome.DONE
    assert vendor_out(model, FtdiRequest.SET_DATA, 0x0207) is Outcome.DONE
    assert vendor_out(model, FtdiRequest.MODEM_CTRL, 0x0303) is Outcome.DONE
    assert vendor_out(model, FtdiRequest.SET_FLOW_CTRL, 0, 0x0200) is Outcome.DONE
    assert vendor_out(model, FtdiRequest.SET_EVENT_CHAR, 0x0141) is Outcome.DONE
    uart.send(b"in")
    assert push(model.endpoint(0x02), b"out") == (Outcome.DONE, 3)
    assert vendor_out(model, FtdiRequest.RESET, 0) is Outcome.DONE
    assert (uart.flow, uart.dtr, uart.rts) == (FlowControl.NONE, False, False)
    assert (uart.baud, uart.data_bits, uart.parity) == (115385, 7, Parity.EVEN)
    port = model.serial_port(0)
    assert (port.event_char, port.event_char_enabled) == (0x0D, False)
    assert uart.pending_in == 0 and uart.pending_out == 0


def test_purges_drop_one_direction_each() -> None:
    model = ready(FT232R())
    uart = model.serial_port(0)
    uart.send(b"in")
    assert push(model.endpoint(0x02), b"out") == (Outcome.DONE, 3)
    assert vendor_out(model, FtdiRequest.RESET, 1) is Outcome.DONE
    assert uart.pending_in == 0 and uart.pending_out == 3
    assert vendor_out(model, FtdiRequest.RESET, 2) is Outcome.DONE
    assert uart.pending_out == 0
    assert vendor_out(model, FtdiRequest.RESET, 3) is Outcome.STALL


def test_modem_ctrl_sets_dtr_and_rts_through_their_enable_masks() -> None:
    model = ready(FT232R())
    uart = model.serial_port(0)
    assert vendor_out(model, FtdiRequest.MODEM_CTRL, 0x0101) is Outcome.DONE
    assert (uart.dtr, uart.rts) == (True, False)
    assert vendor_out(model, FtdiRequest.MODEM_CTRL, 0x0202) is Outcome.DONE
    assert (uart.dtr, uart.rts) == (True, True)
    assert vendor_out(model, FtdiRequest.MODEM_CTRL, 0x0000) is Outcome.DONE  # no enable bit
    assert vendor_out(model, FtdiRequest.MODEM_CTRL, 0x0100) is Outcome.DONE
    assert (uart.dtr, uart.rts) == (False, True)
    assert len(uart.changes) == 3


def test_rts_is_the_chips_own_under_rts_cts_flow_control() -> None:
    model = ready(FT232R())
    uart = model.serial_port(0)
    assert vendor_out(model, FtdiRequest.SET_FLOW_CTRL, 0, 0x0100) is Outcome.DONE
    assert vendor_out(model, FtdiRequest.MODEM_CTRL, 0x0303) is Outcome.DONE
    assert (uart.flow, uart.dtr, uart.rts) == (FlowControl.RTS_CTS, True, False)


@pytest.mark.parametrize(("index", "flow"), [
    (0x0000, FlowControl.NONE), (0x0100, FlowControl.RTS_CTS), (0x0200, FlowControl.DTR_DSR),
    (0x0300, FlowControl.RTS_CTS | FlowControl.DTR_DSR)])
def test_set_flow_ctrl(index: int, flow: FlowControl) -> None:
    model = ready(FT232R())
    assert vendor_out(model, FtdiRequest.SET_FLOW_CTRL, 0x1234, index) is Outcome.DONE
    uart = model.serial_port(0)
    assert uart.flow == flow and (uart.settings.xon, uart.settings.xoff) == (0x11, 0x13)


def test_xon_xoff_flow_control_takes_its_characters_from_wvalue() -> None:
    model = ready(FT232R())
    assert vendor_out(model, FtdiRequest.SET_FLOW_CTRL, 0x9391, 0x0400) is Outcome.DONE
    settings = model.serial_port(0).settings
    assert (settings.flow, settings.xon, settings.xoff) == (FlowControl.XON_XOFF, 0x91, 0x93)
    assert vendor_out(model, FtdiRequest.SET_FLOW_CTRL, 0, 0x0800) is Outcome.STALL


@pytest.mark.parametrize(("baud", "divisor", "actual"), [
    (9600, 0x4138, 9600), (115200, 0x001A, 115385), (3_000_000, 0, 3_000_000),
    (2_000_000, 1, 2_000_000), (289157, 0x1000A, 289157), (921600, 0x8003, 923077)])
def test_set_baud_rate_on_the_ft232r(baud: int, divisor: int, actual: int) -> None:
    model = ready(FT232R())
    assert divisor_232bm(baud) == divisor
    value, index = speed_request(divisor, 0)  # ftdi_sio sends channel 0 to an FT232R
    assert vendor_out(model, FtdiRequest.SET_BAUD_RATE, value, index) is Outcome.DONE
    port = model.serial_port(0)
    assert (port.divisor, port.baud) == (divisor, actual)


@pytest.mark.parametrize(("baud", "divisor", "actual"), [
    (12_000_000, 0x20000, 12_000_000), (8_000_000, 0x20001, 8_000_000),
    (115200, 0x2C068, 115246), (1200, 0x22710, 1200), (300, 0x2710, 300)])
def test_set_baud_rate_on_the_ft2232h(baud: int, divisor: int, actual: int) -> None:
    model = ready(FT2232H())
    assert (divisor_2232h(baud) if baud >= 1200 else divisor_232bm(baud)) == divisor
    value, index = speed_request(divisor, 2)  # channel B
    assert vendor_out(model, FtdiRequest.SET_BAUD_RATE, value, index) is Outcome.DONE
    port = model.serial_port(1)
    assert (port.divisor, port.baud) == (divisor, actual)
    assert model.serial_port(0).baud == 9600


def test_set_data_decodes_bits_parity_stop_and_break() -> None:
    model = ready(FT232R())
    uart = model.serial_port(0)
    cases = [(0x0008, 8, Parity.NONE, StopBits.ONE), (0x0107, 7, Parity.ODD, StopBits.ONE),
             (0x0208, 8, Parity.EVEN, StopBits.ONE), (0x0308, 8, Parity.MARK, StopBits.ONE),
             (0x0408, 8, Parity.SPACE, StopBits.ONE),
             (0x0808, 8, Parity.NONE, StopBits.ONE_AND_HALF),
             (0x1008, 8, Parity.NONE, StopBits.TWO), (0x0005, 8, Parity.NONE, StopBits.ONE)]
    for value, bits, parity, stop in cases:
        assert vendor_out(model, FtdiRequest.SET_DATA, value) is Outcome.DONE
        assert (uart.data_bits, uart.parity, uart.stop_bits, uart.break_on) == (
            bits, parity, stop, False)
    assert vendor_out(model, FtdiRequest.SET_DATA, 0x4008) is Outcome.DONE
    assert uart.break_on
    assert vendor_out(model, FtdiRequest.SET_DATA, 0x0508) is Outcome.STALL
    assert vendor_out(model, FtdiRequest.SET_DATA, 0x1808) is Outcome.STALL


def test_get_modem_status_is_the_status_bytes() -> None:
    model = ready(FT232R())
    model.serial_port(0).set_inputs(cts=True, dcd=True)
    assert vendor_in(model, FtdiRequest.GET_MODEM_STATUS) == b"\x91\x60"
    assert vendor_in(model, FtdiRequest.GET_MODEM_STATUS, length=1) == b"\x91"

    class OriginalSio(FT232R):
        chip: ClassVar[FtdiChip] = replace(FT232R_CHIP, name="SIO", modem_status_bytes=1)

    sio = ready(OriginalSio())
    assert vendor_in(sio, FtdiRequest.GET_MODEM_STATUS) == b"\x01"


def test_event_and_error_characters() -> None:
    model = ready(FT2232H())
    assert vendor_out(model, FtdiRequest.SET_EVENT_CHAR, 0x017E, 2) is Outcome.DONE
    assert vendor_out(model, FtdiRequest.SET_ERROR_CHAR, 0x013F, 2) is Outcome.DONE
    port = model.serial_port(1)
    assert (port.event_char, port.event_char_enabled) == (0x7E, True)
    assert (port.error_char, port.error_char_enabled) == (0x3F, True)
    assert vendor_out(model, FtdiRequest.SET_ERROR_CHAR, 0x0000, 2) is Outcome.DONE
    assert not port.error_char_enabled
    assert model.serial_port(0).event_char_enabled is False


def test_latency_timer() -> None:
    model = ready(FT2232H())
    assert vendor_in(model, FtdiRequest.GET_LATENCY_TIMER, index=1, length=1) == b"\x10"
    assert vendor_out(model, FtdiRequest.SET_LATENCY_TIMER, 1, 1) is Outcome.DONE
    assert vendor_out(model, FtdiRequest.SET_LATENCY_TIMER, 255, 2) is Outcome.DONE
    assert vendor_in(model, FtdiRequest.GET_LATENCY_TIMER, index=1, length=1) == b"\x01"
    assert model.serial_port(1).latency_timer == 255
    assert vendor_out(model, FtdiRequest.SET_LATENCY_TIMER, 0, 1) is Outcome.STALL


def test_read_pins_shows_the_uart_pins() -> None:
    model = ready(FT232R())
    uart = model.serial_port(0)
    assert vendor_in(model, FtdiRequest.READ_PINS, length=1) == b"\xFF"  # all idle high
    assert vendor_out(model, FtdiRequest.MODEM_CTRL, 0x0101) is Outcome.DONE
    uart.cts = True
    assert vendor_in(model, FtdiRequest.READ_PINS, length=1) == bytes((0xFF & ~0x10 & ~0x08,))
    assert vendor_out(model, FtdiRequest.SET_DATA, 0x4008) is Outcome.DONE
    assert vendor_in(model, FtdiRequest.READ_PINS, length=1) == bytes((0xE6,))


def test_set_bitmode_and_cbus_pins() -> None:
    model = ready(FT232R())
    port = model.serial_port(0)
    assert vendor_out(model, FtdiRequest.SET_BITMODE, 0x20F5) is Outcome.DONE
    assert (port.bitmode, port.bitmask) == (BitMode.CBUS, 0xF5)
    assert vendor_in(model, FtdiRequest.READ_PINS, length=1) == b"\x05"
    assert vendor_out(model, FtdiRequest.SET_BITMODE, 0x2035) is Outcome.DONE
    assert vendor_in(model, FtdiRequest.READ_PINS, length=1) == b"\x0D"  # inputs read high
    assert vendor_out(model, FtdiRequest.SET_BITMODE, 0x0000) is Outcome.DONE
    assert port.bitmode is BitMode.RESET
    assert vendor_out(model, FtdiRequest.SET_BITMODE, 0x0300) is Outcome.STALL


def test_read_eeprom_serves_a_consistent_image() -> None:
    model = ready(FT232R())

    def word(address: int) -> int:
        return int.from_bytes(vendor_in(model, FtdiRequest.READ_EEPROM, 0, address), "little")

    assert [word(a) for a in (1, 2, 3)] == [0x0403, 0x6001, 0x0600]
    assert word(4) == 0x2DA0  # bmAttributes, bMaxPower
    assert word(10) == 0x1023  # CBUS0..3: TXLED#, RXLED#, TXDEN, PWREN#: no GPIO
    image = b"".join(word(a).to_bytes(2, "little") for a in range(64))
    assert image == model.eeprom and word(64) == word(0)
    assert int.from_bytes(image[-2:], "little") == eeprom_checksum(image)
    offset, length = image[0x10] & 0x7F, image[0x11]
    assert image[offset:offset + length] == string_descriptor("FT232R USB UART")
    offset, length = image[0x12] & 0x7F, image[0x13]
    assert image[offset:offset + length] == string_descriptor("A50285BI")


def test_eeprom_without_a_serial_number() -> None:
    image = FT2232H().eeprom
    assert image[0x0A] == 0 and image[0x12:0x14] == b"\0\0"
    assert image[0x0E] == 0x80 | 0x1A


def test_channel_selection_and_unknown_requests_stall() -> None:
    one, two = ready(FT232R()), ready(FT2232H())
    assert vendor_out(one, FtdiRequest.SET_LATENCY_TIMER, 5, 1) is Outcome.DONE
    assert vendor_out(one, FtdiRequest.SET_LATENCY_TIMER, 5, 2) is Outcome.STALL
    assert vendor_out(two, FtdiRequest.SET_LATENCY_TIMER, 7, 0) is Outcome.DONE  # 0 is A
    assert two.serial_port(0).latency_timer == 7
    assert vendor_out(two, FtdiRequest.SET_LATENCY_TIMER, 7, 3) is Outcome.STALL
    assert stalls(one, SetupPacket(0x40, 0x08, 0, 0))  # no request 8
    assert stalls(one, SetupPacket(0xC0, FtdiRequest.RESET, 0, 0, 2))  # wrong direction
    assert stalls(one, SetupPacket(0x40, FtdiRequest.READ_EEPROM, 0, 0))
    assert [s.bRequest for s in one.unhandled] == [0x08, 0x00, 0x90]


def test_ftdi_sio_open_sequence_lands_in_the_uart() -> None:
    """What ftdi_open() and ftdi_set_termios() send for 115200 8N1 with CRTSCTS."""
    model = ready(FT2232H())
    uart = model.serial_port(0)
    for request, value, index in [
            (FtdiRequest.RESET, 0, 1), (FtdiRequest.SET_DATA, 0x0008, 1),
            (FtdiRequest.SET_BAUD_RATE, *speed_request(divisor_2232h(115200), 1)),
            (FtdiRequest.SET_FLOW_CTRL, 0, 0x0101), (FtdiRequest.MODEM_CTRL, 0x0303, 1)]:
        assert vendor_out(model, request, value, index) is Outcome.DONE
    assert (uart.baud, uart.data_bits, uart.parity, uart.stop_bits, uart.flow) == (
        115246, 8, Parity.NONE, StopBits.ONE, FlowControl.RTS_CTS)
    assert (uart.dtr, uart.rts) == (True, False)
    assert [(s.baud, s.flow, s.dtr) for s in uart.changes] == [  # RESET, SET_DATA: no change
        (115246, FlowControl.NONE, False), (115246, FlowControl.RTS_CTS, False),
        (115246, FlowControl.RTS_CTS, True)]


# -- divisor arithmetic ---------------------------------------------------------------------------

#: termios rates (B200 … B4000000) an FT232R can represent: the others need a divisor
#: below 2 that is neither 1 nor 1.5, or overflow the 14-bit integer part.
BM_RATES = [200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200,
            230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000,
            3000000]
H_RATES = [1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800,
           500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000,
           3500000, 4000000]


def within_linux_tolerance(actual: int, wanted: int) -> bool:
    """tty_termios_encode_baud_rate() takes a rate within wanted / 50 as matching."""
    return abs(actual - wanted) <= wanted // 50


@given(st.sampled_from(BM_RATES))
def test_bm_decode_inverts_linux_encoding(baud: int) -> None:
    assert within_linux_tolerance(baud_of_divisor(divisor_232bm(baud)), baud)
    value, index = speed_request(divisor_232bm(baud), 0)
    divisor = divisor_of_request(value, index, multi_channel=False)
    assert within_linux_tolerance(baud_of_divisor(divisor), baud)


@given(st.sampled_from(H_RATES))
def test_h_decode_inverts_linux_encoding(baud: int) -> None:
    divisor = divisor_2232h(baud)
    assert within_linux_tolerance(baud_of_divisor(divisor, hispeed=True), baud)
    value, index = speed_request(divisor, 1)
    assert divisor_of_request(value, index, multi_channel=True) == divisor


@given(st.sampled_from(BM_RATES[:4]))
def test_h_chip_below_1200_uses_the_bm_divisor(baud: int) -> None:
    assert within_linux_tolerance(baud_of_divisor(divisor_232bm(baud), hispeed=True), baud)


@given(st.integers(min_value=184, max_value=3_000_000))
def test_bm_decode_is_the_rate_linux_meant(baud: int) -> None:
    """Wherever Linux's eighths-of-a-divisor value is one the chip supports (1, 1.5, >= 2),
    the chip runs at exactly 3 MHz / that value."""
    divisor3 = (48_000_000 + baud) // (2 * baud)  # DIV_ROUND_CLOSEST(48 MHz, 2 * baud)
    if divisor3 < 16 and divisor3 not in (8, 12):
        return
    assert baud_of_divisor(divisor_232bm(baud)) == (2 * 24_000_000 + divisor3) // (2 * divisor3)


@given(st.integers(min_value=0, max_value=(1 << 18) - 1))
def test_every_divisor_decodes_to_a_rate(divisor: int) -> None:
    assert 183 <= baud_of_divisor(divisor, hispeed=True) <= 12_000_000
    assert 183 <= baud_of_divisor(divisor) <= 3_000_000


def test_divisor_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="baud=0"):
        divisor_232bm(0)
    with pytest.raises(ValueError, match="baud=-1"):
        divisor_2232h(-1)
    with pytest.raises(ValueError, match="18 bits"):
        baud_of_divisor(1 << 18)
    assert divisor_232bm(50) == 0xEA60  # the 14-bit integer part overflows, as in Linux
