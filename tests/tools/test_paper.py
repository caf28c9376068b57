"""The paper reproduction (``python -m tools.paper``): the plan, the tables, and the whole pipeline in smoke mode."""
import csv
import json
import math

import pytest

from tools.paper import tables
from tools.paper.__main__ import main as paper_main
from tools.paper.plan import FULL, ROWS, TABLE1_ROWS, TABLE3_ROWS, make_plan


def test_full_plan_covers_tables_1_and_3_for_every_task_and_seed():
    jobs = make_plan((1, 2, 3, 4), ("deeplab", "rpn", "faster", "rfcn"), seeds=2)
    keys = {j.key for j in jobs}
    for seed in (0, 1):
        assert f"s{seed}/proposals" in keys
        for task in ("deeplab", "rpn", "faster", "rfcn"):
            for row in set(TABLE1_ROWS) | set(TABLE3_ROWS):
                expected = task in ("faster", "rfcn") or not ROWS[row].deformable_roi
                assert (f"s{seed}/{task}/{row}" in keys) == expected, (seed, task, row)
    # the heads wait for their seed's proposal RPN; DeepLab and the class-aware RPN for nothing
    by_key = {j.key: j for j in jobs}
    assert by_key["s1/rfcn/both"].needs == ("s1/proposals",)
    assert by_key["s0/deeplab/atrous8"].needs == ()
    assert len(jobs) == 2 * (1 + 8 + 8 + 10 + 10)


def test_quick_plan_fits_its_estimate():
    quick = make_plan((1, 2, 3, 4), ("deeplab", "rpn", "faster", "rfcn"), seeds=1, quick=True)
    full = make_plan((1, 2, 3, 4), ("deeplab", "rpn", "faster", "rfcn"), seeds=2)
    assert {j.key for j in quick} < {j.key for j in full}  # a quick run is reused by the full plan
    minutes = sum(j.estimate_s(FULL) for j in quick) / 2 / 60
    assert minutes < 40, minutes


def test_only_table_2_needs_the_3_layer_rfcn_alone():
    jobs = make_plan((2,), ("rfcn",), seeds=1)
    assert [j.key for j in jobs] == ["s0/proposals", "s0/rfcn/dconv3"]


def test_claims_follow_the_numbers():
    results = {("rfcn", "dconv0"): [{"mAP@0.5": 0.50, "mAP@0.7": 0.2}, {"mAP@0.5": 0.52, "mAP@0.7": 0.22}],
               ("rfcn", "dconv3"): [{"mAP@0.5": 0.60, "mAP@0.7": 0.3}, {"mAP@0.5": 0.62, "mAP@0.7": 0.31}],
               ("rfcn", "atrous4"): [{"mAP@0.5": 0.51, "mAP@0.7": 0.2}, {"mAP@0.5": 0.51, "mAP@0.7": 0.2}],
               ("deeplab", "dconv0"): [{"mIoU": 0.5}, {"mIoU": 0.6}],
               ("deeplab", "dconv3"): [{"mIoU": 0.52}, {"mIoU": 0.58}]}
    found = {(c, w): v for c, w, v in tables.claims(results, ("deeplab", "rfcn"))}
    assert found["Table 1: accuracy rises with deformable layers (3 vs 0)", "R-FCN"].startswith("yes (+10.0)")
    assert found["Table 1: accuracy rises with deformable layers (3 vs 0)", "DeepLab"].startswith("within noise")
    assert found["Table 3: deformable convolution beats every atrous setting", "R-FCN"].startswith("yes")
    assert found["Table 3: a dilation above 2 helps", "R-FCN"].startswith("within noise")
    mean, std, values = tables.stats(results, "rfcn", "dconv0", "mAP@0.5")
    assert (round(mean, 6), values) == (51.0, [50.0, 52.0]) and math.isclose(std, math.sqrt(2))


def test_bad_arguments_name_what_was_expected(capsys):
    for argv, word in ((["--tables", "5"], "--tables"), (["--tasks", "yolo"], "--tasks"), (["--seeds", "0"], "--seeds")):
        with pytest.raises(SystemExit) as e:
            paper_main(argv + ["--dry-run"])
        assert word in str(e.value)


