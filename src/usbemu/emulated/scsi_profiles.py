"""How a disk's firmware fills in what SPC-4 and SBC-3 leave to the device — the identity
and mode data of Linux's f_mass_storage gadget and of QEMU's hw/scsi/scsi-disk.c (with the
geometry guess of hw/block/hd-geometry.c).

A `ScsiProfile` is data a `usbemu.emulated.scsi_target.ScsiLun` reads: its INQUIRY
VERSION and the HiSup and CmdQue bits, whether it powers on with a unit attention pending,
the mode pages it answers by number and whether MODE SENSE of all pages (3Fh) lists them,
whether MODE SENSE carries a block descriptor, and whether IN data is zero-filled up to the
allocation length.  `GADGET` is what f_mass_storage-like sticks answer (the `ScsiLun`
default); `QEMU_SCSI_DISK` is QEMU's scsi-disk behind its usb-storage, as Linux 6.12 saw it
in the reference capture (INQUIRY 00 00 05 12 1f 00 00 10, MODE SENSE(6) of 3Fh: 100
bytes of mode data in the 192 bytes asked for, residue 0).

What it does not do: the vendor-specific and CD-ROM pages of QEMU (its Apple quirk page,
the audio-control and capabilities pages), a geometry given on QEMU's command line, or
QEMU's DPOFUA option (off by default, as here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, TypeAlias

if TYPE_CHECKING:
    from .scsi_target import Medium, ScsiLun

__all__ = [
    "GADGET",
    "QEMU_SCSI_DISK",
    "ModePage",
    "ScsiProfile",
    "block_descriptor",
    "hd_geometry_guess",
]

#: (unit, changeable) → the page with its two-byte header: the current values, or with
#: `changeable` the mask of what MODE SELECT may change (page control 01b).
ModePage: TypeAlias = Callable[["ScsiLun", bool], bytes]

#: MODE SENSE page codes (SPC-4 §7.5, SBC-3 §6.4).
PAGE_RW_ERROR_RECOVERY: Final = 0x01
PAGE_RIGID_DISK_GEOMETRY: Final = 0x04
PAGE_FLEXIBLE_DISK: Final = 0x05
PAGE_CACHING: Final = 0x08

_SECTOR: Final = 512
_ROTATION_RPM: Final = 5400


@dataclass(frozen=True, slots=True)
class ScsiProfile:
    """The choices one firmware makes; see the module docstring.  `mode_pages` maps a page
    code to its builder; with `all_pages` MODE SENSE of page 3Fh returns them in ascending
    order (otherwise the mode parameter header alone).  `block_descriptor`: MODE SENSE
    returns the short block descriptor (SPC-4 §7.5.5.2) unless DBD is set.  `pad_in_data`:
    commands answered from the unit's own data (everything but READ) return exactly the
    allocation length, zero-filled — QEMU builds them in a zeroed buffer of at least 4096
    bytes — and INQUIRY's ADDITIONAL LENGTH then counts the padding (up to 256 bytes).
    `power_on_attention`: the unit starts, and comes out of a reset, with a POWER ON OR
    RESET unit attention pending (QEMU's disk starts without one, and its usb-storage
    leaves the disk alone on a USB reset)."""

    name: str
    version: int
    mode_pages: Mapping[int, ModePage]
    hisup: bool = False
    cmdque: bool = False
    power_on_attention: bool = True
    all_pages: bool = False
    block_descriptor: bool = False
    pad_in_data: bool = False


def hd_geometry_guess(medium: Medium) -> tuple[int, int, int]:
    """(cylinders, heads, sectors) as QEMU's hd_geometry_guess() makes them when a disk is
    plugged: from the first MS-DOS partition entry whose end head is set (heads = end head
    + 1, sectors = end sector & 63, cylinders what the size gives, 1 to 16383), unless that
    gives more than 16 heads (a BIOS translation: a standard geometry is fine); otherwise
    16 heads of 63 sectors, 2 to 16383 cylinders (also when the first block cannot be
    read).  Counts are of 512-byte sectors.  Context: atomic (reads the first block)."""
    sectors = medium.size // _SECTOR
    try:
        block0 = medium.read(0, 1)[:_SECTOR]
    except OSError:
        block0 = b""
    lchs = _guess_disk_lchs(block0, sectors)
    if lchs is not None and lchs[1] <= 16:
        return lchs
    return min(max(sectors // (16 * 63), 2), 16383), 16, 63


def _guess_disk_lchs(mbr: bytes, sectors: int) -> tuple[int, int, int] | None:
    """guess_disk_lchs(): the logical geometry the MS-DOS partition table implies."""
    if len(mbr) < _SECTOR or mbr[510:512] != b"\x55\xaa":
        return None
    for n in range(4):
        entry = mbr[0x1BE + 16 * n:0x1BE + 16 * (n + 1)]
        end_head, end_sector = entry[5], entry[6] & 63
        if not int.from_bytes(entry[12:16], "little") or not end_head or not end_sector:
            continue
        heads = end_head + 1
        cylinders = sectors // (heads * end_sector)
        if 1 <= cylinders <= 16383:
            return cylinders, heads, end_sector
    return None


def block_descriptor(medium: Medium) -> bytes:
    """The short LBA mode parameter block descriptor: density 0, the number of blocks (0
    past 0xFFFFFF), the block length."""
    blocks = medium.blocks if medium.blocks <= 0xFFFFFF else 0
    return bytes((0,)) + blocks.to_bytes(3, "big") + bytes((0,)) \
        + medium.block_size.to_bytes(3, "big")


def _page(code: int, body: bytes | bytearray) -> bytes:
    return bytes((code, len(body))) + bytes(body)


def _caching_write_through(lun: ScsiLun, changeable: bool) -> bytes:
    """The caching page (SBC-3 §6.4.5) with WCE off and the read cache on, nothing
    changeable."""
    return _page(PAGE_CACHING, bytes(18))


def _caching_write_back(lun: ScsiLun, changeable: bool) -> bytes:
    """QEMU's caching page: WCE set (its drives cache writes by default), and changeable."""
    return _page(PAGE_CACHING, bytes((0x04,)) + bytes(17))


