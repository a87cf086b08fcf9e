"""usbemu's error numbers and public exceptions, in one place.

Linux's error numbers — counterpart of include/uapi/asm-generic/errno-base.h, errno.h and
include/linux/errno.h, with the values of Linux on x86-64.  URB status codes, probe results
and everything that crosses a wire carry these numbers, negated, whatever the machine usbemu
runs on (Python's `errno` module follows the host OS); `strerror` gives glibc's message
text, as `strerror(3)` prints it on Linux.

The exceptions are what usbemu raises at its edges, where a negative errno becomes a Python
error: `UsbError` and its subclasses (blocking USB helpers), `ProbeDeclined` (a probe that
declines a device), `ModuleError` (the module tools), `IllegalStateTransition` (any of the
explicit state machines refusing a move), `PluginNotFound` / `PluginLoadError` (the plugin
registries), `SettleTimeout` (a machine that never settles) and `DescriptorError`
(descriptors that cannot be built or parsed, defined with the codecs in `usbemu.spec`).

Like `usbemu.spec`, this module imports nothing of usbemu's but `spec`: every layer may
use it.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from .spec.descriptors import DescriptorError

__all__ = [
    "DescriptorError",
    "Errno",
    "IllegalPortTransition",
    "IllegalStateTransition",
    "ModuleError",
    "PluginLoadError",
    "PluginNotFound",
    "ProbeDeclined",
    "SettleTimeout",
    "UsbError",
    "UsbNoDevice",
    "UsbStall",
    "UsbTimeout",
    "errname",
    "strerror",
    "usb_error",
]

class Errno(IntEnum):
    EPERM = 1
    ENOENT = 2
    ESRCH = 3
    EINTR = 4
    EIO = 5
    ENXIO = 6
    E2BIG = 7
    ENOEXEC = 8
    EBADF = 9
    ECHILD = 10
    EAGAIN = 11
    ENOMEM = 12
    EACCES = 13
    EFAULT = 14
    EBUSY = 16
    EEXIST = 17
    EXDEV = 18
    ENODEV = 19
    ENOTDIR = 20
    EISDIR = 21
    EINVAL = 22
    ENFILE = 23
    EMFILE = 24
    ENOTTY = 25
    EFBIG = 27
    ENOSPC = 28
    ESPIPE = 29
    EROFS = 30
    EPIPE = 32
    EDOM = 33
    ERANGE = 34
    ENOSYS = 38
    ELOOP = 40
    ENOMSG = 42
    EIDRM = 43
    EBADR = 53
    EXFULL = 54
    ENODATA = 61
    ETIME = 62
    ENOSR = 63
    ENOLINK = 67
    ECOMM = 70
    EPROTO = 71
    EBADMSG = 74
    EOVERFLOW = 75
    EILSEQ = 84
    EMSGSIZE = 90
    EPROTONOSUPPORT = 93
    EOPNOTSUPP = 95
    EADDRINUSE = 98
    ENETDOWN = 100
    ECONNRESET = 104
    ENOBUFS = 105
    ENOTCONN = 107
    ESHUTDOWN = 108
    ETIMEDOUT = 110
    ECONNREFUSED = 111
    EHOSTUNREACH = 113
    EALREADY = 114
    EINPROGRESS = 115
    EREMOTEIO = 121
    ENOMEDIUM = 123
    # kernel-internal codes (include/linux/errno.h), never seen by user space
    ERESTARTSYS = 512
    EPROBE_DEFER = 517
    ENOTSUPP = 524


_MESSAGES: Final[dict[int, str]] = {
    Errno.EPERM: "Operation not permitted",
    Errno.ENOENT: "No such file or directory",
    Errno.ESRCH: "No such process",
    Errno.EINTR: "Interrupted system call",
    Errno.EIO: "Input/output error",
    Errno.ENXIO: "No such device or address",
    Errno.E2BIG: "Argument list too long",
    Errno.ENOEXEC: "Exec format error",
    Errno.EBADF: "Bad file descriptor",
    Errno.ECHILD: "No child processes",
    Errno.EAGAIN: "Resource temporarily unavailable",
    Errno.ENOMEM: "Cannot allocate memory",
    Errno.EACCES: "Permission denied",
    Errno.EFAULT: "Bad address",
    Errno.EBUSY: "Device or resource busy",
    Errno.EEXIST: "File exists",
    Errno.EXDEV: "Invalid cross-device link",
    Errno.ENODEV: "No such device",
    Errno.ENOTDIR: "Not a directory",
    Errno.EISDIR: "Is a directory",
    Errno.EINVAL: "Invalid argument",
    Errno.ENFILE: "Too many open files in system",
    Errno.EMFILE: "Too many open files",
    Errno.ENOTTY: "Inappropriate ioctl for device",
    Errno.EFBIG: "File too large",
    Errno.ENOSPC: "No space left on device",
    Errno.ESPIPE: "Illegal seek",
    Errno.EROFS: "Read-only file system",
    Errno.EPIPE: "Broken pipe",
    Errno.EDOM: "Numerical argument out of domain",
    Errno.ERANGE: "Numerical result out of range",
    Errno.ENOSYS: "Function not implemented",
    Errno.ELOOP: "Too many levels of symbolic links",
    Errno.ENOMSG: "No message of desired type",
    Errno.EIDRM: "Identifier removed",
    Errno.EBADR: "Invalid request descriptor",
    Errno.EXFULL: "Exchange full",
    Errno.ENODATA: "No data available",
    Errno.ETIME: "Timer expired",
    Errno.ENOSR: "Out of streams resources",
    Errno.ENOLINK: "Link has been severed",
    Errno.ECOMM: "Communication error on send",
    Errno.EPROTO: "Protocol error",
    Errno.EBADMSG: "Bad message",
    Errno.EOVERFLOW: "Value too large for defined data type",
    Errno.EILSEQ: "Invalid or incomplete multibyte or wide character",
    Errno.EMSGSIZE: "Message too long",
    Errno.EPROTONOSUPPORT: "Protocol not supported",
    Errno.EOPNOTSUPP: "Operation not supported",
    Errno.EADDRINUSE: "Address already in use",
    Errno.ENETDOWN: "Network is down",
    Errno.ECONNRESET: "Connection reset by peer",
    Errno.ENOBUFS: "No buffer space available",
    Errno.ENOTCONN: "Transport endpoint is not connected",
    Errno.ESHUTDOWN: "Cannot send after transport endpoint shutdown",
    Errno.ETIMEDOUT: "Connection timed out",
    Errno.ECONNREFUSED: "Connection refused",
    Errno.EHOSTUNREACH: "No route to host",
    Errno.EALREADY: "Operation already in progress",
    Errno.EINPROGRESS: "Operation now in progress",
    Errno.EREMOTEIO: "Remote I/O error",
    Errno.ENOMEDIUM: "No medium found",
    Errno.ERESTARTSYS: "Unknown error 512",
    Errno.EPROBE_DEFER: "Unknown error 517",
    Errno.ENOTSUPP: "Unknown error 524",
}


def strerror(code: int) -> str:
    """glibc's text for errno `code` (the sign is ignored)."""
    return _MESSAGES.get(abs(code), f"Unknown error {abs(code)}")


