"""uas (uas.py, uas_detect.py): its id table, its dependency on usb-storage, and its probe,
which declines a Bulk-Only device quietly and a UAS device with Linux's warning for a
controller without scatter-gather — either way usb-storage drives the device — and which
honours the bridges known to break UAS and usb-storage's quirks parameter."""

from __future__ import annotations

import pytest
from usbemu_tests_storage_helpers import Harness, Stick  # type: ignore[import-not-found]

from usbemu.emulated.models.storage import MassStorage
from usbemu.errors import Errno, ModuleError
from usbemu.kernel.file2alias import device_table_aliases
from usbemu.system import System

_NO_SG = ("usb 1-1: The driver for the USB controller ehci_hcd does not support "
          "scatter-gather which is")
_NO_SG_2 = ("usb 1-1: required by the UAS driver. Please try an other USB controller if "
            "you wish to use UAS.")
_IGNORED = "usb 1-1: UAS is ignored for this device, using usb-storage instead"


def _driver_of(system: System, path: str = "1-1") -> str | None:
    udev = system.find_device(path)
    assert udev is not None
    intf = udev.interface(0)
    assert intf is not None
    return None if intf.driver is None else intf.driver.name


def _bind_uas(system: System) -> int:
    with system.open("/sys/bus/usb/drivers/usb-storage/unbind", "wb") as f:
        f.write(b"1-1:1.0")
    system.settle()
    try:
        with system.open("/sys/bus/usb/drivers/uas/bind", "wb") as f:
            f.write(b"1-1:1.0")
    except OSError as exc:
        return -(exc.errno or 0)
    return 0


def test_the_id_table_takes_bulk_only_and_uas_scsi_interfaces() -> None:
    from usbemu.drivers.usb.storage import uas

    aliases = device_table_aliases("usb", uas.uas_usb_ids)
    assert aliases[-2:] == ["usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*",
                            "usb:v*p*d*dc*dsc*dp*ic08isc06ip62in*"]
    assert "usb:v0984p0301d0128dc*dsc*dp*ic*isc*ip*in*" in aliases     # Apricorn


def test_uas_needs_usb_storage(system: System) -> None:
    system.modprobe("uas")
    lines = system.log.lines()
    assert lines.index("usbcore: registered new interface driver usb-storage") < \
        lines.index("usbcore: registered new interface driver uas")
    uas = system.modules.get("uas")
    assert uas is not None and uas.info.depends == ["usb_storage"]
    assert uas.info.get("description") == "USB Attached SCSI driver"
    with pytest.raises(ModuleError) as info:
        system.rmmod("usb_storage")
    assert info.value.errno == Errno.EBUSY


def test_a_bulk_only_device_gets_usb_storage_not_uas(system: System, stor: Harness) -> None:
    stor.plug(MassStorage(size=1 << 20))
    assert {m.name for m in system.modules.loaded} == {"uas", "usb_storage"}
    assert _driver_of(system) == "usb-storage"
    system.log.debug = True
    assert _bind_uas(system) == -Errno.ENODEV
    lines = system.log.lines()
    assert "uas 1-1:1.0: probe with driver uas rejects match -19" in lines
    assert _NO_SG not in lines


def test_a_uas_device_is_left_to_usb_storage_on_a_bus_without_sg(system: System,
                                                                   stor: Harness) -> None:
    stor.plug(Stick(uas=True))
    assert _driver_of(system) == "usb-storage"
    lines = system.log.lines()
    assert lines[lines.index(_NO_SG) + 1] == _NO_SG_2
    assert lines.index(_NO_SG) < lines.index("usb-storage 1-1:1.0: USB Mass Storage device "
                                             "detected")
    assert _bind_uas(system) == -Errno.ENODEV
    assert system.log.lines().count(_NO_SG) == 2             # uas said it too


def test_a_bridge_that_breaks_uas_is_ignored(stor: Harness) -> None:
    stor.plug(Stick(uas=True, vid=0x0984, pid=0x0301, bcd=0x0128))   # Apricorn
    lines = stor.lines()
    assert _IGNORED in lines and _NO_SG not in lines
    assert "usb-storage 1-1:1.0: Quirks match for vid 0984 pid 0301: 800000" in lines


def test_uas_reads_usb_storages_quirks_parameter(system: System, stor: Harness) -> None:
    system.modprobe("uas")
    with system.open("/sys/module/usb_storage/parameters/quirks", "wb") as f:
        f.write(b"1234:5678:u")
    stor.plug(Stick(uas=True))
    assert _IGNORED in stor.lines()
    assert _bind_uas(system) == -Errno.ENODEV
    assert stor.lines().count(_IGNORED) == 2                   # uas's own check too