def test_smoke_run_writes_every_table_and_reuses_them(tmp_path):
    out = tmp_path / "paper"
    argv = ["--smoke", "--inline", "--no-progress", "--out", str(out)]
    paper_main(argv)
    for name in ("table1.md", "table1.csv", "table1.png", "table3.md", "table3.csv", "table2_effective_dilation.md",
                 "table4_runtime.md", "table4_runtime.csv", "claims.md", "results.md"):
        assert (out / name).stat().st_size > 0, name
    with (out / "table3.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["row"], r["task"]) for r in rows} >= {("both", "rfcn"), ("dconv0", "deeplab")}
    assert all(r["seeds"] == "1" for r in rows)
    assert "| deformation modules |" in (out / "table3.md").read_text()
    result = json.loads((out / "runs/s0/faster/both/result.json").read_text())
    assert set(result["metrics"]) >= {"mAP@0.5", "mAP@0.7"}
    stamp = (out / "runs/s0/faster/both/result.json").stat().st_mtime
    paper_main(argv)  # a rerun reuses every job
    assert (out / "runs/s0/faster/both/result.json").stat().st_mtime == stamp
    # a different budget in the same folder is refused, not mixed in
    settings = json.loads((out / "settings.json").read_text())
    settings["epochs"] = 7
    (out / "settings.json").write_text(json.dumps(settings))
    with pytest.raises(SystemExit, match="another budget"):
        paper_main(argv)


def _fake_jobs(tmp_path, fail=""):
    from tools.paper.plan import Job
    jobs = [Job("s0/proposals", "proposals", 0), Job("s0/rfcn/dconv0", "rfcn", 0, "dconv0", ("s0/proposals",)),
            Job("s0/deeplab/dconv0", "deeplab", 0, "dconv0")]
    order = tmp_path / "order.txt"

    def command(job):
        name = job.key.replace("/", "_")
        code = "raise SystemExit('boom')" if job.key == fail else f"open({str(tmp_path / name)!r}, 'w')"
        return ["-c", f"open({str(order)!r}, 'a').write({job.key!r} + '\\n'); {code}"]

    def is_done(job):
        return (tmp_path / job.key.replace("/", "_")).exists()

    kwargs = dict(is_done=is_done, progress_of=lambda j: 0.0, command=command,
                  log_of=lambda j: tmp_path / "logs" / (j.key.replace("/", "_") + ".log"),
                  estimate={j.key: 1.0 for j in jobs}, parallel=2, threads=1, show_progress=False, poll_s=0.05)
    return jobs, order, kwargs


def test_scheduler_runs_dependencies_first_and_in_child_processes(tmp_path):
    from tools.paper.scheduler import run_plan
    jobs, order, kwargs = _fake_jobs(tmp_path)
    run_plan(jobs, **kwargs)
    ran = order.read_text().split()
    assert sorted(ran) == sorted(j.key for j in jobs)
    assert ran.index("s0/proposals") < ran.index("s0/rfcn/dconv0")
    order.unlink()
    run_plan(jobs, **kwargs)  # everything done: nothing runs again
    assert not order.exists()


def test_scheduler_reports_the_failing_job_with_its_log(tmp_path):
    from tools.paper.scheduler import run_plan
    jobs, _, kwargs = _fake_jobs(tmp_path, fail="s0/proposals")
    with pytest.raises(RuntimeError, match=r"(?s)job s0/proposals failed.*boom"):
        run_plan(jobs, **kwargs)
    assert not (tmp_path / "s0_rfcn_dconv0").exists()  # its dependant never started


@pytest.mark.parametrize("dataset", ["synthetic", "voc"])
def test_every_job_of_the_full_plan_has_a_valid_config(tmp_path, dataset):
    import dataclasses
    from tools.paper.jobs import job_config
    budget = dataclasses.replace(FULL, dataset=dataset, sets=("TRAIN.lr=0.002",))
    for job in make_plan((1, 2, 3, 4), ("deeplab", "rpn", "faster", "rfcn"), seeds=2):
        cfg = job_config(tmp_path, job, budget)
        assert cfg.default.seed == job.seed and cfg.TRAIN.lr == 0.002
        assert cfg.output_path == str(tmp_path / "runs" / job.key)
        if job.row:
            row = ROWS[job.row]
            assert (cfg.network.num_deformable_layers, cfg.network.dilation) == (row.layers, row.dilation)
        if job.task in ("faster", "rfcn"):
            assert cfg.dataset.proposal_dir.endswith(f"s{job.seed}/proposals/boxes") and not cfg.TEST.HAS_RPN
        assert cfg.TRAIN.RPN_ONLY == (job.task == "proposals")
        assert (cfg.network.depth == 101) == (dataset == "voc")
