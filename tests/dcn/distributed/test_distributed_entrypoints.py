"""The task entry points under several workers: sharded batch samplers, and a real
``python -m deeplab.train --kvstore dist_sync`` job (scheduler, server, two workers) over loopback."""
import os
import sys

import numpy as np
import pytest

from dcn.data.batching import make_batch_sampler
from dcn.distributed import ShardBatchSampler, free_port
from dcn.distributed.launcher import LocalCluster

JOB_TIMEOUT_S = 240  # hard bound; the job takes ~10 s on 2 busy cores


def test_shard_batch_samplers_are_disjoint_equal_and_full():
    n, devices, workers = 23, 2, 3
    samplers = [ShardBatchSampler(n, devices, r, workers, seed=5) for r in range(workers)]
    for epoch in (0, 1):
        for s in samplers:
            s.set_epoch(epoch)
        batches = [list(s) for s in samplers]
        assert len({len(b) for b in batches}) == 1  # same number of steps on every worker (dist_sync)
        assert all(len(batch) == devices for b in batches for batch in b)
        flat = [i for b in batches for batch in b for i in batch]
        assert len(flat) == len(set(flat)) == workers * (n // workers // devices) * devices
    assert batches != [list(s) for s in [ShardBatchSampler(n, devices, r, workers, seed=5) for r in range(workers)]]


def test_make_batch_sampler_picks_shards_only_with_several_workers():
    ratios = np.array([1.5, 0.7, 1.2, 0.8, 1.0, 1.3])
    assert isinstance(make_batch_sampler(ratios, 2, num_workers=2, rank=1), ShardBatchSampler)
    single = list(make_batch_sampler(ratios, 2, seed=0))
    assert sorted(i for b in single for i in b) == list(range(6))
    with pytest.raises(ValueError, match="cannot fill a batch"):
        make_batch_sampler(ratios, 4, num_workers=2)


def test_deeplab_train_dist_sync_two_workers(tmp_path):
    try:
        free_port("127.0.0.1")
    except OSError as exc:
        pytest.skip(f"cannot bind a TCP port on 127.0.0.1 for the dist_sync scheduler: {exc}")
    from dcn.data.synthetic import ensure_synthetic
    data = tmp_path / "synth"
    ensure_synthetic(data, 8)  # before the workers start: they must not both generate it
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "deeplab.train", "--cfg", "experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml",
           "--kvstore", "dist_sync", "--gpus", "cpu", "--dist-start-timeout", "120", "--dist-timeout", "120",
           "--set", f"output_path={out}", "--set", f"dataset.dataset_path={data}",
           "--set", f"dataset.root_path={data}", "--set", "dataset.num_images=8", "--set", "SCALES=[64, 64]",
           "--set", "symbol=resnet_v1_18_w8_deeplab_dcn", "--set", "TRAIN.end_epoch=1",
           "--set", "network.pretrained=", "--set", "network.norm=gn", "--set", "network.FIXED_PARAMS=[]",
           "--set", "TRAIN.lr_step=[]", "--set", "TRAIN.warmup=false", "--set", "TRAIN.FLIP=false",
           "--set", "default.frequent=1"]  # every step logged: the step count per worker is checked
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cluster = LocalCluster(cmd, num_workers=2, num_servers=1, log_dir=tmp_path / "logs", env=env)
    try:
        cluster.start()
        codes = cluster.wait(JOB_TIMEOUT_S)
    finally:
        cluster.close()
    logs = {name: cluster.log(name) for name, _ in cluster.workers}
    assert codes == [0, 0], logs
    text = "".join(logs.values())  # ranks are assigned by the scheduler, not by launch order
    assert "worker 0 of 2 finished" in text and "worker 1 of 2 finished" in text, text[-3000:]
    # only the chief writes; the 7 training images of 8 (one is the test split) lose one so that 2 workers get
    # equal shards: 3 images each, one per step -> 3 steps per worker
    assert sorted(p.name for p in out.glob("*.params")) == ["deeplab_synthetic-0001.params"], list(out.iterdir())
    for name, log in logs.items():
        assert "Epoch[0] Batch [3/3]" in log and "Batch [4" not in log, (name, log[-3000:])
