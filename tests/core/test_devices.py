"""The devices file (usbemu.core.devices): /sys/kernel/debug/usb/devices byte for byte —
the reference capture of a real Linux 6.12 kernel reproduced, and a topology with an
external hub, low/full/high-speed devices, an IAD, altsettings and an inactive
configuration; the per-device budget and its "(truncated)" marker."""

from __future__ import annotations

from usbemu.core.devices import DEVICES_PATH, class_decode, devices_text
from usbemu.emulated.device import DeviceModel
from usbemu.emulated.models.hub import Hub
from usbemu.emulated.models.mouse import BootMouse
from usbemu.emulated.models.pendrive import PenDrive
from usbemu.emulated.models.zero import GadgetZero
from usbemu.spec.ch9 import Speed
from usbemu.spec.descriptors import (
    ConfigDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceAssociation,
    InterfaceDescriptor,
)
from usbemu.system import System
from usbemu.testing import blacklist

# debugfs-usb-devices.txt of the capture (its "# uptime" header line left out).  Nothing
# in it varies between boots.
CAPTURE = """
T:  Bus=01 Lev=00 Prnt=00 Port=00 Cnt=00 Dev#=  1 Spd=480  MxCh= 6
B:  Alloc=  0/800 us ( 0%), #Int=  1, #Iso=  0
D:  Ver= 2.00 Cls=09(hub  ) Sub=00 Prot=00 MxPS=64 #Cfgs=  1
P:  Vendor=1d6b ProdID=0002 Rev= 6.12
S:  Manufacturer=Linux 6.12.117+deb12-amd64 ehci_hcd
S:  Product=EHCI Host Controller
S:  SerialNumber=0000:00:02.0
C:* #Ifs= 1 Cfg#= 1 Atr=e0 MxPwr=  0mA
I:* If#= 0 Alt= 0 #EPs= 1 Cls=09(hub  ) Sub=00 Prot=00 Driver=hub
E:  Ad=81(I) Atr=03(Int.) MxPS=   4 Ivl=256ms

T:  Bus=01 Lev=01 Prnt=01 Port=00 Cnt=01 Dev#=  2 Spd=480  MxCh= 0
D:  Ver= 2.00 Cls=00(>ifc ) Sub=00 Prot=00 MxPS=64 #Cfgs=  1
P:  Vendor=0627 ProdID=0001 Rev= 0.00
S:  Manufacturer=QEMU
S:  Product=QEMU USB Keyboard
S:  SerialNumber=68284-0000:00:02.0-1
C:* #Ifs= 1 Cfg#= 1 Atr=a0 MxPwr=100mA
I:* If#= 0 Alt= 0 #EPs= 1 Cls=03(HID  ) Sub=01 Prot=01 Driver=usbhid
E:  Ad=81(I) Atr=03(Int.) MxPS=   8 Ivl=8ms

T:  Bus=01 Lev=01 Prnt=01 Port=01 Cnt=02 Dev#=  3 Spd=480  MxCh= 0
D:  Ver= 2.00 Cls=00(>ifc ) Sub=00 Prot=00 MxPS=64 #Cfgs=  1
P:  Vendor=46f4 ProdID=0001 Rev= 0.00
S:  Manufacturer=QEMU
S:  Product=QEMU USB HARDDRIVE
S:  SerialNumber=1-0000:00:02.0-2
C:* #Ifs= 1 Cfg#= 1 Atr=c0 MxPwr=  0mA
I:* If#= 0 Alt= 0 #EPs= 2 Cls=08(stor.) Sub=06 Prot=50 Driver=usb-storage
E:  Ad=81(I) Atr=02(Bulk) MxPS= 512 Ivl=0ms
E:  Ad=02(O) Atr=02(Bulk) MxPS= 512 Ivl=0ms
"""


def test_the_capture_is_reproduced_byte_for_byte(capture: System) -> None:
    # The B: line prints the bus's periodic bookkeeping, which the host controller keeps:
    # Linux's EHCI counted the keyboard's interrupt URB (usbhid polls it); the in-process
    # controller keeps no periodic schedule (as dummy_hcd), so the count is set here.
    bus = capture.usb.buses[1]
    assert (bus.bandwidth_allocated, bus.bandwidth_int_reqs, bus.bandwidth_isoc_reqs) == \
        (0, 0, 0)
    bus.bandwidth_int_reqs = 1
    assert devices_text(capture.usb) == CAPTURE
    assert capture.vfs.read(DEVICES_PATH) == CAPTURE.encode()


