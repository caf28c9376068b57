"""The DMLC_* environment that tells ps-lite (MXNet's parameter server) each process's role."""
from __future__ import annotations

import os
import socket
from typing import Dict, Optional

ROLES = ("scheduler", "server", "worker")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (bind to port 0; the scheduler binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def dmlc_env(role: str, *, root_uri: str, root_port: int, num_workers: int, num_servers: int,
             node_host: Optional[str] = None) -> Dict[str, str]:
    """Variables for one process of a job whose scheduler listens on ``root_uri:root_port``.

    ``node_host``: the address this node announces to the others (ps-lite otherwise
    picks the first non-loopback interface); ``127.0.0.1`` keeps a local job on loopback.
    """
    if role not in ROLES:
        raise ValueError(f"DMLC role must be one of {ROLES}, got '{role}'")
    if num_workers < 1 or num_servers < 1:
        raise ValueError("a dist_sync job needs at least one worker and one server")
    env = {"DMLC_ROLE": role, "DMLC_PS_ROOT_URI": root_uri, "DMLC_PS_ROOT_PORT": str(root_port),
           "DMLC_NUM_WORKER": str(num_workers), "DMLC_NUM_SERVER": str(num_servers)}
    if node_host:
        env["DMLC_NODE_HOST"] = node_host
    return env


def current_role() -> Optional[str]:
    """This process's DMLC_ROLE, or None outside a launched job."""
    return os.environ.get("DMLC_ROLE")
