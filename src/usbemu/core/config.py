"""Fetching configuration and BOS descriptors — counterpart of the fetching half of
drivers/usb/core/config.c (usb_get_configuration, usb_get_bos_descriptor).

`usb_get_configuration` reads every configuration of a newly addressed device the way
Linux 6.12 does — GET_DESCRIPTOR(CONFIG, index) for 9 bytes, then for max(wTotalLength, 9)
bytes — with Linux's limits and its messages for what goes wrong while fetching, and
stores what it read in `udev.config` (parsed) and `udev.rawdescriptors` (as read).
`usb_get_bos_descriptor` does the same for the BOS descriptor set.  The parsing itself —
the two passes over a configuration, the fix-ups and their notices — is
`usbemu.spec.config`; this module only logs those notices under the device's name.
It does not choose or set a configuration (`generic.py`, `message.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from ..errors import Errno
from ..kernel.printk import Level
from ..spec.ch9 import USB_MAXCONFIG, DescriptorSize, DescriptorType
from ..spec.config import Notice, parse_bos, parse_configuration
from ..spec.descriptors import DescriptorError
from .message import usb_get_descriptor
from .usb import UsbHostConfig

if TYPE_CHECKING:
    from .usb import UsbDevice

__all__ = ["log_notices", "usb_get_bos_descriptor", "usb_get_configuration"]

#: dev_* level of each `Notice.level` the parser uses.
_NOTICE_LEVEL: Final = {"notice": Level.NOTICE, "warn": Level.WARNING,
                        "warning": Level.WARNING, "err": Level.ERR, "info": Level.INFO,
                        "debug": Level.DEBUG}


def log_notices(udev: UsbDevice, notices: Iterable[Notice]) -> None:
    """Log parser notices on the device, each at its own level.  Context: atomic."""
    log = udev.usb_bus.core.log
    for notice in notices:
        log.dev(_NOTICE_LEVEL.get(notice.level, Level.NOTICE), udev, notice.message)


# -- configurations -------------------------------------------------------------------------------


def _config_count(udev: UsbDevice) -> int:
    """bNumConfigurations, clamped to USB_MAXCONFIG ("too many configurations"); -EINVAL
    with "no configurations" when there is none."""
    log = udev.usb_bus.core.log
    desc = udev.descriptor
    if desc is None:
        raise ValueError(f"{udev.name}: usb_get_configuration before the device descriptor "
                         "was read")
    ncfg = desc.bNumConfigurations or 0
    if ncfg > USB_MAXCONFIG:
        log.dev_notice(udev, f"too many configurations: {ncfg}, using maximum allowed: "
                             f"{USB_MAXCONFIG}")
        ncfg = USB_MAXCONFIG
        udev.descriptor = replace(desc, bNumConfigurations=ncfg)
    if ncfg < 1:
        log.dev_err(udev, "no configurations")
        return -Errno.EINVAL
    return ncfg


def _set_config_count(udev: UsbDevice, count: int) -> None:
    desc = udev.descriptor
    if desc is not None and desc.bNumConfigurations != count:
        udev.descriptor = replace(desc, bNumConfigurations=count)


async def _read_length(udev: UsbDevice, cfgno: int) -> int:
    """The 9-byte read: max(wTotalLength, 9), or -errno with Linux's messages."""
    log = udev.usb_bus.core.log
    head = bytearray(DescriptorSize.CONFIG)
    result = await usb_get_descriptor(udev, DescriptorType.CONFIG, cfgno, head,
                                      DescriptorSize.CONFIG)
    if result < 0:
        log.dev_err(udev, f"unable to read config index {cfgno} descriptor/start: {result}")
        if result == -Errno.EPIPE:
            log.dev_notice(udev, f"chopping to {cfgno} config(s)")
        return result
    if result < 4:
        log.dev_err(udev, f"config index {cfgno} descriptor too short (expected "
                          f"{DescriptorSize.CONFIG}, got {result})")
        return -Errno.EINVAL
    return max(head[2] | head[3] << 8, DescriptorSize.CONFIG)


async def _read_all(udev: UsbDevice, cfgno: int, length: int) -> bytes | int:
    """The full read of `length` bytes: what arrived, or -errno."""
    log = udev.usb_bus.core.log
    buf = bytearray(length)
    result = await usb_get_descriptor(udev, DescriptorType.CONFIG, cfgno, buf, length)
    if result < 0:
        log.dev_err(udev, f"unable to read config index {cfgno} descriptor/all")
        return result
    if result < length:
        log.dev_notice(udev, f"config index {cfgno} descriptor too short (expected {length}, "
                             f"got {result})")
    return bytes(buf[:result])


