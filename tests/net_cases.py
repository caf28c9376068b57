"""Helpers for tests that compare a network with its exported graph (MXNet symbol or ONNX)."""
import numpy as np


def randomise(net, seed: int) -> None:
    """Non-trivial values everywhere (offsets and BN statistics included), so the graphs are really compared;
    the anchor tables and DeepLab's fixed upsampling kernel keep their values."""
    import mxnet as mx
    rng = np.random.default_rng(seed)
    for name, p in net.collect_params().items():
        if name.startswith("anchors") or name == "upsampling_weight":
            continue
        v = rng.normal(0, 0.05, p.shape)
        if name.endswith(("running_var", "gamma")):
            v = np.abs(v) + 0.5
        p.set_data(mx.nd.array(v))
