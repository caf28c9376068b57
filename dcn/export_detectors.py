"""Export recipes for Faster R-CNN 2fc and FPN (``fpn/``), and their re-import for ``detect``.

Proposals (NMS, a variable number of RoIs) and, for FPN, the RoI -> level
assignment run imperatively, so the networks are split into graphs
(:func:`dcn.export.export_model` writes them, ``<prefix>-meta.json`` lists them):

* Faster R-CNN: ``<prefix>_body`` (``data`` -> conv_new_1 feature, RPN logits
  (1, N, 2), deltas (1, N, 4), anchors (1, N, 4)) and ``<prefix>_head``
  (``feat``, ``rois`` (R, 5) [batch index, x1, y1, x2, y2] -> cls_score,
  bbox_pred (normalised deltas)), as R-FCN.
* FPN: ``<prefix>_body`` (``data`` -> P2, P3, P4, P5, RPN logits, deltas,
  anchors over P2-P6), ``<prefix>_pool_p2`` .. ``_pool_p5`` (``feat``,
  ``rois`` -> pooled (R, 256, 7, 7), with the level's offset fc) and
  ``<prefix>_head`` (``pooled`` -> cls_score, bbox_pred).

:class:`ImportedDetector` joins the graphs again behind the interface
``dcn.detection.inference.detect`` uses (``spec``, call, ``head_forward``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock

PathLike = Union[str, Path]
Graphs = Dict[str, Tuple[HybridBlock, List[str], str]]


class FPNBody(HybridBlock):
    """Backbone + neck + the shared RPN over P2-P6 + anchors of an ``fpn.FPN`` (shares its parameters)."""

    def __init__(self, net):
        super().__init__(prefix="")
        self._scale = float(net.spec.input_scale)
        self.backbone, self.neck, self.rpn = net.backbone, net.neck, net.rpn
        self.anchor_generators = net.anchor_generators
        for i, gen in enumerate(self.anchor_generators):
            self.register_child(gen, f"anchors_{i}")

    def hybrid_forward(self, F, data):
        levels = self.neck(*self.backbone(data * self._scale if self._scale != 1.0 else data))
        outs = [self.rpn(p) for p in levels]
        logits = F.concat(*[o[0] for o in outs], dim=1)
        deltas = F.concat(*[o[1] for o in outs], dim=1)
        anchors = F.concat(*[gen(p) for gen, p in zip(self.anchor_generators, levels)], dim=1)
        return tuple(levels[:4]) + (logits, deltas, anchors)


class FPNHeadBlock(HybridBlock):
    """``pooled (R, C, 7, 7) -> (cls_score, bbox_pred)``: fc_new_1/fc_new_2 and the outputs of an ``fpn.FPN``."""

    def __init__(self, net):
        super().__init__(prefix="")
        self.fc, self.outputs = net.fc, net.head

    def hybrid_forward(self, F, pooled):
        return self.outputs(self.fc(pooled))


def detector_graphs(net, kind: str, prefix: PathLike, body_cls) -> Graphs:
    """The graphs of a Faster R-CNN (``body_cls`` = dcn.export.RFCNBody, generic) or an FPN."""
    if kind == "faster_rcnn":
        return {"body": (body_cls(net), ["data"], f"{prefix}_body"),
                "head": (net.head, ["feat", "rois"], f"{prefix}_head")}
    graphs: Graphs = {"body": (FPNBody(net), ["data"], f"{prefix}_body")}
    for i, pool in enumerate(net.roi_pool.pools):
        k = net.roi_pool.first_level + i
        graphs[f"pool_p{k}"] = (pool, ["feat", "rois"], f"{prefix}_pool_p{k}")
    graphs["head"] = (FPNHeadBlock(net), ["pooled"], f"{prefix}_head")
    return graphs


class ImportedDetector:
    """An exported Faster R-CNN or FPN with the interface ``dcn.detection.inference.detect`` uses."""

    def __init__(self, prefix: PathLike, epoch: int = 0, ctx: Optional[mx.Context] = None):
        from dcn.export import import_graph, spec_from_meta
        meta = json.loads(Path(f"{prefix}-meta.json").read_text())
        self.kind = meta.get("network")
        if self.kind not in ("faster_rcnn", "fpn"):
            raise ValueError(f"{prefix}-meta.json describes a {self.kind!r} export, not Faster R-CNN / FPN")
        self.spec = spec_from_meta(meta)
        folder, graphs = Path(prefix).parent, meta["graphs"]

        def load(name: str) -> mx.gluon.SymbolBlock:
            return import_graph(folder / graphs[name]["prefix"], graphs[name]["inputs"], epoch, ctx)
        self.body, self.head = load("body"), load("head")
        self.pools = [load(name) for name in sorted(graphs) if name.startswith("pool_p")]
        self.first_level = 2

    def __call__(self, data: mx.nd.NDArray):
        outs = list(self.body(data))
        if self.kind == "fpn":
            return (tuple(outs[:4]), *outs[4:])
        return tuple(outs)

    def head_forward(self, feat, rois: mx.nd.NDArray) -> Tuple[mx.nd.NDArray, mx.nd.NDArray]:
        batch_rois = mx.nd.concat(mx.nd.zeros((rois.shape[0], 1), ctx=rois.context), rois, dim=1)
        if self.kind == "faster_rcnn":
            return tuple(self.head(feat, batch_rois))
        return tuple(self.head(pool_by_level(self.pools, feat, batch_rois, self.first_level)))


def pool_by_level(pools: Sequence, levels: Sequence[mx.nd.NDArray], rois: mx.nd.NDArray,
                  first_level: int = 2) -> mx.nd.NDArray:
    """Each RoI (R, 5) pooled from its ``fpn.pyramid.assign_levels`` level, back in the RoIs' order."""
    from dcn.modeling.fpn import assign_levels
    level = assign_levels(rois[:, 1:].asnumpy(), first_level, first_level + len(pools) - 1)
    parts, order = [], []
    for i, pool in enumerate(pools):
        idx = np.flatnonzero(level == first_level + i)
        if len(idx):
            parts.append(pool(levels[i], rois.take(mx.nd.array(idx, ctx=rois.context))))
            order.append(idx)
    pooled = mx.nd.concat(*parts, dim=0) if len(parts) > 1 else parts[0]
    inverse = np.empty(len(level), np.int64)
    inverse[np.concatenate(order)] = np.arange(len(level))
    return pooled.take(mx.nd.array(inverse, ctx=rois.context))
