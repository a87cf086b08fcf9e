"""usb-storage — counterpart of drivers/usb/storage/usb.c (Linux 6.12), the loadable
module `usb-storage` (usb_storage): the USB Mass Storage driver.

Its id table (usual_tables.py) takes every mass-storage interface of the Bulk-Only,
Control/Bulk and Control/Bulk/Interrupt transports and the unusual devices of
unusual_devs.py, so udev autoloads it (and uas) for a USB stick, as it does for the
article's pen drive: pen_driver keeps the pen only if it was loaded first or usb-storage
and uas are blacklisted.  `storage_probe` leaves UAS-capable interfaces to uas and
subdriver devices to their modules, then probes as usb.c does:
"USB Mass Storage device detected", a SCSI host allocated with the usb-storage template,
the unusual_devs entry and the `quirks` parameter merged into the device's flags ("Quirks
match for vid … pid …: …"), transport and protocol chosen from the interface (or the
entry), the bulk (and interrupt) pipes found, the control thread started and the host
added below the interface ("scsi host0: usb-storage 1-1:1.0").  The scan waits `delay_use`
(1 s; "100ms" gives milliseconds) and then asks GET MAX LUN (Bulk-Only) and scans the LUNs.
The control thread runs one command at a time through the protocol handler and the
transport (protocol.py, transport.py).  A disconnect stops the scan, removes the host
(commands during it fail with DID_NO_CONNECT), and stops the thread.

The module's `quirks` parameter is "VID:PID:flags[,VID:PID:flags…]" with usb.c's letters
(a SANE_SENSE … y ALWAYS_SYNC; unknown letters are ignored), read at each probe; a device
added by new_id gets Bulk-Only transparent SCSI.  System.settle() waits for the delayed
scan (it is tracked with the driver core's pending work), so a disk is there after it.
Not modelled: power management beyond taking the device lock around suspend and resume
(no runtime PM), /proc/scsi/usb-storage, the subdriver modules (ums-*), the HIGHMEM
host-controller check.
"""

from __future__ import annotations

import asyncio
from typing import Final

from usbemu.core.devtable import UsbDeviceId
from usbemu.core.driver import UsbDriver, usb_deregister, usb_register
from usbemu.core.urb import PIPE_BULK, PIPE_CONTROL, PIPE_INTERRUPT, make_pipe
from usbemu.core.usb import UsbDevice, UsbHostEndpoint, UsbHostInterface, UsbInterface
from usbemu.core.usbcore import current_usbcore
from usbemu.errors import Errno
from usbemu.kernel.module import (
    module_author,
    module_description,
    module_device_table,
    module_exit,
    module_init,
    module_license,
    module_param_cb,
    module_param_string,
)
from usbemu.kernel.params import ParamError, ParamType, kstrtoull
from usbemu.kernel.scsi.hosts import (
    scsi_add_host,
    scsi_host_alloc,
    scsi_host_put,
    scsi_remove_host,
)
from usbemu.kernel.scsi.scsi import scsi_core_of
from usbemu.kernel.scsi.scsi_cmnd import DataDirection, HostByte, ScsiCmnd
from usbemu.kernel.scsi.scsi_scan import scsi_scan_host
from usbemu.spec.ch9 import DeviceState, EndpointType, Speed
from usbemu.spec.scsi import Opcode, SamStatus
from usbemu.spec.storage import StorageProtocol, StorageSubclass

from .protocol import (
    usb_stor_pad12_command,
    usb_stor_transparent_scsi_command,
    usb_stor_ufi_command,
)
from .scsiglue import usb_stor_host_template, usb_stor_report_bus_reset
from .transport import (
    usb_stor_Bulk_max_lun,
    usb_stor_Bulk_reset,
    usb_stor_Bulk_transport,
    usb_stor_CB_reset,
    usb_stor_CB_transport,
)
from .uas_detect import uas_use_uas_driver
from .us_data import (
    ProtoHandler,
    Transport,
    TransportReset,
    UsData,
    UsFlag,
    UsFlidx,
    UsUnusualDev,
)
from .usual_tables import usb_storage_usb_ids, usb_usual_ignore_device, usual_dev_for_id

