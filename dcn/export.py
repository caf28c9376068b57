"""Export a trained network to ``-symbol.json`` + ``.params`` for ``SymbolBlock.imports`` / ``mx.mod.Module``.

    python -m dcn.checkpoint export --cfg CFG --params FILE --out PREFIX [--epoch 0]

or from Python ``export_model(net, "out/rfcn_dcn_coco")``. The files follow
MXNet's checkpoint convention (``<graph>-symbol.json``, ``<graph>-000E.params``
with ``arg:``/``aux:`` keys), so ``mx.model.load_checkpoint(graph, epoch)`` and
:func:`operators.blocks.import_block` read them; the graphs use this project's
operators (``DeformableConvolution``, ``DeformablePSROIPooling``), so call
``operators.load()`` before importing them anywhere.

* DeepLab, a bare ResNet-v1 or any HybridBlock: one graph ``<prefix>``,
  ``data`` (N, 3, H, W) -> the block's output (DeepLab: class scores (N, C, H, W)).
* R-FCN: the proposal step between the RPN and the head runs imperatively
  (NMS, variable RoI count), so there are two graphs:
  ``<prefix>_body``: ``data`` (1, 3, H, W) -> R-FCN feature, RPN logits
  (1, N, 2), RPN deltas (1, N, 4), anchors (1, N, 4); and ``<prefix>_head``:
  ``feat``, ``rois`` (R, 5) [batch index, x1, y1, x2, y2] -> cls_score (R, C),
  bbox_pred (R, 4) (normalised deltas, as the Gluon net). :class:`ImportedRFCN`
  puts them back together so ``dcn.detection.inference.detect`` runs on the export.
  (Class-aware RPN: only the body, without the feature output.)
* Faster R-CNN and FPN: body + head graphs too (FPN also one RoI pooling graph
  per level); ``dcn.export_detectors.ImportedDetector`` re-joins them.

A network split into graphs names them itself (``export_graphs``, e.g.
``dcn.detection.detector.TwoStageDetector``): each graph is one of its own
hybridizable parts (``dcn.modeling.parts.HybridPart``), the code its
``forward`` runs, so an export cannot drift from the network.

``<prefix>-meta.json`` records the network, its spec and the graphs' inputs/outputs.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mxnet as mx
from mxnet import gluon
from mxnet.gluon import HybridBlock

import operators
from dcn.checkpoint.build import network_kind
from dcn.modeling.recipes import network_recipe
from dcn.utils.fileio import atomic_write, atomic_write_text

PathLike = Union[str, Path]


def export_symbol(block: HybridBlock, input_names: Sequence[str], prefix: PathLike, epoch: int = 0
                  ) -> Tuple[Path, Path, List[str]]:
    """Trace ``block`` on symbolic inputs; write ``prefix-symbol.json`` and ``prefix-000E.params``.

    Returns the two paths and the output names. Every parameter the graph uses
    is written (``arg:`` or ``aux:``); the block must be initialised.
    """
    operators.load()
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    out = block(*[mx.sym.var(n) for n in input_names])
    if isinstance(out, (list, tuple)):
        out = mx.sym.Group([o for o in out if o is not None])
    sym_path = Path(f"{prefix}-symbol.json")
    params_path = Path(f"{prefix}-{epoch:04d}.params")
    atomic_write(sym_path, lambda tmp: out.save(tmp, remove_amp_cast=True))
    params = block.collect_params()
    inputs = set(input_names)
    arrays: Dict[str, mx.nd.NDArray] = {}
    for kind, names in (("arg", out.list_arguments()), ("aux", out.list_auxiliary_states())):
        for name in names:
            if name in inputs:
                continue
            if name not in params:
                raise KeyError(f"graph variable {name!r} is neither an input {sorted(inputs)} nor a parameter")
            arrays[f"{kind}:{name}"] = params[name].data().as_in_context(mx.cpu())
    atomic_write(params_path, lambda tmp: mx.nd.save(tmp, arrays))
    return sym_path, params_path, out.list_outputs()


def _spec_dict(net) -> Optional[dict]:
    spec = getattr(net, "spec", None)
    return dataclasses.asdict(spec) if dataclasses.is_dataclass(spec) else None


def spec_from_meta(meta: dict):
    """The network spec an export's ``meta.json`` records, as the spec type its task registered."""
    spec = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["spec"].items()}
    return network_recipe(meta["network"]).spec_type(**spec)


