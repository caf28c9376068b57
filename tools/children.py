"""Child processes of the experiment drivers (quickstart, paper): trainings side by side, one process each.

Shared by :mod:`tools.quickstart.jobs` and :mod:`tools.paper.scheduler`: the
children get one OpenMP thread count; a failure, Ctrl-C or SIGTERM in the
parent stops the running children (their checkpoints are atomic: a rerun
resumes them), and a child exits when its parent is gone.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def exit_with_parent(poll_s: float = 2.0) -> None:
    """In a child: exit as soon as the parent is gone (killed, or its terminal closed), so that no orphan
    keeps training beside the rerun's own child. Checkpoints are written atomically, so exiting is safe."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


class Children:
    """``with Children(threads) as children:`` start (``python`` + argv, output to a log), poll; leaving the
    block stops whatever still runs. SIGTERM raises SystemExit in the parent meanwhile (main thread only)."""

    def __init__(self, threads: int):
        self.threads = threads
        self.env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        self.running: List[Tuple[Any, subprocess.Popen]] = []
        self._previous: Optional[Any] = None
        self._in_main = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> "Children":
        if self._in_main:
            self._previous = signal.signal(signal.SIGTERM, _terminated)
        return self

    def start(self, job: Any, argv: Sequence[str], log: Path) -> subprocess.Popen:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as f:
            proc = subprocess.Popen([sys.executable, *argv], stdout=f, stderr=subprocess.STDOUT, env=self.env)
        self.running.append((job, proc))
        return proc

    def finished(self) -> List[Tuple[Any, int]]:
        """(job, exit code) of the children that ended since the last call."""
        ended = [(job, proc, proc.poll()) for job, proc in self.running]
        ended = [(job, proc, code) for job, proc, code in ended if code is not None]
        for job, proc, _ in ended:
            self.running.remove((job, proc))
        return [(job, code) for job, _, code in ended]

    def __exit__(self, *exc) -> None:
        if self._in_main:
            signal.signal(signal.SIGTERM, self._previous)
        for _, proc in self.running:  # interrupted or a sibling failed: stop the others (they resume next time)
            proc.terminate()
        for _, proc in self.running:
            proc.wait()


def log_tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:]
