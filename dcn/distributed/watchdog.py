"""Abort a worker whose training stops making progress, instead of hanging forever.

ps-lite has no failure detection: when a worker, server or the scheduler dies,
the survivors block inside push/pull (or a barrier) for ever. A daemon thread
watches the time since the last ``kick()``; past ``timeout_s`` it logs a clear
message and ends the process with :data:`WATCHDOG_EXIT_CODE` (``os._exit``: the
main thread is stuck in C++ and cannot be interrupted). MXNet's C calls release
the GIL, so the thread runs while the main thread waits.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
import time
from typing import Any, Callable, Optional, TypeVar

logger = logging.getLogger(__name__)

WATCHDOG_EXIT_CODE = 3
WATCHDOG_MESSAGE = "watchdog: no progress"  # stable text that tests and log scrapers can look for

F = TypeVar("F", bound=Callable[..., Any])


def _hard_exit(message: str, code: int = WATCHDOG_EXIT_CODE) -> None:
    logger.critical(message)
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001 - we are about to exit anyway
            pass
    os._exit(code)  # pylint: disable=protected-access


class Watchdog:
    """``kick()`` at least every ``timeout_s`` seconds or the process is aborted (``timeout_s <= 0``: off)."""

    def __init__(self, timeout_s: float, *, context: str = "", abort: Callable[[str], None] = _hard_exit) -> None:
        self.timeout_s = float(timeout_s)
        self.context = context  # e.g. "worker 1 of 2", appended to the message
        self._abort = abort
        self._phase = "starting"
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.fired = False

    @property
    def enabled(self) -> bool:
        return self.timeout_s > 0

    def start(self, phase: Optional[str] = None) -> "Watchdog":
        """Kick, and start the watching thread if enabled and not running yet."""
        self.kick(phase)
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="dcn-watchdog", daemon=True)
            self._thread.start()
        return self

    def kick(self, phase: Optional[str] = None) -> None:
        """Report progress; ``phase`` names what comes next (it appears in the abort message)."""
        if phase is not None:
            self._phase = phase
        self._last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wrap(self, fn: F, phase: str = "training") -> F:
        """``fn`` that kicks the watchdog on every call (e.g. the loop's per-device forward)."""
        @functools.wraps(fn)
        def kicked(*args: Any, **kwargs: Any) -> Any:
            self.kick(phase)
            return fn(*args, **kwargs)
        return kicked  # type: ignore[return-value]

    def __enter__(self) -> "Watchdog":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _watch(self) -> None:
        while not self._stop.wait(min(1.0, max(self.timeout_s / 4, 0.05))):
            idle = time.monotonic() - self._last
            if self.enabled and idle > self.timeout_s:  # timeout_s may change between phases
                self.fired = True
                where = f" ({self.context})" if self.context else ""
                self._abort(f"{WATCHDOG_MESSAGE} for {idle:.0f} s while {self._phase}{where}: a peer worker, "
                            "server or the scheduler probably died or stalled; aborting instead of hanging "
                            "(raise --dist-timeout if a step legitimately takes this long)")
                return
