"""SCSI logical units as a USB disk's firmware answers them — device-side counterpart of QEMU's
hw/scsi/scsi-disk.c and of the SCSI half of Linux's drivers/usb/gadget/function/
f_mass_storage.c.

A `Medium` holds the blocks: `MemoryMedium` in memory, allocated 64 KiB at a time as it is
written, `ImageMedium` in a host file (created or extended sparse).  A `ScsiLun` is one
direct-access logical unit in front of a medium: it answers the commands hosts send USB
disks (INQUIRY with the VPD pages 00h, 80h and 83h, TEST UNIT READY, REQUEST SENSE, READ
CAPACITY (10)/(16), READ and WRITE (6/10/12/16), VERIFY (10), MODE SENSE and MODE SELECT
(6)/(10), PREVENT ALLOW MEDIUM REMOVAL, START STOP UNIT, SYNCHRONIZE CACHE (10)/(16), READ
FORMAT CAPACITIES, REPORT LUNS) with SPC-4/SBC-3 sense data for every error, keeps the
pending sense for the next REQUEST SENSE, raises a unit attention after power-on or reset
(29h/00h) and after a medium change (28h/00h), and models a removable medium (loaded,
ejected, removal prevented).  A `ScsiTarget` puts LUNs behind one transport and answers for
LUNs it does not have, as f_mass_storage does.  `data_phase` tells a transport which way
and how many bytes a command moves, from its CDB alone.

Sans-I/O on the transport side: no endpoints, no USB.  Not covered: other device types
(CD-ROM, tape), protection information, reservations, FORMAT UNIT, UNMAP and WRITE SAME;
there is no write cache (writes reach the medium at once: "write through"), so SYNCHRONIZE
CACHE only flushes the medium's own buffers (fsync for an image).
"""

from __future__ import annotations

import os
import struct
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Final, TypeAlias

from ..errors import Errno
from ..spec.scsi import (
    INVALID_COMMAND_OPCODE,
    INVALID_FIELD_IN_CDB,
    LBA_OUT_OF_RANGE,
    LUN_NOT_SUPPORTED,
    MEDIUM_MAY_HAVE_CHANGED,
    MEDIUM_NOT_PRESENT,
    MEDIUM_REMOVAL_PREVENTED,
    PARAMETER_LIST_LENGTH_ERROR,
    POWER_ON_RESET,
    SAI_READ_CAPACITY_16,
    SAVING_PARAMETERS_NOT_SUPPORTED,
    TYPE_DISK,
    TYPE_NO_LUN,
    UNRECOVERED_READ_ERROR,
    WRITE_ERROR,
    WRITE_PROTECTED,
    Asc,
    InquiryData,
    Opcode,
    SamStatus,
    Sense,
    SenseKey,
    capacity_10,
    capacity_16,
    rw_range,
)
from .scsi_profiles import GADGET, ScsiProfile, block_descriptor, hd_geometry_guess

__all__ = [
    "CHUNK_SIZE",
    "MAX_LUNS",
    "DataPhase",
    "ImageMedium",
    "Medium",
    "MemoryMedium",
    "ScsiLun",
    "ScsiResult",
    "ScsiTarget",
    "cdb_length",
    "data_phase",
    "descriptor_sense",
    "report_luns_data",
]

Buffer: TypeAlias = bytes | bytearray | memoryview

#: MemoryMedium allocates its bytes in chunks of this size, on the first write into each.
CHUNK_SIZE: Final = 64 * 1024
_ZERO_CHUNK: Final = bytes(CHUNK_SIZE)
_ZERO_VIEW: Final = memoryview(_ZERO_CHUNK)

#: The largest number of LUNs a Bulk-Only device may have (bCBWLUN holds 4 bits).
MAX_LUNS: Final = 16


def _checked_block_size(block_size: int) -> int:
    if not 512 <= block_size <= 65536 or block_size & (block_size - 1):
        raise ValueError(f"block_size={block_size!r}: must be a power of two from 512 to 65536")
    return block_size


def _checked_size(size: int, block_size: int) -> int:
    if size <= 0 or size % block_size:
        raise ValueError(f"size={size!r}: must be a positive multiple of the block size "
                         f"({block_size})")
    return size


# -- media ------------------------------------------------------------------------------------