def export_model(net: gluon.Block, prefix: PathLike, epoch: int = 0) -> Dict[str, Dict]:
    """Export ``net`` (R-FCN, Faster R-CNN, FPN, DeepLab, ResNet-v1 or any HybridBlock); returns the graphs
    written (see module doc)."""
    kind = network_kind(net)
    if hasattr(net, "export_graphs"):  # a network split into graphs by imperative steps (the detectors)
        graphs = net.export_graphs(str(prefix))
    elif isinstance(net, HybridBlock):
        graphs = {"net": (net, ["data"], str(prefix))}
    else:
        raise TypeError(f"cannot export a {type(net).__name__}: not a HybridBlock and no export recipe")
    written = {}
    for name, (block, inputs, graph_prefix) in graphs.items():
        sym_path, params_path, outputs = export_symbol(block, inputs, graph_prefix, epoch)
        written[name] = {"prefix": Path(graph_prefix).name, "symbol": sym_path.name, "params": params_path.name,
                         "inputs": list(inputs), "outputs": outputs}
    meta = {"network": kind, "class": type(net).__name__, "epoch": epoch, "graphs": written, "spec": _spec_dict(net)}
    atomic_write_text(f"{prefix}-meta.json", json.dumps(meta, indent=2) + "\n")  # last: marks the export complete
    return written


def import_graph(graph_prefix: PathLike, input_names: Sequence[str], epoch: int = 0,
                 ctx: Optional[mx.Context] = None) -> gluon.SymbolBlock:
    """``SymbolBlock.imports`` of one exported graph (loads the operator library first)."""
    from operators.blocks import import_block
    return import_block(f"{graph_prefix}-symbol.json", list(input_names), f"{graph_prefix}-{epoch:04d}.params",
                        ctx=ctx or mx.cpu())


def module_from_export(graph_prefix: PathLike, data_shapes: Sequence[Tuple[str, Tuple[int, ...]]], epoch: int = 0,
                       ctx: Optional[mx.Context] = None) -> mx.mod.Module:
    """An ``mx.mod.Module`` bound for inference on one exported graph, parameters set.

    The first input carries the batch axis; the others (R-FCN head ``rois`` (R, 5))
    are bound without one (``layout=''``), so their first dimension may differ.
    """
    operators.load()
    sym, arg_params, aux_params = mx.model.load_checkpoint(str(graph_prefix), epoch)
    descs = [mx.io.DataDesc(name, tuple(shape), layout="NCHW" if i == 0 and len(shape) == 4 else
                            ("" if i else "N" + "x" * (len(shape) - 1)))
             for i, (name, shape) in enumerate(data_shapes)]
    mod = mx.mod.Module(sym, data_names=[d.name for d in descs], label_names=None, context=ctx or mx.cpu())
    mod.bind(data_shapes=descs, for_training=False)
    mod.set_params(arg_params, aux_params, allow_missing=False, allow_extra=False)
    return mod


class ImportedRFCN:
    """An exported R-FCN with the interface ``dcn.detection.inference.detect`` uses (``spec``, call, ``head_forward``)."""

    def __init__(self, prefix: PathLike, epoch: int = 0, ctx: Optional[mx.Context] = None):
        meta = json.loads(Path(f"{prefix}-meta.json").read_text())
        if meta.get("network") != "rfcn":
            raise ValueError(f"{prefix}-meta.json describes a {meta.get('network')!r} export, not R-FCN")
        self.spec = spec_from_meta(meta)
        folder = Path(prefix).parent
        graphs = meta["graphs"]
        self.body = import_graph(folder / graphs["body"]["prefix"], ["data"], epoch, ctx)
        self.head = (import_graph(folder / graphs["head"]["prefix"], ["feat", "rois"], epoch, ctx)
                     if "head" in graphs else None)

    def __call__(self, data: mx.nd.NDArray):
        outs = self.body(data)
        return tuple(outs) if not self.spec.class_aware_rpn else (None, *outs)

    def head_forward(self, feat: mx.nd.NDArray, rois: mx.nd.NDArray):
        batch_rois = mx.nd.concat(mx.nd.zeros((rois.shape[0], 1), ctx=rois.context), rois, dim=1)
        return tuple(self.head(feat, batch_rois))
