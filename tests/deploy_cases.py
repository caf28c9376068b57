"""Shared helpers of the deploy (ONNX) tests: skip reasons, one-graph ORT runs."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

MISSING = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
needs_onnx = pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} not installed "
                                "(optional: pip install -e .[bench])")
needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                    reason="openvino not installed (optional: pip install -e .[bench])")


def value_info(name: str, ndim: int):
    from onnx import TensorProto, helper
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None] * ndim)


def run_ort(model, feeds: dict) -> np.ndarray:
    import onnx
    import onnxruntime as ort
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]