class Medium(ABC):
    """The blocks behind a logical unit: `blocks` logical blocks of `block_size` bytes;
    writes are refused when `read_only` is set.

    Context: every method is atomic — a medium answers at once (as QEMU's synchronous block
    backends do), so a device model can serve a command from an endpoint handler.
    Subclasses implement `read`, `write` and `flush` and call `check_read` / `check_write`
    first.
    """

    block_size: int
    blocks: int
    read_only: bool

    @property
    def size(self) -> int:
        """The medium's capacity in bytes."""
        return self.blocks * self.block_size

    def check_read(self, lba: int, count: int) -> None:
        """Raise ValueError unless blocks lba .. lba+count-1 exist (count may be 0)."""
        if lba < 0 or count < 0 or lba + count > self.blocks:
            raise ValueError(f"blocks {lba}+{count}: the medium has blocks 0..{self.blocks - 1}")

    def check_write(self, lba: int, data: Buffer) -> int:
        """The number of blocks `data` covers at `lba`.  Raises PermissionError (EROFS) on a
        read-only medium, ValueError for data that is not whole blocks or does not fit."""
        if self.read_only:
            raise PermissionError(Errno.EROFS, "the medium is read-only")
        count, rest = divmod(len(data), self.block_size)
        if rest:
            raise ValueError(f"{len(data)} bytes are not whole blocks of {self.block_size}")
        self.check_read(lba, count)
        return count

    @abstractmethod
    def read(self, lba: int, count: int) -> bytes:
        """`count` blocks from `lba`.  Raises ValueError outside the medium, OSError when
        the backing store fails."""

    @abstractmethod
    def write(self, lba: int, data: Buffer) -> None:
        """Store whole blocks at `lba`.  Raises as `check_write` does, OSError when the
        backing store fails."""

    @abstractmethod
    def flush(self) -> None:
        """Make written blocks durable.  Raises OSError when the backing store fails."""


class MemoryMedium(Medium):
    """A medium in memory, zero-filled at first.  Bytes are allocated per 64 KiB chunk on
    the first write of something other than zeros into it, so a 4 GiB disk costs nothing
    until it is written.  Raises ValueError for a size that is not a positive multiple of
    the block size, or a block size that is not a power of two from 512 to 65536."""

    def __init__(self, size: int, *, block_size: int = 512, read_only: bool = False) -> None:
        self.block_size = _checked_block_size(block_size)
        self.blocks = _checked_size(size, block_size) // block_size
        self.read_only = read_only
        self._chunks: dict[int, bytearray] = {}

    def __repr__(self) -> str:
        return (f"<MemoryMedium {self.blocks}x{self.block_size}"
                f"{' ro' if self.read_only else ''} allocated={self.allocated}>")

    @property
    def allocated(self) -> int:
        """Bytes of memory the medium holds (whole chunks)."""
        return len(self._chunks) * CHUNK_SIZE

    def read(self, lba: int, count: int) -> bytes:
        self.check_read(lba, count)
        pos = lba * self.block_size
        end = pos + count * self.block_size
        parts: list[memoryview] = []
        while pos < end:
            index, offset = divmod(pos, CHUNK_SIZE)
            n = min(CHUNK_SIZE - offset, end - pos)
            chunk = self._chunks.get(index)
            parts.append(_ZERO_VIEW[:n] if chunk is None
                         else memoryview(chunk)[offset:offset + n])
            pos += n
        return parts[0].tobytes() if len(parts) == 1 else b"".join(parts)

    def write(self, lba: int, data: Buffer) -> None:
        self.check_write(lba, data)
        view = memoryview(data).cast("B")
        base, done, total = lba * self.block_size, 0, len(view)
        while done < total:
            index, offset = divmod(base + done, CHUNK_SIZE)
            n = min(CHUNK_SIZE - offset, total - done)
            piece = view[done:done + n]
            done += n
            chunk = self._chunks.get(index)
            if chunk is None:
                if piece.tobytes() == _ZERO_CHUNK[:n]:
                    continue
                chunk = self._chunks[index] = bytearray(CHUNK_SIZE)
            chunk[offset:offset + n] = piece

    def flush(self) -> None:
        """Nothing to do: memory is as durable as it gets."""


