"""usb-storage as a module and a driver (usb.py): loading and its parameters in sysfs,
the probe and its messages, the delayed scan (delay_use), GET MAX LUN, the quirks
parameter and unusual_devs entries changing what usb-storage does, the subdriver ignore
list and dynamic ids, and disconnect — also in the middle of the scan delay and of a
command."""

from __future__ import annotations

from typing import Any

import pytest
from usbemu_tests_storage_helpers import Harness, Stick, wire  # type: ignore[import-not-found]

from usbemu.core.driver import store_new_id
from usbemu.drivers.usb.storage.us_data import UsFlag, UsFlidx
from usbemu.emulated.models.storage import MassStorage, StorageFault
from usbemu.emulated.scsi_target import MemoryMedium
from usbemu.errors import Errno, ModuleError
from usbemu.kernel.printk import Level
from usbemu.kernel.scsi.scsi_cmnd import HostByte
from usbemu.spec.scsi import Opcode, SamStatus, rw_cdb
from usbemu.system import System

_DETECTED = "usb-storage 1-1:1.0: USB Mass Storage device detected"
_HOST = "scsi host0: usb-storage 1-1:1.0"
_GET_MAX_LUN = "CTRL a1 fe 0000 0000"


def _time_of(system: System, text: str) -> float:
    return next(r.time for r in system.log.records() if r.text == text)


def _scsi_lines(stor: Harness) -> list[str]:
    return [line for line in stor.lines() if line.startswith(("usb-storage ", "scsi"))]


# -- the module ---------------------------------------------------------------------------


def test_modprobe_loads_the_scsi_layer_then_registers_the_driver(system: System) -> None:
    system.modprobe("usb-storage")
    lines = system.log.lines()
    assert lines.index("SCSI subsystem initialized") < lines.index(
        "usbcore: registered new interface driver usb-storage")
    module = system.modules.get("usb_storage")
    assert module is not None
    info = module.info
    assert info.get("description") == "USB Mass Storage driver for Linux"
    assert info.get("author") == "Matthew Dharm <mdharm-usb@one-eyed-alien.net>"
    assert info.get("license") == "GPL"
    assert info.get_all("parm") == ["delay_use:time to delay before using a new device",
                                    "quirks:supplemental list of device IDs and their quirks"]
    assert info.get_all("parmtype") == ["quirks:string"]     # module_param_cb has none


def test_the_parameters_in_sysfs(system: System) -> None:
    system.modprobe("usb-storage")
    base = "/sys/module/usb_storage/parameters"
    assert system.vfs.read_text(f"{base}/delay_use") == "1\n"
    assert system.vfs.read_text(f"{base}/quirks") == "\n"
    assert system.vfs.stat(f"{base}/delay_use").mode & 0o777 == 0o644
    with system.open(f"{base}/delay_use", "wb") as f:
        f.write(b"250ms\n")
    assert system.vfs.read_text(f"{base}/delay_use") == "250ms\n"
    with system.open(f"{base}/quirks", "wb") as f:
        f.write(b"0525:a4a5:s")
    assert system.vfs.read_text(f"{base}/quirks") == "0525:a4a5:s\n"
    with pytest.raises(OSError) as info, system.open(f"{base}/delay_use", "wb") as f:
        f.write(b"soon")
    assert info.value.errno == Errno.EINVAL


def test_a_quirks_string_longer_than_127_characters_is_refused(system: System) -> None:
    with pytest.raises(ModuleError) as info:
        system.modprobe("usb-storage", quirks="0525:a4a5:" + "s" * 118)
    assert info.value.errno == Errno.ENOSPC
    lines = system.log.lines()
    assert "quirks: string doesn't fit in 127 chars." in lines


# -- probe and scan -------------------------------------------------------------------------


def test_probe_says_what_linux_says_and_scans_after_a_second(stor: Harness) -> None:
    stor.plug(MassStorage(size=1 << 20))
    lines = _scsi_lines(stor)
    assert lines[:3] == [_DETECTED, _HOST, "scsi 0:0:0:0: Direct-Access     USBemu   Mass "
                                           "Storage     1.00 PQ: 0 ANSI: 2"]
    system = stor.system
    assert _time_of(system, "scsi 0:0:0:0: Direct-Access     USBemu   Mass Storage     "
                            "1.00 PQ: 0 ANSI: 2") - _time_of(system, _HOST) == \
        pytest.approx(1.0, abs=0.01)
    us = stor.us()
    assert us.transport_name == "Bulk" and us.protocol_name == "Transparent SCSI"
    assert us.scsi_name == "usb-storage 1-1:1.0" and us.fflags == 0
    assert not us.dflags & UsFlidx.SCAN_PENDING
    host = stor.host()
    assert (host.max_id, host.max_cmd_len, host.no_scsi2_lun_in_cdb) == (1, 16, True)
    assert host.parent is us.pusb_intf
    assert system.vfs.exists("/sys/bus/usb/devices/1-1:1.0/host0/target0:0:0/0:0:0:0")