def composite() -> DeviceModel:
    """A full-speed composite device: an IAD over interfaces 0 and 1, a data interface
    with an idle altsetting 0 and a streaming altsetting 1."""
    iad = InterfaceAssociation(2, 0x02, 0x02, 0x01)
    comm = InterfaceDescriptor(0x02, 0x02, 0x01, (EndpointDescriptor.interrupt(0x83, 16, 10),),
                               association=iad)
    data0 = InterfaceDescriptor(0x0A, 0, 0, ())
    data1 = InterfaceDescriptor(0x0A, 0, 0, (EndpointDescriptor.bulk(0x81, 64),
                                             EndpointDescriptor.bulk(0x02, 64)),
                                bAlternateSetting=1)
    config = ConfigDescriptor(interfaces=(comm, data0, data1), bMaxPower=50,
                              bmAttributes=0xA0)
    return DeviceModel(DeviceDescriptor(0x1234, 0x5678, bcdUSB=0x0110, bcdDevice=0x0203,
                                        bDeviceClass=0xEF, bDeviceSubClass=2,
                                        bDeviceProtocol=1, bMaxPacketSize0=16,
                                        configurations=(config,),
                                        strings={1: "x" * 120}, iProduct=1),
                       speed=Speed.FULL)


TOPOLOGY = """
T:  Bus=01 Lev=00 Prnt=00 Port=00 Cnt=00 Dev#=  1 Spd=480  MxCh= 4
B:  Alloc=  0/800 us ( 0%), #Int=  0, #Iso=  0
D:  Ver= 2.00 Cls=09(hub  ) Sub=00 Prot=01 MxPS=64 #Cfgs=  1
P:  Vendor=1d6b ProdID=0002 Rev= 6.12
S:  Manufacturer=Linux 6.12.0 ehci_hcd
S:  Product=EHCI Host Controller
S:  SerialNumber=0000:00:1d.0
C:* #Ifs= 1 Cfg#= 1 Atr=e0 MxPwr=  0mA
I:* If#= 0 Alt= 0 #EPs= 1 Cls=09(hub  ) Sub=00 Prot=00 Driver=hub
E:  Ad=81(I) Atr=03(Int.) MxPS=   4 Ivl=256ms

T:  Bus=01 Lev=01 Prnt=01 Port=00 Cnt=01 Dev#=  2 Spd=480  MxCh= 4
D:  Ver= 2.00 Cls=09(hub  ) Sub=00 Prot=01 MxPS=64 #Cfgs=  1
P:  Vendor=05e3 ProdID=0608 Rev=77.63
S:  Product=USB2.0 Hub
C:* #Ifs= 1 Cfg#= 1 Atr=e0 MxPwr=100mA
I:* If#= 0 Alt= 0 #EPs= 1 Cls=09(hub  ) Sub=00 Prot=00 Driver=hub
E:  Ad=81(I) Atr=03(Int.) MxPS=   1 Ivl=256ms

T:  Bus=01 Lev=02 Prnt=02 Port=00 Cnt=01 Dev#=  3 Spd=1.5  MxCh= 0
D:  Ver= 2.00 Cls=00(>ifc ) Sub=00 Prot=00 MxPS= 8 #Cfgs=  1
P:  Vendor=046d ProdID=c077 Rev=72.00
S:  Manufacturer=Logitech
S:  Product=USB Optical Mouse
C:* #Ifs= 1 Cfg#= 1 Atr=a0 MxPwr=100mA
I:* If#= 0 Alt= 0 #EPs= 1 Cls=03(HID  ) Sub=01 Prot=02 Driver=usbhid
E:  Ad=81(I) Atr=03(Int.) MxPS=   4 Ivl=10ms

T:  Bus=01 Lev=02 Prnt=02 Port=02 Cnt=02 Dev#=  5 Spd=480  MxCh= 0
D:  Ver= 2.00 Cls=00(>ifc ) Sub=00 Prot=00 MxPS=64 #Cfgs=  1
P:  Vendor=058f ProdID=6387 Rev= 1.00
S:  Manufacturer=Generic
S:  Product=Mass Storage
S:  SerialNumber=6E5C7D12
C:* #Ifs= 1 Cfg#= 1 Atr=80 MxPwr=100mA
I:* If#= 0 Alt= 0 #EPs= 2 Cls=08(stor.) Sub=06 Prot=50 Driver=usb-storage
E:  Ad=01(O) Atr=02(Bulk) MxPS= 512 Ivl=0ms
E:  Ad=82(I) Atr=02(Bulk) MxPS= 512 Ivl=0ms

T:  Bus=01 Lev=02 Prnt=02 Port=03 Cnt=03 Dev#=  6 Spd=12   MxCh= 0
D:  Ver= 1.10 Cls=ef(misc ) Sub=02 Prot=01 MxPS=16 #Cfgs=  1
P:  Vendor=1234 ProdID=5678 Rev= 2.03
S:  Product={LONG}
C:* #Ifs= 2 Cfg#= 1 Atr=a0 MxPwr=100mA
A:  FirstIf#= 0 IfCount= 2 Cls=02(comm.) Sub=02 Prot=01
I:* If#= 0 Alt= 0 #EPs= 1 Cls=02(comm.) Sub=02 Prot=01 Driver=(none)
E:  Ad=83(I) Atr=03(Int.) MxPS=  16 Ivl=10ms
I:* If#= 1 Alt= 0 #EPs= 0 Cls=0a(data ) Sub=00 Prot=00 Driver=(none)
I:  If#= 1 Alt= 1 #EPs= 2 Cls=0a(data ) Sub=00 Prot=00 Driver=(none)
E:  Ad=81(I) Atr=02(Bulk) MxPS=  64 Ivl=0ms
E:  Ad=02(O) Atr=02(Bulk) MxPS=  64 Ivl=0ms

T:  Bus=01 Lev=01 Prnt=01 Port=01 Cnt=02 Dev#=  4 Spd=480  MxCh= 0
D:  Ver= 2.00 Cls=ff(vend.) Sub=00 Prot=00 MxPS=64 #Cfgs=  2
P:  Vendor=0525 ProdID=a4a0 Rev= 6.12
S:  Manufacturer=Linux 6.12.0 with dummy_udc
S:  Product=Gadget Zero
S:  SerialNumber=0123456789.0123456789.0123456789
C:* #Ifs= 1 Cfg#= 3 Atr=c0 MxPwr=  2mA
I:* If#= 0 Alt= 0 #EPs= 2 Cls=ff(vend.) Sub=00 Prot=00 Driver=(none)
E:  Ad=81(I) Atr=02(Bulk) MxPS= 512 Ivl=0ms
E:  Ad=02(O) Atr=02(Bulk) MxPS= 512 Ivl=0ms
I:  If#= 0 Alt= 1 #EPs= 4 Cls=ff(vend.) Sub=00 Prot=00 Driver=(none)
E:  Ad=81(I) Atr=02(Bulk) MxPS= 512 Ivl=0ms
E:  Ad=02(O) Atr=02(Bulk) MxPS= 512 Ivl=0ms
E:  Ad=83(I) Atr=01(Isoc) MxPS=1024 Ivl=1ms
E:  Ad=04(O) Atr=01(Isoc) MxPS=1024 Ivl=1ms
C:  #Ifs= 1 Cfg#= 2 Atr=c0 MxPwr=  2mA
I:  If#= 0 Alt= 0 #EPs= 2 Cls=ff(vend.) Sub=00 Prot=00 Driver=
E:  Ad=81(I) Atr=02(Bulk) MxPS= 512 Ivl=0ms
E:  Ad=02(O) Atr=02(Bulk) MxPS= 512 Ivl=0ms
I:  If#= 0 Alt= 1 #EPs= 6 Cls=ff(vend.) Sub=00 Prot=00 Driver=
E:  Ad=81(I) Atr=02(Bulk) MxPS= 512 Ivl=0ms
E:  Ad=02(O) Atr=02(Bulk) MxPS= 512 Ivl=0ms
E:  Ad=83(I) Atr=01(Isoc) MxPS=1024 Ivl=1ms
E:  Ad=04(O) Atr=01(Isoc) MxPS=1024 Ivl=1ms
E:  Ad=85(I) Atr=03(Int.) MxPS=1024 Ivl=1ms
E:  Ad=06(O) Atr=03(Int.) MxPS=1024 Ivl=1ms
""".replace("{LONG}", "x" * 100)  # %.100s of a 120-character product string