DRV_NAME: Final = "usb-storage"

# -- module parameters ----------------------------------------------------------------------

_UINT_MAX: Final = 0xFFFFFFFF
_SPACES: Final = " \t\n\v\f\r"


def parse_delay_str(text: str, ndecimals: int = 3, suffix: str = "ms") -> int:
    """parse_delay_str(): an unsigned decimal, scaled up by 10^`ndecimals` unless it ends
    with `suffix` ("1" → 1000, "250ms" → 250); one trailing newline is allowed.  Raises
    ParamError(-EINVAL / -ERANGE) as kstrtouint fails.  Context: pure."""
    n = len(text)
    if n and text[n - 1] == "\n":
        n -= 1
    if n >= len(suffix) and text[n - len(suffix):n] == suffix:
        n -= len(suffix)
        pad = 0
    else:
        pad = ndecimals
    if n + pad > 15:                         # char buf[16]
        raise ParamError(-Errno.EINVAL)
    value = kstrtoull(text[:n] + "0" * pad, 10)
    if value > _UINT_MAX:
        raise ParamError(-Errno.ERANGE)
    return value


def format_delay_ms(value: int, ndecimals: int = 3, suffix: str = "ms") -> str:
    """format_delay_ms(): whole units without the suffix ("1"), else the raw value with
    it ("1500ms"), and a newline.  Context: pure."""
    whole, rem = divmod(value, 10 ** ndecimals)
    return f"{value}{suffix}\n" if rem else f"{whole}\n"


#: delay_use_ops: the delay in milliseconds, set and shown as seconds or "<n>ms".
DELAY_USE_OPS: Final = ParamType(
    "delay_use", lambda text: parse_delay_str(text.lstrip(_SPACES)), format_delay_ms,
    lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _UINT_MAX)

delay_use: int = module_param_cb("delay_use", DELAY_USE_OPS, 0o644, default=1000,
                                 description="time to delay before using a new device")
quirks: str = module_param_string("quirks", 128, 0o644, default="",
                                  description="supplemental list of device IDs and their "
                                              "quirks")

# -- usb_stor_adjust_quirks -------------------------------------------------------------------

#: The flag letters of the quirks parameter.
QUIRK_LETTERS: Final[dict[str, UsFlag]] = {
    "a": UsFlag.SANE_SENSE, "b": UsFlag.BAD_SENSE, "c": UsFlag.FIX_CAPACITY,
    "d": UsFlag.NO_READ_DISC_INFO, "e": UsFlag.NO_READ_CAPACITY_16,
    "f": UsFlag.NO_REPORT_OPCODES, "g": UsFlag.MAX_SECTORS_240,
    "h": UsFlag.CAPACITY_HEURISTICS, "i": UsFlag.IGNORE_DEVICE, "j": UsFlag.NO_REPORT_LUNS,
    "k": UsFlag.NO_SAME, "l": UsFlag.NOT_LOCKABLE, "m": UsFlag.MAX_SECTORS_64,
    "n": UsFlag.INITIAL_READ10, "o": UsFlag.CAPACITY_OK, "p": UsFlag.WRITE_CACHE,
    "r": UsFlag.IGNORE_RESIDUE, "s": UsFlag.SINGLE_LUN, "t": UsFlag.NO_ATA_1X,
    "u": UsFlag.IGNORE_UAS, "w": UsFlag.NO_WP_DETECT, "y": UsFlag.ALWAYS_SYNC,
}
#: The flags a quirks entry replaces (NO_SAME, 'k', can be added but is not cleared).
QUIRK_MASK: Final = (
    UsFlag.SANE_SENSE | UsFlag.BAD_SENSE | UsFlag.FIX_CAPACITY | UsFlag.IGNORE_UAS
    | UsFlag.CAPACITY_HEURISTICS | UsFlag.IGNORE_DEVICE | UsFlag.NOT_LOCKABLE
    | UsFlag.MAX_SECTORS_64 | UsFlag.CAPACITY_OK | UsFlag.IGNORE_RESIDUE | UsFlag.SINGLE_LUN
    | UsFlag.NO_WP_DETECT | UsFlag.NO_READ_DISC_INFO | UsFlag.NO_READ_CAPACITY_16
    | UsFlag.INITIAL_READ10 | UsFlag.WRITE_CACHE | UsFlag.NO_ATA_1X | UsFlag.NO_REPORT_OPCODES
    | UsFlag.MAX_SECTORS_240 | UsFlag.NO_REPORT_LUNS | UsFlag.ALWAYS_SYNC)

