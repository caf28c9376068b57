"""Re-import of exported Faster R-CNN 2fc and FPN networks for ``detect``.

Proposals (NMS, a variable number of RoIs) and, for FPN, the RoI -> level
assignment run imperatively, so the networks are split into graphs (their
``export_graphs``; :func:`dcn.export.export_model` writes them, ``<prefix>-meta.json``
lists them):

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
from typing import Optional, Tuple, Union

import mxnet as mx

from dcn.export import import_graph, spec_from_meta
from dcn.modeling.fpn import pool_by_level

PathLike = Union[str, Path]


class ImportedDetector:
    """An exported Faster R-CNN or FPN with the interface ``dcn.detection.inference.detect`` uses."""

    def __init__(self, prefix: PathLike, epoch: int = 0, ctx: Optional[mx.Context] = None):
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
        pooled, _ = pool_by_level(self.pools, feat, batch_rois, self.first_level)
        return tuple(self.head(pooled))
