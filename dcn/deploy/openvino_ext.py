"""OpenVINO's ONNX reader has no rule for ``DeformConv`` (opset 19): this conversion maps it onto
OpenVINO's own ``DeformableConvolution`` (opset 8) with ``bilinear_interpolation_pad=True``, the
zero-padded (DCNv2) sampling that ONNX specifies. No MXNet here.

    core = openvino.Core(); add_deform_conv_extension(core); core.read_model("model.onnx")
"""
from __future__ import annotations

import logging
from typing import List

logger = logging.getLogger(__name__)


def _optional(node, i: int, n: int):
    """Input ``i`` of the node, or None when absent or given as '' (the reader's NullNode)."""
    if i >= n:
        return None
    value = node.get_input(i)
    return None if value.get_node().get_type_name() == "NullNode" else value


def _convert_deform_conv(node) -> List:
    import openvino.opset8 as ops
    n = node.get_input_size()
    x, weight, offset = node.get_input(0), node.get_input(1), node.get_input(2)
    bias = _optional(node, 3, n)
    mask = _optional(node, 4, n)
    rank = 2

    def ints(name: str, default: int) -> List[int]:
        return list(node.get_attribute(name, [default] * rank)) if node.has_attribute(name) else [default] * rank
    pads = list(node.get_attribute("pads")) if node.has_attribute("pads") else [0] * (2 * rank)
    y = ops.deformable_convolution(x, offset, weight, ints("strides", 1), pads[:rank], pads[rank:],
                                   ints("dilations", 1), mask=mask, auto_pad="explicit",
                                   group=int(node.get_attribute("group", 1)) if node.has_attribute("group") else 1,
                                   deformable_group=int(node.get_attribute("offset_group", 1))
                                   if node.has_attribute("offset_group") else 1,
                                   bilinear_interpolation_pad=True)
    if bias is not None:
        y = ops.add(y, ops.reshape(bias, ops.constant([1, -1, 1, 1]), special_zero=False))
    return [y.output(0)]


def add_deform_conv_extension(core) -> None:
    """Register the ``DeformConv`` conversion on an ``openvino.Core`` (before ``read_model``)."""
    from openvino.frontend.onnx import ConversionExtension
    core.add_extension(ConversionExtension("DeformConv", _convert_deform_conv))