def test_the_scan_asks_get_max_lun_first(stor: Harness) -> None:
    recorder = stor.record()
    stor.plug(MassStorage(size=1 << 20))
    trace = wire(recorder)
    at = trace.index(_GET_MAX_LUN)
    assert trace[at + 1:at + 4] == ["CBW", "IN 36", "CSW"]
    assert not any(word.startswith(("CBW", "IN", "OUT", "CSW")) for word in trace[:at])


@pytest.mark.parametrize(("delay", "seconds"), [("250ms", 0.25), ("0", 0.0), ("3", 3.0)])
def test_delay_use_sets_the_scan_delay(system: System, stor: Harness, delay: str,
                                       seconds: float) -> None:
    system.modprobe("usb-storage", f"delay_use={delay}")
    system.log.debug = True
    stor.plug(MassStorage(size=1 << 20))
    started = _time_of(system, "usb-storage 1-1:1.0: starting scan")
    assert started - _time_of(system, _HOST) == pytest.approx(seconds, abs=0.001)
    waiting = "usb-storage 1-1:1.0: waiting for device to settle before scanning"
    assert (waiting in system.log.lines()) == (seconds > 0)


def test_several_luns_are_scanned(stor: Harness) -> None:
    model = MassStorage(luns=[MemoryMedium(1 << 20) for _ in range(3)])
    stor.plug(model)
    assert stor.us().max_lun == 2
    assert sorted(d.lun for d in stor.host().devices) == [0, 1, 2]
    assert [line for line in stor.lines() if line.startswith("scsi 0:0:0:")] == [
        f"scsi 0:0:0:{n}: Direct-Access     USBemu   Mass Storage     1.00 PQ: 0 ANSI: 2"
        for n in range(3)]


def test_more_than_eight_luns_widen_the_hosts_lun_range(stor: Harness) -> None:
    stor.plug(MassStorage(luns=[MemoryMedium(1 << 20) for _ in range(9)]))
    assert stor.us().max_lun == 8 and stor.host().max_lun == 9


def test_a_stalled_get_max_lun_means_one_lun(stor: Harness) -> None:
    recorder = stor.record()
    stor.plug(Stick(luns=2, stall_get_max_lun=True))
    assert f"{_GET_MAX_LUN}:-32" in wire(recorder)
    assert stor.us().max_lun == 0 and [d.lun for d in stor.host().devices] == [0]


class _TooManyLuns(Stick):
    """Answers GET MAX LUN with 16, more than the four bits of a CBW can carry."""

    def _get_max_lun(self, setup: Any, data: bytes) -> bytes | None:
        return bytes((16,))


def test_a_max_lun_over_15_is_taken_as_0(stor: Harness) -> None:
    stor.plug(_TooManyLuns())
    assert "usb-storage 1-1:1.0: Max LUN 16 is not valid, using 0 instead" in stor.lines()
    assert stor.us().max_lun == 0


def test_a_command_to_a_lun_the_device_lacks_never_reaches_it(stor: Harness) -> None:
    stor.plug(MassStorage(size=1 << 20))
    recorder = stor.record()
    sdev = stor.sdev(0)
    stor.us().max_lun = 0
    sdev.lun = 1                               # as the scan's probe of LUN 1 does
    try:
        cmd = stor.command(bytes(6), lun=1)
    finally:
        sdev.lun = 0
    assert cmd.result == HostByte.DID_BAD_TARGET << 16 and wire(recorder) == []


# -- quirks and unusual devices ------------------------------------------------------------


