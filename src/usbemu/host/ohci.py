"""The in-process controller presented as an OHCI controller — counterpart of Linux's
drivers/usb/host/ohci-pci.c, ohci-hcd.c and ohci-hub.c as a machine sees them.

`OhciHCD` (controller kind "ohci") moves data as every in-process controller does
(`usbemu.host.inproc`); what makes it OHCI is what the host sees of it: a full-speed root
hub (1d6b:0001, "OHCI PCI host controller", bcdUSB 1.10) with the ports RhDescriptorA
reports (3 unless told, as QEMU's pci-ohci has), the PCI driver named `ohci-pci` and the
HCD `ohci_hcd` in messages, its "irq N, io mem 0x..." start-up line, and its root hub's
answers (`usbemu.host.roothub.OHCI_ROOT_HUB`: no power switching, global over-current,
C_PORT_RESET at the end of a reset).  An OHCI controller can be an EHCI controller's
companion, as on AMD and NVIDIA chipsets.

What it does not do: the HCCA, ED and TD lists of ohci-q.c, periodic bandwidth
accounting, or the done queue; a transfer takes no bus time.
"""

from __future__ import annotations

from typing import ClassVar, Final

from ..errors import Errno
from ..spec.ch9 import Speed
from .inproc import InProcessController, outcome_statuses
from .roothub import OHCI_ROOT_HUB, RootHubKind

__all__ = ["OHCI_MAX_PORTS", "OhciHCD"]

#: RhDescriptorA.NDP is 8 bits, but an OHCI root hub has at most 15 ports (ohci.h MAX_ROOT_PORTS).
OHCI_MAX_PORTS: Final = 15


class OhciHCD(InProcessController):
    """An OHCI controller (ohci-pci) with `nports` root ports (3 unless told, 1..15)."""

    description = "ohci_hcd"
    product_desc = "OHCI PCI host controller"
    driver_name = "ohci-pci"
    rh_speed = Speed.FULL
    default_nports = 3
    root_hub_kind: ClassVar[RootHubKind] = OHCI_ROOT_HUB
    #: ohci.h cc_to_error: TD_CC_CRC -EILSEQ, TD_CC_BITSTUFFING -EPROTO; an OUT packet
    #: the device drops for its CRC gets no handshake, TD_DEVNOTRESP -ETIME.
    outcome_status = outcome_statuses(-Errno.EILSEQ, -Errno.ETIME, -Errno.EPROTO)

    max_ports = OHCI_MAX_PORTS