def test_topology_with_a_hub() -> None:
    with System() as system:
        system.add_controller(nports=4)
        blacklist(system, "usbtest")
        system.plug(Hub(4), "1-1")
        system.settle()
        system.plug(BootMouse(), "1-1.1")
        system.plug(PenDrive(storage="memory"), "1-1.3")
        system.plug(composite(), "1-1.4")
        system.plug(GadgetZero(), "1-2")
        system.settle()
        assert devices_text(system.usb) == TOPOLOGY
        assert system.vfs.read_text(DEVICES_PATH) == TOPOLOGY


def test_a_device_block_is_cut_at_two_pages() -> None:
    alts = tuple(InterfaceDescriptor(0xFF, 0, 0, (EndpointDescriptor.bulk(0x81, 512),
                                                  EndpointDescriptor.bulk(0x02, 512)),
                                     bInterfaceNumber=0, bAlternateSetting=n)
                 for n in range(60))
    big = DeviceModel(DeviceDescriptor(0x1234, 0x0001, configurations=(
        ConfigDescriptor(interfaces=alts),)))
    with System() as system:
        system.add_controller(nports=2)
        system.plug(big, "1-2")
        system.settle()
        blocks = devices_text(system.usb).split("\nT:")
        block = "\nT:" + blocks[-1]
        assert block.endswith("(truncated)\n")
        body = block[:-len("(truncated)\n")]
        last = body.splitlines(keepends=True)[-1]
        # lines are printed while the block is at most 7936 bytes long: the last one
        # starts at or below the limit and ends past it
        assert len(body) - len(last) <= 2 * 4096 - 256 < len(body)
        assert "I:  If#= 0 Alt=59" not in block


def test_class_names() -> None:
    assert [class_decode(c) for c in (0x00, 0x09, 0x10, 0xE0, 0xFF, 0x04, 0x42)] == \
        [">ifc", "hub", "av", "wlcon", "vend.", "unk.", "unk."]
