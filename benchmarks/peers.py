"""The CPU peers of our operators, as callables on NumPy arrays (no MXNet here):
ONNX Runtime's ``DeformConv`` (opset 19), OpenVINO's ``DeformableConvolution``
(opset 8) and ``DeformablePSROIPooling`` (opset 1). Both peers follow the DCNv2
zero-padded border rule; compare them with our ops run with ``border_rule="dcnv2"``.

Weights are graph constants (as in a deployment); data, offsets (and mask, RoIs,
trans) are inputs. Both runtimes are optional (``pip install -e .[bench]``):
``available()`` says which ones import.
"""
from __future__ import annotations

import importlib.util
from typing import Callable, Optional

import numpy as np

Runner = Callable[..., np.ndarray]


def available() -> dict[str, bool]:
    """Which peers can be imported here, by name ('onnxruntime', 'openvino')."""
    return {name: importlib.util.find_spec(spec) is not None
            for name, spec in (("onnxruntime", "onnxruntime"), ("openvino", "openvino"))}


def versions() -> dict[str, str | None]:
    """Installed peer versions (None when absent)."""
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for name in ("onnxruntime", "openvino"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _check_conv_args(weight: np.ndarray, stride, pad, dilate) -> tuple:
    if weight.ndim != 4:
        raise ValueError(f"weight must be (F, C/groups, kh, kw), got shape {weight.shape}")
    return tuple(map(int, stride)), tuple(map(int, pad)), tuple(map(int, dilate))


def onnxruntime_deform_conv(weight: np.ndarray, *, stride=(1, 1), pad=(0, 0), dilate=(1, 1),
                            groups: int = 1, deformable_groups: int = 1, with_mask: bool = False,
                            bias: Optional[np.ndarray] = None, threads: int = 1) -> Runner:
    """A one-node ONNX model (DeformConv, opset 19) in an ONNX Runtime CPU session.

    The returned callable takes ``(x, offset[, mask])`` float32 NCHW arrays; offsets are
    (dy, dx) pairs per kernel tap, deformable-group major, like ours."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    stride, pad, dilate = _check_conv_args(weight, stride, pad, dilate)
    kh, kw = weight.shape[2:]
    def nchw(name: str):  # any batch and size
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"{name}_{d}" for d in "nchw"])
    inputs = [nchw("x"), nchw("offset")]
    inits = [numpy_helper.from_array(weight.astype(np.float32), "w")]
    node_inputs = ["x", "w", "offset", ""]
    if bias is not None:
        inits.append(numpy_helper.from_array(bias.astype(np.float32), "b"))
        node_inputs[3] = "b"
    if with_mask:
        inputs.append(nchw("mask"))
        node_inputs.append("mask")
    while node_inputs and node_inputs[-1] == "":
        node_inputs.pop()
    node = helper.make_node("DeformConv", node_inputs, ["y"], kernel_shape=[kh, kw], strides=list(stride),
                            pads=[pad[0], pad[1], pad[0], pad[1]], dilations=list(dilate), group=groups,
                            offset_group=deformable_groups)
    graph = helper.make_graph([node], "deform_conv", inputs,
                              [nchw("y")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # idle workers sleep instead of spinning (they would compete with whatever runs next)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(*arrays: np.ndarray) -> np.ndarray:
        return session.run(None, dict(zip(names, arrays)))[0]
    return run


def _openvino_compile(model, threads: int):
    import openvino as ov
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32",
              "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    compiled = ov.Core().compile_model(model, "CPU", config)
    request = compiled.create_infer_request()

    def run(*arrays: np.ndarray) -> np.ndarray:
        request.infer(list(arrays))
        return request.get_output_tensor(0).data.copy()
    return run


def openvino_deform_conv(weight: np.ndarray, input_shapes: list[tuple], *, stride=(1, 1), pad=(0, 0),
                         dilate=(1, 1), groups: int = 1, deformable_groups: int = 1,
                         with_mask: bool = False, threads: int = 1) -> Runner:
    """OpenVINO's DeformableConvolution-8 (``bilinear_interpolation_pad=True``: the DCNv2
    border rule), compiled for CPU in f32. ``input_shapes``: shapes of x, offset[, mask]."""
    import openvino as ov
    import openvino.opset8 as ops

    stride, pad, dilate = _check_conv_args(weight, stride, pad, dilate)
    params = [ops.parameter(list(s), np.float32, name=n)
              for s, n in zip(input_shapes, ("x", "offset", "mask")[:2 + with_mask])]
    w = ops.constant(weight.astype(np.float32))
    y = ops.deformable_convolution(params[0], params[1], w, list(stride), list(pad), list(pad), list(dilate),
                                   mask=params[2] if with_mask else None, group=groups,
                                   deformable_group=deformable_groups, bilinear_interpolation_pad=True)
    return _openvino_compile(ov.Model([y], params, "deform_conv"), threads)


def openvino_deform_psroi_pooling(input_shapes: list[tuple], *, spatial_scale: float, output_dim: int,
                                  group_size: int, part_size: int, sample_per_part: int, trans_std: float,
                                  threads: int = 1) -> Runner:
    """OpenVINO's DeformablePSROIPooling-1 (mode bilinear_deformable); the callable takes
    ``(data, rois, trans)`` with rois as [batch, x1, y1, x2, y2] rows, like ours."""
    import openvino as ov
    import openvino.opset1 as ops

    params = [ops.parameter(list(s), np.float32, name=n) for s, n in zip(input_shapes, ("data", "rois", "trans"))]
    y = ops.deformable_psroi_pooling(params[0], params[1], output_dim, spatial_scale, group_size=group_size,
                                     mode="bilinear_deformable", spatial_bins_x=sample_per_part,
                                     spatial_bins_y=sample_per_part, trans_std=trans_std, part_size=part_size,
                                     offsets=params[2] if len(params) > 2 else None)
    return _openvino_compile(ov.Model([y], params, "deform_psroi"), threads)
