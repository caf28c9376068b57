"""Run every process of a ps-lite job on this machine (loopback only): scheduler, servers, workers.

The same command runs in every role: importing mxnet with DMLC_ROLE=server or
scheduler serves until the job ends and exits, so only workers reach the
training code (that is also how MXNet's ``tools/launch.py`` works; its local
launcher is not used here because it looks up this host's public address).

    python -m dcn.distributed.launcher -n 2 -s 1 -- python -m dcn.distributed.toy --output out/toy
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .env import dmlc_env, free_port

logger = logging.getLogger(__name__)


class LocalCluster:
    """Start with :meth:`start`, wait with :meth:`wait`; :meth:`close` (or ``with``) kills and reaps everything."""

    def __init__(self, command: Sequence[str], num_workers: int, num_servers: int = 1, *,
                 host: str = "127.0.0.1", port: Optional[int] = None, log_dir: Optional[os.PathLike] = None,
                 env: Optional[Dict[str, str]] = None) -> None:
        self.command, self.num_workers, self.num_servers = list(command), num_workers, num_servers
        self.host, self.port = host, port
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.env = dict(env) if env is not None else dict(os.environ)
        self.procs: List[Tuple[str, subprocess.Popen]] = []  # (name, process), scheduler first
        self._logs: list = []

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> "LocalCluster":
        self.port = self.port or free_port(self.host)
        roles = [("scheduler", 0)] + [("server", i) for i in range(self.num_servers)] + \
                [("worker", i) for i in range(self.num_workers)]
        for role, index in roles:
            env = dict(self.env)
            env.pop("DMLC_TASK_ID", None)
            env.update(dmlc_env(role, root_uri=self.host, root_port=self.port, num_workers=self.num_workers,
                                num_servers=self.num_servers, node_host=self.host))
            self.procs.append((f"{role}{index}", self._spawn(f"{role}{index}", env)))
        logger.info("started a job on %s:%d: %d worker(s), %d server(s)", self.host, self.port,
                    self.num_workers, self.num_servers)
        return self

    def _spawn(self, name: str, env: Dict[str, str]) -> subprocess.Popen:
        out = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed in close()
            self._logs.append(out)
        # Own session: close() can signal the whole group if the command is a shell wrapper.
        return subprocess.Popen(self.command, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
                                start_new_session=True)

    @property
    def workers(self) -> List[Tuple[str, subprocess.Popen]]:
        return [(n, p) for n, p in self.procs if n.startswith("worker")]

    def wait(self, timeout_s: Optional[float] = None, *, fail_fast: bool = False) -> List[Optional[int]]:
        """Workers' exit codes once all have exited (``fail_fast``: once one fails); raises TimeoutError."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            codes = [p.poll() for _, p in self.workers]
            if all(c is not None for c in codes) or (fail_fast and any(c not in (None, 0) for c in codes)):
                return codes
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"workers still running after {timeout_s:.0f} s (exit codes so far {codes})")
            time.sleep(0.1)

    def close(self, grace_s: float = 10.0) -> None:
        """Let servers and scheduler finish for up to ``grace_s`` if all workers succeeded; kill and reap the rest."""
        workers_ok = self.procs and all(p.poll() == 0 for _, p in self.workers)
        deadline = time.monotonic() + (grace_s if workers_ok else 0.0)
        while workers_ok and time.monotonic() < deadline and any(p.poll() is None for _, p in self.procs):
            time.sleep(0.1)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = [(n, p) for n, p in self.procs if p.poll() is None]
            for name, proc in alive:
                logger.info("stopping %s (pid %d) with %s", name, proc.pid, sig.name)
                try:
                    os.killpg(proc.pid, sig)  # the group we created for it, nothing else
                except ProcessLookupError:
                    pass
            for _, proc in alive:
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    pass
        for out in self._logs:
            out.close()
        self._logs.clear()

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log(self, name: str) -> str:
        """Text of one process's log (``log_dir`` set), e.g. ``log('worker0')``."""
        if self.log_dir is None:
            raise ValueError("no log_dir: output went to the console")
        return (self.log_dir / f"{name}.log").read_text(errors="replace")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--num-workers", type=int, required=True)
    parser.add_argument("-s", "--num-servers", type=int, default=1)
    parser.add_argument("--port", type=int, default=None, help="scheduler port (default: a free one)")
    parser.add_argument("--log-dir", default=None, help="one log per process here (default: the console)")
    parser.add_argument("--timeout", type=float, default=None, help="kill the job after this many seconds")
    parser.add_argument("--fail-fast", action="store_true", help="kill the job as soon as a worker fails")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the training command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cluster = LocalCluster(command, args.num_workers, args.num_servers, port=args.port, log_dir=args.log_dir)
    try:
        cluster.start()
        codes = cluster.wait(args.timeout, fail_fast=args.fail_fast)
    except TimeoutError as exc:
        logger.error("%s", exc)
        return 124
    except KeyboardInterrupt:
        return 130
    finally:
        cluster.close()
    failed = [c for c in codes if c not in (0, None)]  # None: still running when --fail-fast stopped the job
    if failed:
        logger.error("worker exit codes %s", codes)
        return next((c for c in failed if c > 0), 1)  # e.g. 3 from a watchdog; 1 if killed by a signal
    return 0


if __name__ == "__main__":
    sys.exit(main())