class ImageMedium(Medium):
    """A medium in a host file (or block device): a disk image.

    A missing file is created, and one shorter than `size` extended, sparse (the file
    system allocates only what is written).  Without `size` the medium is as large as the
    file (whole blocks).  A file longer than `size` keeps its bytes; the medium shows the
    first `size`.  `read_only` opens the file O_RDONLY (it must exist and hold `size`
    bytes); `flush` is fsync.  Raises ValueError for a size the file cannot give or a
    missing file without `size`, OSError when the file cannot be opened or extended.
    """

    def __init__(self, path: str | os.PathLike[str], *, size: int | None = None,
                 read_only: bool = False, block_size: int = 512) -> None:
        self.block_size = _checked_block_size(block_size)
        if size is not None:
            _checked_size(size, block_size)
        self.path = os.fspath(path)
        self.read_only = read_only
        if size is None and not read_only and not os.path.exists(self.path):
            raise ValueError(f"{self.path}: no such image; give size= to create it")
        flags = os.O_RDONLY if read_only else os.O_RDWR | os.O_CREAT
        fd = os.open(self.path, flags | os.O_CLOEXEC, 0o644)
        try:
            length = os.lseek(fd, 0, os.SEEK_END)
            if size is None:
                size = length - length % block_size
                if size == 0:
                    raise ValueError(f"{self.path}: {length} bytes hold no block of "
                                     f"{block_size}; give size= to extend it")
            elif length < size:
                if read_only:
                    raise ValueError(f"{self.path}: {length} bytes, less than size={size}, "
                                     "and read-only")
                os.ftruncate(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self.blocks = size // block_size
        self._fd = fd
        self._closer = weakref.finalize(self, os.close, fd)

    def __repr__(self) -> str:
        return (f"<ImageMedium {self.path!r} {self.blocks}x{self.block_size}"
                f"{' ro' if self.read_only else ''}>")

    def read(self, lba: int, count: int) -> bytes:
        self.check_read(lba, count)
        want, offset = count * self.block_size, lba * self.block_size
        data = os.pread(self._fd, want, offset)
        while len(data) < want:
            more = os.pread(self._fd, want - len(data), offset + len(data))
            if not more:
                return data + bytes(want - len(data))
            data += more
        return data

    def write(self, lba: int, data: Buffer) -> None:
        self.check_write(lba, data)
        view = memoryview(data).cast("B")
        offset, done = lba * self.block_size, 0
        while done < len(view):
            done += os.pwrite(self._fd, view[done:], offset + done)

    def flush(self) -> None:
        if not self.read_only:
            os.fsync(self._fd)

    def close(self) -> None:
        """Close the file; the medium cannot be used afterwards."""
        self._closer()


# -- commands -------------------------------------------------------------------------------


class DataPhase(Enum):
    """Which way a command's data moves: none, to the host (IN), from the host (OUT)."""

    NONE = "none"
    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class ScsiResult:
    """What a logical unit answers: the SAM status, the IN data (never more than the
    caller's `expected_in`; possibly less), and for CHECK CONDITION the sense data, which
    also stays pending for the next REQUEST SENSE."""

    status: int
    data: bytes = b""
    sense: Sense | None = None

    @property
    def good(self) -> bool:
        return self.status == SamStatus.GOOD


class _Check(Exception):
    """A command ends in CHECK CONDITION with this sense."""

    def __init__(self, key: SenseKey, code: Asc) -> None:
        super().__init__(code.name)
        self.sense = Sense.of(key, code)


def _illegal(code: Asc = INVALID_FIELD_IN_CDB) -> _Check:
    return _Check(SenseKey.ILLEGAL_REQUEST, code)


#: CDB length by operation-code group (SAM-5 §5.3): 6, 10, 12 or 16 bytes.
_GROUP_LENGTH: Final = {0: 6, 1: 10, 2: 10, 4: 16, 5: 12}


def cdb_length(opcode: int) -> int:
    """The length of a CDB of `opcode`'s group (6, 10, 12 or 16); 1 for the reserved and
    vendor-specific groups, whose length the opcode does not fix."""
    return _GROUP_LENGTH.get(opcode >> 5, 1)


def _be16(cdb: bytes, offset: int) -> int:
    return int.from_bytes(cdb[offset:offset + 2], "big")


def _be32(cdb: bytes, offset: int) -> int:
    return int.from_bytes(cdb[offset:offset + 4], "big")


#: How many bytes a command moves, from its CDB and the block size.
Length: TypeAlias = Callable[[bytes, int], int]
Handler: TypeAlias = Callable[["ScsiLun", bytes, "Buffer | None", int], bytes]


def _no_data(cdb: bytes, block_size: int) -> int:
    return 0


def _byte4(cdb: bytes, block_size: int) -> int:
    return cdb[4]


def _be16_at3(cdb: bytes, block_size: int) -> int:
    return _be16(cdb, 3)


def _be16_at7(cdb: bytes, block_size: int) -> int:
    return _be16(cdb, 7)


def _be32_at6(cdb: bytes, block_size: int) -> int:
    return _be32(cdb, 6)


def _be32_at10(cdb: bytes, block_size: int) -> int:
    return _be32(cdb, 10)


def _eight(cdb: bytes, block_size: int) -> int:
    return 8


def _blocks(cdb: bytes, block_size: int) -> int:
    return rw_range(cdb)[1] * block_size


@dataclass(frozen=True, slots=True)
class _Command:
    run: Handler
    phase: DataPhase
    length: Length
    needs_medium: bool = True  #: NOT READY, MEDIUM NOT PRESENT without a loaded medium
    attention: bool = True  #: a pending unit attention is reported instead of running it


def data_phase(cdb: Buffer, block_size: int = 512) -> tuple[DataPhase, int] | None:
    """(direction, bytes) the command in `cdb` moves, read from the CDB alone (the
    allocation or parameter-list length, or blocks × `block_size`), as f_mass_storage's
    check_command() computes it; (NONE, 0) for a command without data or one the logical
    units do not know; None when `cdb` is shorter than its command (a transport's phase
    error).  Context: pure function."""
    raw = bytes(cdb[:16])
    command = _COMMANDS.get(raw[0]) if raw else None
    if command is None:
        return DataPhase.NONE, 0
    if len(raw) < cdb_length(raw[0]):
        return None
    length = command.length(raw, block_size)
    return (command.phase, length) if length else (DataPhase.NONE, 0)


def descriptor_sense(sense: Sense) -> bytes:
    """Sense data in descriptor format (SPC-4 §4.5.2): response code 72h, key, ASC,
    ASCQ, and an information descriptor when INFORMATION is set."""
    extra = b""
    if sense.information is not None:
        extra = struct.pack(">BBBxQ", 0x00, 0x0A, 0x80, sense.information)
    return bytes((0x72, sense.key & 0x0F, sense.asc, sense.ascq, 0, 0, 0, len(extra))) + extra


def report_luns_data(luns: Sequence[int], cdb: bytes) -> bytes:
    """REPORT LUNS parameter data for `luns` (peripheral device addressing, SAM-5
    §4.7.7).  Raises the CHECK CONDITION of an allocation length under 16 or an unknown
    SELECT REPORT (through the private _Check)."""
    if cdb[2] > 2 or _be32(cdb, 6) < 16:
        raise _illegal()
    entries = b"".join(struct.pack(">BB6x", (lun >> 8) & 0x3F, lun & 0xFF) for lun in luns)
    return struct.pack(">I4x", len(entries)) + entries


# -- the logical unit ---------------------------------------------------------------------------

#: MODE SENSE page code of every page.
_ALL_PAGES: Final = 0x3F
#: INQUIRY: the standard data, and the most a padding unit returns (SCSI_MAX_INQUIRY_LEN).
_INQUIRY_STANDARD: Final = 36
_INQUIRY_MAX: Final = 256
_HISUP: Final = 0x10
_CMDQUE: Final = 0x10
#: MODE SENSE: the DBD bit, the device-specific parameter's WP bit.
_DBD: Final = 0x08
_WP: Final = 0x80


def _text(name: str, value: str, width: int) -> str:
    if len(value) > width or not value.isascii() or not value.isprintable():
        raise ValueError(f"{name}={value!r}: at most {width} printable ASCII characters")
    return value


def _without_scsi2_lun(cdb: bytes) -> bytes:
    """The CDB with the SCSI-2 LUN field (bits 5..7 of byte 1 of 6-, 10- and 12-byte CDBs)
    cleared: Linux fills it in for devices that report ANSI 2 or older (scsi_lib.c), and a
    logical unit that is addressed through its transport ignores it, as f_mass_storage
    does."""
    group = cdb[0] >> 5 if cdb else 0
    if len(cdb) < 2 or group not in (0, 1, 2, 5) or not cdb[1] & 0xE0:
        return cdb
    return cdb[:1] + bytes((cdb[1] & 0x1F,)) + cdb[2:]


class ScsiLun:
    """One direct-access logical unit: a medium behind the commands of SPC-4 and SBC-3.

    `medium` may be None (an empty slot of a card reader).  `removable` sets the RMB bit
    of INQUIRY and allows PREVENT ALLOW MEDIUM REMOVAL and START STOP UNIT's LoEj;
    `write_protect` is the write-protect switch (a read-only medium is protected too);
    `vendor` (8), `product` (16) and `revision` (4 characters) are the INQUIRY identity,
    `serial` the unit serial number of VPD page 80h.  `profile` holds the firmware's
    choices (`usbemu.emulated.scsi_profiles`): with `GADGET`, the default, MODE SENSE of all
    pages (3Fh) returns the mode parameter header alone, as most flash sticks do, unless
    `report_caching_page` adds the caching page (WCE off: write through), which is always
    answered when asked for by number; `QEMU_SCSI_DISK` answers as QEMU's scsi-disk.

    A new unit has a power-on unit attention pending (unless the profile says otherwise).
    Context: every method is atomic.  Raises ValueError for identity strings that do not
    fit, TypeError for a medium that is not a `Medium`.
    """

    def __init__(self, medium: Medium | None, *, removable: bool = True,
                 vendor: str = "USBemu", product: str = "Mass Storage",
                 revision: str = "1.00", write_protect: bool = False, serial: str = "",
                 report_caching_page: bool = False, profile: ScsiProfile = GADGET) -> None:
        self._medium = _checked_medium(medium)
        self._loaded = medium is not None
        self._block_size = medium.block_size if medium is not None else 512
        self.removable = removable
        self.vendor = _text("vendor", vendor, 8)
        self.product = _text("product", product, 16)
        self.revision = _text("revision", revision, 4)
        self.serial = _text("serial", serial, 252)
        self.write_protect = write_protect
        self.report_caching_page = report_caching_page
        self.profile = replace(profile, all_pages=True) if report_caching_page else profile
        self._geometry = hd_geometry_guess(medium) if medium is not None else None
        #: Medium removal prevented by PREVENT ALLOW MEDIUM REMOVAL.
        self.prevented = False
        #: The LUNs REPORT LUNS lists (the `ScsiTarget` a unit joins sets them).
        self.lun_numbers: tuple[int, ...] = (0,)
        self._sense: Sense | None = None
        self._attention: Asc | None = POWER_ON_RESET if profile.power_on_attention else None

    def __repr__(self) -> str:
        return f"<ScsiLun {self.vendor!r} {self.product!r} medium={self.medium!r}>"

    # -- the medium -----------------------------------------------------------------------

    @property
    def medium(self) -> Medium | None:
        """The medium the unit can read now: None when none is inserted or it was ejected
        (START STOP UNIT with LoEj)."""
        return self._medium if self._loaded else None

    @property
    def block_size(self) -> int:
        """The logical block size of the medium last inserted (512 without one)."""
        return self._block_size

    @property
    def geometry(self) -> tuple[int, int, int]:
        """(cylinders, heads, sectors) guessed when the medium went in
        (`hd_geometry_guess`), as QEMU's mode pages report it; (2, 16, 63) without one."""
        return self._geometry or (2, 16, 63)

    @property
    def write_protected(self) -> bool:
        """The write-protect switch, or a read-only medium."""
        medium = self.medium
        return self.write_protect or (medium is not None and medium.read_only)

    def insert(self, medium: Medium) -> None:
        """Put `medium` in (replacing any): the next command reports UNIT ATTENTION,
        NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED (28h/00h) unless a power-on
        unit attention is still pending.  Raises TypeError for anything but a Medium."""
        if not isinstance(medium, Medium):
            raise TypeError(f"insert() takes a Medium, not {type(medium).__name__}")
        self._medium, self._loaded = medium, True
        self._block_size = medium.block_size
        self._geometry = hd_geometry_guess(medium)
        if self._attention is None:
            self._attention = MEDIUM_MAY_HAVE_CHANGED

    def eject(self, *, force: bool = False) -> bool:
        """Take the medium out, as a user pulls a card: False (nothing changes) while the
        host prevents removal, unless `force`; True otherwise.  Commands that need a
        medium then fail with NOT READY, MEDIUM NOT PRESENT (3Ah/00h)."""
        if self.prevented and not force:
            return False
        self._medium, self._loaded = None, False
        return True

    def reset(self) -> None:
        """Power-on or hard reset: pending sense dropped, removal allowed again, and a
        UNIT ATTENTION, POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (29h/00h) pending
        when the profile has one (`ScsiProfile.power_on_attention`)."""
        self._sense = None
        self.prevented = False
        if self.profile.power_on_attention:
            self._attention = POWER_ON_RESET

    @property
    def pending_sense(self) -> Sense | None:
        """The sense data REQUEST SENSE would return now, other than a unit attention."""
        return self._sense

    @property
    def unit_attention(self) -> Asc | None:
        """The pending unit attention condition, if any."""
        return self._attention

    # -- commands -----------------------------------------------------------------------------

    def data_phase(self, cdb: Buffer) -> tuple[DataPhase, int] | None:
        """`data_phase(cdb)` with this unit's block size."""
        return data_phase(cdb, self._block_size)

    def execute(self, cdb: Buffer, data_out: Buffer | None = None,
                expected_in: int | None = None) -> ScsiResult:
        """Run one command.  `data_out` is the data of a command that takes some (exactly
        as many bytes as its CDB says); `expected_in` caps the IN data (None: no cap).
        Errors end in CHECK CONDITION with the sense in the result, kept for REQUEST
        SENSE; any other command drops sense left by the one before.  Raises ValueError
        for an empty CDB or `data_out` of the wrong length.  Context: atomic."""
        raw = _without_scsi2_lun(bytes(cdb))
        if not raw:
            raise ValueError("an empty CDB")
        limit = _UNLIMITED if expected_in is None else expected_in
        if limit < 0:
            raise ValueError(f"expected_in={expected_in}: must be 0 or more")
        op = raw[0]
        command = _COMMANDS.get(op)
        if op != Opcode.REQUEST_SENSE:
            self._sense = None
        try:
            if command is None or command.attention:
                self._report_attention()
            if command is None:
                raise _illegal(INVALID_COMMAND_OPCODE)
            if len(raw) < cdb_length(op):
                raise _illegal()
            if command.phase is DataPhase.OUT:
                _check_data_out(raw, data_out, command.length(raw, self._block_size))
            if command.needs_medium and self.medium is None:
                raise _Check(SenseKey.NOT_READY, MEDIUM_NOT_PRESENT)
            data = command.run(self, raw, data_out, limit)
        except _Check as check:
            self._sense = check.sense
            return ScsiResult(SamStatus.CHECK_CONDITION, b"", check.sense)
        if self.profile.pad_in_data and command.phase is DataPhase.IN:
            data = data.ljust(command.length(raw, self._block_size), b"\0")
        return ScsiResult(SamStatus.GOOD, data if len(data) <= limit else data[:limit])

    def _report_attention(self) -> None:
        code = self._attention
        if code is not None:
            self._attention = None
            raise _Check(SenseKey.UNIT_ATTENTION, code)

    def _loaded_medium(self) -> Medium:
        medium = self.medium
        if medium is None:
            raise _Check(SenseKey.NOT_READY, MEDIUM_NOT_PRESENT)
        return medium

    def _range(self, lba: int, count: int) -> Medium:
        medium = self._loaded_medium()
        if lba + count > medium.blocks or lba >= medium.blocks:
            raise _illegal(LBA_OUT_OF_RANGE)
        return medium

    # -- command handlers (cdb, data_out, limit) → IN data --------------------------------------

    def _test_unit_ready(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        return b""

    def _request_sense(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        if cdb[1] & ~0x01:
            raise _illegal()
        sense = self._sense
        if sense is None and self._attention is not None:
            sense = Sense.of(SenseKey.UNIT_ATTENTION, self._attention)
            self._attention = None
        self._sense = None
        sense = sense or Sense.of(SenseKey.NO_SENSE)
        return descriptor_sense(sense) if cdb[1] & 0x01 else sense.fixed()

    def _inquiry(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        evpd, page = cdb[1] & 0x01, cdb[2]
        if cdb[1] & ~0x01:  # CmdDt and reserved bits
            raise _illegal()
        if not evpd:
            if page:
                raise _illegal()
            return self._standard_inquiry(_be16(cdb, 3))
        build = _VPD_PAGES.get(page)
        if build is None:
            raise _illegal()
        body = build(self)
        return struct.pack(">BBH", TYPE_DISK, page, len(body)) + body

    def _standard_inquiry(self, allocation: int) -> bytes:
        """Standard INQUIRY data with the profile's VERSION, HiSup and CmdQue; a padding
        unit counts its padding in ADDITIONAL LENGTH (QEMU's scsi_disk_emulate_inquiry)."""
        profile = self.profile
        raw = bytearray(InquiryData(TYPE_DISK, self.removable, profile.version, 2,
                                    self.vendor, self.product, self.revision).to_bytes())
        raw[3] |= _HISUP if profile.hisup else 0
        raw[7] |= _CMDQUE if profile.cmdque else 0
        length = min(allocation, _INQUIRY_MAX)
        if profile.pad_in_data and length > _INQUIRY_STANDARD:
            raw[4] = length - 5
        return bytes(raw)

    def _vpd_supported(self) -> bytes:
        return bytes(sorted(_VPD_PAGES))

    def _vpd_serial(self) -> bytes:
        return self.serial.encode("ascii")

    def _vpd_identification(self) -> bytes:
        """One T10 vendor ID designator (code set ASCII, association: the logical unit)."""
        ident = (self.vendor.ljust(8) + self.product.ljust(16) + self.serial).encode("ascii")
        return struct.pack(">BBxB", 0x02, 0x01, len(ident)) + ident

    def _read_capacity_10(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        if not cdb[8] & 0x01 and _be32(cdb, 2):  # an LBA without PMI
            raise _illegal()
        medium = self._loaded_medium()
        return capacity_10(medium.blocks, medium.block_size)

    def _service_action_in(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        if cdb[1] & 0x1F != SAI_READ_CAPACITY_16:
            raise _illegal()
        medium = self._loaded_medium()
        return capacity_16(medium.blocks, medium.block_size)

    def _read(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        lba, count = rw_range(cdb)
        if cdb[0] != Opcode.READ_6 and cdb[1] & 0xE0:  # RDPROTECT: no protection info
            raise _illegal()
        medium = self._range(lba, count)
        count = min(count, -(-limit // medium.block_size))
        try:
            return medium.read(lba, count) if count else b""
        except OSError:
            raise _Check(SenseKey.MEDIUM_ERROR, UNRECOVERED_READ_ERROR) from None

    def _write(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        lba, count = rw_range(cdb)
        if self.write_protected:
            raise _Check(SenseKey.DATA_PROTECT, WRITE_PROTECTED)
        if cdb[0] != Opcode.WRITE_6 and cdb[1] & 0xE0:  # WRPROTECT
            raise _illegal()
        medium = self._range(lba, count)
        if count and data_out is not None:
            try:
                medium.write(lba, data_out)
            except OSError:
                raise _Check(SenseKey.MEDIUM_ERROR, WRITE_ERROR) from None
        return b""

    def _verify(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        if cdb[1] & ~0x10:  # only DPO: no BYTCHK, no protection (f_mass_storage)
            raise _illegal()
        self._range(_be32(cdb, 2), _be16(cdb, 7))
        return b""

    def _mode_sense(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        ten = cdb[0] == Opcode.MODE_SENSE_10
        if cdb[1] & ~(0x18 if ten else 0x08):  # DBD (and LLBAA): no block descriptors anyway
            raise _illegal()
        control, page, subpage = cdb[2] >> 6, cdb[2] & 0x3F, cdb[3]
        if control == 3:
            raise _illegal(SAVING_PARAMETERS_NOT_SUPPORTED)
        profile, changeable = self.profile, control == 1
        if page == _ALL_PAGES and subpage in (0x00, 0xFF):
            builders = [profile.mode_pages[code] for code in sorted(profile.mode_pages)
                        if profile.all_pages]
        elif page in profile.mode_pages and subpage == 0:
            builders = [profile.mode_pages[page]]
        else:
            raise _illegal()
        pages = b"".join(build(self, changeable) for build in builders)
        medium = self.medium
        blocks = block_descriptor(medium) if profile.block_descriptor \
            and not cdb[1] & _DBD and medium is not None else b""
        flags = _WP if self.write_protected else 0x00  # no DPOFUA
        if ten:
            header = struct.pack(">HBBxxH", 6 + len(blocks) + len(pages), 0, flags,
                                 len(blocks))
        else:
            header = bytes((3 + len(blocks) + len(pages), 0, flags, len(blocks)))
        return header + blocks + pages

    def _mode_select(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        ten = cdb[0] == Opcode.MODE_SELECT_10
        if cdb[1] & ~0x10:  # SP: nothing can be saved; only PF allowed
            raise _illegal()
        length = _be16(cdb, 7) if ten else cdb[4]
        if 0 < length < (8 if ten else 4):
            raise _illegal(PARAMETER_LIST_LENGTH_ERROR)
        return b""

    def _prevent_allow(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        if not self.removable:
            raise _illegal(INVALID_COMMAND_OPCODE)
        if cdb[4] & ~0x01:
            raise _illegal()
        prevent = bool(cdb[4] & 0x01)
        if self.prevented and not prevent:
            self._flush()
        self.prevented = prevent
        return b""

    def _start_stop(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        if cdb[1] & ~0x01 or cdb[4] & ~0x03:  # only IMMED, LOEJ and START
            raise _illegal()
        load_eject, start = cdb[4] & 0x02, cdb[4] & 0x01
        if load_eject and not self.removable:
            raise _illegal()
        if start:
            if load_eject and self._medium is not None:
                self._loaded = True
            self._loaded_medium()
        elif load_eject:
            if self.prevented:
                raise _illegal(MEDIUM_REMOVAL_PREVENTED)
            self._flush()
            self._loaded = False
        return b""

    def _synchronize_cache(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        if cdb[0] == Opcode.SYNCHRONIZE_CACHE_16:
            lba, count = struct.unpack_from(">QI", cdb, 2)
        else:
            lba, count = _be32(cdb, 2), _be16(cdb, 7)
        self._range(lba, count)
        self._flush()
        return b""

    def _flush(self) -> None:
        medium = self.medium
        if medium is None:
            return
        try:
            medium.flush()
        except OSError:
            raise _Check(SenseKey.MEDIUM_ERROR, WRITE_ERROR) from None

    def _read_format_capacities(self, cdb: bytes, data_out: Buffer | None,
                                limit: int) -> bytes:
        medium = self._loaded_medium()
        blocks = min(medium.blocks, 0xFFFFFFFF)
        # Capacity list header, then the Current/Maximum Capacity Descriptor
        # (descriptor code 2: formatted media).
        return struct.pack(">3xBIB", 8, blocks, 0x02) + medium.block_size.to_bytes(3, "big")

    def _report_luns(self, cdb: bytes, data_out: Buffer | None, limit: int) -> bytes:
        return report_luns_data(self.lun_numbers, cdb)


_UNLIMITED: Final = 1 << 62

_VPD_PAGES: Final[Mapping[int, Callable[[ScsiLun], bytes]]] = {
    0x00: ScsiLun._vpd_supported,
    0x80: ScsiLun._vpd_serial,
    0x83: ScsiLun._vpd_identification,
}

_C = _Command
_IN, _OUT, _NONE = DataPhase.IN, DataPhase.OUT, DataPhase.NONE
_COMMANDS: Final[Mapping[int, _Command]] = {
    Opcode.TEST_UNIT_READY: _C(ScsiLun._test_unit_ready, _NONE, _no_data),
    Opcode.REQUEST_SENSE: _C(ScsiLun._request_sense, _IN, _byte4, False, False),
    Opcode.INQUIRY: _C(ScsiLun._inquiry, _IN, _be16_at3, False, False),
    Opcode.READ_CAPACITY: _C(ScsiLun._read_capacity_10, _IN, _eight),
    Opcode.SERVICE_ACTION_IN_16: _C(ScsiLun._service_action_in, _IN, _be32_at10),
    Opcode.READ_6: _C(ScsiLun._read, _IN, _blocks),
    Opcode.READ_10: _C(ScsiLun._read, _IN, _blocks),
    Opcode.READ_12: _C(ScsiLun._read, _IN, _blocks),
    Opcode.READ_16: _C(ScsiLun._read, _IN, _blocks),
    Opcode.WRITE_6: _C(ScsiLun._write, _OUT, _blocks),
    Opcode.WRITE_10: _C(ScsiLun._write, _OUT, _blocks),
    Opcode.WRITE_12: _C(ScsiLun._write, _OUT, _blocks),
    Opcode.WRITE_16: _C(ScsiLun._write, _OUT, _blocks),
    Opcode.VERIFY: _C(ScsiLun._verify, _NONE, _no_data),
    Opcode.MODE_SENSE: _C(ScsiLun._mode_sense, _IN, _byte4, False),
    Opcode.MODE_SENSE_10: _C(ScsiLun._mode_sense, _IN, _be16_at7, False),
    Opcode.MODE_SELECT: _C(ScsiLun._mode_select, _OUT, _byte4),
    Opcode.MODE_SELECT_10: _C(ScsiLun._mode_select, _OUT, _be16_at7),
    Opcode.ALLOW_MEDIUM_REMOVAL: _C(ScsiLun._prevent_allow, _NONE, _no_data, False),
    Opcode.START_STOP: _C(ScsiLun._start_stop, _NONE, _no_data, False),
    Opcode.SYNCHRONIZE_CACHE: _C(ScsiLun._synchronize_cache, _NONE, _no_data),
    Opcode.SYNCHRONIZE_CACHE_16: _C(ScsiLun._synchronize_cache, _NONE, _no_data),
    Opcode.READ_FORMAT_CAPACITIES: _C(ScsiLun._read_format_capacities, _IN, _be16_at7),
    Opcode.REPORT_LUNS: _C(ScsiLun._report_luns, _IN, _be32_at6, False, False),
}


def _checked_medium(medium: Medium | None) -> Medium | None:
    if medium is not None and not isinstance(medium, Medium):
        raise TypeError(f"a ScsiLun takes a Medium or None, not {type(medium).__name__}")
    return medium


def _check_data_out(cdb: bytes, data_out: Buffer | None, expected: int) -> None:
    got = 0 if data_out is None else len(data_out)
    if got != expected:
        raise ValueError(f"{Opcode(cdb[0]).name} moves {expected} bytes, data_out has {got}")


# -- the target ---------------------------------------------------------------------------------


class ScsiTarget:
    """The logical units behind one transport, numbered from 0.

    Commands to a LUN the target does not have are answered as f_mass_storage answers
    them: INQUIRY with peripheral qualifier 3 (device type 7Fh), REQUEST SENSE and every
    other command with ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED (25h/00h).  REPORT LUNS
    lists every unit whichever LUN it is sent to.  Raises ValueError for fewer than 1 or
    more than 16 units.  Context: every method is atomic.
    """

    def __init__(self, luns: Sequence[ScsiLun]) -> None:
        units = tuple(luns)
        if not 1 <= len(units) <= MAX_LUNS:
            raise ValueError(f"a target has 1 to {MAX_LUNS} LUNs, not {len(units)}")
        for n, unit in enumerate(units):
            if not isinstance(unit, ScsiLun):
                raise TypeError(f"luns[{n}]: a ScsiLun, not {type(unit).__name__}")
            unit.lun_numbers = tuple(range(len(units)))
        self.luns = units

    def __repr__(self) -> str:
        return f"<ScsiTarget {len(self.luns)} LUN(s)>"

    @property
    def max_lun(self) -> int:
        """The highest LUN (what GET MAX LUN answers)."""
        return len(self.luns) - 1

    def lun(self, n: int) -> ScsiLun:
        """Unit `n`.  Raises IndexError past the last."""
        if not 0 <= n < len(self.luns):
            raise IndexError(f"LUN {n}: the target has LUNs 0..{self.max_lun}")
        return self.luns[n]

    def data_phase(self, lun: int, cdb: Buffer) -> tuple[DataPhase, int] | None:
        """`data_phase` of `cdb` for unit `lun` (block size 512 for a missing unit)."""
        if 0 <= lun < len(self.luns):
            return self.luns[lun].data_phase(cdb)
        return data_phase(cdb)

    def execute(self, lun: int, cdb: Buffer, data_out: Buffer | None = None,
                expected_in: int | None = None) -> ScsiResult:
        """`ScsiLun.execute` on unit `lun`, or the answer of a missing unit."""
        if 0 <= lun < len(self.luns):
            return self.luns[lun].execute(cdb, data_out, expected_in)
        raw = bytes(cdb)
        if not raw:
            raise ValueError("an empty CDB")
        limit = _UNLIMITED if expected_in is None else expected_in
        try:
            data = self._missing_unit(raw)
        except _Check as check:
            return ScsiResult(SamStatus.CHECK_CONDITION, b"", check.sense)
        return ScsiResult(SamStatus.GOOD, data[:limit])

    def _missing_unit(self, cdb: bytes) -> bytes:
        op = cdb[0]
        if op == Opcode.INQUIRY:
            return bytes((TYPE_NO_LUN, 0, 0, 0, 31)) + bytes(31)
        if op == Opcode.REQUEST_SENSE and len(cdb) >= 6:
            sense = Sense.of(SenseKey.ILLEGAL_REQUEST, LUN_NOT_SUPPORTED)
            return descriptor_sense(sense) if cdb[1] & 0x01 else sense.fixed()
        if op == Opcode.REPORT_LUNS and len(cdb) >= 12:
            return report_luns_data(tuple(range(len(self.luns))), cdb)
        raise _illegal(LUN_NOT_SUPPORTED)

    def reset(self) -> None:
        """Power-on or hard reset of every unit (`ScsiLun.reset`)."""
        for unit in self.luns:
            unit.reset()
