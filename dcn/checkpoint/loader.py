"""Strict loading of parameter files into our networks, in any of the formats they come in.

Formats (``source``), told apart by the keys of the file:

* ``original``: the MSRA code's ``prefix-000E.params`` (``mx.model.save_checkpoint``):
  ``arg:<name>`` / ``aux:<name>``, BatchNorm statistics ``*_moving_mean/var``,
  and the de-normalised ``rfcn_bbox_{weight,bias}_test`` (R-FCN) / ``bbox_pred_*_test``
  (Faster R-CNN, FPN) arrays.
  Mapped with the network's table (:mod:`dcn.checkpoint.tables`).
* ``export``: ``arg:``/``aux:`` with our (Gluon) names, ``*_running_mean/var``:
  what :mod:`dcn.export` / ``HybridBlock.export`` write. Names as they are.
* ``gluon``: ``Block.save_parameters`` files (structural keys such as
  ``backbone.conv1.weight``), i.e. the checkpoints of ``dcn.engine``.
* ``gluon-legacy``: ``ParameterDict.save`` files (plain prefixed names).

Every array is matched by name and shape before anything is assigned; a
missing, unexpected or mis-shaped entry raises :class:`ParamMismatchError`
listing all of them, unless ``allow_missing`` (missing parameters keep their
current values) / ``ignore_extra`` (unexpected arrays are dropped) are given,
and then each one is logged as a warning. Mis-shaped entries are always an error.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import mxnet as mx
import numpy as np
from mxnet import gluon

from dcn.engine.checkpoint import CheckpointError, verify_against_manifest
from dcn.engine.finite import non_finite_arrays
from dcn.modeling.recipes import recipe_for_net

from .build import build_network, network_kind, table_for
from .errors import FitReport, ParamMismatchError
from .tables import AUX_SUFFIXES, GLUON_SUFFIX, NetworkTable, renormalise_box_layer, split_param

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
DEFAULT_BBOX_MEANS = (0.0, 0.0, 0.0, 0.0)
DEFAULT_BBOX_STDS = (0.1, 0.1, 0.2, 0.2)
SOURCES = ("auto", "original", "export", "gluon", "gluon-legacy")


def read_params(path: PathLike) -> Dict[str, mx.nd.NDArray]:
    """``mx.nd.load`` with errors that name the file; checked against the sha256 of the manifest beside it
    (training checkpoints, ``dcn.pretrain`` files) when there is one, and refused if it holds NaN/inf."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file {path} does not exist")
    verify_against_manifest(path)
    try:
        loaded = mx.nd.load(str(path))
    except mx.base.MXNetError as err:
        raise CheckpointError(f"{path} is not a readable MXNet parameter file "
                              f"(truncated or corrupt?): {str(err).splitlines()[0]}") from None
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{path} holds an unnamed list of {len(loaded)} arrays, not named parameters")
    bad = non_finite_arrays(loaded)
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} arrays hold NaN/inf ({', '.join(bad[:5])}"
                              f"{' ...' if len(bad) > 5 else ''}): the weights of a diverged training")
    return loaded


def detect_source(keys: Sequence[str]) -> str:
    keys = list(keys)
    if any(k.startswith(("arg:", "aux:")) for k in keys):
        if any(k.endswith(("_moving_mean", "_moving_var")) for k in keys):
            return "original"
        if any(k.endswith(("_running_mean", "_running_var")) for k in keys):
            return "export"
        return "original"
    if any("." in k for k in keys):
        return "gluon"
    return "gluon-legacy"


def _shape(a) -> Tuple[int, ...]:
    return tuple(int(d) for d in a.shape)


def _fits(param_shape: Tuple[int, ...], shape: Tuple[int, ...]) -> bool:
    """0 in a (deferred) parameter shape matches any size."""
    return len(param_shape) == len(shape) and all(p in (0, s) for p, s in zip(param_shape, shape))


