"""A small ONNX graph builder: unique names, constants as initializers, one call per node."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import numpy as np

OPSET = 19


class GraphBuilder:
    """Collects nodes and initializers; ``op`` returns the output name(s) of the node it adds."""

    def __init__(self) -> None:
        from onnx import helper  # noqa: F401 - fail early with a clear ImportError when onnx is absent
        self.nodes: List = []
        self.initializers: Dict[str, np.ndarray] = {}
        self._used: Dict[str, int] = {}

    def fresh(self, hint: str) -> str:
        """A name not used before, derived from ``hint``."""
        n = self._used.get(hint, 0)
        self._used[hint] = n + 1
        return hint if n == 0 else f"{hint}__{n}"

    def op(self, op_type: str, inputs: Sequence[str], hint: Optional[str] = None, outputs: int = 1,
           out_names: Optional[Sequence[str]] = None, **attrs) -> Union[str, List[str]]:
        from onnx import helper
        hint = hint or op_type.lower()
        names = list(out_names) if out_names else [self.fresh(hint if outputs == 1 else f"{hint}_{i}")
                                                   for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=self.fresh(f"{hint}_node"),
                                           **attrs))
        return names[0] if outputs == 1 and not out_names else names

    def const(self, value, hint: str = "const", dtype=None) -> str:
        """An initializer holding ``value`` (float32 for floats unless ``dtype``)."""
        arr = np.asarray(value)
        if dtype is not None:
            arr = arr.astype(dtype)
        elif arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        name = self.fresh(hint)
        self.initializers[name] = arr
        return name

    def ints(self, values: Sequence[int], hint: str = "ints") -> str:
        return self.const(np.asarray(list(values), np.int64), hint)

    def scalar(self, value: float, hint: str = "scalar") -> str:
        return self.const(np.asarray(value, np.float32), hint)

    def scalar_1d(self, value: float, hint: str = "scalar") -> str:
        """A float32 tensor of shape (1,)."""
        return self.const(np.asarray([value], np.float32), hint)

    def shape_dims(self, x: str, start: int, end: int, hint: str = "dims") -> str:
        """``Shape(x)[start:end]`` (int64, 1-D)."""
        return self.op("Shape", [x], hint, start=start, end=end)

    def model(self, inputs: Sequence, outputs: Sequence, name: str = "dcn"):
        """An ``onnx.ModelProto`` (opset 19) of the collected nodes; ``inputs``/``outputs`` are ValueInfos."""
        from onnx import helper, numpy_helper
        inits = [numpy_helper.from_array(v, k) for k, v in self.initializers.items()]
        graph = helper.make_graph(self.nodes, name, list(inputs), list(outputs), inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="dcn.deploy")
        model.ir_version = min(model.ir_version, 9)  # readable by older runtimes too
        return model