_HEX: Final = "0123456789abcdefABCDEF"


def _simple_strtoul16(text: str, at: int) -> tuple[int, int]:
    """simple_strtoul(p, &p, 16): hex digits from `at` (an "0x" before a digit is
    skipped); (value, index after the digits) — (0, `at`) when there are none."""
    if text[at:at + 1] == "0" and text[at + 1:at + 2] in ("x", "X") \
            and text[at + 2:at + 3] != "" and text[at + 2:at + 3] in _HEX:
        at += 2
    end = at
    while end < len(text) and text[end] in _HEX:
        end += 1
    return (int(text[at:end], 16) if end > at else 0), end


def _find_quirks_entry(text: str, vid: int, pid: int) -> int | None:
    """The index of the ':' before the flags of the entry for vid:pid, else None."""
    p = 0
    while p < len(text):
        value, p = _simple_strtoul16(text, p)
        if value == vid and text[p:p + 1] == ":":
            value, p = _simple_strtoul16(text, p + 1)
            if value == pid and text[p:p + 1] == ":":
                return p
        comma = text.find(",", p)
        p = len(text) if comma < 0 else comma + 1
    return None


def usb_stor_adjust_quirks(udev: UsbDevice, fflags: int, quirks_text: str | None = None) -> int:
    """usb_stor_adjust_quirks(): `fflags` with the flags the quirks parameter gives the
    device's vendor and product replacing the maskable ones; unchanged when no entry
    names it.  `quirks_text` defaults to this module's `quirks`.  Context: atomic."""
    text = quirks if quirks_text is None else quirks_text
    desc = udev.descriptor
    if desc is None:
        return fflags
    at = _find_quirks_entry(text, desc.idVendor, desc.idProduct)
    if at is None:
        return fflags
    found = UsFlag(0)
    for char in text[at + 1:].split(",", 1)[0]:
        found |= QUIRK_LETTERS.get(chr(ord(char) | 0x20), UsFlag(0))
    return (fflags & ~QUIRK_MASK) | found


# -- the control thread ---------------------------------------------------------------------

#: Faked INQUIRY data of a FIX_INQUIRY device (then vendor, product, revision).
_FAKE_INQUIRY_HEAD: Final = bytes([0x00, 0x80, 0x02, 0x02, 0x1F, 0x00, 0x00, 0x00])


def fill_inquiry_response(us: UsData, data: bytearray, srb: ScsiCmnd) -> None:
    """fill_inquiry_response(): complete 36 bytes of INQUIRY data with the unusual_devs
    entry's vendor and product names and the bcdDevice digits as revision (spaces when
    the peripheral qualifier says nothing is connected), and copy them into `srb`'s
    buffer (usb_stor_set_xfer_buf).  Context: atomic."""
    if len(data) < 36:
        return
    data[8:36] = b" " * 28
    if not data[0] & 0x20:
        names = us.unusual_dev
        vendor = (names.vendorName or "").encode("ascii", "replace")[:8]
        product = (names.productName or "").encode("ascii", "replace")[:16]
        data[8:8 + len(vendor)] = vendor
        data[16:16 + len(product)] = product
        desc = us.pusb_dev.descriptor
        bcd = desc.bcdDevice if desc is not None else 0
        data[32:36] = bytes(0x30 + ((bcd >> shift) & 0x0F) for shift in (12, 8, 4, 0))
    count = min(len(data), srb.bufflen)
    srb.buffer[:count] = data[:count]
    if count < srb.bufflen:
        srb.resid = srb.bufflen - count


