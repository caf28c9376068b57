"""Pictures of the learned offsets of a trained R-FCN (paper figures 6 and 7).

    python -m rfcn.show_offsets --params output/.../rfcn_synthetic-0008.params --image a.jpg [--cfg cfg.yaml]
                                [--out offsets_out] [--units 5,7 9,3] [--rois 2] [--group 0]
                                [--boxes X1,Y1,X2,Y2,CLASS ...]

* ``<stem>_fig6.png``: for each chosen activation unit of the last deformable
  layer, the sampling locations of the stacked deformable 3x3 convs of conv5
  (res5a-c of a bottleneck ResNet: up to 9^3 = 729 points) on the image.
  Points that read only zero padding (outside the feature map) are dropped
  with everything below them; every tap keeps its own offset at the borders.
* ``<stem>_fig7_<i>.png``: the k x k parts of deformable PS RoI pooling (class
  branch, the detected class) shifted by their learned offsets over the i-th
  best detection; ``<stem>_fig7_box<i>.png`` the same over each ``--boxes`` RoI
  with its given class (the original deform_psroi demo).

Units (``row,col`` on the stride-16 feature map) default to the centres of the
smallest and the largest detection and the background position farthest from
every detection. The network is built from ``--cfg`` or the ``config.yaml``
next to ``--params``; released original models load through ``dcn.checkpoint``.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd

from dcn.checkpoint import load_network
from dcn.config import Config, add_trained_model_args, load_config, trained_config_path
from dcn.data.batching import det_sample_to_nd
from dcn.data.image_io import load_image
from dcn.data.records import DetRecord
from dcn.engine import make_contexts
from dcn.visualization.capture import collect_offsets, deformable_layers
from dcn.visualization.plots import plot_roi_parts, plot_stacked_sampling
from dcn.visualization.sampling import DeformLayer, feature_to_image, image_to_feature

from dcn.detection.data import class_names, make_transform
from dcn.detection.detector import with_batch_index
from dcn.detection.inference import DetectParams, detect
from dcn.detection.params import detect_params

logger = logging.getLogger(__name__)

Unit = Tuple[int, int]


@dataclass
class ImageOffsets:
    """Everything the pictures need for one image, in network-input (resized) pixels."""
    image_rgb: np.ndarray            # resized input image, RGB uint8
    scale: float                     # input pixels / original pixels
    layers: List[DeformLayer]        # deformable conv layers, bottom-up ([] if none)
    feature: mx.nd.NDArray           # the head's input feature
    dets: np.ndarray                 # (K, 6) [class, score, x1, y1, x2, y2] in input pixels
    stride: int                      # feature stride of the deformable layers' input


def analyze(net, cfg: Config, img_bgr: np.ndarray, params: Optional[DetectParams] = None,
            ctx: mx.Context = mx.cpu(), detections: bool = True) -> ImageOffsets:
    """One forward pass for the offsets (imperative), one for the detections (none if not ``detections``)."""
    transform = make_transform(cfg, train=False, scale=cfg.test_scales[0])
    rec = DetRecord("image", Path("image"), img_bgr.shape[0], img_bgr.shape[1])
    sample = transform(img_bgr, rec, flip=False)
    batch = det_sample_to_nd(sample, ctx)
    h, w, scale = (float(v) for v in sample.im_info)
    resized = np.ascontiguousarray(_resize(img_bgr, int(h), int(w))[:, :, ::-1])
    with autograd.predict_mode():
        layers = collect_offsets(net, batch["data"]) if deformable_layers(net) else []
        feature = net(batch["data"])[0]
    if detections:
        dets = detect(net, batch["data"], batch["im_info"], params or detect_params(cfg)).copy()
        dets[:, 2:6] *= scale
    else:
        dets = np.zeros((0, 6), np.float32)
    return ImageOffsets(resized, scale, layers, feature, dets, int(cfg.network.RCNN_FEAT_STRIDE))


def _resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2
    if img.shape[:2] == (height, width):
        return img
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)


def default_units(boxes: np.ndarray, feat_shape: Tuple[int, int], stride: int) -> List[Tuple[str, Unit]]:
    """Paper figure 6's choice: a background unit, a small and a large object's centre unit.

    ``boxes`` (K, 4) in input pixels (detections or ground truth)."""
    H, W = feat_shape
    yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    cy, cx = feature_to_image(yy, stride), feature_to_image(xx, stride)
    units: List[Tuple[str, Unit]] = []
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(boxes):
        # background: the position farthest from every box (distance 0 inside a box)
        dist = np.full((H, W), np.inf)
        for x1, y1, x2, y2 in boxes:
            dx = np.maximum(np.maximum(x1 - cx, cx - x2), 0)
            dy = np.maximum(np.maximum(y1 - cy, cy - y2), 0)
            dist = np.minimum(dist, np.hypot(dx, dy))
        r, c = np.unravel_index(int(np.argmax(dist)), dist.shape)
        if dist[r, c] > 0:
            units.append(("background", (int(r), int(c))))
        areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
        order = [int(np.argmin(areas))] + ([int(np.argmax(areas))] if len(boxes) > 1 else [])
        for name, i in zip(("small object", "large object") if len(order) > 1 else ("object",), order):
            x1, y1, x2, y2 = boxes[i]
            fy, fx = image_to_feature(np.array([(y1 + y2) / 2, (x1 + x2) / 2]), stride)
            units.append((name, (int(np.clip(round(fy), 0, H - 1)), int(np.clip(round(fx), 0, W - 1)))))
    else:
        units.append(("centre", (H // 2, W // 2)))
    return units


def roi_part_offsets(net, feature: mx.nd.NDArray, rois: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Normalised part offsets (R, 2, k, k) ((dx, dy)) of the class branch of deformable PS RoI
    pooling for RoIs (R, 4) in input pixels and their 0-based foreground classes."""
    head = getattr(getattr(net, "head", None), "cls", None)
    if head is None or not getattr(head, "deformable", False):
        raise ValueError("the network has no deformable PS RoI pooling head (network.deformable_psroi)")
    rois_nd = with_batch_index(mx.nd.array(np.asarray(rois, np.float32).reshape(-1, 4), ctx=feature.context))
    with autograd.predict_mode():
        trans = head.offsets(mx.nd, feature, rois_nd).asnumpy()      # (R, 2 * offset classes, k, k)
    per_class = head.num_offset_classes > 1
    out = []
    for r, c in enumerate(classes):
        j = int(c) + 1 if per_class else 0  # class branch: one field per class, background first
        out.append(trans[r, 2 * j:2 * j + 2])
    return np.stack(out) if out else np.zeros((0, 2) + trans.shape[2:], np.float32)