def _convert_original(arrays: Dict[str, mx.nd.NDArray], net, table: NetworkTable, report: FitReport,
                      bbox_means: Sequence[float], bbox_stds: Sequence[float]
                      ) -> Dict[str, Tuple[str, object]]:
    """Original names -> {our name: (file key, value)}; unknown keys go to ``report.unexpected``."""
    out: Dict[str, Tuple[str, object]] = {}  # our name -> (file key, NDArray or numpy array)
    tests: Dict[str, Dict[str, Tuple[str, np.ndarray]]] = {}
    for key, value in arrays.items():
        prefix, _, name = key.partition(":")
        test = name.endswith("_test")
        layer, suffix = split_param(name[:-5] if test else name)
        rule = table.rule_for_original(layer) if layer else None
        wrong_kind = (prefix == "aux") != (suffix in AUX_SUFFIXES)
        if prefix not in ("arg", "aux") or not suffix or wrong_kind or (test and not (rule and rule.test_arrays)):
            report.unexpected.append((key, _shape(value)))
            continue
        our_layer = table.our_layer(layer)
        if our_layer is None:  # our name for a layer the original spells differently
            report.unexpected.append((key, _shape(value)))
            hint = (f"{layer}_*: the original {table.network} symbol names this layer "
                    f"{table.original_of(layer)!r}, not {layer!r} (a file of another network?)")
            if hint not in report.hints:
                report.hints.append(hint)
            continue
        arr = value  # NDArrays stay NDArrays (copying ~200 MB through numpy costs seconds)
        ours = f"{our_layer}_{GLUON_SUFFIX.get(suffix, suffix)}"
        if rule is not None and rule.transform is not None:
            arr = rule.transform(arr.asnumpy(), net)
        if test:
            tests.setdefault(layer, {})[suffix] = (key, arr.asnumpy() if isinstance(arr, mx.nd.NDArray) else arr)
        else:
            out[ours] = (key, arr)
    for layer, parts in tests.items():
        rule = table.rule_for_original(layer)
        if set(parts) != {"weight", "bias"}:
            for key, arr in parts.values():
                report.unexpected.append((key, arr.shape))
            report.hints.append(f"{layer}: the file has only {sorted(parts)} of its *_test arrays")
            continue
        (wkey, w_test), (bkey, b_test) = parts["weight"], parts["bias"]
        layout, reg_classes = rule.test_arrays
        try:
            w, b = renormalise_box_layer(w_test, b_test, bbox_means, bbox_stds, reg_classes, layout)
        except ValueError as err:
            report.mismatched.append((wkey, f"{rule.ours}_weight", w_test.shape, ()))
            report.hints.append(f"{wkey}: cannot re-normalise: {err}")
            continue
        for suffix, key, value in (("weight", wkey, w), ("bias", bkey, b)):
            ours = f"{rule.ours}_{suffix}"
            if ours in out:  # the trained (normalised) array is in the file too: it must agree
                base_key, base = out[ours]
                base = base.asnumpy() if isinstance(base, mx.nd.NDArray) else base
                report.ignored[base_key] = f"superseded by {key} (as the original's load_param(process=True))"
                if base.shape == value.shape and not np.allclose(base, value, rtol=1e-3, atol=1e-5):
                    report.notes.append(
                        f"{key} != {base_key} x std + mean for BBOX_MEANS={list(bbox_means)}, "
                        f"BBOX_STDS={list(bbox_stds)}: the model was trained with other values; the *_test arrays "
                        "are used, so the boxes are still the original's")
            out[ours] = (key, value)
        report.notes.append(f"{wkey}/{bkey}: de-normalised by the original checkpoint callback; re-normalised with "
                            f"BBOX_MEANS={list(bbox_means)}, BBOX_STDS={list(bbox_stds)} into {rule.ours}_*, which "
                            "our inference de-normalises again (same boxes as the original test)")
    return out


def _is_offset(name: str) -> bool:
    """An offset layer: res5a_branch2b_offset_*, rfcn_cls_offset_t_*, Faster R-CNN offset_*, FPN offset_p2_*."""
    return "_offset" in name or name.partition(":")[2].startswith("offset") or name.startswith("offset")


