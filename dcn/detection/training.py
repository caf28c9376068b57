"""The shared training driver of the detection packages (R-FCN, Faster R-CNN, FPN): :func:`train`, which
``python -m rfcn.train`` / ``fpn.train`` run.

One image per device per step (effective batch: devices x workers images);
SGD from ``TRAIN.*`` via ``dcn.engine.fit`` (checkpoints, resume, dist_sync
through ``dcn.distributed.DistSession``); the loss is
``dcn.detection.loss.detector_loss``: end-to-end, or, with
``dataset.proposal_dir`` set, the head alone on the precomputed proposals
``<proposal_dir>/<image_set>_<proposal>.npz`` (the paper's VOC ablation
protocol) with the RPN frozen.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

import operators

from dcn.checkpoint.build import new_network
from dcn.config import Config
from dcn.data.batching import TransformedDataset, scatter
from dcn.distributed import DistSession, epoch_loader
from dcn.engine import fit, make_contexts
from dcn.modeling.pretrained import prepare_for_training

from .data import train_dataset
from .loss import TrainParams, detector_loss
from .params import train_params
from .proposals import load_proposals, proposal_file, sample_to_nd

logger = logging.getLogger(__name__)

# the original's lr multiplier of the randomly initialised 1x1 reduction conv (R-FCN, Faster R-CNN)
LR_MULT = {r"^conv_new_1_": 3.0}

ForwardFn = Callable[[gluon.Block, Dict[str, mx.nd.NDArray]], Tuple[mx.nd.NDArray, Dict[str, mx.nd.NDArray]]]


def make_forward(params: TrainParams) -> ForwardFn:
    def forward(net: gluon.Block, batch: Dict[str, mx.nd.NDArray]) -> Tuple[mx.nd.NDArray, Dict[str, mx.nd.NDArray]]:
        # numpy's global state is reseeded by the loop each epoch (deterministic resume)
        rng = np.random.default_rng(np.random.randint(2 ** 31))
        return detector_loss(net, batch, params, rng)
    return forward


def freeze_rpn(net: gluon.Block) -> List[str]:
    """No gradient for the RPN (training on fixed proposals never uses it); returns the frozen names."""
    names = []
    for name, p in net.rpn.collect_params().items():
        p.grad_req = "null"
        names.append(name)
    return names


def freeze_head(net: gluon.Block) -> List[str]:
    """No gradient for the RoI head (``TRAIN.RPN_ONLY`` never uses it); returns the frozen names."""
    names = []
    if net.head is not None:
        for name, p in net.head.collect_params().items():
            p.grad_req = "null"
            names.append(name)
    return names


def training_dataset(cfg: Config, net: gluon.Block) -> TransformedDataset:
    """The training images; with ``dataset.proposal_dir`` also their precomputed proposals (RPN frozen)."""
    if cfg.TRAIN.RPN_ONLY:
        if cfg.dataset.proposal_dir:
            raise ValueError("TRAIN.RPN_ONLY trains the RPN, dataset.proposal_dir the head on fixed proposals: "
                             "set one of them, not both")
        if getattr(net.spec, "class_aware_rpn", False):
            raise ValueError("TRAIN.RPN_ONLY: the class-aware RPN is an RPN already (set it false)")
        logger.info("training the RPN alone; RoI head frozen (%d parameters)", len(freeze_head(net)))
        return train_dataset(cfg)
    if not cfg.dataset.proposal_dir:
        return train_dataset(cfg)
    if getattr(net.spec, "class_aware_rpn", False):
        raise ValueError("dataset.proposal_dir: the class-aware RPN has no RoI head to train on fixed proposals")
    dataset = train_dataset(cfg, load_proposals(proposal_file(cfg, cfg.dataset.image_set)))
    logger.info("training the head on precomputed proposals; RPN frozen (%d parameters)", len(freeze_rpn(net)))
    return dataset


def train_detector(cfg: Config, net: gluon.Block, ctx: list, *, lr_mult: Optional[Mapping[str, float]] = None,
                   resume: bool = False, overwrite: bool = False, progress: bool = True,
                   session: Optional[DistSession] = None) -> Any:
    """Train the initialised ``net`` as ``cfg`` says (end-to-end, or on precomputed proposals); returns the
    finished ``TrainLoop``."""
    dataset = training_dataset(cfg, net)
    session = session or DistSession(cfg.default.kvstore)
    epoch_data, num_samples = epoch_loader(cfg, dataset, len(ctx), session)
    loop = fit(cfg, net, session.watch(make_forward(train_params(cfg))), epoch_data, num_samples,
               resume=resume, overwrite=overwrite, ctx=ctx, lr_mult=lr_mult,
               split_fn=lambda batch, ctxs: scatter(batch, ctxs, sample_to_nd), progress=progress)
    session.finish()
    return loop


def train_network(cfg: Config, build_net: Callable[[Config, list], gluon.Block], *,
                  lr_mult: Optional[Mapping[str, float]] = None, resume: bool = False, overwrite: bool = False,
                  progress: bool = True, session: Optional[DistSession] = None) -> Tuple[gluon.Block, Any]:
    """``build_net(cfg, contexts)`` on ``cfg.gpus`` (or the CPU), then :func:`train_detector`;
    returns the network and the finished ``TrainLoop``."""
    operators.load()
    ctx = make_contexts(cfg.gpus)
    net = build_net(cfg, ctx)
    logger.info("%s: %s", type(net).__name__, net.spec)
    return net, train_detector(cfg, net, ctx, lr_mult=lr_mult, resume=resume, overwrite=overwrite,
                               progress=progress, session=session)


def build_for_training(cfg: Config, ctx: List[mx.Context]) -> gluon.Block:
    """A new network of ``cfg`` (its task's recipe; backbone from ``network.pretrained`` when set, strictly),
    hybridised."""
    return prepare_for_training(new_network(cfg), cfg, ctx)


def train(cfg: Config, resume: bool = False, progress: bool = True, overwrite: bool = False,
          session: Optional[DistSession] = None) -> Tuple[gluon.Block, Any]:
    """Train the detector ``cfg`` describes; returns the network and the finished ``TrainLoop``.

    ``session``: the distributed job this process belongs to (``dist_*`` kvstores); made from
    ``cfg.default.kvstore`` when not given.
    """
    return train_network(cfg, build_for_training, lr_mult=LR_MULT, resume=resume, overwrite=overwrite,
                         progress=progress, session=session)
