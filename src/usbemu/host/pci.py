"""The PCI resources of emulated host controllers — what `lspci -v` would show for them and
usb_add_hcd prints ("irq %d, io mem 0x%08llx" / "io port 0x%08llx", drivers/usb/core/hcd.c
usb_hcd_request_irqs).

A machine has no PCI bus to enumerate: each controller's interrupt line and register
window are fixed values, those of the machine a reference capture was taken on where one
exists (QEMU's EHCI at 0000:00:02.0) and otherwise what a PC chipset's firmware typically
assigns: memory windows of 4 KiB per device below 0xf7f00000's top (1 KiB per function), and
32-byte I/O windows from 0xc000 for UHCI.  They are what the messages show; nothing reads
or writes them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["pci_resources"]

#: (irq, register window) of PCI functions a real machine was captured with.
_KNOWN: Final[dict[tuple[str, bool], tuple[int, int]]] = {
    ("0000:00:02.0", True): (10, 0xFEBFF000),
}
#: Interrupt lines of an ICH9's USB functions (PIRQ routing of a typical board).
_ICH_IRQS: Final[dict[tuple[int, int], int]] = {
    (0x1D, 0): 23, (0x1D, 1): 19, (0x1D, 2): 18, (0x1D, 7): 23,
    (0x1A, 0): 16, (0x1A, 1): 21, (0x1A, 2): 19, (0x1A, 7): 18,
}
_MEM_BASE: Final = 0xF7F00000
_IO_BASE: Final = 0xC000
_IO_WINDOW: Final = 0x20


def _slot_function(name: str) -> tuple[int, int]:
    """(device, function) of "0000:00:1d.7"; (0, 0) for a name that is not a PCI address."""
    try:
        device, function = name.split(":")[2].split(".")
        return int(device, 16), int(function, 16)
    except (IndexError, ValueError):
        return 0, 0


def pci_resources(name: str, *, memory: bool) -> tuple[int, int]:
    """(irq, start of the register window) of the PCI function `name` ("0000:00:1d.0"): a
    memory window when `memory` (EHCI, OHCI: HCD_MEMORY), else an I/O port range (UHCI).
    Context: atomic."""
    known = _KNOWN.get((name, memory))
    if known is not None:
        return known
    slot, function = _slot_function(name)
    irq = _ICH_IRQS.get((slot, function), 23)
    if memory:
        return irq, _MEM_BASE | slot << 12 | function << 10
    return irq, _IO_BASE + _IO_WINDOW * ((slot & 0x7) * 8 + function)
