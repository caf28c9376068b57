"""Alternate (4-step) training, as the original's ``rfcn_alternate_train_test.py`` (Ren et al.'s scheme):

    rpn1   the RPN alone, from the pretrained backbone (``TRAIN.RPN_ONLY``)
           -> its proposals of the training images
    rcnn1  the detector's head and backbone on them, from the pretrained backbone
    rpn2   the RPN again, from rcnn1, the shared layers frozen (``network.FIXED_PARAMS_SHARED``)
           -> its proposals of the training and test images
    rcnn2  the head on them, from rcnn1 with rpn2's RPN, the shared layers frozen
    final  rcnn2 with rpn2's RPN: one network whose RPN and head share conv1..res4,
           tested end-to-end (``TEST.HAS_RPN``) and on rpn2's proposals

Each stage lives in ``<output_path>/<stage>`` and is a normal training run (its
checkpoints, resume); a rerun skips finished stages. The network family is the
caller's (R-FCN: ``rfcn.alternate``, Faster R-CNN: ``fpn.alternate``): this
module only gets its ``build_net`` / ``load_net`` / ``lr_mult``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional

import mxnet as mx

from dcn.checkpoint import load_params
from dcn.config import Config
from dcn.config.loader import apply_overrides
from dcn.engine import make_contexts
from dcn.engine.checkpoint import checkpoint_path, find_last_checkpoint
from dcn.engine.finite import check_finite_params
from dcn.utils.fileio import atomic_write

from .data import load_dataset, make_transform
from .evaluate import evaluate
from .proposals import generate_proposals, proposal_file, save_proposals
from .training import train_network

logger = logging.getLogger(__name__)

STAGES = ("rpn1", "rcnn1", "rpn2", "rcnn2", "final")
BuildNet = Callable[[Config, list], mx.gluon.Block]
LoadNet = Callable[[Config, str, mx.Context], mx.gluon.Block]


def stage_config(cfg: Config, stage: str) -> Config:
    """``cfg`` for one stage: its folder, RPN-only or fixed-proposal mode, the frozen layers."""
    root = Path(cfg.output_path)
    sets = [f"output_path={root / stage}", f"TRAIN.model_prefix={cfg.TRAIN.model_prefix}_{stage}",
            "TRAIN.begin_epoch=0"]
    if stage.startswith("rpn"):
        sets += ["TRAIN.RPN_ONLY=true", "dataset.proposal_dir="]
    else:
        sets += ["TRAIN.RPN_ONLY=false", f"dataset.proposal_dir={root / ('proposals' + stage[-1])}"]
    if stage.endswith("2"):  # the layers both networks share stay as rcnn1 learnt them
        sets.append(f"network.FIXED_PARAMS={json.dumps(list(cfg.network.FIXED_PARAMS_SHARED))}")
    return apply_overrides(cfg, sets)


def _final_params(cfg: Config) -> Optional[Path]:
    ckpt = find_last_checkpoint(Path(cfg.output_path), cfg.TRAIN.model_prefix)
    return Path(ckpt.params_path) if ckpt is not None and ckpt.epoch >= cfg.TRAIN.end_epoch else None


def _starting_from(build_net: BuildNet, params: Optional[Path], rpn_from: Optional[Path] = None) -> BuildNet:
    """``build_net`` whose fresh network then takes every weight of ``params`` (and the RPN of ``rpn_from``)."""
    def build(cfg: Config, ctx: list) -> mx.gluon.Block:
        net = build_net(cfg, ctx)
        if params is not None:
            load_params(net, params, cfg=cfg)
        if rpn_from is not None:
            _copy_rpn(net, rpn_from, cfg, build_net, ctx)
        return net
    return build


def _copy_rpn(net, rpn_params: Path, cfg: Config, build_net: BuildNet, ctx: list) -> None:
    other = build_net(cfg, ctx)
    load_params(other, rpn_params, cfg=cfg)
    copy_rpn(other, net)


def copy_rpn(source, target) -> None:
    """``target``'s RPN takes ``source``'s weights (matched by their place in the block, not their global
    names, which differ between two instances)."""
    src = source.rpn._collect_params_with_prefix()
    dst = target.rpn._collect_params_with_prefix()
    if set(src) != set(dst):
        raise ValueError(f"the two networks' RPNs differ: {sorted(set(src) ^ set(dst))}")
    for name, p in dst.items():
        if p.shape != src[name].shape:
            raise ValueError(f"RPN parameter {name}: shape {src[name].shape}, expected {p.shape}")
        p.set_data(src[name].data())


def _train_stage(cfg: Config, build_net: BuildNet, lr_mult: Optional[Mapping[str, float]], progress: bool) -> Path:
    found = _final_params(cfg)
    if found is not None:
        logger.info("%s: reusing %s", Path(cfg.output_path).name, found)
        return found
    logger.info("########## alternate training: %s", Path(cfg.output_path).name)
    train_network(cfg, build_net, lr_mult=lr_mult, resume=True, progress=progress)
    found = _final_params(cfg)
    if found is None:
        raise RuntimeError(f"{cfg.output_path}: training ended without its epoch-{cfg.TRAIN.end_epoch} checkpoint")
    return found


def _proposals(cfg: Config, load_net: LoadNet, params: Path, folder: Path, test_too: bool) -> None:
    cfg = apply_overrides(cfg, [f"dataset.proposal_dir={folder}"])
    done = folder / ".done"
    if done.is_file():
        return
    ctx = make_contexts(cfg.gpus)[0]
    net = load_net(cfg, str(params), ctx)
    transform = make_transform(cfg, train=False, scale=cfg.test_scales[0])
    for train in (True, False) if test_too else (True,):
        image_set = cfg.dataset.image_set if train else cfg.dataset.test_image_set
        boxes = generate_proposals(net, load_dataset(cfg, train), transform, cfg, ctx)
        save_proposals(proposal_file(cfg, image_set), boxes)
    done.write_text("")


def alternate_train(cfg: Config, build_net: BuildNet, load_net: LoadNet, *,
                    lr_mult: Optional[Mapping[str, float]] = None, progress: bool = True,
                    test: bool = True) -> Dict[str, object]:
    """The 4 steps and the combined model (``<output_path>/final/<prefix>-<epoch>.params``); returns
    {stage: params path} and, with ``test``, the final model's end-to-end mAPs."""
    if cfg.dataset.proposal_dir or cfg.TRAIN.RPN_ONLY:
        raise ValueError("alternate training sets dataset.proposal_dir and TRAIN.RPN_ONLY per stage itself; "
                         "leave them unset")
    if cfg.default.kvstore.startswith("dist"):
        raise ValueError("alternate training runs on one machine (default.kvstore: device)")
    root = Path(cfg.output_path)
    out: Dict[str, object] = {}
    rpn1 = _train_stage(stage_config(cfg, "rpn1"), build_net, lr_mult, progress)
    _proposals(stage_config(cfg, "rcnn1"), load_net, rpn1, root / "proposals1", test_too=False)
    rcnn1 = _train_stage(stage_config(cfg, "rcnn1"), build_net, lr_mult, progress)
    rpn2 = _train_stage(stage_config(cfg, "rpn2"), _starting_from(build_net, rcnn1), lr_mult, progress)
    _proposals(stage_config(cfg, "rcnn2"), load_net, rpn2, root / "proposals2", test_too=True)
    rcnn2 = _train_stage(stage_config(cfg, "rcnn2"), _starting_from(build_net, rcnn1, rpn_from=rpn2), lr_mult,
                         progress)
    out.update(rpn1=rpn1, rcnn1=rcnn1, rpn2=rpn2, rcnn2=rcnn2)

    final_cfg = apply_overrides(cfg, [f"output_path={root / 'final'}", "TEST.HAS_RPN=true"])
    final = checkpoint_path(root / "final", cfg.TRAIN.model_prefix, cfg.TRAIN.end_epoch).with_suffix(".params")
    if not final.is_file():
        ctx = make_contexts(cfg.gpus)[0]
        net = load_net(final_cfg, str(rcnn2), ctx)
        copy_rpn(load_net(final_cfg, str(rpn2), ctx), net)
        check_finite_params(net, f"combined model {final}")
        final.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(final, net.save_parameters)
        logger.info("combined rpn2's RPN with rcnn2: %s", final)
    out["final"] = final
    if test:
        ctx = make_contexts(cfg.gpus)[0]
        net = load_net(final_cfg, str(final), ctx)
        result = evaluate(net, final_cfg, ctx=ctx, progress=progress)
        out["end2end"] = {k: float(v) for k, v in result.summary().items()}
        fixed_cfg = apply_overrides(final_cfg, [f"dataset.proposal_dir={root / 'proposals2'}", "TEST.HAS_RPN=false"])
        out["on_rpn2_proposals"] = {k: float(v) for k, v in evaluate(net, fixed_cfg, ctx=ctx,
                                                                      progress=progress).summary().items()}
        for mode in ("end2end", "on_rpn2_proposals"):
            logger.info("final model, %s: mAP@0.5 %.2f, mAP@0.7 %.2f", mode, 100 * out[mode]["mAP@0.5"],
                        100 * out[mode]["mAP@0.7"])
    return out


def run_alternate_cli(build_net: BuildNet, load_net: LoadNet, lr_mult: Optional[Mapping[str, float]],
                      argv=None, description: str = "") -> Dict[str, object]:
    """``--cfg/--set [--no-test] [--no-progress]``: :func:`alternate_train`; prints the final mAPs."""
    import argparse

    from dcn.config import add_config_args, config_from_args
    from dcn.utils.logger import setup_logging

    parser = add_config_args(argparse.ArgumentParser(description=description))
    parser.add_argument("--no-test", action="store_true", help="train the stages only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    Path(cfg.output_path).mkdir(parents=True, exist_ok=True)
    setup_logging(cfg.output_path, "alternate.log")
    import operators
    operators.load()
    out = alternate_train(cfg, build_net, load_net, lr_mult=lr_mult, progress=not args.no_progress,
                          test=not args.no_test)
    for mode in ("end2end", "on_rpn2_proposals"):
        if mode in out:
            for key in ("mAP@0.5", "mAP@0.7"):
                print(f"{mode} {key}: {100 * out[mode][key]:.2f}", flush=True)
    return out