def _command_refusal(us: UsData, srb: ScsiCmnd) -> int | None:
    """The checks the control thread makes before running a command: the result that
    refuses it (an unknown data direction, a target or LUN the device does not have),
    else None."""
    if srb.sc_data_direction == DataDirection.BIDIRECTIONAL:
        us.dbg("UNKNOWN data direction")
        return HostByte.DID_ERROR << 16
    if srb.device.id and not us.fflags & UsFlag.SCM_MULT_TARG:
        us.dbg(f"Bad target number ({srb.device.id}:{srb.device.lun})")
        return HostByte.DID_BAD_TARGET << 16
    if srb.device.lun > us.max_lun:
        us.dbg(f"Bad LUN ({srb.device.id}:{srb.device.lun})")
        return HostByte.DID_BAD_TARGET << 16
    return None


async def _run_command(us: UsData, srb: ScsiCmnd) -> None:
    """One command of the control thread: refused, faked (FIX_INQUIRY) or run through
    the protocol handler.  A bug in the handler is contained: logged as an oops, the
    command fails with DID_ERROR."""
    refusal = _command_refusal(us, srb)
    if refusal is not None:
        srb.result = refusal
    elif srb.cmnd[0] == Opcode.INQUIRY and us.fflags & UsFlag.FIX_INQUIRY:
        us.dbg("Faking INQUIRY command")
        fill_inquiry_response(us, bytearray(_FAKE_INQUIRY_HEAD + bytes(28)), srb)
        srb.result = SamStatus.GOOD
    else:
        assert us.proto_handler is not None   # usb_stor_probe2() checked
        try:
            await us.proto_handler(srb, us)
        except Exception as exc:
            us.pusb_dev.usb_bus.core.driver_core.contain(
                f"usb-storage control thread of {us.pusb_intf.name}", exc)
            srb.result = HostByte.DID_ERROR << 16


async def usb_stor_control_thread(us: UsData) -> None:
    """usb_stor_control_thread(): sleep until queuecommand hands over a command, run it
    with the device lock held, give it back (unless it was aborted: then wake the abort
    handler instead).  Woken with no command, it ends.  Context: a kthread (a task)."""
    while True:
        await us.cmnd_ready.acquire()
        await us.dev_mutex.acquire()
        srb = us.srb
        if srb is None:
            us.dev_mutex.release()
            us.dbg("-- exiting")
            return
        done: ScsiCmnd | None = srb
        if us.dflags & UsFlidx.TIMED_OUT:
            srb.result = HostByte.DID_ABORT << 16
        else:
            await _run_command(us, srb)
        if srb.result == HostByte.DID_ABORT << 16:
            us.dbg("scsi command aborted")
            done = None
        if us.dflags & UsFlidx.TIMED_OUT:
            us.notify.release()
            us.dflags &= ~(UsFlidx.ABORTING | UsFlidx.TIMED_OUT)
        us.srb = None
        us.dev_mutex.release()
        if done is not None:
            if us.log.debug:
                us.dbg(f"scsi cmd done, result=0x{done.result:x}")
            done.scsi_done()


# -- probing and disconnecting -------------------------------------------------------------

_UNNEEDED: Final = ("an unneeded SubClass entry", "an unneeded Protocol entry",
                    "unneeded SubClass and Protocol entries")


