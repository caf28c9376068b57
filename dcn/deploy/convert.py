"""MXNet symbol JSON + parameter arrays -> an ONNX model (opset 19) of standard ops only.

Written for the op set of this project's networks (``dcn.deploy.mx_ops`` lists the
translations; our three operators are in ``dcn.deploy.deform_ops``). It reads the JSON
(``Symbol.tojson()``) and NumPy arrays, so it needs no MXNet itself. An op with no
translation raises :class:`UnsupportedOpError` naming the op and the node.
"""
from __future__ import annotations

import ast
import logging
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .graph import GraphBuilder

logger = logging.getLogger(__name__)

Dim = Union[int, str, None]


class UnsupportedOpError(ValueError):
    """An MXNet op (or attribute) that has no ONNX translation here."""


@dataclass
class Node:
    """One MXNet node as the translations see it."""
    op: str
    name: str
    attrs: Dict[str, str]
    inputs: List[str]                       # ONNX tensor names of the node's inputs
    input_nodes: List[str] = field(default_factory=list)  # MXNet names of the producing nodes

    def attr(self, key: str, default=None):
        """The attribute as a Python value: '(3, 3)' -> (3, 3), 'True' -> True, 'None' -> None."""
        if key not in self.attrs:
            return default
        raw = self.attrs[key]
        try:
            return ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            if raw in ("true", "false"):
                return raw == "true"
            return raw

    def pair(self, key: str, default: Tuple[int, int]) -> Tuple[int, int]:
        v = self.attr(key, default)
        if v is None or v == ():
            return tuple(default)
        v = (v, v) if isinstance(v, int) else tuple(int(x) for x in v)
        if len(v) != 2:
            raise UnsupportedOpError(f"{self.op} node {self.name!r}: attribute {key}={self.attrs[key]} is not 2-D")
        return v

    def unsupported(self, why: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"{self.op} node {self.name!r}: {why}")


@dataclass
class ConvertOptions:
    """``emulate_v1``: DCNv1 convolutions keep their border rule exactly (see ``deform_ops``); False
    writes the plain ``DeformConv`` (ONNX's DCNv2 rule) for them as well. ``psroi_impl``: "gather",
    "gridsample" or "auto" (``deform_ops.psroi_pool``)."""
    emulate_v1: bool = True
    psroi_impl: str = "auto"


Translation = Callable[[GraphBuilder, Node, "Context"], Union[str, List[str]]]


@dataclass
class Context:
    options: ConvertOptions
    params: Mapping[str, np.ndarray]
    shapes: Mapping[str, Tuple[int, ...]]  # MXNet output name ('<node>_output' or a variable) -> shape

    def shape_of(self, node: Node, i: int) -> Tuple[int, ...]:
        src = node.input_nodes[i]
        for key in (src, f"{src}_output", f"{src}_output0"):
            if key in self.shapes:
                return tuple(self.shapes[key])
        raise node.unsupported(f"needs the shape of its input {i} ({src!r}); pass shapes= to convert_symbol")


def convert_symbol(symbol: dict, params: Mapping[str, np.ndarray], inputs: Mapping[str, Sequence[Dim]],
                   output_names: Optional[Sequence[str]] = None, shapes: Optional[Mapping[str, tuple]] = None,
                   options: Optional[ConvertOptions] = None, name: str = "dcn"):
    """The ONNX model of ``symbol`` (``json.loads(sym.tojson())``).

    ``params``: every variable that is not an input (``arg``/``aux`` names, no prefix).
    ``inputs``: input name -> dims (ints, or strings for dynamic axes). ``output_names``: names
    for the graph outputs (default: MXNet's). ``shapes``: output shapes of internal nodes at an
    example input size (needed by a few translations, e.g. the PS RoI pooling class count).
    """
    from onnx import TensorProto, helper
    g = GraphBuilder()
    for nm in inputs:
        g.fresh(nm)
    heads = convert_into(g, symbol, params, {nm: nm for nm in inputs}, shapes, options)
    nodes = symbol["nodes"]
    ranks = [_rank(shapes or {}, nodes[i]["name"], j) for i, j, *_ in symbol["heads"]]
    names = list(output_names) if output_names else (
        ["output"] if len(heads) == 1 else [f"output{i}" for i in range(len(heads))])
    if len(names) != len(heads):
        raise ValueError(f"{len(names)} output names for {len(heads)} graph outputs")
    graph_inputs = [helper.make_tensor_value_info(nm, TensorProto.FLOAT, list(dims)) for nm, dims in inputs.items()]
    graph_outputs = []
    for head, out, rank in zip(heads, names, ranks):
        g.op("Identity", [head], out_names=[out])
        graph_outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, [None] * rank))
    model = g.model(graph_inputs, graph_outputs, name)
    logger.info("converted %d MXNet nodes to %d ONNX nodes", len(nodes), len(g.nodes))
    return model


def convert_into(g: GraphBuilder, symbol: dict, params: Mapping[str, np.ndarray], inputs: Mapping[str, str],
                 shapes: Optional[Mapping[str, tuple]] = None, options: Optional[ConvertOptions] = None
                 ) -> List[str]:
    """Add the nodes of ``symbol`` to ``g``; ``inputs``: MXNet input name -> tensor of ``g`` feeding it.
    Returns the tensors of the symbol's outputs. Parameters become initializers (renamed if taken)."""
    from .mx_ops import TRANSLATIONS
    ctx = Context(options or ConvertOptions(), params, dict(shapes or {}))
    nodes = symbol["nodes"]
    tensors: List[List[str]] = []
    for raw in nodes:
        op, nm = raw["op"], raw["name"]
        if op == "null":
            if nm in inputs:
                tensors.append([inputs[nm]])
            elif nm in params:
                name = g.fresh(nm)
                g.initializers[name] = np.asarray(params[nm], np.float32)
                tensors.append([name])
            else:
                raise KeyError(f"graph variable {nm!r} is neither an input {sorted(inputs)} nor a parameter")
            continue
        node = Node(op, nm, raw.get("attrs", raw.get("param", {})) or {},
                    [tensors[i][j] for i, j, *_ in raw["inputs"]],
                    [nodes[i]["name"] for i, j, *_ in raw["inputs"]])
        fn = TRANSLATIONS.get(op)
        if fn is None:
            raise UnsupportedOpError(f"{op} node {nm!r}: no ONNX translation for MXNet op {op!r} "
                                     f"(translated: {', '.join(sorted(TRANSLATIONS))})")
        out = fn(g, node, ctx)
        tensors.append([out] if isinstance(out, str) else list(out))
    return [tensors[i][j] for i, j, *_ in symbol["heads"]]


def _rank(shapes: Mapping[str, tuple], name: str, j: int) -> int:
    for key in (f"{name}_output", f"{name}_output{j}", name):
        if key in shapes:
            return len(shapes[key])
    return 4  # only a declaration: ONNX Runtime takes the real rank from the graph