def _rw_error_recovery(lun: ScsiLun, changeable: bool) -> bytes:
    """QEMU's read-write error recovery page: AWRE (automatic write reallocation)."""
    return _page(PAGE_RW_ERROR_RECOVERY, bytes(10) if changeable else b"\x80" + bytes(9))


def _rigid_disk_geometry(lun: ScsiLun, changeable: bool) -> bytes:
    """QEMU's rigid disk geometry page (SBC-3 annex): cylinders and heads of the guessed
    geometry, write precompensation and reduced current from the last cylinder (disabled),
    200 ns step rate, landing zone FFFFFFh, 5400 rpm."""
    body = bytearray(0x16)
    if not changeable:
        cylinders, heads, _ = lun.geometry
        cyl = cylinders.to_bytes(3, "big")
        body[0:3], body[3], body[4:7], body[7:10] = cyl, heads & 0xFF, cyl, cyl
        body[10:12] = (200).to_bytes(2, "big")
        body[12:15] = b"\xff\xff\xff"
        body[18:20] = _ROTATION_RPM.to_bytes(2, "big")
    return _page(PAGE_RIGID_DISK_GEOMETRY, body)


def _flexible_disk(lun: ScsiLun, changeable: bool) -> bytes:
    """QEMU's flexible disk page: 5 Mbit/s, the guessed heads and sectors per track, the
    block size, cylinders (and precompensation and reduced current from the last), 100 µs
    step rate, 1 µs step pulse, 100 µs head settle, 0.1 s motor on and off, 5400 rpm."""
    body = bytearray(0x1E)
    if not changeable:
        cylinders, heads, sectors = lun.geometry
        cyl = (cylinders & 0xFFFF).to_bytes(2, "big")
        body[0:2] = (5000).to_bytes(2, "big")
        body[2], body[3], body[4] = heads & 0xFF, sectors & 0xFF, lun.block_size >> 8
        body[6:8], body[8:10], body[10:12] = cyl, cyl, cyl
        body[13], body[14], body[16], body[17], body[18] = 1, 1, 1, 1, 1
        body[26:28] = _ROTATION_RPM.to_bytes(2, "big")
    return _page(PAGE_FLEXIBLE_DISK, body)


#: f_mass_storage and the USB sticks like it: SCSI-2 INQUIRY, a power-on unit attention,
#: the caching page by number only (write through), no block descriptor.
GADGET: Final = ScsiProfile(
    "gadget", version=2,
    mode_pages=MappingProxyType({PAGE_CACHING: _caching_write_through}))

#: QEMU's scsi-disk (hw/scsi/scsi-disk.c, the defaults of QEMU 2.5 and later): SPC-3
#: (VERSION 5) with HiSup and CmdQue, no unit attention at power-on, pages 01h, 04h, 05h
#: and 08h (WCE set) in MODE SENSE of all pages, a block descriptor, IN data the
#: allocation length long.
QEMU_SCSI_DISK: Final = ScsiProfile(
    "qemu", version=5, hisup=True, cmdque=True, power_on_attention=False,
    mode_pages=MappingProxyType({PAGE_RW_ERROR_RECOVERY: _rw_error_recovery,
                                 PAGE_RIGID_DISK_GEOMETRY: _rigid_disk_geometry,
                                 PAGE_FLEXIBLE_DISK: _flexible_disk,
                                 PAGE_CACHING: _caching_write_back}),
    all_pages=True, block_descriptor=True, pad_in_data=True)
