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
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from tqdm import tqdm

from tools.children import Children, log_tail

from .plan import Job

logger = logging.getLogger("tools.paper")


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
    children = Children(threads)
    total = sum(estimate[j.key] for j in jobs) / parallel

    # progress read once for waiting jobs (an interrupted run's epochs), then only for the running ones: the
    # poll must cost the trainings nothing
    fraction = {j.key: min(max(progress_of(j), 0.0), 0.99) for j in pending}

    def work() -> int:
        for job, _ in children.running:
            fraction[job.key] = min(max(progress_of(job), 0.0), 0.99)
        return round(sum(estimate[j.key] * (1.0 if j.key in done else fraction[j.key]) for j in jobs) / parallel)

    # what earlier runs did counts as done but not into the rate, so the ETA is this run's
    bar = tqdm(total=round(total), initial=work(), desc="paper plan (estimated s)", unit="s",
               disable=not show_progress)

    def update() -> None:
        bar.n = work()
        bar.refresh()

    with children:
        try:
            update()
            while pending or children.running:
                ready = [j for j in pending if all(n in done for n in j.needs)]
                for job in order_ready(ready, jobs, estimate)[:max(parallel - len(children.running), 0)]:
                    pending.remove(job)
                    proc = children.start(job, command(job), log_of(job))
                    logger.info("started %s (pid %d, %d thread(s), log %s)", job.key, proc.pid, threads, log_of(job))
                if not children.running:
                    missing = sorted({n for j in pending for n in j.needs} - done)
                    raise RuntimeError(f"jobs {[j.key for j in pending]} wait for {missing}, which no job makes")
                time.sleep(poll_s)
                for job, code in children.finished():
                    if code != 0 or not is_done(job):
                        raise RuntimeError(f"job {job.key} failed (exit {code}); end of {log_of(job)}:\n"
                                           f"{log_tail(log_of(job))}")
                    done.add(job.key)
                    logger.info("finished %s", job.key)
                update()
        finally:
            bar.close()
