"""usbmon capture files (usbemu.bridges.usbmon): pcap and pcapng read back."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from usbemu.bridges.usbmon import LINKTYPE_USB_LINUX_MMAPPED, capture
from usbemu.drivers.usb.mon.mon_bin import BIN_HDR
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.system import System


def read_pcap(data: bytes) -> tuple[int, int, list[tuple[float, int, bytes]]]:
    magic, _, _, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    assert magic == 0xA1B2C3D4
    pos, out = 24, []
    while pos < len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, pos)
        out.append((sec + usec / 1e6, orig, data[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    return snaplen, linktype, out


def read_pcapng(data: bytes) -> tuple[int, int, list[tuple[float, int, bytes]]]:
    pos, out, snaplen, linktype = 0, [], 0, 0
    while pos < len(data):
        kind, total = struct.unpack_from("<II", data, pos)
        assert struct.unpack_from("<I", data, pos + total - 4)[0] == total
        body = data[pos + 8:pos + total - 4]
        if kind == 1:
            linktype, _, snaplen = struct.unpack_from("<HHI", body)
        elif kind == 6:
            _, hi, lo, incl, orig = struct.unpack_from("<IIIII", body)
            out.append((((hi << 32) | lo) / 1e6, orig, body[20:20 + incl]))
        else:
            assert kind == 0x0A0D0D0A
        pos += total
    return snaplen, linktype, out


def run_capture(tmp_path: Path, fmt: str, snaplen: int = 262144) -> bytes:
    path = tmp_path / f"c.{fmt}"
    with System() as system:
        system.modules.autoload = False
        system.add_controller()
        system.sleep(1500)
        with capture(system, path, bus=1, snaplen=snaplen, fmt=fmt):  # type: ignore[arg-type]
            system.plug(PenDrive(), "1-1")
            system.settle()
    return path.read_bytes()


@pytest.mark.parametrize(("fmt", "reader"), [("pcap", read_pcap), ("pcapng", read_pcapng)])
def test_capture_reads_back(tmp_path: Path, fmt: str, reader: object) -> None:
    data = run_capture(tmp_path, fmt)
    snaplen, linktype, packets = reader(data)  # type: ignore[operator]
    assert (snaplen, linktype) == (262144, LINKTYPE_USB_LINUX_MMAPPED)
    headers = [BIN_HDR.unpack_from(p) for _, _, p in packets]
    assert all(ts >= 1.5 for ts, _, _ in packets)
    assert [ts for ts, _, _ in packets] == sorted(ts for ts, _, _ in packets)
    # the device descriptor request to device 2: S with setup, C with 18 bytes
    first = next(i for i, h in enumerate(headers)
                 if h[4] == 2 and h[1] == ord("S") and h[13][:4] == b"\x80\x06\x00\x01")
    h = headers[first]
    assert (h[2], h[3], h[5], h[6], h[7], h[10]) == (2, 0x80, 1, 0, ord("<"), -115)
    done = [(hh, p) for hh, (_, _, p) in zip(headers[first:], packets[first:], strict=True)
            if hh[0] == h[0] and hh[1] == ord("C")]
    assert done[0][1][64:66] == b"\x12\x01" and done[0][0][12] == len(done[0][1]) - 64
    # one S and one C (or E) per URB id
    opened: set[int] = set()
    for hh in headers:
        if hh[1] == ord("S"):
            assert hh[0] not in opened
            opened.add(hh[0])
        else:
            opened.discard(hh[0])
    assert all(len(p) <= 262144 for _, _, p in packets)
    if shutil.which("tshark"):
        path = tmp_path / f"c.{fmt}"
        path.write_bytes(data)
        result = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True,
                                check=False, timeout=25)
        assert result.returncode == 0 and "GET DESCRIPTOR" in result.stdout


def test_capture_is_deterministic_on_virtual_time(tmp_path: Path) -> None:
    a = read_pcap(run_capture(tmp_path, "pcap"))[2]
    b = read_pcap(run_capture(tmp_path, "pcap"))[2]
    assert [(ts, orig, p[8:]) for ts, orig, p in a] == [(ts, orig, p[8:]) for ts, orig, p in b]


def test_snaplen_is_honoured(tmp_path: Path) -> None:
    _, _, packets = read_pcap(run_capture(tmp_path, "pcap", snaplen=70))
    assert max(len(p) for _, _, p in packets) == 70
    assert any(orig > 70 for _, orig, _ in packets)


def test_text_capture(tmp_path: Path) -> None:
    lines = run_capture(tmp_path, "text").decode().splitlines()
    expected = "S Ci:1:002:0 s 80 06 0100 0000 0012 18 <"
    assert any(" ".join(line.split()[2:]) == expected for line in lines)


def test_bad_arguments(tmp_path: Path) -> None:
    with System() as system, pytest.raises(ValueError, match="fmt"):
        capture(system, tmp_path / "x", fmt="bogus")  # type: ignore[arg-type]
    with System() as system, pytest.raises(ValueError, match="snaplen"):
        capture(system, tmp_path / "x", snaplen=10)