def get_device_info(us: UsData, id: UsbDeviceId, unusual_dev: UsUnusualDev) -> int:
    """get_device_info(): the protocol and transport to use, the flags (id's driver_info
    adjusted by the quirks parameter; "device ignored" → -ENODEV for IGNORE_DEVICE), the
    "Quirks match" line and the unneeded-override notice.  0 or -ENODEV.
    Context: atomic."""
    udev, intf = us.pusb_dev, us.pusb_intf
    idesc = intf.cur_altsetting.desc
    us.unusual_dev = unusual_dev
    us.subclass = (idesc.bInterfaceSubClass if unusual_dev.useProtocol == StorageSubclass.DEVICE
                   else unusual_dev.useProtocol)
    us.protocol = (idesc.bInterfaceProtocol
                   if unusual_dev.useTransport == StorageProtocol.DEVICE
                   else unusual_dev.useTransport)
    info = id.driver_info if isinstance(id.driver_info, int) else 0
    us.fflags = UsFlag(usb_stor_adjust_quirks(udev, info))
    if us.fflags & UsFlag.IGNORE_DEVICE:
        us.log.dev_info(intf, "device ignored")
        return -Errno.ENODEV
    if udev.speed != Speed.HIGH:
        us.fflags &= ~UsFlag.GO_SLOW
    desc = udev.descriptor
    assert desc is not None       # an interface exists only once it was read
    if us.fflags:
        us.log.dev_info(intf, f"Quirks match for vid {desc.idVendor:04x} pid "
                              f"{desc.idProduct:04x}: {int(us.fflags):x}")
    if id.idVendor or id.idProduct:
        msg = -1
        if (unusual_dev.useProtocol != StorageSubclass.DEVICE
                and us.subclass == idesc.bInterfaceSubClass):
            msg += 1
        if (unusual_dev.useTransport != StorageProtocol.DEVICE
                and us.protocol == idesc.bInterfaceProtocol):
            msg += 2
        if msg >= 0 and not us.fflags & UsFlag.NEED_OVERRIDE:
            release = udev.usb_bus.core.uname.release
            us.log.dev_notice(
                intf, f"This device ({desc.idVendor:04x},{desc.idProduct:04x},"
                      f"{desc.bcdDevice:04x} S {idesc.bInterfaceSubClass:02x} P "
                      f"{idesc.bInterfaceProtocol:02x}) has {_UNNEEDED[msg]} in "
                      f"unusual_devs.h (kernel {release})\n"
                      "   Please send a copy of this message to <linux-usb@vger.kernel.org>"
                      " and <usb-storage@lists.one-eyed-alien.net>")
    return 0


#: get_transport(): (name, transport, reset, max_lun or None to keep it).
_TRANSPORTS: Final[dict[int, tuple[str, Transport, TransportReset, int | None]]] = {
    StorageProtocol.CB: ("Control/Bulk", usb_stor_CB_transport, usb_stor_CB_reset, 7),
    StorageProtocol.CBI: ("Control/Bulk/Interrupt", usb_stor_CB_transport,
                          usb_stor_CB_reset, 7),
    StorageProtocol.BULK: ("Bulk", usb_stor_Bulk_transport, usb_stor_Bulk_reset, None),
}

#: get_protocol(): (name, handler, max_lun or None to keep it).
_PROTOCOLS: Final[dict[int, tuple[str, ProtoHandler, int | None]]] = {
    StorageSubclass.RBC: ("Reduced Block Commands (RBC)", usb_stor_transparent_scsi_command,
                          None),
    StorageSubclass.SFF8020: ("8020i", usb_stor_pad12_command, 0),
    StorageSubclass.QIC: ("QIC-157", usb_stor_pad12_command, 0),
    StorageSubclass.SFF8070: ("8070i", usb_stor_pad12_command, 0),
    StorageSubclass.SCSI: ("Transparent SCSI", usb_stor_transparent_scsi_command, None),
    StorageSubclass.UFI: ("Uniform Floppy Interface (UFI)", usb_stor_ufi_command, None),
}


def get_transport(us: UsData) -> None:
    """get_transport(): the transport of `us.protocol` (none for a subdriver's).
    Context: atomic."""
    found = _TRANSPORTS.get(us.protocol)
    if found is not None:
        us.transport_name, us.transport, us.transport_reset, max_lun = found
        if max_lun is not None:
            us.max_lun = max_lun


def get_protocol(us: UsData) -> None:
    """get_protocol(): the protocol handler of `us.subclass`.  Context: atomic."""
    found = _PROTOCOLS.get(us.subclass)
    if found is not None:
        us.protocol_name, us.proto_handler, max_lun = found
        if max_lun is not None:
            us.max_lun = max_lun