def _hints(report: FitReport, net, table: NetworkTable, task_network: bool) -> None:
    missing = [n for n, _ in report.missing]
    unexpected = [n for n, _ in report.unexpected]
    if any(_is_offset(n) for n in unexpected) and not any(_is_offset(n) for n in missing):
        report.hints.append("the file has deformable layers (offset convs) the network lacks: use the config "
                            "that matches it (a *_dcn config / network.num_deformable_layers, deformable_psroi)")
    if any(_is_offset(n) for n in missing) and not any(_is_offset(n) for n in unexpected):
        report.hints.append("the network has deformable layers the file lacks: use the plain (non-dcn) config")
    for fname, ours, fshape, nshape in report.mismatched:
        class_layer = next((c for c in table.class_layers if ours.startswith(c.param)), None)
        if class_layer is not None and fshape:
            per_class = class_layer.per_class(net)
            report.hints.append(f"{ours}: the file has {fshape[0] // per_class} classes, the network "
                                f"{nshape[0] // per_class}: {class_layer.advice}")
        elif ours.startswith("rpn_cls_score_weight") and fshape:
            report.hints.append(f"{ours}: the file has {fshape[0] // 2} anchors, the network {nshape[0] // 2}: "
                                "set network.ANCHOR_SCALES / ANCHOR_RATIOS")
        elif ours.endswith("_branch2b_offset_weight") and fshape:
            report.hints.append(f"{ours}: {fshape[0]} offset channels in the file, {nshape[0]} in the network "
                                "(2*9 per deformable group): set network.deformable_groups")
    if report.source == "original" and task_network:
        scale = getattr(getattr(net, "spec", None), "input_scale", 1.0)
        if scale != 1.0:
            report.problems.append(f"the network scales its input by {scale:g} (network.pretrained is empty, a "
                                   "scratch-training setting); the original models expect raw mean-subtracted "
                                   "pixels: set network.pretrained (e.g. to the config's ImageNet file) or use the "
                                   "released config")