def draw_figures(net, info: ImageOffsets, out_dir: Path, stem: str, units: Optional[List[Tuple[str, Unit]]] = None,
                 num_rois: int = 2, group: int = 0, thresh: float = 0.0, ref_boxes: Optional[np.ndarray] = None,
                 names: Optional[Sequence[str]] = None) -> dict:
    """Writes ``<stem>_fig6.png`` (if the backbone is deformable) and ``<stem>_fig7_<i>.png`` (if the head is).

    ``ref_boxes`` (input pixels) choose the default units instead of the detections (e.g. ground truth);
    ``names``: foreground class names for the figure-7 titles.
    Returns {"fig6": path, "fig6_points": [...], "fig7": [paths], "fig7_bins": [...]}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict = {"fig6": None, "fig6_points": [], "fig7": [], "fig7_bins": []}
    dets = info.dets[info.dets[:, 1] >= thresh]
    if info.layers:
        last = info.layers[-1]
        if units is None:
            boxes = ref_boxes if ref_boxes is not None else dets[:5, 2:6]
            units = default_units(boxes, last.offset.shape[1:], info.stride * last.stride[0])
        unit_names = [n for n, _ in units]
        path = out_dir / f"{stem}_fig6.png"
        title = (f"{len(info.layers)} deformable layers ({info.layers[0].name} .. {last.name}), "
                 f"deformable group {group}")
        result["fig6_points"] = plot_stacked_sampling(info.image_rgb, info.layers, [u for _, u in units],
                                                      info.stride, path, group=group, title=title, labels=unit_names)
        result["fig6"] = path
        logger.info("%s: %s points per unit %s", path, result["fig6_points"], [u for _, u in units])
        full = int(np.prod([np.prod(layer.kernel) for layer in info.layers]))
        if len(info.layers) > 1 and min(result["fig6_points"], default=full) < full // 2:
            # the last layer's taps left the map (they read zero padding): the stack below it still shows
            # where the lower layers look
            lower = info.layers[:-1]
            path = out_dir / f"{stem}_fig6_{len(lower)}layers.png"
            title = (f"the first {len(lower)} deformable layers ({lower[0].name} .. {lower[-1].name}), "
                     f"deformable group {group}")
            result["fig6_lower"] = path
            result["fig6_lower_points"] = plot_stacked_sampling(
                info.image_rgb, lower, [u for _, u in units], info.stride, path, group=group, title=title,
                labels=unit_names)
            logger.info("%s: %s points per unit (the last layer's taps read padding)", path,
                        result["fig6_lower_points"])
    else:
        logger.info("no deformable convolution in the backbone: no figure 6")
    head = getattr(getattr(net, "head", None), "cls", None)
    if num_rois <= 0:
        logger.debug("figure 7 not asked for")
    elif head is not None and getattr(head, "deformable", False) and len(dets):
        top = dets[:num_rois]
        offsets = roi_part_offsets(net, info.feature, top[:, 2:6], top[:, 0])
        for i, (det, off) in enumerate(zip(top, offsets)):
            path = out_dir / f"{stem}_fig7_{i}.png"
            label = names[int(det[0])] if names is not None else f"class {int(det[0])}"
            n = plot_roi_parts(info.image_rgb, det[2:6], off, path, trans_std=head.trans_std,
                               title=f"{label} {det[1]:.2f}: {off.shape[-1]}x{off.shape[-1]} parts, learned offsets")
            result["fig7"].append(path)
            result["fig7_bins"].append(n)
        logger.info("figure 7: %d RoIs -> %s", len(top), [str(p) for p in result["fig7"]])
    elif head is None or not getattr(head, "deformable", False):
        logger.info("no deformable PS RoI pooling in the head: no figure 7")
    else:
        best = f" (best {info.dets[0, 1]:.2f}; lower --thresh)" if len(info.dets) else ""
        logger.info("no detection scores >= %.2f%s: no figure 7", thresh, best)
    return result


def draw_gt_parts(net, info: ImageOffsets, out_dir: Path, stem: str, boxes: np.ndarray, labels: Sequence[int],
                  names: Optional[Sequence[str]] = None, limit: int = 2, tag: str = "gt",
                  what: str = "ground-truth") -> List[Path]:
    """Figure 7 over given RoIs (input pixels; largest first; ground truth, or the boxes of the original
    deform_psroi demo) with their own class's part offsets: what the pooling does on a real object even
    when the detector is weak. ``<stem>_fig7_<tag><i>.png``."""
    head = getattr(getattr(net, "head", None), "cls", None)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if head is None or not getattr(head, "deformable", False) or not len(boxes) or limit <= 0:
        return []
    areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    order = np.argsort(-areas)[:limit]
    offsets = roi_part_offsets(net, info.feature, boxes[order], [int(labels[i]) for i in order])
    paths = []
    for k, (i, off) in enumerate(zip(order, offsets)):
        label = names[int(labels[i])] if names is not None else f"class {int(labels[i])}"
        path = out_dir / f"{stem}_fig7_{tag}{k}.png"
        plot_roi_parts(info.image_rgb, boxes[i], off, path, trans_std=head.trans_std,
                       title=f"{what} {label}: {off.shape[-1]}x{off.shape[-1]} parts, learned offsets")
        paths.append(path)
    return paths


def parse_units(values: Sequence[str]) -> List[Tuple[str, Unit]]:
    units = []
    for v in values:
        try:
            r, c = (int(x) for x in v.split(","))
        except ValueError:
            raise SystemExit(f"--units: expected row,col integers (feature-map cells), got {v!r}") from None
        units.append(("unit", (r, c)))
    return units


def parse_boxes(values: Sequence[str], names: Sequence[str]) -> Tuple[np.ndarray, List[int]]:
    """``X1,Y1,X2,Y2,CLASS`` (original-image pixels; CLASS a name or its dataset index, background = 0,
    as the original deform_psroi demo's 3, 16, 7, 12 for VOC) -> boxes (K, 4), 0-based foreground labels."""
    boxes, labels = [], []
    for v in values:
        parts = v.split(",")
        try:
            if len(parts) != 5:
                raise ValueError
            box = [float(x) for x in parts[:4]]
        except ValueError:
            raise SystemExit(f"--boxes: expected X1,Y1,X2,Y2,CLASS, got {v!r}") from None
        if box[2] <= box[0] or box[3] <= box[1]:
            raise SystemExit(f"--boxes: {v!r} has x2 <= x1 or y2 <= y1")
        cls = parts[4].strip()
        if cls in names:
            label = list(names).index(cls)
        elif cls.isdigit() and 1 <= int(cls) <= len(names):
            label = int(cls) - 1
        else:
            raise SystemExit(f"--boxes: class {cls!r} is neither one of {list(names)} nor an index 1..{len(names)}")
        boxes.append(box)
        labels.append(label)
    return np.asarray(boxes, np.float64).reshape(-1, 4), labels


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_trained_model_args(ap, "trained parameters (<prefix>-<epoch>.params or original)")
    ap.add_argument("--image", nargs="+", required=True, help="image file(s)")
    ap.add_argument("--out", default="offsets_out", help="folder for the PNG files")
    ap.add_argument("--units", nargs="*", default=None, metavar="ROW,COL",
                    help="activation units (feature-map row,col) for figure 6 (default: background, small, large)")
    ap.add_argument("--rois", type=int, default=2, help="figure 7 for the N best detections")
    ap.add_argument("--group", type=int, default=0, help="deformable group whose offsets figure 6 follows")
    ap.add_argument("--thresh", type=float, default=0.3, help="detections scoring at least this are used")
    ap.add_argument("--boxes", nargs="*", default=None, metavar="X1,Y1,X2,Y2,CLASS",
                    help="figure 7 also over these RoIs (original-image pixels; CLASS a name or index, background "
                         "0), as the original deform_psroi demo; the only RoIs when TEST.HAS_RPN is false")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg_path = trained_config_path(args)
    if not cfg_path.is_file():
        raise SystemExit(f"no config {cfg_path}: pass --cfg (the experiment YAML the model was trained with)")
    for image in args.image:
        if not Path(image).is_file():
            raise SystemExit(f"--image: no file {image}")
    cfg = load_config(cfg_path, args.overrides)
    ctx = make_contexts(cfg.gpus)[0]
    net = load_network(cfg, args.params, ctx)
    units = parse_units(args.units) if args.units else None
    names = class_names(cfg)
    boxes, labels = parse_boxes(args.boxes or [], names)
    if not cfg.TEST.HAS_RPN:
        logger.info("TEST.HAS_RPN is false: no detections; figure 7 over --boxes only")
    for image in args.image:
        info = analyze(net, cfg, load_image(image), ctx=ctx, detections=cfg.TEST.HAS_RPN)
        given = boxes * info.scale
        draw_figures(net, info, Path(args.out), Path(image).stem, units=units, num_rois=args.rois,
                     group=args.group, thresh=args.thresh, names=names, ref_boxes=given if len(given) else None)
        paths = draw_gt_parts(net, info, Path(args.out), Path(image).stem, given, labels, names,
                              limit=len(given), tag="box", what="given")
        if paths:
            logger.info("figure 7 over the given boxes: %s", [str(p) for p in paths])


if __name__ == "__main__":
    main()
