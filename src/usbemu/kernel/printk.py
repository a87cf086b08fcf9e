"""The kernel log — counterpart of kernel/printk/printk.c and the dev_printk() family of
drivers/base/core.c.

A bounded ring of records (time, level, text) that `dmesg()` renders as Linux's dmesg does,
`[    1.234567] usb 1-1: new high-speed USB device number 2 using ehci-pci`.  Device
messages are prefixed with the device's driver (or bus) name and its name, as
`dev_printk` does.  Debug messages are kept only while `debug` is on, as dynamic debug
would.  Listeners see each record as it is logged (the CLI prints them live; tests wait on
them).  Nothing here formats anything on the URB hot path: usbcore logs at the rate Linux
logs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol


class Level(IntEnum):
    """Log levels (KERN_EMERG … KERN_DEBUG)."""

    EMERG = 0
    ALERT = 1
    CRIT = 2
    ERR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7


@dataclass(frozen=True, slots=True)
class LogRecord:
    time: float  #: seconds since boot
    level: Level
    text: str

    def format(self) -> str:
        """One dmesg line: `[%5lu.%06lu] text`."""
        usec = round(self.time * 1_000_000)
        return f"[{usec // 1_000_000:5d}.{usec % 1_000_000:06d}] {self.text}"


class NamedDevice(Protocol):
    """What dev_printk needs of a device."""

    @property
    def dev_name(self) -> str: ...

    def driver_string(self) -> str:
        """The bound driver's name, else the bus or class name (dev_driver_string)."""


class Printk:
    """The log buffer of one machine.  Context: every method is atomic."""

    def __init__(self, clock: Callable[[], float], capacity: int = 16384) -> None:
        self._clock = clock
        self._boot = clock()
        self._ring: deque[LogRecord] = deque(maxlen=capacity)
        self._listeners: list[Callable[[LogRecord], None]] = []
        self.debug = False

    def log(self, level: Level, text: str, *, always: bool = False) -> None:
        """printk(): append one record (multi-line text becomes several records).  A
        debug record is kept only while `debug` is on (pr_debug, dev_dbg), unless
        `always`: a plain printk at KERN_DEBUG, which the ring keeps anyway."""
        if level is Level.DEBUG and not self.debug and not always:
            return
        now = self._clock() - self._boot
        for line in text.split("\n"):
            record = LogRecord(now, level, line)
            self._ring.append(record)
            for listener in tuple(self._listeners):
                listener(record)

    def info(self, text: str) -> None:
        self.log(Level.INFO, text)

    def dev(self, level: Level, dev: NamedDevice, text: str) -> None:
        """dev_printk(): `"<driver> <device>: text"`."""
        self.log(level, f"{dev.driver_string()} {dev.dev_name}: {text}")

    def dev_info(self, dev: NamedDevice, text: str) -> None:
        self.dev(Level.INFO, dev, text)

    def dev_err(self, dev: NamedDevice, text: str) -> None:
        self.dev(Level.ERR, dev, text)

    def dev_warn(self, dev: NamedDevice, text: str) -> None:
        self.dev(Level.WARNING, dev, text)

    def dev_notice(self, dev: NamedDevice, text: str) -> None:
        self.dev(Level.NOTICE, dev, text)

    def dev_dbg(self, dev: NamedDevice, text: str) -> None:
        if self.debug:
            self.dev(Level.DEBUG, dev, text)

    def records(self) -> Iterator[LogRecord]:
        return iter(tuple(self._ring))

    def lines(self, max_level: Level = Level.DEBUG) -> list[str]:
        """The texts (without timestamps) of the records at `max_level` or more urgent."""
        return [r.text for r in self._ring if r.level <= max_level]

    def dmesg(self, max_level: Level = Level.DEBUG) -> str:
        """The buffer as `dmesg` prints it, one line per record."""
        return "".join(r.format() + "\n" for r in self._ring if r.level <= max_level)

    def clear(self) -> None:
        """dmesg -C."""
        self._ring.clear()

    def subscribe(self, listener: Callable[[LogRecord], None]) -> Callable[[], None]:
        """Call `listener` for every new record; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)