def test_the_quirks_parameter_single_lun_skips_get_max_lun(system: System,
                                                            stor: Harness) -> None:
    system.modprobe("usb-storage", quirks="1234:5678:s")
    recorder = stor.record()
    stor.plug(Stick(luns=2))
    assert "usb-storage 1-1:1.0: Quirks match for vid 1234 pid 5678: 1" in stor.lines()
    assert not any(word.startswith(_GET_MAX_LUN) for word in wire(recorder))
    assert [d.lun for d in stor.host().devices] == [0]


def test_the_quirks_parameter_can_ignore_a_device(system: System, stor: Harness) -> None:
    system.modprobe("usb-storage", quirks="0525:a4a5:i")
    stor.plug(MassStorage(size=1 << 20))
    lines = stor.lines()
    assert lines.index(_DETECTED) + 1 == lines.index("usb-storage 1-1:1.0: device ignored")
    udev = system.find_device("1-1")
    assert udev is not None and udev.interface(0).driver is None
    assert _HOST not in lines and not system.scsi.bus.devices


def test_the_quirks_parameter_is_read_at_each_probe(system: System, stor: Harness) -> None:
    system.modprobe("usb-storage")
    with system.open("/sys/module/usb_storage/parameters/quirks", "wb") as f:
        f.write(b"1234:5678:m")
    stor.plug(Stick())
    assert stor.us().fflags == UsFlag.MAX_SECTORS_64
    assert stor.sdev().max_hw_sectors == 64


def test_an_unusual_device_gets_its_quirks(stor: Harness) -> None:
    stor.plug(Stick(vid=0x0421, pid=0x0019, bcd=0x0600))           # Nokia 6288
    assert "usb-storage 1-1:1.0: Quirks match for vid 0421 pid 0019: 400" in stor.lines()
    assert stor.sdev().max_hw_sectors == 64
    assert stor.system.vfs.read_text(
        "/sys/bus/scsi/devices/0:0:0:0/max_sectors") == "64\n"


def test_an_unusual_device_outside_its_bcd_range_is_usual(stor: Harness) -> None:
    stor.plug(Stick(vid=0x0421, pid=0x0019, bcd=0x0611))
    assert "Quirks match" not in " ".join(stor.lines())
    assert stor.sdev().max_hw_sectors == 240
    # a Nokia disk all the same: the READ CAPACITY bug of the vendor's devices
    assert stor.us().fflags == UsFlag.CAPACITY_HEURISTICS and stor.sdev().guess_capacity


def test_a_fix_inquiry_device_answers_with_the_tables_names(stor: Harness) -> None:
    recorder = stor.record()
    stor.plug(Stick(vid=0x0411, pid=0x001C, bcd=0x0113))           # Buffalo DUB-P40G
    assert ("scsi 0:0:0:0: Direct-Access     Buffalo  DUB-P40G HDD     0113 PQ: 0 ANSI: 2"
            in stor.lines())
    assert "IN 36" not in wire(recorder)


def test_an_unneeded_override_is_reported(stor: Harness) -> None:
    stor.plug(Stick(vid=0x04B8, pid=0x0602, bcd=0x0110))           # Epson 785EPX
    lines = stor.lines()
    notice = ("usb-storage 1-1:1.0: This device (04b8,0602,0110 S 06 P 50) has unneeded "
              "SubClass and Protocol entries in unusual_devs.h (kernel 6.12.0)")
    at = lines.index(notice)
    assert lines[at + 1] == ("   Please send a copy of this message to "
                             "<linux-usb@vger.kernel.org> and "
                             "<usb-storage@lists.one-eyed-alien.net>")
    assert any(r.level is Level.NOTICE and r.text == notice
               for r in stor.system.log.records())


def test_an_entry_may_override_the_subclass(stor: Harness) -> None:
    stor.plug(Stick(vid=0x04CB, pid=0x0100, bcd=0x0100, subclass=0x06))  # FinePix: UFI
    us = stor.us()
    assert us.subclass == 0x04 and us.protocol_name == "Uniform Floppy Interface (UFI)"
    assert us.fflags == UsFlag.FIX_INQUIRY | UsFlag.SINGLE_LUN


def test_an_unusual_device_may_be_ignored(stor: Harness) -> None:
    stor.plug(Stick(vid=0xE5B7, pid=0x0811, bcd=0x0100))           # JieLi BR21
    assert "usb-storage 1-1:1.0: device ignored" in stor.lines()
    assert not stor.system.scsi.bus.devices


