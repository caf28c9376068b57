"""The offset pictures on a tiny R-FCN (figure 6 / 7 point counts, the CLI) and the quickstart in smoke mode."""
import csv
import dataclasses
import json
import subprocess
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from dcn.config import load_config
from rfcn.model import RFCN
from rfcn.config import model_spec
from tools.quickstart.pipeline import BASE_CFG, SCRATCH, SMOKE, VARIANTS, run
from rfcn.show_offsets import analyze, default_units, draw_figures, main as show_offsets_main

REPO = Path(__file__).resolve().parents[2]
TINY = ["symbol=resnet_v1_50_w16_rfcn_dcn", "network.depth=50", *SCRATCH, "SCALES=[240,240]",
        "TEST.RPN_PRE_NMS_TOP_N=200", "TEST.RPN_POST_NMS_TOP_N=20"]


def tiny_net(offset_scale=0.3):
    """A random deformable R-FCN whose offsets are bounded by ``offset_scale`` (random biases only)."""
    cfg = load_config(BASE_CFG, TINY)
    mx.random.seed(0)
    net = RFCN(model_spec(cfg))
    net.initialize_weights()
    rng = np.random.RandomState(0)
    for name, p in net.collect_params(".*offset.*").items():
        if name.endswith("bias"):
            p.set_data(mx.nd.array(rng.uniform(-offset_scale, offset_scale, p.shape)))
    net.hybridize()
    return net, cfg


def scene(size=240):
    img = np.full((size, size, 3), 90, np.uint8)
    img[40:120, 50:200] = (30, 160, 220)
    return img


def test_figures_on_a_tiny_model(tmp_path):
    net, cfg = tiny_net()
    info = analyze(net, cfg, scene())
    assert [l.in_shape for l in info.layers] == [(15, 15)] * 3
    units = [("centre", (7, 7)), ("corner", (0, 0))]
    res = draw_figures(net, info, tmp_path, "img", units=units, num_rois=2)
    # centre of a 15x15 map: every chain stays inside (|offset| <= 0.3 per layer): 9^3 points;
    # a corner unit keeps only the taps that read the map (at most 13^2 with zero offsets)
    assert res["fig6_points"][0] == 729
    assert 0 < res["fig6_points"][1] < 729
    assert res["fig6"].stat().st_size > 0
    assert len(res["fig7"]) == min(2, len(info.dets)) and all(p.stat().st_size > 0 for p in res["fig7"])
    assert res["fig7_bins"] == [49] * len(res["fig7"])  # 7x7 parts


def test_zero_offsets_give_the_regular_grid_counts(tmp_path):
    net, cfg = tiny_net(offset_scale=0.0)
    info = analyze(net, cfg, scene())
    res = draw_figures(net, info, tmp_path, "img", units=[("c", (7, 7)), ("corner", (0, 0))], num_rois=0)
    assert res["fig6_points"] == [729, 169] and res["fig7"] == []


def test_default_units_background_small_large():
    boxes = np.array([[10, 10, 30, 30], [100, 100, 230, 230]], np.float64)
    units = dict(default_units(boxes, (15, 15), 16))
    assert set(units) == {"background", "small object", "large object"}
    assert units["small object"] == (1, 1) and units["large object"] == (10, 10)
    r, c = units["background"]
    assert (r * 16 < 100 or c * 16 < 100) and not (r <= 2 and c <= 2)


def test_show_offsets_cli(tmp_path):
    net, cfg = tiny_net()
    params = tmp_path / "tiny-0001.params"
    net.save_parameters(str(params))
    import cv2
    image = tmp_path / "scene.jpg"
    cv2.imwrite(str(image), scene())
    args = ["--params", str(params), "--cfg", str(BASE_CFG), "--image", str(image), "--out", str(tmp_path / "out"),
            "--units", "7,7", "3,4", "--thresh", "0"] + [a for s in TINY for a in ("--set", s)]
    show_offsets_main(args)
    assert (tmp_path / "out" / "scene_fig6.png").stat().st_size > 0
    assert (tmp_path / "out" / "scene_fig7_0.png").exists()
    with pytest.raises(SystemExit, match="row,col"):
        show_offsets_main(args[:-2 * len(TINY)] + ["--units", "7;7"] + [a for s in TINY for a in ("--set", s)])
    with pytest.raises(SystemExit, match="no file"):
        show_offsets_main(["--params", str(params), "--cfg", str(BASE_CFG), "--image", str(tmp_path / "nope.jpg")])


