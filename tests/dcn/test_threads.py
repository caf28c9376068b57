"""OMP_NUM_THREADS is set where each package is first imported, before MXNet loads (MXNet reads it once)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["deeplab.train", "fpn", "operators", "tools.paper"])
def test_threads_are_set_before_mxnet_is_imported(module):
    code = ("import builtins, os, sys\n"
            "seen = {}\n"
            "real = builtins.__import__\n"
            "def hook(name, *a, **k):\n"
            "    if name.split('.')[0] == 'mxnet' and 'mxnet' not in sys.modules and 'at' not in seen:\n"
            "        seen['at'] = os.environ.get('OMP_NUM_THREADS')\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = hook\n"
            f"import {module}\n"
            "print(seen.get('at', 'none'), os.environ.get('OMP_NUM_THREADS'))\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    at_mxnet, after = out.stdout.split()
    assert after == str(len(os.sched_getaffinity(0))), out.stdout
    assert at_mxnet in (after, "none"), f"{module}: MXNet imported with OMP_NUM_THREADS={at_mxnet}"
