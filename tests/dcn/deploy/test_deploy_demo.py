"""``python -m dcn.checkpoint export --format onnx`` and ``python -m dcn.deploy.demo`` with MXNet made
unimportable: the demo's detections are those of the MXNet network on the same image."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.deploy_cases import needs_onnx

pytestmark = needs_onnx
ROOT = Path(__file__).resolve().parents[3]
BLOCK_MXNET = "import sys; sys.modules['mxnet'] = None  # any `import mxnet` now raises ImportError\n"
CFGS = {"rfcn": "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml",
        "deeplab": "experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml"}


def _demo(onnx_file: Path, image: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    code = (BLOCK_MXNET + "import runpy\n"
            f"sys.argv = ['demo', '--onnx', {str(onnx_file)!r}, '--image', {str(image)!r}, '--out', {str(out)!r}, "
            f"'--thresh', '0', *{list(extra)!r}]\n"
            "try:\n    runpy.run_module('dcn.deploy.demo', run_name='__main__')\n"
            "finally:\n    assert sys.modules.get('mxnet') is None\n")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    from dcn.data.synthetic import render_image
    path = tmp_path_factory.mktemp("img") / "scene.png"
    cv2.imwrite(str(path), render_image(1000, 1, 128)[0])
    return path


def _cli_export(kind: str, out: Path, *extra: str) -> None:
    import mxnet as mx
    from dcn.checkpoint.__main__ import main
    mx.random.seed(0)  # --random-init: the same fresh weights whatever ran before
    assert main(["export", "--format", "onnx", "--cfg", str(ROOT / CFGS[kind]), "--random-init", "--out", str(out),
                 "--image-size", "64", "96", *extra]) == 0


def test_export_cli_arguments(tmp_path):
    from dcn.checkpoint.__main__ import main
    cfg = str(ROOT / CFGS["deeplab"])
    assert main(["export", "--format", "onnx", "--cfg", cfg, "--out", str(tmp_path / "x")]) == 2  # no weights
    _cli_export("deeplab", tmp_path / "x")
    assert (tmp_path / "x.onnx").is_file() and (tmp_path / "x-meta.json").is_file()
    assert main(["export", "--format", "onnx", "--cfg", cfg, "--random-init", "--out", str(tmp_path / "x")]) == 2
    _cli_export("deeplab", tmp_path / "x", "--force", "--border-rule", "onnx")


def test_detection_demo_without_mxnet(tmp_path, image):
    _cli_export("rfcn", tmp_path / "rfcn")
    proc = _demo(tmp_path / "rfcn_body.onnx", image, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "out" / "scene_det.png").is_file()
    lines = [ln.split() for ln in proc.stdout.splitlines() if ln.startswith("scene ")]
    # the MXNet network with the same (exported) weights, the same test transform, detect()
    import mxnet as mx
    from dcn.checkpoint import build_network
    from dcn.config import load_config
    from dcn.data.records import DetRecord
    from dcn.detection.data import make_transform
    from dcn.detection.inference import detect
    from dcn.detection.params import detect_params
    from dcn.deploy.pipeline import OnnxDetector
    cfg = load_config(ROOT / CFGS["rfcn"])
    onnx_det = OnnxDetector(tmp_path / "rfcn")
    img = cv2.imread(str(image))
    dets = onnx_det.detect_image(img)
    assert len(lines) == len(dets) > 0
    np.testing.assert_allclose([float(ln[2]) for ln in lines], dets[:, 1], atol=1e-3)
    net = build_network(cfg)
    weights = _weights_from_onnx(tmp_path / "rfcn_body.onnx", tmp_path / "rfcn_head.onnx")
    for name, p in net.collect_params().items():
        if name in weights:
            p.set_data(mx.nd.array(weights[name]))
    sample = make_transform(cfg, train=False, scale=cfg.test_scales[0])(img, DetRecord("scene", image, *img.shape[:2]))
    ref = detect(net, mx.nd.array(sample.data[None]), mx.nd.array(sample.im_info[None]), detect_params(cfg))
    assert ref.shape == dets.shape
    np.testing.assert_array_equal(dets[:, 0], ref[:, 0])
    np.testing.assert_allclose(dets[:, 1], ref[:, 1], atol=1e-4)
    # fresh (scratch) weights: features ~1e3, so float32 rounding moves boxes by up to ~1e-2 px (measured 6e-3)
    np.testing.assert_allclose(dets[:, 2:], ref[:, 2:], atol=2e-2)


def _weights_from_onnx(*files: Path) -> dict:
    import onnx
    from onnx import numpy_helper
    out = {}
    for f in files:
        out.update({t.name: numpy_helper.to_array(t) for t in onnx.load(str(f)).graph.initializer})
    return out


def test_segmentation_demo_without_mxnet(tmp_path, image):
    _cli_export("deeplab", tmp_path / "deeplab")
    for runtime in ("onnxruntime", "openvino"):
        pytest.importorskip(runtime)
        proc = _demo(tmp_path / "deeplab.onnx", image, tmp_path / runtime, "--runtime", runtime)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (tmp_path / runtime / "scene_seg.png").is_file() and (tmp_path / runtime / "scene_overlay.png").is_file()


def test_deploy_modules_import_without_mxnet():
    code = (BLOCK_MXNET + "import dcn.deploy.convert, dcn.deploy.mx_ops, dcn.deploy.deform_ops, dcn.deploy.roi_ops, "
            "dcn.deploy.runtime, dcn.deploy.openvino_ext, dcn.deploy.pipeline, dcn.deploy.demo\n"
            "assert sys.modules.get('mxnet') is None\nprint('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
