"""Training the quickstart's variants side by side, one child process each.

The compact quickstart networks keep a CPU core busy only partly: on the 2-core
VM, two single-threaded trainings run each epoch in ~50 s, one two-threaded
training in ~53 s. So the variants train in parallel processes (the longest
first), each with ``OMP_NUM_THREADS = cores // parallel jobs``; the parent
shows one progress bar over all their epochs and fails with the log tail of a
child that fails. Children are ``python -m tools.quickstart --train-variant``
runs: they build the same config and resume from their last checkpoint.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Sequence

from tqdm import tqdm

logger = logging.getLogger("tools.quickstart")


@dataclass
class TrainJob:
    name: str
    argv: List[str]                     # arguments after ``python``
    log: Path                           # the child's stdout and stderr
    epochs_done: Callable[[], int]      # read from its checkpoints
    epochs: int


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan(num_jobs: int, cores: int, max_parallel: int = 0) -> tuple[int, int]:
    """(parallel jobs, threads per job) for ``num_jobs`` trainings on ``cores`` cores."""
    parallel = max(1, min(num_jobs, cores, max_parallel or num_jobs))
    return parallel, max(1, cores // parallel)


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


def run_jobs(jobs: Sequence[TrainJob], parallel: int, threads: int, progress: bool = True,
             poll_s: float = 2.0) -> None:
    """Runs ``jobs`` (in order), ``parallel`` at a time with ``threads`` OpenMP threads each. On failure,
    Ctrl-C or SIGTERM the running children are stopped (a rerun resumes them)."""
    pending, running = list(jobs), []
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main else None
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    total = sum(j.epochs for j in jobs)
    bar = tqdm(total=total, desc="training (epochs)", disable=not progress)
    try:
        while pending or running:
            while pending and len(running) < parallel:
                job = pending.pop(0)
                job.log.parent.mkdir(parents=True, exist_ok=True)
                with job.log.open("ab") as log:
                    proc = subprocess.Popen([sys.executable, *job.argv], stdout=log, stderr=subprocess.STDOUT,
                                            env=env)
                logger.info("training %s (pid %d, %d thread(s), log %s)", job.name, proc.pid, threads, job.log)
                running.append((job, proc))
            time.sleep(poll_s)
            for job, proc in list(running):
                code = proc.poll()
                if code is None:
                    continue
                running.remove((job, proc))
                if code != 0:
                    tail = job.log.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"training {job.name} failed (exit {code}); end of {job.log}:\n{tail}")
                logger.info("%s trained", job.name)
            bar.n = sum(min(j.epochs_done(), j.epochs) for j in jobs)
            bar.refresh()
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        bar.close()
        for _, proc in running:  # interrupted or a sibling failed: stop the others (they resume next time)
            proc.terminate()
        for _, proc in running:
            proc.wait()
