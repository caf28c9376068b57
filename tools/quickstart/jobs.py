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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Sequence

from tqdm import tqdm

from tools.children import Children, log_tail

logger = logging.getLogger("tools.quickstart")


@dataclass
class TrainJob:
    name: str
    argv: List[str]                     # arguments after ``python``
    log: Path                           # the child's stdout and stderr
    epochs_done: Callable[[], int]      # read from its checkpoints
    epochs: int


def plan(num_jobs: int, cores: int, max_parallel: int = 0) -> tuple[int, int]:
    """(parallel jobs, threads per job) for ``num_jobs`` trainings on ``cores`` cores."""
    parallel = max(1, min(num_jobs, cores, max_parallel or num_jobs))
    return parallel, max(1, cores // parallel)


def run_jobs(jobs: Sequence[TrainJob], parallel: int, threads: int, progress: bool = True,
             poll_s: float = 2.0) -> None:
    """Runs ``jobs`` (in order), ``parallel`` at a time with ``threads`` OpenMP threads each. On failure,
    Ctrl-C or SIGTERM the running children are stopped (a rerun resumes them)."""
    pending = list(jobs)
    bar = tqdm(total=sum(j.epochs for j in jobs), desc="training (epochs)", disable=not progress)
    with Children(threads) as children:
        try:
            while pending or children.running:
                while pending and len(children.running) < parallel:
                    job = pending.pop(0)
                    proc = children.start(job, job.argv, job.log)
                    logger.info("training %s (pid %d, %d thread(s), log %s)", job.name, proc.pid, threads, job.log)
                time.sleep(poll_s)
                for job, code in children.finished():
                    if code != 0:
                        raise RuntimeError(f"training {job.name} failed (exit {code}); end of {job.log}:\n"
                                           f"{log_tail(job.log)}")
                    logger.info("%s trained", job.name)
                bar.n = sum(min(j.epochs_done(), j.epochs) for j in jobs)
                bar.refresh()
        finally:
            bar.close()
