"""Inference sessions on an ``.onnx`` file in ONNX Runtime or OpenVINO, as ``run(feeds) -> outputs``.

No MXNet here. Both are optional dependencies (``pip install -e .[bench]``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Dict, List, Union

import numpy as np

logger = logging.getLogger(__name__)
RUNTIMES = ("onnxruntime", "openvino")
Session = Callable[[Dict[str, np.ndarray]], List[np.ndarray]]


def open_session(path: Union[str, Path], runtime: str = "onnxruntime", threads: int = 1) -> Session:
    """A callable running the model: feeds (input name -> float32 array) -> outputs in graph order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX model {path}")
    if runtime == "onnxruntime":
        return _onnxruntime(path, threads)
    if runtime == "openvino":
        return _openvino(path, threads)
    raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")


def _onnxruntime(path: Path, threads: int) -> Session:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads sleep
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]

    def run(feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        return sess.run(names, {k: np.ascontiguousarray(v, np.float32) for k, v in feeds.items()})
    return run


def _openvino(path: Path, threads: int) -> Session:
    import openvino as ov
    from .openvino_ext import add_deform_conv_extension
    core = ov.Core()
    add_deform_conv_extension(core)
    model = core.read_model(str(path))
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
              "NUM_STREAMS": 1}
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    # a port may carry several tensor names (the reader folds Identity nodes): match the ONNX input name
    ports = [set(i.get_names()) for i in compiled.inputs]

    def run(feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        arrays = []
        for names in ports:
            hit = names & set(feeds)
            if not hit:
                raise KeyError(f"{path.name}: input {sorted(names)} not fed (fed {sorted(feeds)})")
            arrays.append(np.ascontiguousarray(feeds[hit.pop()], np.float32))
        request.infer(arrays)
        return [request.get_output_tensor(i).data.copy() for i in range(len(compiled.outputs))]
    return run
