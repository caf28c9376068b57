"""One job of the plan: train (resuming a started run), evaluate, write ``result.json``.

Run in a child process by the scheduler (``python -m tools.paper --run-job KEY``), or inline; either way
every output lives in ``<out>/runs/<job key>`` and a finished job is never redone.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Optional

from dcn.config import Config, load_config
from dcn.config.loader import apply_overrides
from dcn.engine.checkpoint import find_last_checkpoint
from dcn.utils.fileio import atomic_write_text

from .plan import DETECTORS, ROWS, SCRATCH, SYMBOLS, VOC_SYMBOLS, Budget, Job

logger = logging.getLogger("tools.paper")

# proposals per image, for training the heads and testing them (the end-to-end configs' RPN_POST_NMS_TOP_N)
FIXED_PROPOSALS = ("TEST.PROPOSAL_PRE_NMS_TOP_N=6000", "TEST.PROPOSAL_POST_NMS_TOP_N=300",
                   "TEST.PROPOSAL_NMS_THRESH=0.7")


def read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, obj: dict) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def job_config(out: Path, job: Job, budget: Budget) -> Config:
    """The experiment config of ``job``: the task's config, the row's modules, the budget (synthetic data) or
    the config's own schedule (``budget.dataset == "voc"``), the seed, its folder."""
    sets = [f"default.seed={job.seed}", f"output_path={out / 'runs' / job.folder}"]
    if budget.dataset == "synthetic":
        data = out / "data"
        epochs = budget.rpn_epochs if job.task == "proposals" else budget.epochs
        lr_step = budget.lr_step * epochs / budget.epochs
        sets += [f"symbol={SYMBOLS[job.task].format(w=budget.width_divisor)}", "network.depth=18",
                 *(() if budget.pretrained else SCRATCH), f"dataset.dataset_path={data}",
                 f"dataset.root_path={data}", f"dataset.num_images={budget.num_images}",
                 f"SCALES=[{budget.scale},{budget.scale}]", f"TRAIN.end_epoch={epochs}",
                 f"TRAIN.lr_step=[{lr_step:g}]", f"TRAIN.FLIP={'true' if budget.flip else 'false'}",
                 f"TEST.test_epoch={epochs}"]
    else:
        sets.append(f"symbol={VOC_SYMBOLS[job.task]}")
    if job.task == "proposals":  # a plain RPN trained alone; its head is never used
        sets += [*ROWS["dconv0"].overrides(), "TRAIN.RPN_ONLY=true"]
    else:
        sets += ROWS[job.row].overrides()
    if job.task in DETECTORS or job.task == "proposals":
        sets += FIXED_PROPOSALS
    if job.task in DETECTORS:
        sets += [f"dataset.proposal_dir={proposal_dir(out, job.seed)}", "TEST.HAS_RPN=false"]
    extra = budget.extra if budget.dataset == "synthetic" else ()
    return load_config(budget.config_path(job.task), [*sets, *extra, *budget.sets])


def proposal_dir(out: Path, seed: int) -> Path:
    return out / "runs" / f"s{seed}" / "proposals" / "boxes"


def result_path(out: Path, job: Job) -> Path:
    return out / "runs" / job.folder / "result.json"


def final_params(cfg: Config) -> Path:
    ckpt = find_last_checkpoint(Path(cfg.output_path), cfg.TRAIN.model_prefix)
    if ckpt is None or ckpt.epoch < cfg.TRAIN.end_epoch:
        raise RuntimeError(f"{cfg.output_path}: training ended without its epoch-{cfg.TRAIN.end_epoch} checkpoint")
    return Path(ckpt.params_path)


def trainer(task: str):
    if task == "deeplab":
        from deeplab.train import train
    elif task == "faster":
        from fpn.train import train
    else:
        from rfcn.train import train
    return train


def loader(task: str):
    """Every task's trained network loads the same way (``dcn.checkpoint.load_network``)."""
    from dcn.checkpoint import load_network
    return load_network


def evaluate(task: str, cfg: Config, params: Path) -> dict:
    import mxnet as mx
    net = loader(task)(cfg, str(params), mx.cpu())
    if task == "deeplab":
        from deeplab.test import evaluate as seg_evaluate
        result = seg_evaluate(net, cfg, progress=False)
        return {"mIoU": float(result.miou), "pixel_acc": float(result.pixel_accuracy)}
    from dcn.detection.evaluate import evaluate as det_evaluate
    return {k: float(v) for k, v in det_evaluate(net, cfg, progress=False).summary().items()}


def make_proposals(cfg: Config, params: Path, folder: Path) -> None:
    """The proposal RPN's boxes for the train and test splits (``fpn.proposals``' work, as a function)."""
    import mxnet as mx
    from dcn.detection.data import load_dataset, make_transform
    from dcn.detection.proposals import generate_proposals, save_proposals

    net = loader("proposals")(cfg, str(params), mx.cpu())
    cfg = apply_overrides(cfg, [f"dataset.proposal_dir={folder}"])
    transform = make_transform(cfg, train=False, scale=cfg.test_scales[0])
    for train, image_set in ((True, cfg.dataset.image_set), (False, cfg.dataset.test_image_set)):
        boxes = generate_proposals(net, load_dataset(cfg, train), transform, cfg, mx.cpu(), progress=False)
        save_proposals(folder / f"{image_set}_{cfg.dataset.proposal}.npz", boxes)


def run_job(out: Path, job: Job, budget: Budget) -> dict:
    """Train (resuming), evaluate and record ``job``; returns its result (reused when recorded)."""
    path = result_path(out, job)
    found = read_json(path)
    if found is not None:
        return found
    cfg = job_config(out, job, budget)
    run = Path(cfg.output_path)
    timing = run / "train_time.json"
    spent = (read_json(timing) or {}).get("seconds", 0.0)
    last = find_last_checkpoint(run, cfg.TRAIN.model_prefix)
    if last is None or last.epoch < cfg.TRAIN.end_epoch:
        t0 = time.perf_counter()
        trainer(job.task)(cfg, resume=True, progress=False)
        spent += time.perf_counter() - t0
        write_json(timing, {"seconds": spent})
    params = final_params(cfg)
    t0 = time.perf_counter()
    if job.task == "proposals":
        folder = proposal_dir(out, job.seed)
        make_proposals(cfg, params, folder)
        metrics = {}
    else:
        metrics = evaluate(job.task, cfg, params)
    result = {"key": job.key, "task": job.task, "row": job.row, "seed": job.seed, "metrics": metrics,
              "params": str(params), "train_s": spent, "eval_s": time.perf_counter() - t0,
              "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0)}
    write_json(path, result)
    logger.info("%s: %s", job.key, {k: round(100 * v, 2) for k, v in metrics.items()})
    return result
