"""Runs the plan's jobs side by side, one child process each, under one progress bar.

The CPU-sized networks keep a core busy only partly, so on N cores N jobs run at
once with one OpenMP thread each (``tools.quickstart.jobs`` measured it). A job
starts when the jobs it needs are done (the proposal RPN before the heads); among
ready jobs, those others wait for go first, then the longest. The bar counts
estimated seconds of work (:meth:`Job.estimate_s`), finished epochs included as
they are checkpointed, so its ETA is the plan's. A failing job stops the run with
its log tail; interrupted jobs resume from their last epoch on the next run.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from tqdm import tqdm

from .plan import Job

logger = logging.getLogger("tools.paper")


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


def order_ready(ready: List[Job], jobs: Sequence[Job], estimate: Dict[str, float]) -> List[Job]:
    waited_on = {need for j in jobs for need in j.needs}
    return sorted(ready, key=lambda j: (j.key not in waited_on, -estimate[j.key]))


def run_plan(jobs: Sequence[Job], *, is_done: Callable[[Job], bool], progress_of: Callable[[Job], float],
             command: Callable[[Job], List[str]], log_of: Callable[[Job], Path], estimate: Dict[str, float],
             parallel: int, threads: int, show_progress: bool = True, poll_s: float = 5.0) -> None:
    """Runs every job not ``is_done``: ``command(job)`` (after ``python``) with ``threads`` OpenMP threads,
    ``parallel`` at a time; ``progress_of(job)`` is its finished fraction in [0, 1]."""
    pending = [j for j in jobs if not is_done(j)]
    done = {j.key for j in jobs if j.key not in {p.key for p in pending}}
    running: List[tuple] = []
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main else None
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    total = sum(estimate[j.key] for j in jobs) / parallel

    # progress read once for waiting jobs (an interrupted run's epochs), then only for the running ones: the
    # poll must cost the trainings nothing
    fraction = {j.key: min(max(progress_of(j), 0.0), 0.99) for j in pending}

    def work() -> int:
        for job, _ in running:
            fraction[job.key] = min(max(progress_of(job), 0.0), 0.99)
        return round(sum(estimate[j.key] * (1.0 if j.key in done else fraction[j.key]) for j in jobs) / parallel)

    # what earlier runs did counts as done but not into the rate, so the ETA is this run's
    bar = tqdm(total=round(total), initial=work(), desc="paper plan (estimated s)", unit="s",
               disable=not show_progress)

    def update() -> None:
        bar.n = work()
        bar.refresh()

    try:
        update()
        while pending or running:
            ready = [j for j in pending if all(n in done for n in j.needs)]
            for job in order_ready(ready, jobs, estimate)[:max(parallel - len(running), 0)]:
                pending.remove(job)
                log = log_of(job)
                log.parent.mkdir(parents=True, exist_ok=True)
                with log.open("ab") as f:
                    proc = subprocess.Popen([sys.executable, *command(job)], stdout=f, stderr=subprocess.STDOUT,
                                            env=env)
                logger.info("started %s (pid %d, %d thread(s), log %s)", job.key, proc.pid, threads, log)
                running.append((job, proc))
            if not running:
                missing = sorted({n for j in pending for n in j.needs} - done)
                raise RuntimeError(f"jobs {[j.key for j in pending]} wait for {missing}, which no job makes")
            time.sleep(poll_s)
            for job, proc in list(running):
                code = proc.poll()
                if code is None:
                    continue
                running.remove((job, proc))
                if code != 0 or not is_done(job):
                    tail = log_of(job).read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"job {job.key} failed (exit {code}); end of {log_of(job)}:\n{tail}")
                done.add(job.key)
                logger.info("finished %s", job.key)
            update()
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        bar.close()
        for _, proc in running:  # interrupted or a sibling failed: stop the others (they resume next time)
            proc.terminate()
        for _, proc in running:
            proc.wait()