def _first_endpoint(alt: UsbHostInterface, etype: EndpointType,
                    is_in: bool) -> UsbHostEndpoint | None:
    return next((ep for ep in alt.endpoint if ep.type == etype
                 and bool(ep.address & 0x80) == is_in), None)


def get_pipes(us: UsData) -> int:
    """get_pipes(): the first bulk-in and bulk-out endpoints (-ENXIO without them), the
    interrupt-in one (required for CBI), and the pipes.  0 or -ENXIO.  Context: atomic."""
    alt = us.pusb_intf.cur_altsetting
    ep_in = _first_endpoint(alt, EndpointType.BULK, True)
    ep_out = _first_endpoint(alt, EndpointType.BULK, False)
    if ep_in is None or ep_out is None:
        us.dbg("bulk endpoints not found")
        return -Errno.ENXIO
    ep_int = _first_endpoint(alt, EndpointType.INT, True)
    if ep_int is None and us.protocol == StorageProtocol.CBI:
        us.dbg("interrupt endpoint not found")
        return -Errno.ENXIO
    udev = us.pusb_dev
    us.send_ctrl_pipe = make_pipe(udev, PIPE_CONTROL, 0, False)
    us.recv_ctrl_pipe = make_pipe(udev, PIPE_CONTROL, 0, True)
    us.send_bulk_pipe = make_pipe(udev, PIPE_BULK, ep_out.address & 0x0F, False)
    us.recv_bulk_pipe = make_pipe(udev, PIPE_BULK, ep_in.address & 0x0F, True)
    if ep_int is not None:
        us.recv_intr_pipe = make_pipe(udev, PIPE_INTERRUPT, ep_int.address & 0x0F, True)
        us.ep_bInterval = ep_int.desc.bInterval
    return 0


async def usb_stor_acquire_resources(us: UsData) -> int:
    """usb_stor_acquire_resources(): the device's initialisation function, then the
    control thread.  0 or the function's -errno.  Context: may sleep."""
    init = us.unusual_dev.initFunction
    if init is not None:
        result = await init(us)
        if result:
            return result
    us.ctl_thread = asyncio.get_running_loop().create_task(
        usb_stor_control_thread(us), name=f"usb-storage {us.pusb_intf.name}")
    return 0


async def usb_stor_release_resources(us: UsData) -> None:
    """usb_stor_release_resources(): tell the control thread to exit and wait for it.
    Context: may sleep."""
    us.dbg("-- sending exit command to thread")
    us.cmnd_ready.release()
    if us.ctl_thread is not None:
        await us.ctl_thread
        us.ctl_thread = None


async def _cancel_scan(us: UsData) -> None:
    """cancel_delayed_work_sync(&us->scan_dwork): drop a scan still waiting out its delay,
    wait for one that has started."""
    task = us.scan_dwork
    if task is None:
        return
    if not us.scan_started:
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
    us.scan_dwork = None


async def quiesce_and_remove_host(us: UsData) -> None:
    """quiesce_and_remove_host(): no more reset delays if the device is gone, no scan,
    the SCSI host removed (an orderly shutdown: caches synchronised), then no new
    commands.  Context: may sleep."""
    if us.pusb_dev.state is DeviceState.NOTATTACHED:
        us.dflags |= UsFlidx.DISCONNECTING
        us.delay_wait.wake_up()
    await _cancel_scan(us)
    assert us.host is not None
    await scsi_remove_host(us.host)
    us.dflags |= UsFlidx.DISCONNECTING
    us.delay_wait.wake_up()


async def release_everything(us: UsData) -> None:
    """release_everything(): stop the thread, let go of the interface, drop the host.
    Context: may sleep."""
    await usb_stor_release_resources(us)
    us.pusb_intf.driver_data = None          # dissociate_dev()
    if us.host is not None:
        scsi_host_put(us.host)


