"""Quickstart: a paper-style experiment (Tables 2-4, figures 6-7) on the synthetic dataset, on a CPU.

    python -m tools.quickstart [--out output/quickstart] [--smoke]     (or: bash experiments/quickstart.sh)

Generates the synthetic shapes dataset into ``<out>/data``; fine-tunes R-FCN on
the synthetic-pretrained ResNet-18 / 4 (``experiments/pretrained``, the paper's
ImageNet step on synthetic classes) in three variants under the same budget (paper
Table 3): plain (conv5 dilation 2, plain PS RoI pooling), atrous (conv5
dilation 4) and deformable (deformable 3x3 convs in res5a-c + deformable PS
RoI pooling); evaluates each (VOC mAP@0.5, @0.7 on the val split); then, in
the same output folder: the sampling-location pictures of the deformable
model (figures 6, 7), its effective dilation by object size (Table 2) and
parameters / runtime of the variants (Table 4). Everything already done
(dataset, checkpoints, evaluations, tables, pictures) is reused by a rerun;
an interrupted training resumes from its last epoch.

``--smoke``: the same pipeline on a few tiny images and a thin scratch net (CI).
The numbers are what this budget measures: minutes of CPU fine-tuning of a tiny
backbone pretrained on synthetic shapes, not the paper's ImageNet-pretrained
ResNet-101 on COCO.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd
from tqdm import tqdm

import operators
from dcn.config import Config, load_config
from dcn.data.batching import det_sample_to_nd
from dcn.data.records import DetRecord
from dcn.data.synthetic import ensure_synthetic, load_detection
from dcn.engine.checkpoint import find_last_checkpoint
from dcn.utils.fileio import atomic_write_text
from dcn.utils.logger import setup_logging
from dcn.visualization.capture import collect_offsets
from dcn.visualization.dilation import COCO_AREAS, DilationStats

from rfcn.show_offsets import analyze, class_names, draw_figures, draw_gt_parts, make_transform
from tools.children import available_cores, exit_with_parent

from . import runtime
from .jobs import TrainJob, plan, run_jobs

logger = logging.getLogger("tools.quickstart")

BASE_CFG = Path(__file__).resolve().parents[2] / "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml"
COCO_TEST_SHORT_SIDE = 600  # the paper tests COCO at a 600-pixel short side; Table 2's areas refer to it


@dataclass(frozen=True)
class Variant:
    name: str
    conv5: str
    roi_pooling: str
    overrides: Tuple[str, ...]


VARIANTS: Tuple[Variant, ...] = (
    Variant("plain", "3x3, dilation 2", "PS RoI pooling",
            ("network.num_deformable_layers=0", "network.dilation=2", "network.deformable_psroi=false")),
    Variant("atrous", "3x3, dilation 4", "PS RoI pooling",
            ("network.num_deformable_layers=0", "network.dilation=4", "network.deformable_psroi=false")),
    Variant("deformable", "deformable 3x3 (last 3 layers: res4b, res5a-b), dilation 2", "deformable PS RoI pooling",
            ("network.num_deformable_layers=3", "network.dilation=2", "network.deformable_psroi=true")),
)


# Training from scratch (the smoke run's thin net has no pretrained file): GroupNorm, nothing frozen, the
# scratch lr measured for R-FCN
SCRATCH = ("network.pretrained=", "network.norm=gn", "network.FIXED_PARAMS=[]", "TRAIN.lr=0.03")


@dataclass(frozen=True)
class Budget:
    """What every variant gets; saved in ``<out>/settings.json`` (a rerun must match)."""
    num_images: int            # generated; every 5th is in val
    scale: int                 # network input side (the generated images are 256 px)
    epochs: int
    lr_step: float             # epoch of the 10x lr drop
    flip: bool
    width_divisor: int         # ResNet-18 widths divided by this
    pretrained: bool = True    # fine-tune the synthetic-pretrained backbone (the base config's), else scratch
    extra: Tuple[str, ...] = ()
    dilation_images: int = 50  # val images for Table 2
    picture_images: int = 3    # val images drawn (figures 6, 7)
    runtime_images: int = 10   # val images timed for Table 4
    runtime_rounds: int = 3
    seed: int = 0


# 4 epochs x 400 images per variant, lr drop after 3: 6.4 min on 2 idle cores (two variants side by side, one
# thread each). Chosen on a dev set drawn with another generator seed, not on val: the deformable R-FCN had
# 56 mAP@0.5 there after 2 x 800 flipped images, 70 after 4 x 800.
FULL = Budget(num_images=500, scale=256, epochs=4, lr_step=3.0, flip=False, width_divisor=4)
SMOKE = Budget(num_images=6, scale=128, epochs=1, lr_step=0.75, flip=False, width_divisor=16, pretrained=False,
               extra=("TRAIN.RPN_PRE_NMS_TOP_N=300", "TRAIN.RPN_POST_NMS_TOP_N=64", "TRAIN.BATCH_ROIS_OHEM=32",
                      "TEST.RPN_PRE_NMS_TOP_N=200", "TEST.RPN_POST_NMS_TOP_N=32", "default.frequent=1"),
               dilation_images=1, picture_images=1, runtime_images=1, runtime_rounds=1)


@dataclass
class Outcome:
    variant: Variant
    params: Path
    train_s: float
    map50: float
    map70: float
    extra: Dict[str, float] = field(default_factory=dict)


def variant_config(out: Path, variant: Variant, budget: Budget) -> Config:
    data = out / "data"
    sets = [f"symbol=resnet_v1_18_w{budget.width_divisor}_rfcn_dcn", "network.depth=18",
            *(() if budget.pretrained else SCRATCH), f"dataset.dataset_path={data}", f"dataset.root_path={data}",
            f"dataset.num_images={budget.num_images}",
            f"SCALES=[{budget.scale},{budget.scale}]", f"TRAIN.end_epoch={budget.epochs}",
            f"TRAIN.lr_step=[{budget.lr_step}]", f"TRAIN.FLIP={'true' if budget.flip else 'false'}",
            f"TEST.test_epoch={budget.epochs}", f"default.seed={budget.seed}",
            f"output_path={out / 'runs' / variant.name}", *variant.overrides, *budget.extra]
    return load_config(BASE_CFG, sets)


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, obj: dict) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def check_settings(out: Path, budget: Budget) -> None:
    path = out / "settings.json"
    wanted = json.loads(json.dumps(asdict(budget)))  # tuples as lists, as read back
    found = _read_json(path)
    if found is not None and found != wanted:
        raise SystemExit(f"{out} holds a quickstart with other settings ({path}: {found}); "
                         f"use another --out or delete that folder")
    _write_json(path, wanted)


def _epochs_done(cfg: Config) -> int:
    ckpt = find_last_checkpoint(Path(cfg.output_path), cfg.TRAIN.model_prefix)
    return ckpt.epoch if ckpt is not None else 0


def _final_checkpoint(cfg: Config):
    ckpt = find_last_checkpoint(Path(cfg.output_path), cfg.TRAIN.model_prefix)
    return ckpt if ckpt is not None and ckpt.epoch >= cfg.TRAIN.end_epoch else None


def train_variant(cfg: Config) -> None:
    """One variant's training (in a child process of :func:`train_variants`); resumes a started run and adds
    its time to ``train_time.json``."""
    from rfcn.train import train

    run = Path(cfg.output_path)
    timing = run / "train_time.json"
    spent = (_read_json(timing) or {}).get("seconds", 0.0)
    t0 = time.perf_counter()
    train(cfg, resume=True, progress=False)
    _write_json(timing, {"seconds": spent + time.perf_counter() - t0,
                         "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0)})


def train_variants(configs: Dict[str, Config], out: Path, progress: bool, max_parallel: int = 0
                   ) -> Dict[str, Tuple[Path, float]]:
    """Trains every variant without its final checkpoint, side by side (:mod:`tools.quickstart.jobs`);
    returns {variant: (final params, train seconds)}."""
    todo = [name for name, cfg in configs.items() if _final_checkpoint(cfg) is None]
    for name in configs:
        if name not in todo:
            logger.info("%s: reusing %s", name, _final_checkpoint(configs[name]).params_path)
    if todo:
        todo.sort(key=lambda name: name != "deformable")  # the slowest first
        parallel, threads = plan(len(todo), available_cores(), max_parallel)
        logger.info("training %s: %d at a time, %d OpenMP thread(s) each", ", ".join(todo), parallel, threads)
        jobs = [TrainJob(name, ["-m", "tools.quickstart", "--out", str(out), "--train-variant", name],
                         Path(configs[name].output_path) / "train_stdout.log",
                         partial(_epochs_done, configs[name]), configs[name].TRAIN.end_epoch) for name in todo]
        run_jobs(jobs, parallel, threads, progress=progress)
    result = {}
    for name, cfg in configs.items():
        ckpt = _final_checkpoint(cfg)
        if ckpt is None:
            raise RuntimeError(f"training {cfg.output_path} finished without the epoch-{cfg.TRAIN.end_epoch} "
                               "checkpoint")
        seconds = (_read_json(Path(cfg.output_path) / "train_time.json") or {}).get("seconds", 0.0)
        result[name] = (ckpt.params_path, seconds)
    return result


def evaluate_variant(cfg: Config, params: Path, progress: bool) -> dict:
    from dcn.checkpoint import load_network
    from dcn.detection.evaluate import evaluate

    path = Path(cfg.output_path) / "eval.json"
    found = _read_json(path)
    if found is not None and found.get("params") == str(params):
        logger.info("%s: reusing %s", Path(cfg.output_path).name, path)
        return found
    net = load_network(cfg, str(params), mx.cpu())
    result = evaluate(net, cfg, progress=progress)
    summary = {k: float(v) for k, v in result.summary().items()}
    found = {"params": str(params), **summary, "per_class": result.table()}
    _write_json(path, found)
    logger.info("%s: %s", Path(cfg.output_path).name, {k: round(100 * v, 2) for k, v in summary.items()})
    return found


def table3(outcomes: List[Outcome], budget: Budget, schedule: str = "") -> Tuple[str, List[dict]]:
    rows = [{"variant": o.variant.name, "conv5": o.variant.conv5, "roi_pooling": o.variant.roi_pooling,
             "mAP@0.5": round(100 * o.map50, 2), "mAP@0.7": round(100 * o.map70, 2),
             "train_min": round(o.train_s / 60, 1)} for o in outcomes]
    backbone = (f"ResNet-18 (widths / {budget.width_divisor}) fine-tuned from the synthetic-pretrained backbone"
                if budget.pretrained else f"scratch ResNet-18 (widths / {budget.width_divisor}, GroupNorm)")
    lines = [f"R-FCN, {backbone}, synthetic shapes: "
             f"{budget.num_images - budget.num_images // 5} train / {budget.num_images // 5} val images, "
             f"{budget.scale} px, {budget.epochs} epochs{' (+flips)' if budget.flip else ''}; VOC area AP (%)"
             + (f"; {schedule}" if schedule else ""),
             "", "| variant | conv5 | RoI pooling | mAP@0.5 | mAP@0.7 | train (min) |", "|---|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['conv5']} | {r['roi_pooling']} | {r['mAP@0.5']:.1f} | "
                     f"{r['mAP@0.7']:.1f} | {r['train_min']:.1f} |")
    return "\n".join(lines), rows


def write_csv(path: Path, rows: List[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _val_samples(cfg: Config, n: int) -> List[Tuple[np.ndarray, np.ndarray, str, np.ndarray]]:
    """First ``n`` val images with at least one object: (BGR image, GT boxes in original pixels, id, labels)."""
    ds = load_detection(cfg.dataset.dataset_path, cfg.dataset.test_image_set)
    found = []
    for i in range(len(ds)):
        img, rec = ds[i]
        if len(rec.boxes):
            found.append((img, np.asarray(rec.boxes, np.float64), rec.image_id, np.asarray(rec.labels)))
        if len(found) >= n:
            break
    return found


def pictures(net, cfg: Config, out: Path, budget: Budget) -> List[dict]:
    """Figures 6 and 7 of the deformable model on val images with several objects (units from the GT boxes)."""
    folder = out / "pictures"
    candidates = _val_samples(cfg, 4 * budget.picture_images)
    candidates.sort(key=lambda s: 0 if 2 <= len(s[1]) <= 4 else 1)  # prefer 2-4 objects: readable, sizes vary
    results = []
    names = class_names(cfg)
    for img, boxes, image_id, labels in candidates[:budget.picture_images]:
        info = analyze(net, cfg, img)
        res = draw_figures(net, info, folder, image_id, ref_boxes=boxes * info.scale, num_rois=2, names=names)
        res["fig7_gt"] = draw_gt_parts(net, info, folder, image_id, boxes * info.scale, labels, names)
        results.append(res)
    return results


def dilation_table(net, cfg: Config, out: Path, budget: Budget, progress: bool) -> str:
    """Table 2: effective dilation of every deformable layer by where the filter centre falls."""
    transform = make_transform(cfg, train=False, scale=cfg.test_scales[0])
    factor = (cfg.test_scales[0][0] / COCO_TEST_SHORT_SIDE) ** 2
    areas = (COCO_AREAS[0] * factor, COCO_AREAS[1] * factor)
    stats = DilationStats()
    for img, boxes, image_id, _ in tqdm(_val_samples(cfg, budget.dilation_images), desc="dilation",
                                     disable=not progress, leave=False):
        sample = transform(img, DetRecord(image_id, "image", img.shape[0], img.shape[1]), flip=False)
        batch = det_sample_to_nd(sample)
        with autograd.predict_mode():
            layers = collect_offsets(net, batch["data"])
        stats.add(layers, boxes * float(sample.im_info[2]), cfg.network.RCNN_FEAT_STRIDE, areas)
    stats.write_csv(out / "table2_effective_dilation.csv")
    text = (f"Effective dilation (mean ± std of the distance between adjacent sampling locations, feature cells) "
            f"of the deformable filters, by the smallest ground-truth box containing the filter centre: small "
            f"< {np.sqrt(areas[0]):.0f}² px, medium < {np.sqrt(areas[1]):.0f}² px, large, else background "
            f"(COCO's 96², 224² at a {COCO_TEST_SHORT_SIDE}-px short side, rescaled to {cfg.test_scales[0][0]} px); "
            f"a regular filter gives its dilation ({cfg.network.dilation} in res5, 1 in res4)\n\n" + stats.markdown())
    atomic_write_text(out / "table2_effective_dilation.md", text + "\n")
    return text


def runtime_table(models: Dict[str, tuple], cfg: Config, out: Path, budget: Budget, progress: bool) -> str:
    images = [sample[0] for sample in _val_samples(cfg, budget.runtime_images)]
    rows = runtime.measure(models, images, rounds=budget.runtime_rounds, progress=progress)
    note = (f"{len(images)} val images x {budget.runtime_rounds} rounds, medians; {cfg.test_scales[0][0]} px; "
            f"{machine()}")
    text = runtime.markdown(rows, note)
    write_csv(out / "table4_runtime.csv", [asdict(r) for r in rows])
    atomic_write_text(out / "table4_runtime.md", text + "\n")
    return text


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
            f"mxnet {mx.__version__}")


def run(out: Path, budget: Budget, progress: bool = True, redo_analysis: bool = False, max_parallel: int = 0) -> str:
    """The whole experiment; returns the report (also written to ``<out>/results.md``)."""
    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    setup_logging(out, "quickstart.log")
    operators.load()
    check_settings(out, budget)
    ensure_synthetic(out / "data", budget.num_images)  # the same images for every training seed
    configs = {variant.name: variant_config(out, variant, budget) for variant in VARIANTS}
    trained = train_variants(configs, out, progress, max_parallel)
    outcomes = []
    for variant in VARIANTS:
        params, train_s = trained[variant.name]
        ev = evaluate_variant(configs[variant.name], params, progress)
        outcomes.append(Outcome(variant, params, train_s, ev["mAP@0.5"], ev["mAP@0.7"]))
    threads = {(_read_json(Path(c.output_path) / "train_time.json") or {}).get("threads") for c in configs.values()}
    schedule = (f"each variant trained in its own process with {threads.pop()} OpenMP thread(s), side by side"
                if len(threads) == 1 and None not in threads else "")
    text3, rows3 = table3(outcomes, budget, schedule)
    atomic_write_text(out / "table3.md", text3 + "\n")
    write_csv(out / "table3.csv", rows3)

    from dcn.checkpoint import load_network
    deform_cfg = configs["deformable"]
    if redo_analysis or not (out / "table2_effective_dilation.md").is_file() or not (out / "pictures").is_dir():
        net = load_network(deform_cfg, str(outcomes[-1].params), mx.cpu())
        pictures(net, deform_cfg, out, budget)
        dilation_table(net, deform_cfg, out, budget, progress)
    else:
        logger.info("reusing pictures and Table 2 in %s (--redo-analysis to redo)", out)
    if redo_analysis or not (out / "table4_runtime.md").is_file():
        models = {o.variant.name: (load_network(configs[o.variant.name], str(o.params), mx.cpu()),
                                   configs[o.variant.name]) for o in outcomes}
        runtime_table(models, deform_cfg, out, budget, progress)
    else:
        logger.info("reusing %s", out / "table4_runtime.md")

    wall = time.perf_counter() - t_start
    report = "\n\n".join([
        "## Table 3 (mAP per variant)\n\n" + text3,
        "## Table 2 (effective dilation, deformable model)\n\n" + (out / "table2_effective_dilation.md").read_text(),
        "## Table 4 (complexity and runtime)\n\n" + (out / "table4_runtime.md").read_text(),
        f"Pictures: {out / 'pictures'}\n\nThis run: {wall:.0f} s on {machine()}"])
    atomic_write_text(out / "results.md", report + "\n")
    return report


def _train_child(out: Path, name: str) -> None:
    """``--train-variant``: the budget is the one the parent wrote to ``<out>/settings.json``."""
    found = _read_json(out / "settings.json")
    if found is None:
        raise SystemExit(f"--train-variant needs the {out / 'settings.json'} of a started quickstart")
    budget = Budget(**{k: tuple(v) if isinstance(v, list) else v for k, v in found.items()})
    exit_with_parent()
    variant = next(v for v in VARIANTS if v.name == name)
    train_variant(variant_config(out, variant, budget))  # logs to its run folder (dcn.engine)


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="output folder (default output/quickstart; output/quickstart_e<N> "
                                                "with --epochs N, output/quickstart_smoke with --smoke)")
    ap.add_argument("--smoke", action="store_true", help="tiny images, thin net, 1 epoch (CI check of the pipeline)")
    ap.add_argument("--epochs", type=int, default=None,
                    help=f"training epochs per variant (default {FULL.epochs}; the lr drops 10x after 3/4 of them); "
                         "each budget has its own output folder")
    ap.add_argument("--seed", type=int, default=0, help="seed of the trainings (the dataset stays seed 0); "
                    "each seed has its own output folder")
    ap.add_argument("--redo-analysis", action="store_true", help="redraw pictures and re-measure Tables 2 and 4")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    ap.add_argument("--jobs", type=int, default=0, help="train at most N variants at a time (default: as many as "
                    "there are cores, up to 3; each gets cores / N OpenMP threads)")
    ap.add_argument("--train-variant", choices=[v.name for v in VARIANTS], default=None,
                    help=argparse.SUPPRESS)  # internal: one variant's training, in a child process
    args = ap.parse_args(argv)
    if args.jobs < 0:
        raise SystemExit(f"--jobs must be >= 1 (0 = automatic), got {args.jobs}")
    if args.train_variant:
        _train_child(Path(args.out), args.train_variant)
        return
    budget = SMOKE if args.smoke else FULL
    if args.epochs is not None:
        if args.epochs < 1:
            raise SystemExit(f"--epochs must be >= 1, got {args.epochs}")
        budget = replace(budget, epochs=args.epochs, lr_step=round(args.epochs * 3 / 4, 2))
    if args.seed:
        budget = replace(budget, seed=args.seed)
    default_out = "output/quickstart_smoke" if args.smoke else "output/quickstart"
    if args.epochs is not None and not args.smoke and args.epochs != FULL.epochs:
        default_out += f"_e{args.epochs}"
    if args.seed:
        default_out += f"_s{args.seed}"
    out = Path(args.out or default_out)
    report = run(out, budget, progress=not args.no_progress, redo_analysis=args.redo_analysis,
                 max_parallel=args.jobs)
    print(report, flush=True)


if __name__ == "__main__":
    main()
