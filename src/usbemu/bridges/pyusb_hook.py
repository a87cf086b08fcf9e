"""The start-up hook that points unmodified pyusb programs at an emulated machine — usbemu's
own, no Linux counterpart (on Linux a program finds devices through libusb without help).

The wheel installs ``usbemu_pyusb.pth`` into site-packages; at every interpreter start it
reads ``USBEMU_PYUSB`` and, only when it is set, imports this module and calls `install()`.
So when the variable is unset nothing of usbemu or pyusb is imported.  `install()` wraps
`usb.core.find` so that a call without ``backend=`` uses `UsbemuBackend.connect` on the
socket the variable names (``usbemu serve --pyusb PATH``), one connection per process made
at the first such call; a call that names its backend is left alone.  When the socket does
not answer, `find` raises pyusb's NoBackendError naming the variable rather than reaching
for real hardware.  Without pyusb installed `install()` does nothing.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Final

__all__ = ["ENV_VAR", "install"]

#: The environment variable naming the machine's socket (same as pyusb_backend.ENV_VAR).
ENV_VAR: Final = "USBEMU_PYUSB"

_backend: list[Any] = []


def _default_backend(usb_core: Any) -> Any:
    if not _backend:
        from .pyusb_backend import UsbemuBackend

        path = os.environ.get(ENV_VAR, "")
        try:
            _backend.append(UsbemuBackend.connect(path))
        except OSError as exc:
            raise usb_core.NoBackendError(
                f"{ENV_VAR}={path}: no usbemu machine answers there ({exc.strerror or exc}); "
                f"start one with `usbemu serve --pyusb {path or 'PATH'}`") from None
    return _backend[0]


def install() -> bool:
    """Make `usb.core.find()` without a backend use the machine on ``$USBEMU_PYUSB``.
    Returns whether it did (False when the variable is unset or empty, or pyusb is not
    installed); calling it again changes nothing.  Context: process start-up."""
    if not os.environ.get(ENV_VAR):
        return False
    try:
        import usb.core
    except ImportError:
        return False
    original = usb.core.find
    if getattr(original, "__usbemu__", False):
        return True

    @functools.wraps(original)
    def find(find_all: bool = False, backend: Any = None, custom_match: Any = None,
             **args: Any) -> Any:
        if backend is None:
            backend = _default_backend(usb.core)
        return original(find_all, backend, custom_match, **args)

    find.__usbemu__ = True  # type: ignore[attr-defined]
    usb.core.find = find
    return True