def errname(code: int) -> str:
    """Symbolic name of errno `code` with its sign: errname(-32) == "-EPIPE"."""
    try:
        name = Errno(abs(code)).name
    except ValueError:
        return str(code)
    return f"-{name}" if code < 0 else name



# -- exceptions ---------------------------------------------------------------------------------


class UsbError(OSError):
    """A USB operation failed; `errno` is Linux's (positive), `actual_length` the bytes
    that moved before it failed."""

    def __init__(self, code: int, message: str = "", actual_length: int = 0) -> None:
        super().__init__(abs(code), message or strerror(code))
        self.actual_length = actual_length


class UsbTimeout(UsbError, TimeoutError):
    """-ETIMEDOUT: the device did not finish in time."""


class UsbStall(UsbError):
    """-EPIPE: the endpoint is halted (or a control request was refused)."""


class UsbNoDevice(UsbError):
    """-ENODEV / -ESHUTDOWN: the device is gone."""


_USB_ERRORS: Final[dict[int, type[UsbError]]] = {
    Errno.ETIMEDOUT: UsbTimeout,
    Errno.EPIPE: UsbStall,
    Errno.ENODEV: UsbNoDevice,
    Errno.ESHUTDOWN: UsbNoDevice,
}


def usb_error(status: int, actual_length: int = 0) -> UsbError:
    """The exception for a negative URB status or helper result: the UsbError subclass of
    its errno, carrying `actual_length`."""
    return _USB_ERRORS.get(-status, UsbError)(status, actual_length=actual_length)


class ProbeDeclined(Exception):
    """Raised by a probe routine to decline a device (the -ENODEV case): the next
    matching driver is tried and nothing is logged."""


class ModuleError(OSError):
    """A module tool failed: `errno` is Linux's, `str()` the line the tool prints
    ("insmod: ERROR: could not insert module pen_driver: File exists").  Notes (PEP 678)
    carry the kernel's explanation where there is one."""

    def __init__(self, code: int, message: str, name: str) -> None:
        super().__init__(abs(code), strerror(code), name)
        self.message = message

    def __str__(self) -> str:
        return self.message


class IllegalStateTransition(RuntimeError):
    """A state machine was asked for a move its transition table does not allow (a bug in
    the caller): a device's chapter 9 state, an interface's binding condition, a port, a
    module, a URB."""


class IllegalPortTransition(IllegalStateTransition):
    """A hub or root-hub port state change that USB 2.0 figure 11-10 does not allow."""


class SettleTimeout(RuntimeError):
    """`System.settle()` gave up: something kept the machine busy; the message says what
    was still pending (hub_wq, probes, a hub port change nobody polled)."""


class PluginNotFound(LookupError):
    """No built-in or installed plugin of a kind (device model, driver module, bridge,
    host controller kind) has that name; the message lists the known names."""


class PluginLoadError(ImportError):
    """A plugin was found but could not be loaded; the message names it and its target,
    and the cause is chained."""
