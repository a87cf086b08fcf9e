"""Rate limiting of kernel messages — counterpart of lib/ratelimit.c.

`Ratelimit` is a struct ratelimit_state: at most `burst` messages per `interval_s` seconds
of machine time (DEFAULT_RATELIMIT_INTERVAL, 5 s, and DEFAULT_RATELIMIT_BURST, 10, by
default), and "<func>: N callbacks suppressed" logged when a new interval starts after
messages were dropped.  It keeps no clock of its own: the caller says what time it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .printk import Level, Printk

__all__ = ["Ratelimit"]


@dataclass
class Ratelimit:
    """struct ratelimit_state (lib/ratelimit.c): at most `burst` messages per `interval_s`
    of machine time; when a new interval starts after messages were dropped, "<func>: N
    callbacks suppressed" is logged first."""

    func: str
    interval_s: float = 5.0
    burst: int = 10
    begin: float | None = None
    printed: int = 0
    missed: int = 0

    def allow(self, now: float, log: Printk) -> bool:
        """___ratelimit(): whether a message may be logged now.  Context: atomic."""
        if self.begin is None:
            self.begin = now
        if now > self.begin + self.interval_s:
            if self.missed:
                log.log(Level.WARNING, f"{self.func}: {self.missed} callbacks suppressed")
                self.missed = 0
            self.begin = now
            self.printed = 0
        if self.printed < self.burst:
            self.printed += 1
            return True
        self.missed += 1
        return False
