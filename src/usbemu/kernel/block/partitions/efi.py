"""The GUID Partition Table — counterpart of Linux's block/partitions/efi.c.

A GPT disk has a protective MBR (an entry of type 0xEE starting at LBA 1, possibly beside
others: a hybrid MBR), the primary header at LBA 1 with its entry array, and an alternate
header where the primary says (normally the last LBA).  A header counts when its
signature, size, CRC32, my_lba, usable range, entry size and entry-array CRC32 are right;
the primary is used when valid, else the alternate (which is only looked at when the
primary is valid, as without the "gpt" kernel parameter); differences between the two
are warned about as Linux warns ("GPT:Primary header thinks Alt. header is not at the end
of the disk.").  Each used entry inside the disk is partition i+1, with its name (UTF-16
reduced to 7-bit ASCII) for PARTNAME.  Not modelled: the "gpt" parameter and
alternative_gpt_sector.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Final

from ...printk import Level
from .check import ADDPART_FLAG_RAID, ParsedPartitions

if TYPE_CHECKING:
    from ...printk import Printk

__all__ = ["GPT_ENTRY_SIZE", "GPT_HEADER_SIGNATURE", "GPT_HEADER_SIZE", "GptEntry",
           "GptHeader", "efi_crc32", "efi_partition"]

GPT_HEADER_SIGNATURE: Final = 0x5452415020494645  # "EFI PART"
GPT_PRIMARY_PARTITION_TABLE_LBA: Final = 1
#: sizeof(gpt_header) and sizeof(gpt_entry).
GPT_HEADER_SIZE: Final = 92
GPT_ENTRY_SIZE: Final = 128
EFI_PMBR_OSTYPE_EFI_GPT: Final = 0xEE
MSDOS_MBR_SIGNATURE: Final = 0xAA55
#: KMALLOC_MAX_SIZE: the largest entry array read.
KMALLOC_MAX_SIZE: Final = 4 << 20
#: PARTITION_LINUX_RAID_GUID as it is stored (mixed-endian).
PARTITION_LINUX_RAID_GUID: Final = bytes.fromhex("0f889da1fc053b4da006743f0f84911e")
NULL_GUID: Final = bytes(16)
#: How many characters of a partition's name are kept (the 36 UTF-16 units).
PARTITION_NAME_UNITS: Final = 36

_HEADER = struct.Struct("<QIIIIQQQQ16sQIII")
_ENTRY = struct.Struct("<16s16sQQQ72s")


class MbrKind(IntEnum):
    """What is_pmbr_valid() finds."""

    INVALID = 0
    PROTECTIVE = 1
    HYBRID = 2


def efi_crc32(data: bytes) -> int:
    """efi_crc32(): the CRC-32 of the UEFI specification."""
    return zlib.crc32(data) & 0xFFFFFFFF


@dataclass(frozen=True)
class GptHeader:
    """gpt_header (little-endian, 92 bytes used of the block)."""

    signature: int
    revision: int
    header_size: int
    header_crc32: int
    my_lba: int
    alternate_lba: int
    first_usable_lba: int
    last_usable_lba: int
    disk_guid: bytes
    partition_entry_lba: int
    num_partition_entries: int
    sizeof_partition_entry: int
    partition_entry_array_crc32: int

    @classmethod
    def parse(cls, block: bytes) -> GptHeader:
        (sig, rev, size, crc, _reserved, my_lba, alt, first, last, guid, entry_lba, num,
         entry_size, array_crc) = _HEADER.unpack_from(block)
        return cls(sig, rev, size, crc, my_lba, alt, first, last, guid, entry_lba, num,
                   entry_size, array_crc)


@dataclass(frozen=True)
class GptEntry:
    """gpt_entry (128 bytes)."""

    partition_type_guid: bytes
    unique_partition_guid: bytes
    starting_lba: int
    ending_lba: int
    attributes: int
    partition_name: bytes

    @classmethod
    def parse(cls, data: bytes, offset: int) -> GptEntry:
        return cls(*_ENTRY.unpack_from(data, offset))

    def valid(self, lastlba: int) -> bool:
        """is_pte_valid(): a type, and both ends inside the disk."""
        return (self.partition_type_guid != NULL_GUID and self.starting_lba <= lastlba
                and self.ending_lba <= lastlba)

    @property
    def volname(self) -> str:
        """utf16_le_to_7bit(): each unit's low 7 bits, '!' for what is not printable, up
        to the first NUL."""
        out = []
        for (unit,) in struct.iter_unpack("<H", self.partition_name[:2 * PARTITION_NAME_UNITS]):
            char = unit & 0x7F
            if not char:
                break
            out.append(chr(char) if 0x20 <= char < 0x7F else "!")
        return "".join(out)


def _last_lba(state: ParsedPartitions) -> int:
    """last_lba(): the disk's last logical block."""
    return state.disk.capacity * 512 // state.logical_block_size - 1


