"""`usbemu capture`: every URB of a machine built from the machine options, from the root
hub's enumeration on, as a pcapng, pcap or usbmon text file; the format by option or by
the file's suffix; one S and one C per URB; a file that cannot be written is one line."""

from __future__ import annotations

import struct
from pathlib import Path

from click.testing import CliRunner

from usbemu.cli.main import main


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def pcap_packets(data: bytes) -> list[bytes]:
    """The packets of a classic pcap file (little-endian, as written on this host)."""
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, linktype) == (0xA1B2C3D4, 220)
    packets, at = [], 24
    while at < len(data):
        _, _, incl, _ = struct.unpack_from("<IIII", data, at)
        packets.append(data[at + 16:at + 16 + incl])
        at += 16 + incl
    return packets


def test_a_pcap_of_an_enumeration_has_one_submit_and_one_completion_per_urb(
        tmp_path: Path) -> None:
    out = tmp_path / "boot.pcap"
    code, text = invoke("capture", "-w", str(out), "--plug", "pendrive", "--for", "0.1")
    assert code == 0, text
    packets = pcap_packets(out.read_bytes())
    assert text == f"{len(packets)} events written to {out} (pcap)\n"
    kinds: dict[int, str] = {}
    for packet in packets:
        urb_id, kind = struct.unpack_from("<QB", packet)
        kinds[urb_id] = kinds.get(urb_id, "") + chr(kind)
    # every URB submitted and given back once; the root hub's status URB may still wait
    assert all(seq.replace("SC", "") in ("", "S") for seq in kinds.values()), kinds
    # the pen drive's device descriptor read at address 2 is among them (devnum byte 11)
    assert any(p[11] == 2 and p[40:48] == bytes.fromhex("8006000100001200") for p in packets)


def test_the_format_comes_from_the_suffix_or_the_option(tmp_path: Path) -> None:
    text_file = tmp_path / "boot.txt"
    code, text = invoke("capture", "-w", str(text_file), "--for", "0")
    assert code == 0 and text.endswith("(text)\n"), text
    first = text_file.read_text().splitlines()[0].split()
    assert first[2:4] == ["S", "Ci:1:001:0"] and first[5:9] == ["80", "06", "0100", "0000"]
    other = tmp_path / "boot.cap"
    code, text = invoke("capture", "-w", str(other), "--format", "pcap", "--for", "0")
    assert code == 0 and text.endswith("(pcap)\n") and pcap_packets(other.read_bytes())
    default = tmp_path / "boot.pcapng"
    code, text = invoke("capture", "-w", str(default), "--for", "0")
    assert code == 0 and text.endswith("(pcapng)\n")
    assert default.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"   # a section header block


def test_a_file_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    code, text = invoke("capture", "-w", str(tmp_path / "missing" / "x.pcapng"))
    assert code == 1 and text.startswith("usbemu: error: capture: ")
    assert "No such file or directory" in text and text.count("\n") == 1