def _parse(udev: UsbDevice, cfgno: int, raw: bytes) -> int:
    """usb_parse_configuration() over exactly the bytes read: 0 or -EINVAL."""
    log = udev.usb_bus.core.log
    if len(raw) < DescriptorSize.CONFIG:
        # Linux reads the header from its zeroed buffer; bLength > size fails the check.
        head = raw.ljust(DescriptorSize.CONFIG, b"\0")
        log.dev_err(udev, f"invalid descriptor for config index {cfgno}: "
                          f"type = 0x{head[1]:X}, length = {head[0]}")
        return -Errno.EINVAL
    # The parser walks max(wTotalLength, 9) bytes; Linux walks what it read.  Hand it a
    # copy whose wTotalLength says so (the stored raw bytes stay as read).
    walked = raw[:2] + len(raw).to_bytes(2, "little") + raw[4:]
    try:
        parsed = parse_configuration(walked, cfgno, udev.speed, quirks=udev.quirks)
    except DescriptorError as exc:
        log.dev_err(udev, str(exc))
        return -Errno.EINVAL
    log_notices(udev, parsed.notices)
    udev.config.append(UsbHostConfig(parsed.config, raw))
    return 0


async def _get_one(udev: UsbDevice, cfgno: int) -> tuple[int, bool]:
    """Fetch and parse configuration `cfgno`: (0 or -errno, whether it counts as read)."""
    length = await _read_length(udev, cfgno)
    if length < 0:
        return length, False
    raw = await _read_all(udev, cfgno, length)
    if isinstance(raw, int):
        return raw, False
    udev.rawdescriptors.append(raw)
    return _parse(udev, cfgno, raw), True


async def usb_get_configuration(udev: UsbDevice) -> int:
    """usb_get_configuration(): read, cache and parse every configuration (at most 8).

    Returns 0, or the -errno of the first configuration that could not be read or parsed;
    as in Linux, a STALLed 9-byte read ("chopping to %d config(s)") also returns -EPIPE.
    bNumConfigurations of `udev.descriptor` is set to the configurations read.
    Context: may sleep.  Raises ValueError when the device descriptor was never read.
    """
    ncfg = _config_count(udev)
    if ncfg < 0:
        return ncfg
    udev.config, udev.rawdescriptors = [], []
    for cfgno in range(ncfg):
        result, counted = await _get_one(udev, cfgno)
        if result < 0:
            _set_config_count(udev, cfgno + counted)
            return result
    _set_config_count(udev, ncfg)
    return 0


# -- BOS --------------------------------------------------------------------------------------


async def usb_get_bos_descriptor(udev: UsbDevice) -> int:
    """usb_get_bos_descriptor(): read the BOS header (5 bytes), then the whole set
    (wTotalLength), parse it and store it in `udev.bos`.

    Returns 0, or -errno (-ENOMSG when the device sent too little, -EINVAL when wTotalLength
    is below bLength); failures are logged as notices, as in Linux, and are not fatal to
    enumeration.  Context: may sleep.
    """
    log = udev.usb_bus.core.log
    head = bytearray(DescriptorSize.BOS)
    ret = await usb_get_descriptor(udev, DescriptorType.BOS, 0, head, DescriptorSize.BOS)
    if ret < DescriptorSize.BOS or head[0] < DescriptorSize.BOS:
        log.dev_notice(udev, "unable to get BOS descriptor or descriptor too short")
        return ret if ret < 0 else -Errno.ENOMSG
    total = head[2] | head[3] << 8
    if total < head[0]:
        return -Errno.EINVAL
    buf = bytearray(total)
    ret = await usb_get_descriptor(udev, DescriptorType.BOS, 0, buf, total)
    if ret < total:
        log.dev_notice(udev, "unable to get BOS descriptor set")
        return ret if ret < 0 else -Errno.ENOMSG
    try:
        bos, notices = parse_bos(buf)
    except DescriptorError as exc:
        log.dev_notice(udev, str(exc))
        return -Errno.EINVAL
    log_notices(udev, notices)
    udev.bos = bos
    return 0