def test_a_subdriver_device_is_left_alone(stor: Harness) -> None:
    stor.plug(Stick(vid=0x045A, pid=0x5210, bcd=0x0101))           # Rio Karma
    assert _DETECTED not in stor.lines()
    udev = stor.system.find_device("1-1")
    assert udev is not None and udev.interface(0).driver is None


def test_a_dynamic_id_gets_bulk_only_transparent_scsi(system: System, stor: Harness) -> None:
    system.modprobe("usb-storage")
    system.log.debug = True
    stor.plug(Stick(vid=0x1234, pid=0x5678, subclass=0xFF))        # vendor-specific

    module = system.modules.get("usb_storage")
    assert module is not None and module.pymodule is not None
    driver = module.pymodule.usb_storage_driver

    async def new_id() -> int:
        return await store_new_id(system.usb, driver, "1234 5678")

    assert system.run(new_id()) > 0
    system.settle()
    us = stor.us()
    assert (us.subclass, us.protocol, us.transport_name) == (0x06, 0x50, "Bulk")
    assert ("usb-storage 1-1:1.0: Use Bulk-Only transport with the Transparent SCSI "
            "protocol for dynamic id: 0x1234 0x5678") in system.log.lines()


# -- disconnect ----------------------------------------------------------------------------


def test_unplug_removes_the_host_and_ends_the_thread(stor: Harness) -> None:
    stor.plug(MassStorage(size=1 << 20))
    us = stor.us()
    thread = us.ctl_thread
    assert thread is not None
    stor.system.unplug("1-1")
    stor.system.settle()
    assert thread.done() and us.ctl_thread is None
    assert not stor.system.scsi.bus.devices
    assert us.dflags & UsFlidx.DISCONNECTING
    stor.plug(MassStorage(size=1 << 20))
    assert stor.host().host_no == 0                 # the host number came back


def test_unplug_during_the_scan_delay_cancels_the_scan(stor: Harness) -> None:
    system = stor.system
    recorder = stor.record()
    system.plug(MassStorage(size=1 << 20), "1-1")
    system.sleep(500)
    assert _HOST in system.log.lines()
    system.unplug("1-1")
    system.settle()
    system.sleep(2000)
    assert not system.scsi.bus.devices
    assert not any(w.startswith((_GET_MAX_LUN, "CBW")) for w in wire(recorder))


def test_unplug_during_a_command_fails_it_and_nothing_hangs(stor: Harness) -> None:
    model = stor.plug(MassStorage(size=1 << 20))
    assert stor.command(bytes(6)).result == SamStatus.GOOD
    written = bytes(range(256)) * 2
    assert stor.write10(0, written).result == SamStatus.GOOD     # acknowledged
    model.inject(StorageFault.NO_CSW)
    _, done = stor.start(rw_cdb(Opcode.WRITE_10, 1, 1), data_out=b"\xee" * 512)
    stor.system.sleep(100)
    us = stor.us()
    stor.system.unplug("1-1")
    stor.system.settle()
    finished = stor.wait(done, 1.0)
    assert finished.result >> 16 in (HostByte.DID_ERROR, HostByte.DID_NO_CONNECT)
    assert us.ctl_thread is None and not stor.system.scsi.bus.devices
    assert model.lun(0).medium.read(0, 1) == written


def test_rmmod_unbinds_every_device(system: System, stor: Harness) -> None:
    stor.plug(MassStorage(size=1 << 20))
    system.rmmod("uas")
    system.rmmod("usb_storage")
    assert "usbcore: deregistering interface driver usb-storage" in system.log.lines()
    assert _driver_of(system) is None and not system.scsi.bus.devices
    assert not system.vfs.exists("/sys/bus/usb/devices/1-1:1.0/host0")


def _driver_of(system: System) -> str | None:
    udev = system.find_device("1-1")
    assert udev is not None
    intf = udev.interface(0)
    assert intf is not None
    return None if intf.driver is None else intf.driver.name


def test_depmod_lists_usb_storage_and_uas_for_a_bulk_only_interface(system: System) -> None:
    alias = system.vfs.read_text(f"/lib/modules/{system.usb.uname.release}/modules.alias")
    assert "alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage\n" in alias
    assert "alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* uas\n" in alias
    assert "alias usb:v*p*d*dc*dsc*dp*ic08isc06ip62in* uas\n" in alias
    modalias = "usb:v0525pA4A5d0612dc00dsc00dp00ic08isc06ip50in00"
    assert sorted(system.modules.lookup(modalias)) == ["uas", "usb_storage"]
