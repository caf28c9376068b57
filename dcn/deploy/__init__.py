"""Deployment without MXNet: the networks as standard ONNX (opset 19), run in ONNX Runtime or OpenVINO.

* :mod:`dcn.deploy.export` (needs MXNet): ``export_onnx(net, prefix)`` traces a network like
  ``dcn.export`` and writes ``.onnx`` graphs + ``-meta.json``; ``python -m dcn.checkpoint export
  --format onnx`` calls it.
* :mod:`dcn.deploy.convert` (needs MXNet's symbol JSON only, not MXNet): MXNet symbol -> ONNX.
* :mod:`dcn.deploy.deform_ops`: ``DeformableConvolution`` -> ``DeformConv`` (the DCNv1 border rule
  emulated with standard ops, or the plain DCNv2 rule), ``DeformablePSROIPooling`` composed of
  ``GridSample`` and reductions.
* :mod:`dcn.deploy.runtime`, :mod:`dcn.deploy.openvino_ext`, :mod:`dcn.deploy.pipeline`,
  :mod:`dcn.deploy.demo`: sessions, the OpenVINO ``DeformConv`` conversion, the NumPy
  pre/post-processing (proposals, NMS) and the demo; none of them imports MXNet.
"""
