"""The paper's ablations on the synthetic benchmark, one command (or ``bash experiments/paper.sh``):

    python -m tools.paper [--tables 1,2,3,4] [--tasks deeplab,rpn,faster,rfcn] [--seeds N] [--out DIR]
                          [--quick | --smoke] [--jobs N] [--dry-run]

Trains every row the tables need (``tools.paper.plan``) with the paper's VOC
protocol under one budget per row (4 epochs x 400 synthetic images, fine-tuning
the shipped synthetic-pretrained ResNet-18 / 4), evaluates each on the val split,
then writes to ``--out``: ``table1.md/.csv/.png``, ``table3.md/.csv``,
``table2_effective_dilation.md/.csv``, ``table4_runtime.md/.csv``, ``claims.md``
(the paper's statements checked against our numbers) and ``results.md`` (all of
them). Mean ± std over the seeds. A rerun reuses every finished job and resumes
interrupted trainings from their last epoch; one progress bar covers the plan.
``--quick``: one seed and 5 rows (Table 1's 0 and 3 layers, dilation 4, the
deformable RoI pooling rows); ``--smoke``: the pipeline on tiny images (CI).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from dcn.utils.fileio import atomic_write_text
from dcn.utils.logger import setup_logging
from tools.children import available_cores, exit_with_parent

from . import tables
from dcn.engine.checkpoint import find_last_checkpoint

from .jobs import job_config, read_json, result_path, run_job, write_json
from .plan import FULL, SMOKE, TABLE1_ROWS, TABLE3_ROWS, TASKS, Budget, Job, make_plan, table4_pairs
from .scheduler import run_plan

logger = logging.getLogger("tools.paper")


def check_settings(out: Path, budget: Budget) -> None:
    path = out / "settings.json"
    found = read_json(path)
    try:  # keys added since that run was started take their defaults
        same = found is None or Budget.from_json(found).to_json() == budget.to_json()
    except TypeError:
        same = False
    if not same:
        raise SystemExit(f"{out} holds a paper run with another budget ({path}: {found}); use another --out "
                         "(or move that folder away)")
    write_json(path, budget.to_json())


def machine() -> str:
    import mxnet as mx
    return (f"{platform.machine()}, {available_cores()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
            f"mxnet {mx.__version__}")


def collect(out: Path, jobs: Sequence[Job]) -> tables.Results:
    results: tables.Results = {}
    for job in jobs:
        found = read_json(result_path(out, job))
        if found is not None and job.task != "proposals":
            results.setdefault((job.task, job.row), []).append(found["metrics"])
    return results


def _fingerprint(out: Path, jobs: Sequence[Job]) -> List[str]:
    return sorted((read_json(result_path(out, j)) or {}).get("params", "") for j in jobs)


def analysis(out: Path, jobs: Sequence[Job], budget: Budget, tables_wanted: Sequence[int], redo: bool) -> Dict:
    """Tables 2 and 4 (reused while the models they were made from are the same)."""
    import mxnet as mx
    from .analysis import dilation_stats, measure_table4, table2_markdown, table4_markdown
    from .jobs import loader

    done = {j.key: j for j in jobs if read_json(result_path(out, j)) is not None}

    def model(job: Job):
        cfg = job_config(out, job, budget)
        return loader(job.task)(cfg, read_json(result_path(out, job))["params"], mx.cpu()), cfg

    found: Dict = {}
    if 2 in tables_wanted:
        used = [j for j in done.values() if j.task == "rfcn" and j.row == "dconv3"]
        cache = out / "table2_effective_dilation.json"
        cached = read_json(cache)
        if used and (redo or cached is None or cached.get("models") != _fingerprint(out, used)):
            stats, note = dilation_stats([model(j) for j in used], budget.dilation_images)
            stats.write_csv(out / "table2_effective_dilation.csv")
            text = table2_markdown(stats, note, len(used), budget.dilation_images)
            atomic_write_text(out / "table2_effective_dilation.md", text + "\n")
            cached = {"models": _fingerprint(out, used), "rows": stats.table()}
            write_json(cache, cached)
        found["table2"] = (cached or {}).get("rows")
    if 4 in tables_wanted:
        pairs = {}
        for task in TASKS:
            plain, deform = (done.get(f"s0/{task}/{row}") for row in table4_pairs(task))
            if plain and deform:
                pairs[task] = (plain, deform)
        cache = out / "table4_runtime.json"
        cached = read_json(cache)
        fingerprint = _fingerprint(out, [j for p in pairs.values() for j in p])
        if pairs and (redo or cached is None or cached.get("models") != fingerprint):
            rows = measure_table4({t: (model(p), model(d)) for t, (p, d) in pairs.items()},
                                  budget.runtime_images, budget.runtime_rounds)
            note = (f"Seed-0 models, {budget.runtime_images} val images x {budget.runtime_rounds} rounds, medians, "
                    f"{budget.scale} px, on the CPU ({machine()}); parameters: the learnable ones "
                    "(dcn.modeling.params.count_params, the detectors' RPN included). Paper: ResNet-101 on a K40 GPU.")
            text = table4_markdown(rows, note)
            atomic_write_text(out / "table4_runtime.md", text + "\n")
            tables_csv(out / "table4_runtime.csv", rows)
            cached = {"models": fingerprint, "rows": rows}
            write_json(cache, cached)
        found["table4"] = (cached or {}).get("rows")
    return found


def tables_csv(path: Path, rows: Sequence[dict]) -> None:
    import csv
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def report(out: Path, jobs: Sequence[Job], budget: Budget, tables_wanted: Sequence[int], tasks: Sequence[str],
           seeds: int, redo: bool, wall_s: float) -> str:
    results = collect(out, jobs)
    rows = sorted({j.row for j in jobs if j.row})
    train_images = budget.num_images - budget.num_images // 5
    if budget.dataset != "synthetic":
        return report_real(out, jobs, budget, tables_wanted, tasks, seeds, redo, wall_s, results, rows)
    header = (f"Synthetic shapes, {train_images} train / {budget.num_images // 5} val images at {budget.scale} px; "
              f"every row: {budget.epochs} epochs (lr / 10 after {budget.lr_step:g}) "
              + ("fine-tuning the shipped synthetic-pretrained ResNet-18 / 4 (frozen BN)" if budget.pretrained
                 else f"from scratch (ResNet-18 / {budget.width_divisor}, GroupNorm)")
              + f"; mean ± std over {seeds} seed(s) (training seeds; the same images); ours \\| paper "
              "(ResNet-101, VOC). Faster R-CNN and R-FCN train and test on the fixed proposals of one RPN per "
              "seed trained alone (the paper's VOC protocol); DeepLab and the class-aware RPN on their own.")
    return write_report(out, jobs, budget, tables_wanted, tasks, seeds, redo, wall_s, results, rows, header)


def report_real(out: Path, jobs: Sequence[Job], budget: Budget, tables_wanted: Sequence[int],
                tasks: Sequence[str], seeds: int, redo: bool, wall_s: float, results: tables.Results,
                rows: List[str]) -> str:
    header = (f"{budget.dataset.upper()}: the configs' own data and schedules "
              f"({', '.join(str(budget.config_path(t).name) for t in tasks)}); mean ± std over {seeds} seed(s); "
              "ours \\| paper. Faster R-CNN and R-FCN train and test on the fixed proposals of one RPN per seed "
              "trained alone (the paper's VOC protocol).")
    return write_report(out, jobs, budget, tables_wanted, tasks, seeds, redo, wall_s, results, rows, header)


def write_report(out: Path, jobs: Sequence[Job], budget: Budget, tables_wanted: Sequence[int],
                 tasks: Sequence[str], seeds: int, redo: bool, wall_s: float, results: tables.Results,
                 rows: List[str], header: str) -> str:
    parts = []
    if 1 in tables_wanted:
        text = tables.table1_markdown(results, tasks, rows)
        atomic_write_text(out / "table1.md", header + "\n\n" + text + "\n")
        tables.write_csv(out / "table1.csv", results, 1, tasks, [r for r in TABLE1_ROWS if r in rows])
        png = tables.plot_table1(out / "table1.png", results, tasks)
        parts.append("## Table 1: deformable convolution in the last n 3x3 layers\n\n" + text +
                     (f"\n\n![Table 1]({png.name})" if png else ""))
    if 3 in tables_wanted:
        text = tables.table3_markdown(results, tasks, rows)
        atomic_write_text(out / "table3.md", header + "\n\n" + text + "\n")
        tables.write_csv(out / "table3.csv", results, 3, tasks, [r for r in TABLE3_ROWS if r in rows])
        parts.append("## Table 3: deformable modules against atrous convolution\n\n" + text)
    extra = analysis(out, jobs, budget, tables_wanted, redo) if {2, 4} & set(tables_wanted) else {}
    if 2 in tables_wanted and (out / "table2_effective_dilation.md").is_file():
        parts.append("## Table 2: effective dilation\n\n" + (out / "table2_effective_dilation.md").read_text())
    if 4 in tables_wanted and (out / "table4_runtime.md").is_file():
        parts.append("## Table 4: complexity and runtime\n\n" + (out / "table4_runtime.md").read_text())
    claims = tables.claims_markdown(tables.claims(results, tasks, extra.get("table2"), extra.get("table4")))
    atomic_write_text(out / "claims.md", claims + "\n")
    parts.append("## The paper's claims at this scale\n\n" + claims)
    train_min = sum((read_json(result_path(out, j)) or {}).get("train_s", 0.0) for j in jobs) / 60
    text = "\n\n".join([header, *parts, f"This run: {wall_s / 60:.1f} min wall; {train_min:.0f} min of training "
                        f"in all ({len(jobs)} jobs) on {machine()}"])
    atomic_write_text(out / "results.md", text + "\n")
    return text


def run(out: Path, budget: Budget, tables_wanted: Sequence[int], tasks: Sequence[str], seeds: int, quick: bool,
        smoke: bool, jobs_at_once: int = 0, progress: bool = True, inline: bool = False, redo: bool = False,
        dry_run: bool = False) -> str:
    t0 = time.perf_counter()
    jobs = make_plan(tables_wanted, tasks, seeds, quick=quick, smoke=smoke)
    cores = available_cores()
    parallel = 1 if inline else max(1, min(jobs_at_once or cores, cores, len(jobs) or 1))
    threads = max(1, cores // parallel)
    estimate = {j.key: j.estimate_s(budget) for j in jobs}
    todo = [j for j in jobs if read_json(result_path(out, j)) is None]
    plan_text = (f"plan: {len(jobs)} jobs ({len(todo)} to run), {parallel} at a time with {threads} thread(s) each; "
                 + (f"estimated {sum(estimate[j.key] for j in todo) / parallel / 60:.0f} min of training + ~5 min "
                    "of analysis on a 2-core CPU" if budget.dataset == "synthetic" else
                    "the configs' own schedules (no time estimate)"))
    if dry_run:
        return "\n".join([plan_text, *(f"  {j.key}  ~{estimate[j.key] / 60:.1f} min" for j in jobs)])
    out.mkdir(parents=True, exist_ok=True)
    setup_logging(out, "paper.log")
    check_settings(out, budget)
    import operators
    from dcn.data.synthetic import ensure_synthetic
    operators.load()
    if budget.dataset == "synthetic":
        ensure_synthetic(out / "data", budget.num_images)
    logger.info(plan_text)
    if inline:
        for job in todo:
            run_job(out, job, budget)
    else:
        configs = {j.key: job_config(out, j, budget) for j in todo}

        def progress_of(job: Job) -> float:
            cfg = configs[job.key]
            ckpt = find_last_checkpoint(Path(cfg.output_path), cfg.TRAIN.model_prefix)
            return (ckpt.epoch if ckpt is not None else 0) / max(cfg.TRAIN.end_epoch, 1)

        run_plan(jobs, is_done=lambda j: result_path(out, j).is_file(), progress_of=progress_of,
                 command=lambda j: ["-m", "tools.paper", "--out", str(out), "--run-job", j.key],
                 log_of=lambda j: out / "runs" / j.folder / "job.log", estimate=estimate, parallel=parallel,
                 threads=threads, show_progress=progress)
    return report(out, jobs, budget, tables_wanted, tasks, seeds, redo, time.perf_counter() - t0)


def _run_child(out: Path, key: str) -> None:
    """``--run-job``: one job, with the budget the parent wrote to ``<out>/settings.json``."""
    found = read_json(out / "settings.json")
    if found is None:
        raise SystemExit(f"--run-job needs the {out / 'settings.json'} of a started run")
    budget = Budget.from_json(found)
    seed, task = key.split("/")[:2]
    row = key.split("/")[2] if key.count("/") == 2 else ""
    exit_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import operators
    operators.load()
    run_job(out, Job(key, task, int(seed[1:]), row), budget)


def _int_list(text: str, name: str, allowed: Sequence[int]) -> List[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"--{name}: expected comma-separated numbers from {list(allowed)}, got {text!r}")
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise SystemExit(f"--{name}: expected comma-separated numbers from {list(allowed)}, got {text!r}")
    return values


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", default="1,2,3,4", help="paper tables to make (default 1,2,3,4)")
    ap.add_argument("--tasks", default=",".join(TASKS), help=f"tasks (default {','.join(TASKS)})")
    ap.add_argument("--seeds", type=int, default=None, help="training seeds per row (default 2; --quick 1)")
    ap.add_argument("--out", default=None, help="output folder (default output/paper, output/paper_quick, "
                                                "output/paper_smoke)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="one seed, 5 rows per task (<= 45 min on 2 cores)")
    mode.add_argument("--smoke", action="store_true", help="tiny images, thin scratch net, 1 epoch (CI)")
    ap.add_argument("--dataset", choices=("synthetic", "voc"), default="synthetic",
                    help="synthetic (built in, the budget above) or voc: the released VOC configs with their own "
                         "data paths and schedules (ResNet-101; add --set gpus=[0,1,2,3])")
    ap.add_argument("--cfg", action="append", default=[], metavar="TASK=PATH",
                    help="use this config for a task (e.g. deeplab=experiments/deeplab/cfgs/"
                         "deeplab_resnet_v1_101_cityscapes_segmentation_dcn.yaml); repeatable")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                    help="config override for every job; repeatable")
    ap.add_argument("--jobs", type=int, default=0, help="trainings at a time (default: one per core)")
    ap.add_argument("--inline", action="store_true", help="run the jobs one by one in this process")
    ap.add_argument("--redo-analysis", action="store_true", help="re-measure Tables 2 and 4")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and its time estimate only")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--run-job", default=None, help=argparse.SUPPRESS)  # internal: one job, in a child process
    args = ap.parse_args(argv)
    if args.run_job:
        if not args.out:
            raise SystemExit("--run-job needs --out")
        _run_child(Path(args.out), args.run_job)
        return
    tables_wanted = _int_list(args.tables, "tables", (1, 2, 3, 4))
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise SystemExit(f"--tasks: expected comma-separated names from {list(TASKS)}, got {args.tasks!r}")
    seeds = args.seeds if args.seeds is not None else (1 if args.quick or args.smoke else 2)
    if seeds < 1:
        raise SystemExit(f"--seeds must be >= 1, got {seeds}")
    if args.jobs < 0:
        raise SystemExit(f"--jobs must be >= 1 (0 = one per core), got {args.jobs}")
    budget = SMOKE if args.smoke else FULL
    cfgs = []
    for item in args.cfg:
        task, _, path = item.partition("=")
        if task not in TASKS or not path:
            raise SystemExit(f"--cfg: expected TASK=PATH with TASK one of {list(TASKS)}, got {item!r}")
        if not Path(path).is_file():
            raise SystemExit(f"--cfg {item}: no such config file")
        cfgs.append((task, str(Path(path).resolve())))
    if args.dataset != "synthetic" and args.smoke:
        raise SystemExit("--smoke runs on the synthetic data only")
    budget = dataclasses.replace(budget, dataset=args.dataset, cfgs=tuple(cfgs), sets=tuple(args.sets))
    default_out = {"voc": "output/paper_voc"}.get(args.dataset, "output/paper")
    out = Path(args.out or ("output/paper_smoke" if args.smoke else default_out + "_quick" if args.quick
                            else default_out))
    text = run(out, budget, tables_wanted, tasks, seeds, args.quick, args.smoke, args.jobs,
               progress=not args.no_progress, inline=args.inline, redo=args.redo_analysis, dry_run=args.dry_run)
    print(text, flush=True)


if __name__ == "__main__":
    main()
