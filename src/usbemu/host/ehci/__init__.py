"""The EHCI-model host controller (controller kind "ehci") — counterpart of Linux's
drivers/usb/host/ehci-*.c: `hcd.py` runs the asynchronous and periodic schedules on virtual
time, `sched.py` keeps the periodic bandwidth and the frame list as ehci-sched.c does."""

from .hcd import EhciHCD, EhciStats, EndpointStats, LaneStats

__all__ = ["EhciHCD", "EhciStats", "EndpointStats", "LaneStats"]