def test_quickstart_smoke_end_to_end(tmp_path):
    """The user's command (smoke budget), then a rerun in-process that must redo nothing."""
    out = tmp_path / "qs"
    proc = subprocess.run(["bash", str(REPO / "experiments/quickstart.sh"), "--smoke", "--no-progress", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Table 3" in proc.stdout and "Table 4" in proc.stdout and "| deformable |" in proc.stdout
    with open(out / "table3.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["variant"] for r in rows] == [v.name for v in VARIANTS]
    assert all(0 <= float(r["mAP@0.5"]) <= 100 and float(r["mAP@0.7"]) <= float(r["mAP@0.5"]) for r in rows)
    # 5 steps from scratch are too few for any detection to score (every mAP is 0.0 at this budget; learning
    # to high mAP is asserted by tests/test_overfit.py and the slow trainings), so check that each variant
    # really trained and was really evaluated: its RPN learned (accuracy 0.55 -> 0.72 and log loss down over
    # the 5 steps, measured) and the val split had objects to score (a finite AP in some size class)
    for v in VARIANTS:
        with open(out / "runs" / v.name / "metrics_batches.csv") as f:
            steps = list(csv.DictReader(f))
        assert len(steps) == 5, steps
        assert float(steps[-1]["RPNAcc"]) > float(steps[0]["RPNAcc"]) + 0.1, (v.name, steps)
        assert float(steps[-1]["RPNLogLoss"]) < float(steps[0]["RPNLogLoss"]), (v.name, steps)
        ev = json.loads((out / "runs" / v.name / "eval.json").read_text())
        assert any(np.isfinite(ev[f"AP@0.5_{size}"]) for size in ("small", "medium", "large")), (v.name, ev)
    with open(out / "table2_effective_dilation.csv") as f:
        dil = list(csv.DictReader(f))
    # ResNet-18: the last three 3x3 convs with a stride-1 input are res4b's and res5's two blocks
    assert [r["layer"] for r in dil] == ["res4b_branch2b", "res5a_branch2b", "res5b_branch2b"]
    with open(out / "table4_runtime.csv") as f:
        rt = {r["name"]: r for r in csv.DictReader(f)}
    assert set(rt) == {"plain", "atrous", "deformable"}
    assert int(rt["deformable"]["params"]) > int(rt["plain"]["params"]) == int(rt["atrous"]["params"])
    assert list((out / "pictures").glob("*_fig6.png")) and list((out / "pictures").glob("*_fig7_0.png"))
    assert list((out / "pictures").glob("*_fig7_gt0.png"))
    assert (out / "results.md").is_file() and (out / "data" / "SYNTHETIC_COMPLETE.json").is_file()
    # a rerun reuses every checkpoint and evaluation
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*.params")}
    evals = {p: p.read_text() for p in out.glob("runs/*/eval.json")}
    run(out, SMOKE, progress=False)
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*.params")} == stamps
    assert {p: p.read_text() for p in out.glob("runs/*/eval.json")} == evals
    # other settings in the same folder are refused
    with pytest.raises(SystemExit, match="other settings"):
        run(out, dataclasses.replace(SMOKE, epochs=2), progress=False)


def test_parallel_training_plan_and_failures(tmp_path):
    from tools.quickstart.jobs import TrainJob, plan, run_jobs
    assert plan(3, 2) == (2, 1) and plan(3, 16) == (3, 5) and plan(3, 1) == (1, 1)
    assert plan(2, 8, max_parallel=1) == (1, 8) and plan(1, 4) == (1, 4)
    ok = TrainJob("ok", ["-c", "import os; print(os.environ['OMP_NUM_THREADS'])"], tmp_path / "ok.log",
                  lambda: 1, 1)
    run_jobs([ok], parallel=1, threads=3, progress=False, poll_s=0.05)
    assert (tmp_path / "ok.log").read_text().strip() == "3"
    bad = TrainJob("bad", ["-c", "import sys; print('boom'); sys.exit(3)"], tmp_path / "bad.log", lambda: 0, 1)
    slow = TrainJob("slow", ["-c", "import time; time.sleep(60)"], tmp_path / "slow.log", lambda: 0, 1)
    with pytest.raises(RuntimeError, match=r"training bad failed \(exit 3\)[\s\S]*boom"):
        run_jobs([bad, slow], parallel=2, threads=1, progress=False, poll_s=0.05)


def _alive(pid: int) -> bool:
    import os
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")  # a zombie is gone


def _wait_gone(pid: int, seconds: float) -> bool:
    import time
    end = time.time() + seconds
    while time.time() < end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_training_children_do_not_outlive_the_quickstart(tmp_path):
    """A child exits when its parent is killed; SIGTERM to the parent stops its children first."""
    import os
    import signal
    import sys
    import time
    pidfile = tmp_path / "child.pid"
    child = ("import os, time; from tools.children import exit_with_parent; exit_with_parent(0.05); "
             f"open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys, time; "
                               f"subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"])
    for _ in range(2400):  # up to 2 min: a loaded machine imports slowly
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    parent.kill()
    parent.wait()
    assert _wait_gone(pid, 5), "the orphaned child kept running"

    pidfile.unlink()
    runner = ("from pathlib import Path; from tools.quickstart.jobs import TrainJob, run_jobs; "
              f"run_jobs([TrainJob('c', ['-c', {child!r}], Path({str(tmp_path / 'c.log')!r}), lambda: 0, 1)], "
              "1, 1, progress=False, poll_s=0.05)")
    parent = subprocess.Popen([sys.executable, "-c", runner])
    for _ in range(2400):  # up to 2 min: a loaded machine imports slowly
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    os.kill(parent.pid, signal.SIGTERM)
    assert parent.wait(timeout=10) == 128 + signal.SIGTERM
    assert _wait_gone(pid, 5), "SIGTERM left the training child running"