async def usb_stor_scan_dwork(us: UsData, delay_ms: int) -> None:
    """usb_stor_scan_dwork(), queued `delay_ms` ahead: GET MAX LUN for a Bulk-Only device
    (unless it is single-LUN or multi-target; more than 8 LUNs widen the host's LUN
    range), then scan the host.  Context: a work item (a task)."""
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    us.scan_started = True
    host = us.host
    assert host is not None
    us.log.dev_dbg(us.pusb_intf, "starting scan")
    if (us.protocol == StorageProtocol.BULK
            and not us.fflags & (UsFlag.SINGLE_LUN | UsFlag.SCM_MULT_TARG)):
        async with us.dev_mutex:
            us.max_lun = await usb_stor_Bulk_max_lun(us)
            if us.max_lun >= 8:
                host.max_lun = us.max_lun + 1
    await scsi_scan_host(host)
    us.log.dev_dbg(us.pusb_intf, "scan complete")
    us.dflags &= ~UsFlidx.SCAN_PENDING


async def usb_stor_probe1(intf: UsbInterface, id: UsbDeviceId,
                          unusual_dev: UsUnusualDev) -> UsData | int:
    """usb_stor_probe1(): "USB Mass Storage device detected", the SCSI host and its
    UsData, the device's entry and flags, transport and protocol.  The UsData, or -errno
    (everything released).  Context: may sleep."""
    usb = intf.usb_dev.usb_bus.core
    usb.log.dev_info(intf, "USB Mass Storage device detected")
    us = UsData(intf, usb.log)
    host = scsi_host_alloc(usb_stor_host_template, us)
    us.host = host
    host.max_cmd_len = 16
    intf.driver_data = us                     # associate_dev(): usb_set_intfdata
    result = get_device_info(us, id, unusual_dev)
    if result:
        us.dbg("storage_probe() failed")
        await release_everything(us)
        return result
    get_transport(us)
    get_protocol(us)
    return us


async def usb_stor_probe2(us: UsData) -> int:
    """usb_stor_probe2(): host limits, pipes, resources, "scsi host%d: usb-storage
    <interface>", and the delayed scan.  0 or -errno (everything released).
    Context: may sleep."""
    host = us.host
    assert host is not None
    result = await _probe2_prepare(us)
    if result:
        us.dbg("storage_probe() failed")
        await release_everything(us)
        return result
    us.scsi_name = f"usb-storage {us.pusb_intf.name}"
    result = await scsi_add_host(host, us.pusb_intf)
    if result:
        us.log.dev_warn(us.pusb_intf, "Unable to add the scsi host")
        us.dbg("storage_probe() failed")
        await release_everything(us)
        return result
    us.dflags |= UsFlidx.SCAN_PENDING
    if delay_use > 0:
        us.log.dev_dbg(us.pusb_intf, "waiting for device to settle before scanning")
    driver_core = us.pusb_dev.usb_bus.core.driver_core
    task = asyncio.get_running_loop().create_task(usb_stor_scan_dwork(us, delay_use))
    us.scan_dwork = task
    driver_core.pending.add(task)           # `settle` waits for the scan
    task.add_done_callback(driver_core.pending.discard)
    return 0


async def _probe2_prepare(us: UsData) -> int:
    """The checks and set-up of usb_stor_probe2() before the host is added."""
    host = us.host
    assert host is not None
    if us.transport is None or us.proto_handler is None:
        return -Errno.ENXIO
    us.dbg(f"Transport: {us.transport_name}")
    us.dbg(f"Protocol: {us.protocol_name}")
    if us.fflags & UsFlag.SCM_MULT_TARG:
        us.max_lun = 7
        host.this_id = 7
    else:
        host.max_id = 1
        if us.transport is usb_stor_Bulk_transport:
            host.no_scsi2_lun_in_cdb = True
    if us.fflags & UsFlag.SINGLE_LUN:
        us.max_lun = 0
    result = get_pipes(us)
    if result:
        return result
    if us.fflags & UsFlag.INITIAL_READ10:
        us.dflags |= UsFlidx.REDO_READ10
    return await usb_stor_acquire_resources(us)


async def usb_stor_disconnect(intf: UsbInterface) -> None:
    """usb_stor_disconnect(): quiesce and remove the host, then release everything.
    Context: may sleep."""
    us = intf.driver_data
    assert isinstance(us, UsData)
    await quiesce_and_remove_host(us)
    await release_everything(us)


