"""dcn.distributed without a running job: sharding, CLI options, DMLC env, watchdog, kvstore rules, launcher reaping."""
import logging
import sys
import threading
import time

import numpy as np
import pytest

from dcn.distributed import (DistSession, ShardSampler, Watchdog, dmlc_env, free_port, parse_gpus,
                             parse_train_config, resolve_kvstore, shard_indices)
from dcn.distributed.launcher import LocalCluster


# --- sharding --------------------------------------------------------------------------------

@pytest.mark.parametrize("num_workers", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", [None, 7])
def test_shards_are_disjoint_equal_and_deterministic(num_workers, seed):
    n = 10
    shards = [shard_indices(n, r, num_workers, seed=seed, epoch=3) for r in range(num_workers)]
    assert {len(s) for s in shards} == {n // num_workers}
    union = np.concatenate(shards)
    assert len(set(union.tolist())) == len(union) == (n // num_workers) * num_workers
    again = [shard_indices(n, r, num_workers, seed=seed, epoch=3) for r in range(num_workers)]
    assert all(np.array_equal(a, b) for a, b in zip(shards, again))


def test_shards_reshuffle_per_epoch_only_when_seeded():
    assert shard_indices(8, 1, 2).tolist() == [1, 3, 5, 7]
    assert not np.array_equal(shard_indices(64, 0, 2, seed=0, epoch=0), shard_indices(64, 0, 2, seed=0, epoch=1))
    with pytest.raises(ValueError, match="rank 2"):
        shard_indices(8, 2, 2)
    with pytest.raises(ValueError, match="cannot be shared"):
        shard_indices(1, 0, 2)


def test_shard_sampler(caplog):
    with caplog.at_level(logging.WARNING):
        sampler = ShardSampler(11, rank=1, num_workers=2, shuffle=True, seed=5)
    assert "1 of 11 samples left out" in caplog.text
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert len(sampler) == len(first) == len(second) == 5 and first != second
    assert list(ShardSampler(6, 0, 1, shuffle=False)) == list(range(6))


# --- command line ----------------------------------------------------------------------------

def test_parse_gpus():
    assert parse_gpus("0,1,2,3") == [0, 1, 2, 3]
    assert parse_gpus("") == [] and parse_gpus("cpu") == []
    for bad in ("a,b", "0,0", "-1"):
        with pytest.raises(Exception, match="--gpus"):
            parse_gpus(bad)


def test_device_options_override_the_config(tmp_path):
    cfg_file = tmp_path / "exp.yaml"
    cfg_file.write_text("gpus: [0]\ndefault:\n  kvstore: device\n")
    cfg, _ = parse_train_config(["--cfg", str(cfg_file)])
    assert cfg.gpus == [0] and cfg.default.kvstore == "device"
    cfg, args = parse_train_config(["--cfg", str(cfg_file), "--gpus", "0,1,2,3", "--kvstore", "dist_sync",
                                    "--dist-timeout", "30", "--resume"])
    assert cfg.gpus == [0, 1, 2, 3] and cfg.default.kvstore == "dist_sync"
    assert args.dist_timeout == 30 and args.resume
    with pytest.raises(SystemExit):
        parse_train_config(["--cfg", str(cfg_file), "--kvstore", "dist_async"])


def test_dmlc_env():
    env = dmlc_env("server", root_uri="127.0.0.1", root_port=9000, num_workers=2, num_servers=1,
                   node_host="127.0.0.1")
    assert env == {"DMLC_ROLE": "server", "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": "9000",
                   "DMLC_NUM_WORKER": "2", "DMLC_NUM_SERVER": "1", "DMLC_NODE_HOST": "127.0.0.1"}
    with pytest.raises(ValueError, match="role"):
        dmlc_env("boss", root_uri="127.0.0.1", root_port=1, num_workers=1, num_servers=1)


# --- kvstore rules ---------------------------------------------------------------------------

def test_resolve_kvstore(monkeypatch):
    assert resolve_kvstore("device") == "device" and resolve_kvstore(None) is None
    with pytest.raises(ValueError, match="dist_async"):
        resolve_kvstore("dist_async")
    monkeypatch.delenv("DMLC_ROLE", raising=False)
    with pytest.raises(RuntimeError, match="DMLC_"):
        resolve_kvstore("dist_sync")


def test_single_process_session():
    session = DistSession("device", timeout_s=0.1)
    assert (session.rank, session.num_workers, session.is_chief) == (0, 1, True)
    assert not session.watchdog.enabled  # never armed without a distributed store
    assert len(session.sampler(10)) == 10
    session.finish()


# --- watchdog --------------------------------------------------------------------------------

def test_watchdog_fires_without_progress_and_not_with_it():
    fired = threading.Event()
    messages = []
    dog = Watchdog(0.3, context="worker 0 of 2", abort=lambda msg: (messages.append(msg), fired.set()))
    kicked = dog.wrap(lambda: None)
    dog.start("warming up")
    end = time.monotonic() + 1.0
    while time.monotonic() < end:  # regular progress: no abort
        kicked()
        time.sleep(0.02)
    assert not fired.is_set()
    dog.kick("a stuck step")
    assert fired.wait(10), "watchdog did not fire"
    dog.stop()
    assert "watchdog: no progress" in messages[0] and "a stuck step" in messages[0]
    assert "worker 0 of 2" in messages[0]


# --- local launcher --------------------------------------------------------------------------

def test_launcher_times_out_then_kills_and_reaps_everything(tmp_path):
    try:
        free_port()
    except OSError as exc:
        pytest.skip(f"cannot bind a loopback port: {exc}")
    cluster = LocalCluster([sys.executable, "-c", "import time; time.sleep(120)"], num_workers=2,
                           log_dir=tmp_path)
    try:
        cluster.start()
        assert [n for n, _ in cluster.procs] == ["scheduler0", "server0", "worker0", "worker1"]
        with pytest.raises(TimeoutError, match="still running"):
            cluster.wait(0.5)
    finally:
        cluster.close()
    assert all(p.returncode is not None for _, p in cluster.procs)
