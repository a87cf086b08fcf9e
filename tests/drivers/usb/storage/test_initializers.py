"""Device initialisation functions (initializers.py): an unusual_devs entry's function runs
at probe, before the control thread — the SCM eUSCSI bridge's vendor request — and the
multi-target bridge it goes with gets eight targets and initiator id 7."""

from __future__ import annotations

from usbemu_tests_storage_helpers import Harness, Stick, wire  # type: ignore[import-not-found]

from usbemu.drivers.usb.storage.us_data import UsFlag
from usbemu.system import System


def test_the_euscsi_bridge_is_woken_at_probe(system: System, stor: Harness) -> None:
    system.modprobe("usb-storage")
    recorder = stor.record()
    system.plug(Stick(vid=0x04E6, pid=0x0002, bcd=0x0100), "1-1")  # Shuttle eUSCSI Bridge
    system.sleep(500)                                        # probed; the scan is 1 s away
    trace = wire(recorder)
    assert trace[-1] == "CTRL 41 0c 0001 0000:-32"         # stalled: only logged
    us = stor.us()
    assert us.fflags == UsFlag.SCM_MULT_TARG and us.max_lun == 7
    host = stor.host()
    assert (host.this_id, host.max_id, host.no_scsi2_lun_in_cdb) == (7, 8, False)
    assert us.ctl_thread is not None
    system.unplug("1-1")
    system.settle()
