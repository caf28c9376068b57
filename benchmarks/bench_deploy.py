"""CPU time of the exported networks in ONNX Runtime and OpenVINO against our MXNet forward
(issue 23), same thread count for all three.

    python -m benchmarks.bench_deploy                                  # synthetic configs, 256 x 256, 1 thread
    python -m benchmarks.bench_deploy --full --image 320x480 --threads 2 --json out.json
    python -m benchmarks.bench_deploy --map-cfg CFG --map-params P   # border rules: val mAP, MXNet vs ONNX

Each network (DeepLab, R-FCN, Faster R-CNN 2fc, FPN; ``--full``: the ResNet-101 COCO / Cityscapes
configs) is built with random weights (``_random_weights``: activations O(1), offsets of about a pixel) and
exported with ``dcn.deploy.export`` (DCNv1 rule kept exactly). Per image, median
wall-clock ms after one warm-up, the three runtimes interleaved (``benchmarks.cases.interleaved_medians``):

* DeepLab: the graph forward (``data`` -> class scores);
* detectors: the whole ``detect`` of one prepared image: body, proposals, head, box decoding, per-class
  NMS (MXNet: ``dcn.detection.inference.detect``, NumPy greedy NMS for the proposals; ONNX Runtime and
  OpenVINO: the one-graph ``PREFIX.onnx``, everything in the graph, or the split graphs where the config
  uses Soft-NMS (no one graph then); "ORT split": ONNX Runtime on the body and head graphs with the NumPy
  steps of ``dcn.deploy.pipeline``).

The agreement column: max |ONNX Runtime - MXNet| of the scores (DeepLab), or the detection counts
and, pairing each MXNet detection with its nearest ONNX one of the same class, the largest score
and box differences. OpenVINO runs the same ``.onnx`` file through
``dcn.deploy.openvino_ext``.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
from pathlib import Path
from typing import Dict, List

LOG = logging.getLogger("bench_deploy")
SYNTHETIC = {"deeplab": "experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml",
             "rfcn": "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml",
             "faster_rcnn": "experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml",
             "fpn": "experiments/fpn/cfgs/synthetic_fpn_dcn.yaml"}
FULL = {"deeplab": "experiments/deeplab/cfgs/deeplab_resnet_v1_101_cityscapes_segmentation_dcn.yaml",
        "rfcn": "experiments/rfcn/cfgs/resnet_v1_101_coco_trainval_rfcn_dcn_end2end_ohem.yaml",
        "faster_rcnn": "experiments/faster_rcnn/cfgs/resnet_v1_101_coco_trainval_rcnn_dcn_end2end.yaml",
        "fpn": "experiments/fpn/cfgs/resnet_v1_101_coco_trainval_fpn_dcn_end2end_ohem.yaml"}


def _random_weights(net, seed: int = 0) -> None:
    """Random weights that keep activations O(1) through ResNet-101: N(0, (0.5 / sqrt(fan in))^2) for
    weights, N(0, 0.05^2) for biases and BN shifts, BN scale / variance |N(0, 0.05^2)| + 0.5 (anchors kept).
    (Fresh scratch weights with identity BN statistics reach ~1e7, where softmax scores saturate into
    ties and float32 rounding alone reorders proposals.) The offset layers get the same: fractional
    sampling, offsets of about a pixel."""
    import mxnet as mx
    import numpy as np
    rng = np.random.default_rng(seed)
    for name, p in net.collect_params().items():
        if name.startswith("anchors") or name == "upsampling_weight":
            continue
        if name.endswith(("running_var", "gamma")):
            v = np.abs(rng.normal(0, 0.05, p.shape)) + 0.5
        elif name.endswith("weight") and len(p.shape) > 1:
            v = rng.normal(0, 0.5 / np.sqrt(np.prod(p.shape[1:])), p.shape)
        else:
            v = rng.normal(0, 0.05, p.shape)
        p.set_data(mx.nd.array(v))


def match_detections(ref, got) -> str:
    """Each MXNet detection's nearest ONNX one of its class (near-tied scores may swap places in the
    sorted lists): the largest score and box differences over those pairs."""
    import numpy as np
    if len(ref) == 0 or len(got) == 0:
        return "none to compare"
    same = ref[:, None, 0] == got[None, :, 0]
    d_score = np.abs(ref[:, None, 1] - got[None, :, 1])
    d_box = np.abs(ref[:, None, 2:] - got[None, :, 2:]).max(axis=2)
    cost = np.where(same, np.maximum(d_score * 1e3, d_box), np.inf)  # 1e-3 in score ~ 1 px
    j = cost.argmin(axis=1)
    i = np.arange(len(ref))
    if not np.isfinite(cost[i, j]).all():
        return "a class has no counterpart"
    return f"score diff <= {d_score[i, j].max():.1e}, box diff <= {d_box[i, j].max():.2g} px"


def bench_network(kind: str, cfg_path: str, image_hw, threads: int, repeats: int, folder: Path,
                  runtimes: List[str]) -> Dict:
    import mxnet as mx
    import numpy as np
    from mxnet import autograd

    from benchmarks.cases import interleaved_medians
    from dcn.checkpoint import build_network
    from dcn.checkpoint import network_kind
    from dcn.config import load_config
    from dcn.deploy.export import config_meta, export_onnx
    cfg = load_config(Path(cfg_path))
    net = build_network(cfg)
    _random_weights(net)
    h, w = image_hw
    export_onnx(net, folder / kind, (h, w), "v1", config_meta(cfg, network_kind(net)))
    x = np.random.default_rng(1).normal(0, 40, (1, 3, h, w)).astype("f4")
    fns, agree = {}, ""
    if kind == "deeplab":
        from dcn.deploy.runtime import open_session
        data = mx.nd.array(x)

        def mxnet_fn():
            with autograd.predict_mode():
                return net(data).asnumpy()
        fns["mxnet"] = mxnet_fn
        for rt in runtimes:
            sess = open_session(folder / "deeplab.onnx", rt, threads)
            fns[rt] = (lambda s=sess: s({"data": x})[0])
        ref = mxnet_fn()
        agree = f"max abs {np.abs(fns['onnxruntime']() - ref).max():.1e} (|scores| <= {np.abs(ref).max():.2g})"
    else:
        from dcn.detection.inference import detect
        from dcn.detection.params import detect_params
        from dcn.deploy.pipeline import OnnxDetector
        params = detect_params(cfg)
        im_info = np.array([h, w, 1.0], np.float32)
        data, info = mx.nd.array(x), mx.nd.array(im_info[None])
        fns["mxnet"] = lambda: detect(net, data, info, params)
        for rt in runtimes:  # the one graph PREFIX.onnx (proposals and NMS in the graph) when there is one
            det = OnnxDetector(folder / kind, rt, threads)
            fns[rt] = (lambda d=det: d.detect(x, im_info))
        one_graph = det.end_to_end
        ref = fns["mxnet"]()
        checks = [("one graph" if one_graph else "split (Soft-NMS: no one graph)", fns["onnxruntime"]())]
        if one_graph:
            split = OnnxDetector(folder / kind, "onnxruntime", threads, end_to_end=False)
            fns["onnxruntime_split"] = lambda: split.detect(x, im_info)  # body + head graphs, NumPy steps
            checks.append(("split", fns["onnxruntime_split"]()))
        agree = "; ".join(f"{name} {len(got)} / {len(ref)} detections, " + match_detections(ref, got)
                          for name, got in checks)
    LOG.info("%s agreement: %s", kind, agree)
    ms = interleaved_medians(fns, repeats)
    LOG.info("%s: %s", kind, ms)
    return {"network": kind, "config": Path(cfg_path).name, "image": f"{h}x{w}", "threads": threads, "ms": ms,
            "agreement": agree}


def evaluate_onnx(detector, cfg, max_images: int = 0):
    """VOC mAP of an ``OnnxDetector`` on ``dataset.test_image_set`` (single scale, as ``evaluate``)."""
    from tqdm import tqdm
    from dcn.detection.data import class_names, load_dataset, make_transform
    from dcn.evaluation import VOCDetectionEvaluator
    dataset = load_dataset(cfg, train=False)
    transform = make_transform(cfg, train=False, scale=cfg.test_scales[0])
    evaluator = VOCDetectionEvaluator(class_names(cfg), (0.5, 0.7))
    n = len(dataset) if max_images <= 0 else min(max_images, len(dataset))
    for i in tqdm(range(n), desc="onnx test", leave=False):
        img, rec = dataset[i]
        sample = transform(img, rec, flip=False)
        dets = detector.detect(sample.data[None], sample.im_info)
        evaluator.update_record(rec, dets[:, 2:6], dets[:, 0], dets[:, 1])
    return evaluator.evaluate()


def border_rule_map(cfg_path: str, params_path: str, threads: int, folder: Path, max_images: int = 0) -> List[Dict]:
    """val mAP of a trained (DCNv1-rule) detector: MXNet, its exact ONNX export, the export with ONNX's own
    DeformConv rule, and MXNet with the DCNv2 rule (what that export computes)."""
    from dcn.checkpoint import build_network, load_params
    from dcn.checkpoint import network_kind
    from dcn.config import load_config
    from dcn.detection.evaluate import evaluate
    from dcn.deploy.export import config_meta, export_onnx
    from operators.blocks import set_border_rule
    from dcn.deploy.pipeline import OnnxDetector
    cfg = load_config(Path(cfg_path))
    net = build_network(cfg)
    load_params(net, params_path, cfg=cfg)
    meta = config_meta(cfg, network_kind(net))
    rows = []

    def add(name: str, result) -> None:
        s = result.summary()
        rows.append({"model": name, **{k: round(100 * v, 2) for k, v in s.items()}})
        LOG.info("%s: %s", name, rows[-1])
    add("MXNet, border_rule dcnv1 (as trained)", evaluate(net, cfg, max_images=max_images, progress=False))
    for rule in ("v1", "onnx"):
        export_onnx(net, folder / f"map_{rule}", tuple(cfg.test_scales[0][:1]) * 2, rule, meta)
        add(f"ONNX Runtime, --border-rule {rule}",
            evaluate_onnx(OnnxDetector(folder / f"map_{rule}", "onnxruntime", threads), cfg, max_images))
    set_border_rule(net, "dcnv2")
    add("MXNet, border_rule switched to dcnv2", evaluate(net, cfg, max_images=max_images, progress=False))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", default="deeplab,rfcn,faster_rcnn,fpn")
    ap.add_argument("--full", action="store_true", help="the ResNet-101 configs instead of the synthetic ones")
    ap.add_argument("--image", default="256x256", help="HxW of the (already resized) input")
    ap.add_argument("--threads", type=int, default=1, help="threads of every runtime (MXNet: OMP_NUM_THREADS)")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", default=None)
    ap.add_argument("--map-cfg", default=None, help="with --map-params: val mAP under both border rules")
    ap.add_argument("--map-params", default=None, help="trained parameters of --map-cfg's network")
    ap.add_argument("--max-images", type=int, default=0, help="--map-*: only the first N val images (0 = all)")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before MXNet is imported: it reads it once
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from benchmarks import peers
    from benchmarks.cases import fmt, markdown_table, report
    runtimes = [rt for rt, ok in peers.available().items() if ok]
    if "onnxruntime" not in runtimes:
        raise SystemExit("onnxruntime is not installed (pip install -e .[bench])")
    if args.map_cfg:
        with tempfile.TemporaryDirectory() as tmp:
            rows = border_rule_map(args.map_cfg, args.map_params, args.threads, Path(tmp), args.max_images)
        keys = [k for k in rows[0] if k != "model" and all(k in r for r in rows)]
        report(f"bench_deploy border rules: {args.map_cfg} {args.map_params}, val mAP (%)",
               markdown_table(["model"] + keys, [[r["model"]] + [f"{r[k]:.2f}" for k in keys] for r in rows]),
               rows, args.json)
        return
    h, w = (int(v) for v in args.image.lower().split("x"))
    cfgs = FULL if args.full else SYNTHETIC
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.networks.split(","):
            rows.append(bench_network(kind, cfgs[kind], (h, w), args.threads, args.repeats, Path(tmp), runtimes))
    v = peers.versions()
    header = (f"bench_deploy: {platform.processor() or platform.machine()}, {args.threads} thread(s), "
              f"onnxruntime {v['onnxruntime']}, openvino {v['openvino']}; median ms per image")
    table = markdown_table(["network", "image", "MXNet", "ONNX Runtime", "ORT split", "OpenVINO", "ORT / MXNet",
                            "agreement (ONNX Runtime vs MXNet)"],
                           [[f"{r['network']} ({r['config']})", r["image"], fmt(r["ms"]["mxnet"]),
                             fmt(r["ms"].get("onnxruntime")), fmt(r["ms"].get("onnxruntime_split")),
                             fmt(r["ms"].get("openvino")),
                             fmt(r["ms"]["onnxruntime"] / r["ms"]["mxnet"], "{:.2f}"), r["agreement"]]
                            for r in rows], right_from=1)
    report(header, table, rows, args.json)


if __name__ == "__main__":
    main()