async def _read_lba(state: ParsedPartitions, lba: int, count: int) -> bytes:
    """read_lba(): up to `count` bytes from logical block `lba` on (fewer when a sector
    cannot be read; nothing past the last block)."""
    if lba > _last_lba(state):
        return b""
    n = lba * (state.logical_block_size // 512)
    chunks: list[bytes] = []
    remaining = count
    while remaining > 0:
        data = await state.read_part_sector(n)
        if data is None:
            break
        chunks.append(data[:remaining])
        remaining -= len(chunks[-1])
        n += 1
    return b"".join(chunks)


def _pmbr_kind(mbr: bytes) -> MbrKind:
    """is_pmbr_valid(): a protective MBR has an entry of type 0xEE starting at LBA 1; with
    other (non-empty) entries it is a hybrid one."""
    if len(mbr) < 512 or struct.unpack_from("<H", mbr, 510)[0] != MSDOS_MBR_SIGNATURE:
        return MbrKind.INVALID
    records = [struct.unpack_from("<4xB3xII", mbr, 446 + 16 * i) for i in range(4)]
    if not any(os_type == EFI_PMBR_OSTYPE_EFI_GPT and start == GPT_PRIMARY_PARTITION_TABLE_LBA
               for os_type, start, _ in records):
        return MbrKind.INVALID
    if any(os_type not in (EFI_PMBR_OSTYPE_EFI_GPT, 0) for os_type, _, _ in records):
        return MbrKind.HYBRID
    return MbrKind.PROTECTIVE


async def _valid_gpt(state: ParsedPartitions, lba: int,
                     log: Printk) -> tuple[GptHeader, bytes] | None:
    """is_gpt_valid(): the header at `lba` and its entry array, or None (the reason is
    logged at debug level, as pr_debug does)."""
    ssz = state.logical_block_size
    block = await _read_lba(state, lba, ssz)
    if len(block) < ssz:
        return None
    gpt = GptHeader.parse(block)
    lastlba = _last_lba(state)
    header_checks = (
        (gpt.signature != GPT_HEADER_SIGNATURE,
         f"GUID Partition Table Header signature is wrong:{gpt.signature} != "
         f"{GPT_HEADER_SIGNATURE}"),
        (gpt.header_size > ssz,
         f"GUID Partition Table Header size is too large: {gpt.header_size} > {ssz}"),
        (gpt.header_size < GPT_HEADER_SIZE,
         f"GUID Partition Table Header size is too small: {gpt.header_size} < "
         f"{GPT_HEADER_SIZE}"),
    )
    if _failed(header_checks, log):
        return None
    crc = efi_crc32(block[:16] + bytes(4) + block[20:gpt.header_size])
    if crc != gpt.header_crc32:
        log.log(Level.DEBUG, f"GUID Partition Table Header CRC is wrong: {crc:x} != "
                             f"{gpt.header_crc32:x}")
        return None
    pt_size = gpt.num_partition_entries * gpt.sizeof_partition_entry
    checks = (
        (gpt.my_lba != lba, f"GPT my_lba incorrect: {gpt.my_lba} != {lba}"),
        (gpt.first_usable_lba > lastlba,
         f"GPT: first_usable_lba incorrect: {gpt.first_usable_lba} > {lastlba}"),
        (gpt.last_usable_lba > lastlba,
         f"GPT: last_usable_lba incorrect: {gpt.last_usable_lba} > {lastlba}"),
        (gpt.last_usable_lba < gpt.first_usable_lba,
         f"GPT: last_usable_lba incorrect: {gpt.last_usable_lba} > {gpt.first_usable_lba}"),
        (gpt.sizeof_partition_entry != GPT_ENTRY_SIZE,
         "GUID Partition Entry Size check failed."),
        (pt_size > KMALLOC_MAX_SIZE,
         f"GUID Partition Table is too large: {pt_size} > {KMALLOC_MAX_SIZE} bytes"),
    )
    if _failed(checks, log) or not pt_size:
        return None
    ptes = await _read_lba(state, gpt.partition_entry_lba, pt_size)
    if len(ptes) < pt_size:
        return None
    if efi_crc32(ptes) != gpt.partition_entry_array_crc32:
        log.log(Level.DEBUG, "GUID Partition Entry Array CRC check failed.")
        return None
    return gpt, ptes


def _failed(checks: Sequence[tuple[bool, str]], log: Printk) -> bool:
    """The first failed check is logged at debug level; whether there was one."""
    reason = next((text for failed, text in checks if failed), None)
    if reason is not None:
        log.log(Level.DEBUG, reason)
    return reason is not None


def _compare_gpts(pgpt: GptHeader, agpt: GptHeader, lastlba: int, log: Printk) -> None:
    """compare_gpts(): warn about each difference between the primary and alternate
    headers, and about an alternate header that is not at the end of the disk."""
    pairs = (
        (pgpt.my_lba != agpt.alternate_lba,
         "GPT:Primary header LBA != Alt. header alternate_lba",
         f"GPT:{pgpt.my_lba} != {agpt.alternate_lba}"),
        (pgpt.alternate_lba != agpt.my_lba,
         "GPT:Primary header alternate_lba != Alt. header my_lba",
         f"GPT:{pgpt.alternate_lba} != {agpt.my_lba}"),
        (pgpt.first_usable_lba != agpt.first_usable_lba,
         "GPT:first_usable_lbas don't match.",
         f"GPT:{pgpt.first_usable_lba} != {agpt.first_usable_lba}"),
        (pgpt.last_usable_lba != agpt.last_usable_lba,
         "GPT:last_usable_lbas don't match.",
         f"GPT:{pgpt.last_usable_lba} != {agpt.last_usable_lba}"),
        (pgpt.disk_guid != agpt.disk_guid, "GPT:disk_guids don't match.", None),
        (pgpt.num_partition_entries != agpt.num_partition_entries,
         f"GPT:num_partition_entries don't match: 0x{pgpt.num_partition_entries:x} != "
         f"0x{agpt.num_partition_entries:x}", None),
        (pgpt.sizeof_partition_entry != agpt.sizeof_partition_entry,
         f"GPT:sizeof_partition_entry values don't match: "
         f"0x{pgpt.sizeof_partition_entry:x} != 0x{agpt.sizeof_partition_entry:x}", None),
        (pgpt.partition_entry_array_crc32 != agpt.partition_entry_array_crc32,
         f"GPT:partition_entry_array_crc32 values don't match: "
         f"0x{pgpt.partition_entry_array_crc32:x} != "
         f"0x{agpt.partition_entry_array_crc32:x}", None),
        (pgpt.alternate_lba != lastlba,
         "GPT:Primary header thinks Alt. header is not at the end of the disk.",
         f"GPT:{pgpt.alternate_lba} != {lastlba}"),
        (agpt.my_lba != lastlba,
         "GPT:Alternate GPT header not at the end of the disk.",
         f"GPT:{agpt.my_lba} != {lastlba}"),
    )
    found = [(text, detail) for failed, text, detail in pairs if failed]
    for text, detail in found:
        log.log(Level.WARNING, text)
        if detail is not None:
            log.log(Level.WARNING, detail)
    if found:
        log.log(Level.WARNING, "GPT: Use GNU Parted to correct GPT errors.")


async def _find_valid_gpt(state: ParsedPartitions, log: Printk) -> tuple[GptHeader,
                                                                         bytes] | None:
    """find_valid_gpt(): a valid protective or hybrid MBR, then the primary GPT (and the
    alternate one it points at); the primary when valid, else the alternate."""
    mbr = await _read_lba(state, 0, 512)
    kind = _pmbr_kind(mbr)
    if kind is MbrKind.INVALID:
        return None
    log.log(Level.DEBUG, f"Device has a {'protective' if kind is MbrKind.PROTECTIVE else 'hybrid'}"
                         " MBR")
    primary = await _valid_gpt(state, GPT_PRIMARY_PARTITION_TABLE_LBA, log)
    alternate = None
    if primary is not None:
        alternate = await _valid_gpt(state, primary[0].alternate_lba, log)
    if primary is None:
        return None
    if alternate is not None:
        _compare_gpts(primary[0], alternate[0], _last_lba(state), log)
    else:
        log.log(Level.WARNING, "Alternate GPT is invalid, using primary GPT.")
    return primary


async def efi_partition(state: ParsedPartitions) -> int:
    """efi_partition(): 1 when the disk has a valid GPT (its partitions recorded in
    `state`), else 0.  Context: may sleep."""
    core = state.disk.core
    assert core is not None
    found = await _find_valid_gpt(state, core.log)
    if found is None:
        return 0
    gpt, ptes = found
    core.log.log(Level.DEBUG, "GUID Partition Table is valid!  Yea!")
    ssz = state.logical_block_size // 512
    lastlba = _last_lba(state)
    for i in range(min(gpt.num_partition_entries, state.limit - 1)):
        pte = GptEntry.parse(ptes, i * GPT_ENTRY_SIZE)
        if not pte.valid(lastlba):
            continue
        size = pte.ending_lba - pte.starting_lba + 1
        state.put_partition(i + 1, pte.starting_lba * ssz, size * ssz)
        slot = state.part(i + 1)
        if pte.partition_type_guid == PARTITION_LINUX_RAID_GUID:
            slot.flags = ADDPART_FLAG_RAID
        slot.volname = pte.volname
    state.pp_buf += "\n"
    return 1
