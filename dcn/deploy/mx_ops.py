"""Translations of MXNet ops to ONNX nodes (inference semantics, MXNet's attribute defaults)."""
from __future__ import annotations

from typing import Dict, List, Union

import numpy as np

from .convert import Context, Node, Translation, UnsupportedOpError
from .deform_ops import ConvAttrs, PSROIAttrs, deform_conv, psroi_pool
from .graph import GraphBuilder

INT64_MAX = np.iinfo(np.int64).max
TRANSLATIONS: Dict[str, Translation] = {}
Out = Union[str, List[str]]


def translates(*ops: str):
    def register(fn: Translation) -> Translation:
        for op in ops:
            TRANSLATIONS[op] = fn
        return fn
    return register


def _conv_attrs(n: Node) -> dict:
    k = n.pair("kernel", (1, 1))
    p = n.pair("pad", (0, 0))
    if n.attr("layout") not in (None, "NCHW"):
        raise n.unsupported(f"layout {n.attr('layout')} (only NCHW)")
    return dict(kernel_shape=list(k), strides=list(n.pair("stride", (1, 1))), dilations=list(n.pair("dilate", (1, 1))),
                pads=[p[0], p[1], p[0], p[1]], group=int(n.attr("num_group", 1)))


@translates("Convolution")
def _convolution(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    ins = n.inputs[:2] if n.attr("no_bias", False) else n.inputs[:3]
    return g.op("Conv", ins, n.name, **_conv_attrs(n))


@translates("Deconvolution")
def _deconvolution(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    if n.attr("target_shape") not in (None, (), (0, 0)):
        raise n.unsupported("target_shape is not translated (give pad/adj)")
    ins = n.inputs[:2] if n.attr("no_bias", True) else n.inputs[:3]
    return g.op("ConvTranspose", ins, n.name, output_padding=list(n.pair("adj", (0, 0))), **_conv_attrs(n))


@translates("DeformableConvolution", "ModulatedDeformableConvolution")
def _deformable_convolution(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    modulated = n.op == "ModulatedDeformableConvolution"
    x, offset = n.inputs[0], n.inputs[1]
    mask = n.inputs[2] if modulated else None
    rest = n.inputs[3:] if modulated else n.inputs[2:]
    weight, bias = rest[0], (None if n.attr("no_bias", False) else rest[1])
    a = ConvAttrs(n.pair("kernel", (1, 1)), n.pair("stride", (1, 1)), n.pair("pad", (0, 0)), n.pair("dilate", (1, 1)),
                  int(n.attr("num_group", 1)), int(n.attr("num_deformable_group", 1)))
    rule = "dcnv2" if modulated else n.attr("border_rule", "dcnv1")
    return deform_conv(g, x, offset, weight, bias, mask, a, emulate_v1=(rule == "dcnv1" and ctx.options.emulate_v1),
                       hint=n.name)


@translates("DeformablePSROIPooling")
def _deformable_psroi(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    no_trans = bool(n.attr("no_trans", False))
    p = PSROIAttrs(float(n.attr("spatial_scale")), int(n.attr("output_dim")), int(n.attr("group_size")),
                   int(n.attr("pooled_size")), int(n.attr("part_size", 0)), int(n.attr("sample_per_part", 1)),
                   float(n.attr("trans_std", 0.0)), no_trans)
    trans = None if no_trans else n.inputs[2]
    ncls = 1 if no_trans else ctx.shape_of(n, 2)[1] // 2
    return psroi_pool(g, n.inputs[0], n.inputs[1], trans, p, ncls, hint=n.name, impl=ctx.options.psroi_impl)


@translates("_contrib_PSROIPooling")
def _plain_psroi(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    from .roi_ops import PlainPSROIAttrs, plain_psroi_pool
    p = PlainPSROIAttrs(float(n.attr("spatial_scale")), int(n.attr("output_dim")), int(n.attr("group_size", 0))
                        or int(n.attr("pooled_size")), int(n.attr("pooled_size")))
    return plain_psroi_pool(g, n.inputs[0], n.inputs[1], p, hint=n.name)


@translates("ROIPooling")
def _roi_pooling(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    # ONNX MaxRoiPool follows Caffe's ROIPooling as MXNet does (rounded box * scale, floor/ceil bins)
    return g.op("MaxRoiPool", n.inputs[:2], n.name, pooled_shape=list(n.pair("pooled_size", (7, 7))),
                spatial_scale=float(n.attr("spatial_scale")))


@translates("BatchNorm")
def _batch_norm(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    if int(n.attr("axis", 1)) != 1:
        raise n.unsupported(f"axis {n.attr('axis')} (only 1)")
    x, gamma, beta, mean, var = n.inputs[:5]
    if n.attr("fix_gamma", True):  # MXNet ignores gamma then (uses 1)
        gamma = g.const(np.ones_like(ctx.params[n.input_nodes[1]]), f"{n.name}_ones")
    return g.op("BatchNormalization", [x, gamma, beta, mean, var], n.name, epsilon=float(n.attr("eps", 1e-3)))


_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softrelu": "Softplus", "softsign": "Softsign"}


@translates("Activation")
def _activation(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    act = n.attr("act_type")
    if act not in _ACTIVATIONS:
        raise n.unsupported(f"act_type {act!r} (translated: {sorted(_ACTIVATIONS)})")
    return g.op(_ACTIVATIONS[act], n.inputs[:1], n.name)


_UNARY = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
          "abs": "Abs", "negative": "Neg", "_copy": "Identity", "identity": "Identity", "BlockGrad": "Identity",
          "stop_gradient": "Identity", "Dropout": "Identity", "floor": "Floor", "ceil": "Ceil"}
_BINARY = {"elemwise_add": "Add", "elemwise_sub": "Sub", "elemwise_mul": "Mul", "elemwise_div": "Div",
           "broadcast_add": "Add", "broadcast_sub": "Sub", "broadcast_mul": "Mul", "broadcast_div": "Div",
           "broadcast_plus": "Add", "broadcast_minus": "Sub", "_plus": "Add", "_minus": "Sub", "_mul": "Mul",
           "_div": "Div", "_Plus": "Add", "_Minus": "Sub", "_Mul": "Mul", "_Div": "Div",
           "broadcast_maximum": "Max", "broadcast_minimum": "Min", "_maximum": "Max", "_minimum": "Min"}
_SCALAR = {"_plus_scalar": ("Add", False), "_minus_scalar": ("Sub", False), "_rminus_scalar": ("Sub", True),
           "_mul_scalar": ("Mul", False), "_div_scalar": ("Div", False), "_rdiv_scalar": ("Div", True),
           "_power_scalar": ("Pow", False), "_maximum_scalar": ("Max", False), "_minimum_scalar": ("Min", False)}


def _unary(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    return g.op(_UNARY[n.op], n.inputs[:1], n.name)


def _binary(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    return g.op(_BINARY[n.op], n.inputs[:2], n.name)


def _scalar(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    op, reverse = _SCALAR[n.op]
    s = g.scalar(float(n.attr("scalar", 0.0)), f"{n.name}_scalar")
    return g.op(op, [s, n.inputs[0]] if reverse else [n.inputs[0], s], n.name)


for _table, _fn in ((_UNARY, _unary), (_BINARY, _binary), (_SCALAR, _scalar)):
    translates(*_table)(_fn)


@translates("LeakyReLU")
def _leaky_relu(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    if n.attr("act_type", "leaky") != "leaky":
        raise n.unsupported(f"act_type {n.attr('act_type')!r} (only leaky)")
    return g.op("LeakyRelu", n.inputs[:1], n.name, alpha=float(n.attr("slope", 0.25)))


@translates("clip")
def _clip(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    return g.op("Clip", [n.inputs[0], g.scalar(float(n.attr("a_min"))), g.scalar(float(n.attr("a_max")))], n.name)


@translates("Pooling")
def _pooling(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    kind = n.attr("pool_type", "max")
    if n.attr("global_pool", False):
        return g.op({"max": "GlobalMaxPool", "avg": "GlobalAveragePool"}[kind], n.inputs[:1], n.name)
    if n.attr("pooling_convention", "valid") not in ("valid", "full"):
        raise n.unsupported(f"pooling_convention {n.attr('pooling_convention')!r}")
    k, p = n.pair("kernel", (1, 1)), n.pair("pad", (0, 0))
    attrs = dict(kernel_shape=list(k), strides=list(n.pair("stride", (1, 1))), pads=[p[0], p[1], p[0], p[1]],
                 ceil_mode=int(n.attr("pooling_convention", "valid") == "full"))
    if kind == "max":
        return g.op("MaxPool", n.inputs[:1], n.name, **attrs)
    if kind == "avg":
        include = n.attr("count_include_pad", True)
        return g.op("AveragePool", n.inputs[:1], n.name, count_include_pad=int(include in (None, True)), **attrs)
    raise n.unsupported(f"pool_type {kind!r}")


@translates("FullyConnected")
def _fully_connected(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    x = n.inputs[0]
    no_bias = n.attr("no_bias", False)
    if n.attr("flatten", True):
        x = g.op("Flatten", [x], f"{n.name}_flat", axis=1)
        return g.op("Gemm", [x, n.inputs[1]] + ([] if no_bias else [n.inputs[2]]), n.name, transB=1)
    y = g.op("MatMul", [x, g.op("Transpose", [n.inputs[1]], perm=[1, 0])], n.name if no_bias else None)
    return y if no_bias else g.op("Add", [y, n.inputs[2]], n.name)


@translates("Concat", "concat")
def _concat(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    return g.op("Concat", n.inputs, n.name, axis=int(n.attr("dim", 1)))


@translates("Flatten", "flatten")
def _flatten(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    return g.op("Flatten", n.inputs[:1], n.name, axis=1)


@translates("Reshape", "reshape")
def _reshape(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    shape = tuple(n.attr("shape", ()))
    if n.attr("reverse", False):
        raise n.unsupported("reverse=True")
    if any(d < -1 for d in shape):  # -2/-3/-4: the output shape at the example size (fixes every axis)
        out = ctx.shapes.get(f"{n.name}_output")
        if out is None:
            raise n.unsupported(f"shape {shape} with special codes -2/-3/-4 needs shapes= (the example size)")
        shape = tuple(out)
    return g.op("Reshape", [n.inputs[0], g.ints(shape, f"{n.name}_shape")], n.name)


@translates("transpose")
def _transpose(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    axes = n.attr("axes", ())
    return g.op("Transpose", n.inputs[:1], n.name, **({"perm": list(axes)} if axes else {}))


@translates("expand_dims")
def _expand_dims(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    return g.op("Unsqueeze", [n.inputs[0], g.ints([int(n.attr("axis"))])], n.name)


@translates("slice")
def _slice(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    begin, end = n.attr("begin"), n.attr("end")
    step = n.attr("step", None) or (None,) * len(begin)
    starts, ends, axes, steps = [], [], [], []
    for axis, (b, e, s) in enumerate(zip(begin, end, step)):
        s = 1 if s is None else int(s)
        if b is None and e is None and s == 1:
            continue
        starts.append((0 if s > 0 else INT64_MAX) if b is None else int(b))
        ends.append((INT64_MAX if s > 0 else -INT64_MAX) if e is None else int(e))
        axes.append(axis)
        steps.append(s)
    if not axes:
        return g.op("Identity", n.inputs[:1], n.name)
    return g.op("Slice", [n.inputs[0], g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)], n.name)


@translates("slice_axis")
def _slice_axis(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    e = n.attr("end")
    return g.op("Slice", [n.inputs[0], g.ints([int(n.attr("begin"))]), g.ints([INT64_MAX if e is None else int(e)]),
                          g.ints([int(n.attr("axis"))])], n.name)


@translates("slice_like")
def _slice_like(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    axes = n.attr("axes", ())
    if not axes:
        raise n.unsupported("slice_like over all axes is not translated (give axes)")
    axes = [int(a) for a in axes]
    like = g.op("Gather", [g.op("Shape", [n.inputs[1]]), g.ints(axes)], f"{n.name}_like")
    return g.op("Slice", [n.inputs[0], g.ints([0] * len(axes)), like, g.ints(axes)], n.name)


def _reduce(onnx_op: str):
    def fn(g: GraphBuilder, n: Node, ctx: Context) -> Out:
        if n.attr("exclude", False):
            raise n.unsupported("exclude=True")
        axis = n.attr("axis", None)
        keep = int(bool(n.attr("keepdims", False)))
        if axis is None or axis == ():
            return g.op(onnx_op, n.inputs[:1], n.name, keepdims=keep)
        axes = [axis] if isinstance(axis, int) else list(axis)
        return g.op(onnx_op, [n.inputs[0], g.ints(axes)], n.name, keepdims=keep)
    return fn


translates("mean")(_reduce("ReduceMean"))
translates("sum", "sum_axis")(_reduce("ReduceSum"))
translates("max", "max_axis")(_reduce("ReduceMax"))


@translates("softmax")
def _softmax(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    if n.attr("temperature") not in (None, 1, 1.0):
        raise n.unsupported("temperature != 1")
    return g.op("Softmax", n.inputs[:1], n.name, axis=int(n.attr("axis", -1)))


@translates("UpSampling")
def _upsampling(g: GraphBuilder, n: Node, ctx: Context) -> Out:
    if n.attr("sample_type", "nearest") != "nearest" or len(n.inputs) != 1:
        raise n.unsupported("only nearest upsampling of one input")
    s = float(n.attr("scale"))
    return g.op("Resize", [n.inputs[0], "", g.const(np.array([1, 1, s, s], np.float32))], n.name, mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")


def supported_ops() -> List[str]:
    """The MXNet ops with a translation."""
    return sorted(TRANSLATIONS)


__all__ = ["TRANSLATIONS", "UnsupportedOpError", "supported_ops"]
