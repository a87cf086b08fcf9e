"""cli/machine: the port listings the shell's completion and `plug` without a port use,
and the host controller kinds a machine boots with."""

from __future__ import annotations

import pytest

from usbemu.cli.machine import (
    MachineError,
    boot,
    check_hcd_kind,
    free_port,
    free_ports,
    hcd_kind,
    plug,
)
from usbemu.cli.stats import controller_kind
from usbemu.host import HCD_KINDS
from usbemu.host.ehci import EhciHCD


def test_free_and_plugged_ports_follow_the_tree() -> None:
    system = boot(ports=3)
    try:
        assert free_ports(system) == ["1-1", "1-2", "1-3"] and free_port(system) == "1-1"
        plug(system, "hub", {"ports": "2"}, "1-2")
        plug(system, "mouse", None, "1-2.1")
        assert [path for path, _ in system.models()] == ["1-2", "1-2.1"]
        assert free_ports(system) == ["1-1", "1-3", "1-2.2"]
        plug(system, "pendrive")
        plug(system, "pendrive")
        assert free_ports(system) == ["1-2.2"]
        with pytest.raises(MachineError, match="every root-hub port is taken"):
            free_port(system)
    finally:
        system.close()


# -- host controller kinds ------------------------------------------------------------------------


def test_boot_adds_controllers_of_the_kind_asked_for() -> None:
    system = boot(hcd="ehci", controllers=2)
    try:
        assert [type(hcd) for hcd in system.controllers] == [EhciHCD, EhciHCD]
        assert [hcd.nports for hcd in system.controllers] == [6, 6]
    finally:
        system.close()


@pytest.mark.parametrize(("hcd", "ports", "nports"), [
    ("inproc", None, 6), ("uhci", None, 2), ("ohci", None, 3), ("uhci", 5, 5)])
def test_boot_without_ports_gives_the_kinds_own(hcd: str, ports: int | None,
                                                nports: int) -> None:
    system = boot(hcd=hcd, ports=ports)
    try:
        assert [h.nports for h in system.controllers] == [nports]
    finally:
        system.close()


def test_boot_refuses_an_unknown_kind_or_ports_the_kind_has_not() -> None:
    with pytest.raises(MachineError, match=r"^no host controller kind named 'nope'; known "
                                           r"host controller kinds: ehci, inproc, ohci, "
                                           r"uhci, vhci$"):
        boot(hcd="nope")
    with pytest.raises(MachineError, match=r"^nports=16: EHCI root hubs have 1\.\.15 ports$"):
        boot(hcd="ehci", ports=16)


def test_a_kind_that_does_not_load_is_a_machine_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HCD_KINDS, "builtin",
                        {"broken": "usbemu.no_such_module:Hcd", **HCD_KINDS.builtin})
    assert check_hcd_kind("broken") == "broken"
    with pytest.raises(MachineError, match=r"^host controller kind 'broken' "
                                           r"\(usbemu\.no_such_module:Hcd\) failed to load"):
        hcd_kind("broken")
    system = boot(hcd="uhci")
    try:                                    # the kinds that load are still found
        assert controller_kind(system.controllers[0]) == "uhci"
    finally:
        system.close()