async def storage_probe(intf: UsbInterface, id: UsbDeviceId) -> int:
    """storage_probe(): leave UAS interfaces to uas (-ENXIO) and subdrivers' devices to
    them, find the unusual_devs entry of the id that matched (Bulk-Only transparent SCSI
    for a dynamic id), then probe1 and probe2.  0 or -errno.  Context: may sleep."""
    if uas_use_uas_driver(intf, id, usb_stor_adjust_quirks) is not None:
        return -Errno.ENXIO
    if usb_usual_ignore_device(intf):
        return -Errno.ENXIO
    unusual_dev = usual_dev_for_id(id)
    if unusual_dev is None:
        unusual_dev = _FOR_DYNAMIC_IDS
        intf.usb_dev.usb_bus.core.log.dev_dbg(
            intf, "Use Bulk-Only transport with the Transparent SCSI protocol for dynamic "
                  f"id: 0x{id.idVendor:04x} 0x{id.idProduct:04x}")
    probed = await usb_stor_probe1(intf, id, unusual_dev)
    if isinstance(probed, int):
        return probed
    return await usb_stor_probe2(probed)


#: for_dynamic_ids: what a device added through new_id gets.
_FOR_DYNAMIC_IDS: Final = UsUnusualDev(None, None, StorageSubclass.SCSI, StorageProtocol.BULK)


def _us_of(intf: UsbInterface) -> UsData:
    us = intf.driver_data
    assert isinstance(us, UsData), f"{intf.name} is not bound to usb-storage"
    return us


async def usb_stor_pre_reset(intf: UsbInterface) -> int:
    """usb_stor_pre_reset(): no command may run during the reset.  Context: may sleep."""
    await _us_of(intf).dev_mutex.acquire()
    return 0


async def usb_stor_post_reset(intf: UsbInterface) -> int:
    """usb_stor_post_reset(): report the reset to the SCSI core, let commands run again.
    Context: may sleep."""
    us = _us_of(intf)
    usb_stor_report_bus_reset(us)
    us.dev_mutex.release()
    return 0


async def usb_stor_suspend(intf: UsbInterface, message: str) -> int:
    """usb_stor_suspend(): wait until no command runs.  Context: may sleep."""
    async with _us_of(intf).dev_mutex:
        return 0


async def usb_stor_resume(intf: UsbInterface) -> int:
    """usb_stor_resume().  Context: may sleep."""
    async with _us_of(intf).dev_mutex:
        return 0


async def usb_stor_reset_resume(intf: UsbInterface) -> int:
    """usb_stor_reset_resume(): the device was reset while suspended: tell the SCSI core.
    Context: may sleep."""
    usb_stor_report_bus_reset(_us_of(intf))
    return 0


usb_storage_driver = UsbDriver(
    DRV_NAME, id_table=module_device_table("usb", usb_storage_usb_ids), probe=storage_probe,
    disconnect=usb_stor_disconnect, suspend=usb_stor_suspend, resume=usb_stor_resume,
    reset_resume=usb_stor_reset_resume, pre_reset=usb_stor_pre_reset,
    post_reset=usb_stor_post_reset, supports_autosuspend=True, soft_unbind=True)


async def usb_storage_init() -> int:
    """module_usb_stor_driver(): the SCSI mid-layer first (scsi_mod's init: "SCSI
    subsystem initialized" once), then register the driver.  0 or -errno.
    Context: may sleep."""
    try:
        await scsi_core_of().init()
        await usb_register(current_usbcore(), usb_storage_driver)
    except OSError as exc:
        return -(exc.errno or Errno.EIO)
    return 0


async def usb_storage_exit() -> None:
    """Deregister the driver (every device is disconnected).  Context: may sleep."""
    await usb_deregister(current_usbcore(), usb_storage_driver)


module_init(usb_storage_init)
module_exit(usb_storage_exit)

module_author("Matthew Dharm <mdharm-usb@one-eyed-alien.net>")
module_description("USB Mass Storage driver for Linux")
module_license("GPL")
