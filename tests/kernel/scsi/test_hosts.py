"""SCSI hosts (usbemu.kernel.scsi.hosts, scsi.py): numbers, the add message, the state
machines, init, removal."""

from __future__ import annotations

import pytest
from usbemu_tests_scsikit import FakeLld, Machine, lun

from usbemu.emulated.scsi_target import ScsiTarget as DeviceTarget
from usbemu.errors import Errno
from usbemu.kernel.scsi.hosts import (
    SHOST_TRANSITIONS,
    ScsiHost,
    ShostState,
    scsi_add_host,
    scsi_host_alloc,
    scsi_host_put,
    scsi_host_set_state,
    scsi_remove_host,
)
from usbemu.kernel.scsi.scsi import Ida, scsi_core_of
from usbemu.kernel.scsi.scsi_device import (
    SDEV_TRANSITIONS,
    SdevState,
    scsi_device_set_state,
)


def lld() -> FakeLld:
    return FakeLld(DeviceTarget([lun()]))


def test_host_numbers_are_the_lowest_free(machine: Machine) -> None:
    first = scsi_host_alloc(lld(), None, machine.system.scsi)
    second = scsi_host_alloc(lld(), None, machine.system.scsi)
    assert (first.name, second.name) == ("host0", "host1")
    scsi_host_put(first)
    assert scsi_host_alloc(lld(), None, machine.system.scsi).name == "host0"


def test_add_host_logs_info_and_initializes_scsi_once(machine: Machine) -> None:
    machine.system.run(machine.attach(lld(), scan=False))
    machine.system.run(machine.attach(lld(), scan=False))
    lines = machine.log()
    assert lines.count("SCSI subsystem initialized") == 1
    assert lines[-2:] == ["scsi host0: fake-storage 1-1:1.0", "scsi host1: fake-storage 1-1:1.0"]


def test_can_queue_zero_is_refused(machine: Machine) -> None:
    driver = lld()
    shost = scsi_host_alloc(driver, None, machine.system.scsi)
    shost.can_queue = 0
    assert machine.system.run(scsi_add_host(shost, machine.parent)) == -Errno.EINVAL
    assert machine.log()[-1] == "scsi host0: can_queue = 0 no longer supported"


def test_cmd_per_lun_is_capped_by_can_queue(machine: Machine) -> None:
    driver = lld()
    shost = scsi_host_alloc(driver, None, machine.system.scsi)
    shost.cmd_per_lun = 4
    machine.system.run(scsi_add_host(shost, machine.parent))
    assert shost.cmd_per_lun == 1


def test_host_alloc_needs_a_template(machine: Machine) -> None:
    with pytest.raises(TypeError, match="ScsiHostTemplate"):
        scsi_host_alloc(object(), None, machine.system.scsi)  # type: ignore[arg-type]


def test_scsi_core_of_outside_a_machine() -> None:
    with pytest.raises(RuntimeError, match="no usbemu machine"):
        scsi_core_of()


def test_scsi_core_of_inside_the_machine(machine: Machine) -> None:
    async def lookup() -> object:
        return scsi_core_of()
    assert machine.system.run(lookup()) is machine.system.scsi


def test_ida() -> None:
    ida = Ida()
    assert [ida.alloc() for _ in range(3)] == [0, 1, 2]
    ida.free(1)
    assert ida.alloc() == 1


@pytest.mark.parametrize(("old", "new", "ok"), [
    (ShostState.CREATED, ShostState.RUNNING, True),
    (ShostState.RUNNING, ShostState.RECOVERY, True),
    (ShostState.RECOVERY, ShostState.RUNNING, True),
    (ShostState.RECOVERY, ShostState.CANCEL_RECOVERY, True),
    (ShostState.CANCEL_RECOVERY, ShostState.DEL_RECOVERY, True),
    (ShostState.CREATED, ShostState.RECOVERY, False),
    (ShostState.DEL, ShostState.RUNNING, False),
    (ShostState.CANCEL, ShostState.RUNNING, False),
    (ShostState.RUNNING, ShostState.DEL, False),
    (ShostState.RUNNING, ShostState.CREATED, False),
    (ShostState.RUNNING, ShostState.RUNNING, True),
])
def test_host_state_machine(machine: Machine, old: ShostState, new: ShostState,
                            ok: bool) -> None:
    shost = scsi_host_alloc(lld(), None, machine.system.scsi)
    shost.shost_state = old
    assert scsi_host_set_state(shost, new) == (0 if ok else -Errno.EINVAL)
    assert shost.shost_state is (new if ok else old)


def test_every_state_has_a_transition_row() -> None:
    assert set(SHOST_TRANSITIONS) == set(ShostState)
    assert set(SDEV_TRANSITIONS) == set(SdevState)


@pytest.mark.parametrize(("old", "new", "ok"), [
    (SdevState.CREATED, SdevState.RUNNING, True),
    (SdevState.RUNNING, SdevState.OFFLINE, True),
    (SdevState.OFFLINE, SdevState.RUNNING, True),
    (SdevState.RUNNING, SdevState.CANCEL, True),
    (SdevState.CANCEL, SdevState.DEL, True),
    (SdevState.DEL, SdevState.RUNNING, False),
    (SdevState.CANCEL, SdevState.RUNNING, False),
    (SdevState.OFFLINE, SdevState.BLOCK, False),
])
def test_device_state_machine(machine: Machine, old: SdevState, new: SdevState,
                              ok: bool) -> None:
    shost: ScsiHost = machine.system.run(machine.attach(lld()))
    sdev = shost.devices[0]
    sdev.sdev_state = old
    assert scsi_device_set_state(sdev, new) == (0 if ok else -Errno.EINVAL)
    assert sdev.sdev_state is (new if ok else old)


def test_remove_host_states_and_second_remove(machine: Machine) -> None:
    shost: ScsiHost = machine.system.run(machine.attach(lld()))
    machine.system.settle()
    sdev = shost.devices[0]
    machine.system.run(scsi_remove_host(shost))
    assert shost.shost_state is ShostState.DEL
    assert sdev.sdev_state is SdevState.DEL
    assert not machine.system.vfs.exists("/sys/class/scsi_host/host0")
    machine.system.run(scsi_remove_host(shost))  # nothing left to do
    assert shost.shost_state is ShostState.DEL
