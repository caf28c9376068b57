"""A real dist_sync job over loopback: scheduler, one server, two workers (dcn.distributed.toy).

Checked: every worker ends with the same parameters, equal to one process
training on the union of the workers' batches (dist_sync sums the workers'
gradients, then one SGD update); ``--resume`` continues from the last
checkpoint; a killed worker makes the survivor abort through the watchdog.
Every process is killed and reaped in a ``finally``; each job has a hard timeout.
"""
import logging
import os
import shutil
import sys

import mxnet as mx
import numpy as np
import pytest

from dcn.distributed import WATCHDOG_EXIT_CODE, WATCHDOG_MESSAGE, free_port
from dcn.distributed.launcher import LocalCluster
from dcn.distributed.toy import build_net, l2_loss, make_data, toy_config, worker_batches
from dcn.engine import fit

WORKERS, DEVICES, BATCH, SAMPLES, SEED = 2, 2, 4, 64, 0
JOB_TIMEOUT_S = 90  # hard bound per job; a healthy one takes ~10 s on 2 busy cores


@pytest.fixture(scope="module", autouse=True)
def _loopback_port():
    try:
        free_port("127.0.0.1")
    except OSError as exc:
        pytest.skip(f"cannot bind a TCP port on 127.0.0.1 for the dist_sync scheduler: {exc}")


def run_job(out, logs, *extra):
    """Run the toy job; returns (worker exit codes, {worker name: log text})."""
    cmd = [sys.executable, "-m", "dcn.distributed.toy", "--output", str(out), "--kvstore", "dist_sync",
           "--samples", str(SAMPLES), "--batch-images", str(BATCH), "--cpu-devices", str(DEVICES),
           "--dist-start-timeout", "60", *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cluster = LocalCluster(cmd, num_workers=WORKERS, num_servers=1, log_dir=logs, env=env)
    try:
        cluster.start()
        codes = cluster.wait(JOB_TIMEOUT_S)
    finally:
        cluster.close()
    return codes, {name: cluster.log(name) for name, _ in cluster.workers}


def reference_params(out, epochs):
    """One process, one device, each step on the union of the workers' batches of that step."""
    x, y = make_data(SAMPLES, SEED)
    per_worker = DEVICES * BATCH

    def union(epoch):
        shards = [worker_batches(x, y, r, WORKERS, per_worker, seed=SEED, epoch=epoch) for r in range(WORKERS)]
        return [(mx.nd.array(np.concatenate([s[i][0] for s in shards])),
                 mx.nd.array(np.concatenate([s[i][1] for s in shards]))) for i in range(len(shards[0]))]

    cfg = toy_config(str(out), epochs=epochs, batch_images=WORKERS * per_worker, seed=SEED)
    net = build_net([mx.cpu()], SEED)
    handlers = list(logging.getLogger().handlers)
    try:
        fit(cfg, net, l2_loss, union, SAMPLES, ctx=[mx.cpu()], progress=False)
    finally:
        for h in logging.getLogger().handlers[:]:
            if h not in handlers:
                logging.getLogger().removeHandler(h)
                h.close()
    return {k: v.data().asnumpy() for k, v in net.collect_params().items()}


def worker_params(out):
    return [dict(np.load(out / f"final-rank{r}.npz")) for r in range(WORKERS)]


def assert_params_close(got, want):
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist2")
    codes, logs = run_job(root / "out", root / "logs", "--epochs", "2", "--dump-params", "--dist-timeout", "60")
    assert codes == [0] * WORKERS, logs
    return root / "out", logs


def test_workers_agree_and_match_single_process(two_epochs, tmp_path):
    out, logs = two_epochs
    first, second = worker_params(out)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    assert_params_close(first, reference_params(tmp_path / "ref", epochs=2))
    text = "\n".join(logs.values())
    assert "joined as worker 0 of 2" in text and "joined as worker 1 of 2" in text
    assert (out / "toy-0002.json").is_file() and (out / "toy-0002.states").is_file()
    # 64 samples, 2 workers x 2 devices x 4: 4 updates per epoch, lr halves after update 4 (lr_step=[1])
    assert "64 samples/epoch, 16 per update" in text and "Update[5]: learning rate now 2.5" in text


def test_resume_continues_from_last_epoch(two_epochs, tmp_path):
    src, _ = two_epochs
    out = tmp_path / "out"
    shutil.copytree(src, out)
    for r in range(WORKERS):
        (out / f"final-rank{r}.npz").unlink()
    codes, logs = run_job(out, tmp_path / "logs", "--epochs", "3", "--resume", "--dump-params",
                          "--dist-timeout", "60")
    assert codes == [0] * WORKERS, logs
    text = "\n".join(logs.values())
    assert text.count("(epoch 2)") == WORKERS, text  # every worker loaded the epoch-2 checkpoint
    assert "training epochs 2..2" in text and "Epoch[0]" not in text and "Epoch[2] done" in text
    assert (out / "toy-0003.json").is_file()
    epochs = [float(line.split(",")[0]) for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == [1, 2, 3]
    first, second = worker_params(out)
    assert_params_close(first, reference_params(tmp_path / "ref", epochs=3))
    assert_params_close(second, first)


def test_dead_worker_makes_the_survivor_abort(tmp_path):
    codes, logs = run_job(tmp_path / "out", tmp_path / "logs", "--epochs", "3", "--die-at-step", "5",
                          "--die-rank", "1", "--dist-timeout", "8")
    dead = [name for name, text in logs.items() if "fault injection" in text]
    assert len(dead) == 1, logs
    by_name = dict(zip(sorted(logs), codes))
    survivor = next(name for name in logs if name != dead[0])
    assert by_name[dead[0]] == -9, logs
    assert by_name[survivor] == WATCHDOG_EXIT_CODE, logs[survivor]
    assert WATCHDOG_MESSAGE in logs[survivor] and "worker 0 of 2" in logs[survivor]
    assert not (tmp_path / "out" / "toy-0003.json").exists()