def match_params(net: gluon.Block, path: PathLike, *, source: str = "auto",
                 bbox_means: Sequence[float] = DEFAULT_BBOX_MEANS, bbox_stds: Sequence[float] = DEFAULT_BBOX_STDS,
                 arrays: Optional[Dict[str, mx.nd.NDArray]] = None, unused: Sequence[str] = ()
                 ) -> Tuple[FitReport, Dict[str, np.ndarray]]:
    """Line up the arrays of ``path`` with ``net``'s parameters; returns the report and {our name: value}.

    Parameters whose names start with one of ``unused`` (see :func:`unused_prefixes`) may be absent from
    the file: they are listed as unused, not as missing."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    arrays = read_params(path) if arrays is None else arrays
    source = detect_source(arrays.keys()) if source == "auto" else source
    kind, table = network_kind(net), table_for(net)
    report = FitReport(path=str(path), network=f"{type(net).__name__} ({kind})", source=source)
    params = net.collect_params()
    if source == "original":
        converted = _convert_original(arrays, net, table, report, bbox_means, bbox_stds)
    elif source == "export":
        converted = {}
        for key, value in arrays.items():
            prefix, _, name = key.partition(":")
            if prefix not in ("arg", "aux"):
                report.unexpected.append((key, _shape(value)))
            else:
                converted[name] = (key, value)
    elif source == "gluon":
        by_struct = {k: p.name for k, p in net._collect_params_with_prefix().items()}
        converted = {}
        for key, value in arrays.items():
            if key in by_struct:
                converted[by_struct[key]] = (key, value)
            else:
                report.unexpected.append((key, _shape(value)))
    else:
        converted = {key: (key, value) for key, value in arrays.items()}

    values: Dict[str, np.ndarray] = {}
    for ours, (key, value) in converted.items():
        if ours not in params:
            report.unexpected.append((key, _shape(value)))
        elif not _fits(_shape(params[ours]), _shape(value)):
            report.mismatched.append((key, ours, _shape(value), _shape(params[ours])))
        else:
            report.matched[ours] = key
            values[ours] = value
    for name, param in params.items():
        if name not in converted and name not in table.derived:
            rows = report.unused if name.startswith(tuple(unused)) else report.missing
            rows.append((name, _shape(param)))
    _hints(report, net, table, task_network=recipe_for_net(net) is not None)
    return report, values


def _assign(param: gluon.Parameter, value) -> None:
    data = value if isinstance(value, mx.nd.NDArray) else mx.nd.array(value, dtype=param.dtype)
    if data.dtype != np.dtype(param.dtype):
        data = data.astype(param.dtype)
    if param._data is not None:
        param.set_data(data)
    else:  # deferred / not yet initialised: initialise from the array
        ctx = param._deferred_init[1] if param._deferred_init else [mx.cpu()]
        param._load_init(data, ctx)


def assign_values(net: gluon.Block, values: Dict[str, np.ndarray]) -> None:
    params = net.collect_params()
    for name, value in values.items():
        _assign(params[name], value)


def enforce(report: FitReport, allow_missing: bool = False, ignore_extra: bool = False) -> None:
    """Raise :class:`ParamMismatchError` unless the only differences are allowed ones (logged then)."""
    blocking = bool(report.mismatched or report.problems or (report.missing and not allow_missing)
                    or (report.unexpected and not ignore_extra))
    if blocking:
        raise ParamMismatchError(report)
    if report.missing:
        logger.warning("%s: allow_missing: %d parameters not in the file keep their current values:\n%s",
                       report.path, len(report.missing),
                       "\n".join(f"  {n} {tuple(s)}" for n, s in report.missing))
    if report.unexpected:
        logger.warning("%s: ignore_extra: %d arrays of the file are not used:\n%s", report.path,
                       len(report.unexpected), "\n".join(f"  {n} {tuple(s)}" for n, s in report.unexpected))


def unused_prefixes(cfg) -> Tuple[str, ...]:
    """Parameter-name prefixes a config never uses, so a file may lack them: the RPN's when
    ``TEST.HAS_RPN`` is false (RoIs come from a proposal file or, in the original deform_psroi demo,
    are given by hand; that demo's model may have been trained on precomputed proposals)."""
    test = getattr(cfg, "TEST", None)
    return ("rpn_",) if test is not None and not getattr(test, "HAS_RPN", True) else ()


def bbox_stats(cfg) -> Tuple[Sequence[float], Sequence[float]]:
    """(means, stds) of the box-target normalisation from a config (defaults without one)."""
    if cfg is None:
        return DEFAULT_BBOX_MEANS, DEFAULT_BBOX_STDS
    return tuple(cfg.TRAIN.BBOX_MEANS), tuple(cfg.TRAIN.BBOX_STDS)


def load_params(net: gluon.Block, path: PathLike, *, cfg=None, source: str = "auto",
                bbox_means: Optional[Sequence[float]] = None, bbox_stds: Optional[Sequence[float]] = None,
                allow_missing: bool = False, ignore_extra: bool = False) -> FitReport:
    """Load ``path`` (any format above) into ``net``, strictly; returns the report.

    ``cfg`` (or ``bbox_means``/``bbox_stds``) gives the box-target normalisation
    that ``dcn.detection.inference`` applies, used to re-normalise the original's
    ``*_test`` arrays, and the parameters it leaves unused (:func:`unused_prefixes`).
    Nothing is assigned unless the whole file fits.
    """
    means, stds = bbox_stats(cfg)
    report, values = match_params(net, path, source=source, bbox_means=bbox_means or means,
                                  bbox_stds=bbox_stds or stds, unused=unused_prefixes(cfg))
    enforce(report, allow_missing, ignore_extra)
    assign_values(net, values)
    for name, why in report.ignored.items():
        logger.info("%s: ignored %s: %s", path, name, why)
    for note in report.notes:
        logger.info("%s: %s", path, note)
    if report.unused:
        logger.warning("%s: %d parameters not in the file, unused with this config (TEST.HAS_RPN false), left at "
                       "their initial values: %s", path, len(report.unused), ", ".join(n for n, _ in report.unused))
    logger.info("%s (%s format): %s", path, report.source, report.summary())
    return report


def load_network(cfg, params_path: PathLike, ctx: Optional[mx.Context] = None) -> gluon.Block:
    """The network of ``cfg`` with the parameters of ``params_path`` (strict; our checkpoints, exports or the
    original's released files), hybridised: what every test, demo and proposal entry point runs."""
    net = build_network(cfg, ctx)  # initialised: resolves deferred shapes, then overwritten
    load_params(net, params_path, cfg=cfg)
    net.hybridize()
    return net
