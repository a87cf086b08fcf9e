"""Shared by the sysfs, devices-file and lsusb tests (imported through conftest): an
emulated machine rebuilt from the reference capture of a real Linux 6.12 kernel
(tests/golden/linux-6.12-ehci-kbd-storage): an EHCI controller without a TT at PCI
0000:00:02.0, QEMU's keyboard on port 1 and QEMU's mass-storage device on port 2, cloned
from their `descriptors` dumps and strings, with interface drivers named usbhid and
usb-storage bound to them as on the real machine."""

from __future__ import annotations

from usbemu.core.devtable import MatchFlag, UsbDeviceId
from usbemu.core.driver import UsbDriver, usb_register
from usbemu.core.usbcore import Uname
from usbemu.emulated.clone import ClonedDevice, parse_hex
from usbemu.system import System

KEYBOARD = parse_hex("""
    12 01 00 02 00 00 00 40 27 06 01 00 00 00 01 04
    0b 01 09 02 22 00 01 01 08 a0 32 09 04 00 00 01
    03 01 01 00 09 21 11 01 00 01 22 3f 00 07 05 81
    03 08 00 07""")
KEYBOARD_STRINGS = {1: "QEMU", 4: "QEMU USB Keyboard", 11: "68284-0000:00:02.0-1",
                    8: "HID Keyboard"}
STORAGE = parse_hex("""
    12 01 00 02 00 00 00 40 f4 46 01 00 00 00 01 02
    03 01 09 02 20 00 01 01 05 c0 00 09 04 00 00 02
    08 06 50 00 07 05 81 02 00 02 00 07 05 02 02 00
    02 00""")
STORAGE_STRINGS = {1: "QEMU", 2: "QEMU USB HARDDRIVE", 3: "1-0000:00:02.0-2",
                   5: "High speed config (usb 2.0)"}
UNAME = Uname(release="6.12.117+deb12-amd64")


class ClassDriver(UsbDriver):
    """A stand-in for a class driver: binds every interface of its class and, like usbhid
    and usb-storage, supports autosuspend."""

    supports_autosuspend = True

    def __init__(self, name: str, interface_class: int) -> None:
        super().__init__(name, id_table=(UsbDeviceId(MatchFlag.INT_CLASS,
                                                     bInterfaceClass=interface_class),))
        self.probed: list[str] = []

    async def probe(self, intf: object, id: UsbDeviceId) -> int:
        self.probed.append(getattr(intf, "name", "?"))
        return 0


def capture_machine(*, drivers: bool = True) -> System:
    """The machine of the capture, booted, both devices enumerated and bound."""
    system = System(uname=UNAME)
    system.boot()
    if drivers:
        system.run(usb_register(system.usb, ClassDriver("usbhid", 0x03)))
        system.run(usb_register(system.usb, ClassDriver("usb-storage", 0x08)))
    system.run(system.aadd_controller(nports=6, has_tt=False, pci_name="0000:00:02.0"))
    system.plug(ClonedDevice(KEYBOARD, KEYBOARD_STRINGS), "1-1")
    system.plug(ClonedDevice(STORAGE, STORAGE_STRINGS), "1-2")
    system.settle()
    return system
