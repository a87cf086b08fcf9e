"""Host controller drivers, and the registry of controller kinds.

A controller kind is a `usbemu.core.hcd.HostController` subclass found by name, as
DESIGN.md §7 says: the built-in table below plus the `usbemu.hcds` entry-point group of
installed packages (`usbemu.plugins`), imported only when a machine asks for the kind
(`System.add_controller("inproc")`).  A kind's class is constructed as
`cls(core, controller_device, nports, **options)`; its `driver_name` names the PCI driver
it is bound to (the platform driver, for a kind with a `platform_name`), and a controller
whose wire reaches device models sets `downstream` to the `usbemu.emulated.port.PortOwner`
of its root ports so that models can be plugged in.

Built in: `inproc` (`inproc.py`), the in-process controller presented as ehci-pci, and
the full-speed controllers a PC chipset pairs with it, `uhci` (`uhci.py`, uhci_hcd) and
`ohci` (`ohci.py`, ohci-pci); their root hubs are `roothub.py`, which also routes an EHCI
root port to its companion controller.  `vhci` (`vhci.py`, vhci_hcd) is USB/IP's: its
ports hold connections to remote devices instead of device models.
`usbemu.testing.check_host_controller` is the conformance suite every kind whose ports
take device models is held to.
"""

from __future__ import annotations

from typing import Final

from ..core.hcd import HostController
from ..plugins import PluginRegistry

__all__ = ["BUILTIN_HCDS", "ENTRY_POINT_GROUP", "HCD_KINDS", "load_hcd_kind"]

ENTRY_POINT_GROUP: Final = "usbemu.hcds"

#: name → "module:Class" of the controller kinds shipped with usbemu.
BUILTIN_HCDS: Final[dict[str, str]] = {
    "inproc": "usbemu.host.inproc:InProcessHCD",
    "uhci": "usbemu.host.uhci:UhciHCD",
    "ohci": "usbemu.host.ohci:OhciHCD",
    "ehci": "usbemu.host.ehci:EhciHCD",
    "vhci": "usbemu.host.vhci:VhciHCD",
}

#: The controller-kind registry: built-in kinds and those of installed plugins.
HCD_KINDS: Final = PluginRegistry("host controller kind", ENTRY_POINT_GROUP, BUILTIN_HCDS,
                                  base=HostController)


def load_hcd_kind(name: str) -> type[HostController]:
    """The HostController subclass registered as `name`.  Raises PluginNotFound (listing
    the known kinds) or PluginLoadError with its cause.  Context: atomic (may import)."""
    cls: type[HostController] = HCD_KINDS.load(name)
    return cls
