"""tshark (Wireshark's dissector, Debian's tshark) reads usbemu's capture files: an
enumeration of gadget zero plus bulk loopback traffic, in pcapng and in pcap, decodes to
the right descriptor fields, endpoints, lengths and statuses for every packet."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from usbemu.bridges.usbmon import capture
from usbemu.core.message import usb_bulk_msg, usb_set_configuration
from usbemu.emulated.models.zero import GadgetZero
from usbemu.linux import usb_rcvbulkpipe, usb_sndbulkpipe
from usbemu.system import System

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark (Debian's tshark) is not installed")

FIELDS = ("usb.urb_type", "usb.transfer_type", "usb.endpoint_address", "usb.device_address",
          "usb.urb_status", "usb.urb_len", "usb.data_len", "usb.idVendor", "usb.idProduct",
          "usb.bEndpointAddress")


def tshark_fields(path: Path) -> list[dict[str, str]]:
    assert TSHARK is not None
    args = [TSHARK, "-r", str(path), "-T", "fields", "-E", "separator=|"]
    for name in FIELDS:
        args += ["-e", name]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout
    return [dict(zip(FIELDS, line.split("|"), strict=True)) for line in out.splitlines()]


@pytest.mark.parametrize("fmt", ["pcapng", "pcap"])
def test_tshark_decodes_an_enumeration_and_bulk_traffic(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"zero.{fmt}"
    payload = bytes(range(100))
    with System() as system:
        system.add_controller()
        with capture(system, path, bus=1, fmt=fmt) as cap:  # type: ignore[arg-type]
            system.plug(GadgetZero(), "1-1")
            system.settle()
            udev = system.find_device("1-1")
            assert udev is not None

            async def traffic() -> bytes:
                assert await usb_set_configuration(udev, 2) == 0      # loopback
                status, _ = await usb_bulk_msg(udev, usb_sndbulkpipe(udev, 2), payload,
                                               len(payload), 1000)
                buf = bytearray(512)
                status2, got = await usb_bulk_msg(udev, usb_rcvbulkpipe(udev, 0x81), buf,
                                                  512, 1000)
                assert status == status2 == 0
                return bytes(buf[:got])

            assert system.run(traffic()) == payload
    rows = tshark_fields(path)
    assert len(rows) == cap.packets
    # every submission is -EINPROGRESS, every completion 0 (none failed here)
    assert {r["usb.urb_status"] for r in rows if r["usb.urb_type"] == "'S'"} == {"-115"}
    assert {r["usb.urb_status"] for r in rows if r["usb.urb_type"] == "'C'"} == {"0"}
    # the device descriptor of gadget zero at address 2
    assert any(r["usb.device_address"] == "2" and r["usb.idVendor"] == "0x0525"
               and r["usb.idProduct"] == "0xa4a0" for r in rows)
    # its configuration's bulk endpoints
    endpoints = {a for r in rows for a in r["usb.bEndpointAddress"].split(",") if a}
    assert {"0x81", "0x02"} <= endpoints
    # the bulk OUT and IN: transfer type 0x03, the endpoint, the lengths
    bulk = [(r["usb.urb_type"], r["usb.endpoint_address"], r["usb.urb_len"],
             r["usb.data_len"]) for r in rows if r["usb.transfer_type"] == "0x03"]
    assert bulk == [("'S'", "0x02", "100", "100"), ("'C'", "0x02", "100", "0"),
                    ("'S'", "0x81", "512", "0"), ("'C'", "0x81", "100", "100")]
