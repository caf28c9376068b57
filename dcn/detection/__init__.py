"""Two-stage detection shared by ``rfcn/`` (R-FCN, class-aware RPN) and ``fpn/`` (Faster R-CNN 2fc, FPN).

One concern per module: ``rpn`` (RPN head, anchors, proposals), ``targets``
(anchor/proposal targets, OHEM), ``loss``, ``inference`` (detect, multi-scale
merge, NMS), ``soft_nms``, ``detector`` (the network protocol), ``params``
(config -> parameters), ``data``, ``proposals`` (precomputed proposals),
``training``, ``evaluate``, ``demo``.
"""
