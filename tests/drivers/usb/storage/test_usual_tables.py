"""usb-storage's device tables (usual_tables.py, unusual_devs.py): the id table line for
line with unusual_devs.h, its modules.alias lines, the us_unusual_dev found for the id
that matched, and the ignore list of the subdriver modules."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from usbemu.core.devtable import MatchFlag, UsbDeviceId, is_terminator, usb_device
from usbemu.drivers.usb.storage.unusual_devs import UNUSUAL_DEVS, UNUSUAL_UAS
from usbemu.drivers.usb.storage.us_data import UsFlag
from usbemu.drivers.usb.storage.usual_tables import (
    IGNORE_IDS,
    us_unusual_dev_list,
    usb_storage_usb_ids,
    usb_usual_ignore_device,
    usual_dev_for_id,
)
from usbemu.errors import Errno
from usbemu.kernel.file2alias import device_table_aliases
from usbemu.spec.storage import StorageProtocol, StorageSubclass


def test_the_table_runs_parallel_to_the_entries_and_ends_with_a_terminator() -> None:
    assert len(usb_storage_usb_ids) == len(UNUSUAL_DEVS) + 1
    assert len(us_unusual_dev_list) == len(UNUSUAL_DEVS)
    assert is_terminator(usb_storage_usb_ids[-1])
    for entry, id, dev in zip(UNUSUAL_DEVS, usb_storage_usb_ids, us_unusual_dev_list,
                              strict=False):
        assert entry.id is id and entry.dev is dev


def test_an_unusual_dev_is_a_device_and_version_match_with_its_flags() -> None:
    jetflash = next(e for e in UNUSUAL_DEVS if e.dev.vendorName == "JetFlash")
    assert jetflash.id.match_flags == MatchFlag.DEVICE_AND_VERSION
    assert (jetflash.id.idVendor, jetflash.id.idProduct) == (0x058F, 0x6387)
    assert (jetflash.id.bcdDevice_lo, jetflash.id.bcdDevice_hi) == (0x0141, 0x0141)
    assert jetflash.id.driver_info == UsFlag.MAX_SECTORS_64
    assert jetflash.dev.productName == "TS1GJF2A/120"
    assert jetflash.dev.useProtocol == StorageSubclass.DEVICE
    assert jetflash.dev.useTransport == StorageProtocol.DEVICE


def test_the_class_entries_end_the_table_cb_then_cbi_then_bulk_only() -> None:
    usual = [e for e in UNUSUAL_DEVS if e.id.match_flags == MatchFlag.INT_INFO]
    assert [(e.id.bInterfaceSubClass, e.id.bInterfaceProtocol) for e in usual] == [
        (sub, proto) for proto in (0x01, 0x00, 0x50) for sub in (1, 2, 3, 4, 5, 6)]
    assert list(UNUSUAL_DEVS[-len(usual):]) == usual
    assert all(e.id.bInterfaceClass == 0x08 and e.id.driver_info == 0 for e in usual)
    assert all(e.dev.vendorName is None and e.dev.initFunction is None for e in usual)


def test_the_uas_entries_are_in_the_table_before_the_class_entries() -> None:
    ids = list(usb_storage_usb_ids)
    positions = [ids.index(entry.id) for entry in UNUSUAL_UAS]
    first_usual = next(i for i, e in enumerate(UNUSUAL_DEVS)
                       if e.id.match_flags == MatchFlag.INT_INFO)
    assert positions == sorted(positions) and positions[-1] < first_usual


def test_modules_alias_lines_as_file2alias_writes_them() -> None:
    aliases = device_table_aliases("usb", usb_storage_usb_ids)
    assert len(aliases) > len(UNUSUAL_DEVS)             # bcdDevice ranges split
    assert aliases[0] == "usb:v03EBp2002d0100dc*dsc*dp*ic*isc*ip*in*"
    assert "usb:v058Fp6387d0141dc*dsc*dp*ic*isc*ip*in*" in aliases
    assert aliases[-1] == "usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*"
    assert "usb:v*p*d*dc*dsc*dp*ic08isc04ip00in*" in aliases     # UFI over CBI


def test_the_unusual_dev_of_an_id_is_found_by_identity() -> None:
    for index in (0, 5, len(UNUSUAL_DEVS) - 1):
        assert usual_dev_for_id(usb_storage_usb_ids[index]) is us_unusual_dev_list[index]
    first = usb_storage_usb_ids[0]
    twin = UsbDeviceId(first.match_flags, first.idVendor, first.idProduct,
                       first.bcdDevice_lo, first.bcdDevice_hi, driver_info=first.driver_info)
    assert twin == first and usual_dev_for_id(twin) is None      # a dynamic id
    assert usual_dev_for_id(usb_device(0x1234, 0x5678)) is None


def _intf(vid: int, pid: int, bcd: int) -> Any:
    descriptor = SimpleNamespace(idVendor=vid, idProduct=pid, bcdDevice=bcd)
    return SimpleNamespace(usb_dev=SimpleNamespace(descriptor=descriptor))


def test_subdriver_devices_are_ignored_within_their_bcd_range() -> None:
    karma = next(e for e in IGNORE_IDS if (e.vid, e.pid) == (0x045A, 0x5210))
    assert usb_usual_ignore_device(_intf(0x045A, 0x5210, karma.bcdmin)) == -Errno.ENXIO
    assert usb_usual_ignore_device(_intf(0x045A, 0x5210, karma.bcdmax + 1)) == 0
    assert usb_usual_ignore_device(_intf(0x0525, 0xA4A5, 0x0612)) == 0
