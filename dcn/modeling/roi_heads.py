"""RoI heads built on DeformablePSROIPooling: the paper's two deformable RoI poolings.

* :class:`DeformablePSROIHead` — deformable position-sensitive RoI pooling for
  R-FCN (paper figure 4, section 2.2; original ``resnet_v1_101_rfcn_dcn``). A
  1x1 conv gives the k*k*output_dim score maps; a zero-initialised 1x1 conv
  gives offset fields (2*k*k per offset class: per class for the class
  branch, one class-agnostic field for the box branch); PS RoI pooling of
  those fields without offsets (``no_trans``) yields the normalised part
  offsets (R, 2*classes, k, k), which drive the deformable PS RoI pooling of
  the score maps (offset = trans * trans_std * RoI size, trans_std = the
  paper's gamma = 0.1).
* :class:`DeformableRoIPool` — deformable RoI pooling for Faster R-CNN
  (paper figure 3; original ``resnet_v1_101_rcnn_dcn``): plain RoI pooling
  (the same operator with ``group_size=1``, ``no_trans``), a zero-initialised
  fc (lr_mult 0.01) to the normalised offsets (R, 2, k, k), deformable RoI
  pooling with trans_std 0.1; one per pyramid level in FPN (``offset_p{k}_``).
  :class:`DeformableRoIPoolingHead` = it + :class:`TwoFCHead` (fc_new_1/fc_new_2, 1024).

Offset branches start at zero, so both heads start as their plain counterparts.
Parameter names follow the original symbols given the prefixes in the
docstrings (``rfcn_cls_offset_t_weight``, ``offset_weight``, ``fc_new_1_weight``...).
"""
from __future__ import annotations

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

import operators


def _pool_op(F, reference_impl: bool):
    """Our operator, or MXNet's contrib one (slower, same semantics) for cross-checks."""
    return F.contrib.DeformablePSROIPooling if reference_impl else F.DeformablePSROIPooling


# plain (no offsets) PS RoI pooling: our operator's bilinear samples (no_trans, what the deformable pooling
# starts from) or MXNet's PSROIPooling, the average over the integer pixels of each bin (the original R-FCN)
PLAIN_PSROI_POOLING = ("bilinear", "average")


class _OffsetPooling(HybridBlock):
    """What both deformable poolings share: ``trans_std`` and the offset layer's learning-rate multiplier."""

    @property
    def trans_std(self) -> float:
        """Offsets are scaled by this times the RoI size (figure 7 draws them the same way)."""
        return self._trans_std

    def _scale_offset_lr(self, mult: float) -> None:
        for p in self.offset.collect_params().values():
            p.lr_mult = mult


class DeformablePSROIHead(_OffsetPooling):
    """``(feature (N, C_in, H, W), rois (R, 5)) -> pooled scores (R, output_dim, k, k)``.

    One R-FCN branch: ``DeformablePSROIHead(num_classes, num_classes, prefix="rfcn_cls_")``
    for the class scores (per-class offsets) and
    ``DeformablePSROIHead(8, 1, prefix="rfcn_bbox_")`` for the class-agnostic boxes
    (one shared offset field). ``rois`` rows are [batch index, x1, y1, x2, y2] in
    input-image pixels. Voting (averaging over the k x k bins) is left to the
    caller, which may also want the bins themselves.

    Parameters: ``<prefix>weight/bias`` (score maps, k*k*output_dim channels) and,
    when ``deformable``, ``<prefix>offset_t_weight/bias`` (2*k*k*num_offset_classes
    channels, zero-initialised, learning-rate multiplier ``offset_lr_mult``).
    Without offsets, ``plain_op`` picks the pooling (:data:`PLAIN_PSROI_POOLING`).
    """

    def __init__(self, output_dim: int, num_offset_classes: int = 1, group_size: int = 7,
                 spatial_scale: float = 1.0 / 16, sample_per_part: int = 4, trans_std: float = 0.1,
                 deformable: bool = True, in_channels: int = 0, offset_lr_mult: float = 1.0,
                 score_initializer=None, plain_op: str = "bilinear", *, reference_impl: bool = False, **kwargs):
        super().__init__(**kwargs)
        operators.load()
        if plain_op not in PLAIN_PSROI_POOLING:
            raise ValueError(f"plain_op must be one of {PLAIN_PSROI_POOLING}, got {plain_op!r}")
        self._plain_op = plain_op
        if output_dim % num_offset_classes != 0:
            raise ValueError(f"output_dim ({output_dim}) must be divisible by num_offset_classes "
                             f"({num_offset_classes}): each offset class serves output_dim/classes maps")
        self.output_dim, self.num_offset_classes, self.deformable = output_dim, num_offset_classes, deformable
        self._reference_impl = reference_impl
        k2 = group_size * group_size
        self._pool = dict(spatial_scale=spatial_scale, group_size=group_size, pooled_size=group_size,
                          part_size=group_size, sample_per_part=sample_per_part)
        self._trans_std = trans_std
        with self.name_scope():
            self.score = nn.Conv2D(k2 * output_dim, 1, in_channels=in_channels,
                                   weight_initializer=score_initializer or mx.init.Normal(0.01), prefix="")
            if deformable:
                self.offset = nn.Conv2D(2 * k2 * num_offset_classes, 1, in_channels=in_channels,
                                        weight_initializer="zeros", bias_initializer="zeros", prefix="offset_t_")
                self._scale_offset_lr(offset_lr_mult)

    def offsets(self, F, feature, rois):
        """Normalised part offsets (R, 2*num_offset_classes, k, k) ((dx, dy) per class)."""
        pool = _pool_op(F, self._reference_impl)
        return pool(self.offset(feature), rois, no_trans=True, output_dim=2 * self.num_offset_classes,
                    **self._pool)

    def hybrid_forward(self, F, feature, rois):
        pool = _pool_op(F, self._reference_impl)
        maps = self.score(feature)
        if not self.deformable and self._plain_op == "average":
            k = self._pool["group_size"]
            return F.contrib.PSROIPooling(maps, rois, spatial_scale=self._pool["spatial_scale"],
                                          output_dim=self.output_dim, pooled_size=k, group_size=k)
        if not self.deformable:
            return pool(maps, rois, no_trans=True, output_dim=self.output_dim, **self._pool)
        trans = self.offsets(F, feature, rois)
        return pool(maps, rois, trans, trans_std=self._trans_std, output_dim=self.output_dim, **self._pool)


PLAIN_ROI_POOLING = ("max", "bilinear")


class DeformableRoIPool(_OffsetPooling):
    """``(feature (N, C, H, W), rois (R, 5)) -> (R, C, k, k)``: (deformable) RoI pooling of one map.

    Deformable (paper figure 3): plain RoI pooling (our operator with
    ``group_size=1``, ``no_trans``, ``sample_per_part`` bilinear samples per bin
    side), a zero-initialised fc (lr_mult ``offset_lr_mult`` = 0.01 as the
    original) to the normalised offsets (R, 2, k, k), then pooling again with
    offsets * trans_std * RoI size. Plain: ``plain_op`` "max" (MXNet's
    ``ROIPooling``, the original baseline) or "bilinear" (our operator with
    ``no_trans``, what the deformable pooling starts from).

    Parameters: ``<offset_prefix>weight/bias`` (``offset_`` for Faster R-CNN,
    ``offset_p2_`` .. ``offset_p5_`` for FPN's levels).
    """

    def __init__(self, in_channels: int, pooled_size: int = 7, spatial_scale: float = 1.0 / 16,
                 sample_per_part: int = 4, trans_std: float = 0.1, deformable: bool = True,
                 offset_lr_mult: float = 0.01, plain_op: str = "max", offset_prefix: str = "offset_", *,
                 reference_impl: bool = False, **kwargs):
        kwargs.setdefault("prefix", "")
        super().__init__(**kwargs)
        operators.load()
        if plain_op not in PLAIN_ROI_POOLING:
            raise ValueError(f"plain_op must be one of {PLAIN_ROI_POOLING}, got {plain_op!r}")
        self.in_channels, self.pooled_size, self.deformable = in_channels, pooled_size, deformable
        self._plain_op = plain_op
        self._reference_impl = reference_impl
        self._spatial_scale = spatial_scale
        self._pool = dict(spatial_scale=spatial_scale, output_dim=in_channels, group_size=1,
                          pooled_size=pooled_size, part_size=pooled_size, sample_per_part=sample_per_part)
        self._trans_std = trans_std
        k2 = pooled_size * pooled_size
        with self.name_scope():
            if deformable:
                self.offset = nn.Dense(2 * k2, in_units=in_channels * k2, weight_initializer="zeros",
                                       bias_initializer="zeros", prefix=offset_prefix)
                self._scale_offset_lr(offset_lr_mult)

    def offsets(self, F, feature, rois):
        """Normalised offsets (R, 2, k, k) from plain RoI pooling and the offset fc."""
        pool = _pool_op(F, self._reference_impl)
        plain = pool(feature, rois, no_trans=True, **self._pool)
        return self.offset(plain).reshape((-1, 2, self.pooled_size, self.pooled_size))

    def hybrid_forward(self, F, feature, rois):
        if not self.deformable and self._plain_op == "max":
            return F.ROIPooling(feature, rois, pooled_size=(self.pooled_size, self.pooled_size),
                                spatial_scale=self._spatial_scale)
        # A leaf input with grad_req='add' needs a built-in op before the
        # extension op, which would overwrite the gradient (mxnet_extension_notes).
        feature = F.identity(feature)
        pool = _pool_op(F, self._reference_impl)
        if not self.deformable:
            return pool(feature, rois, no_trans=True, **self._pool)
        trans = self.offsets(F, feature, rois)
        return pool(feature, rois, trans, trans_std=self._trans_std, **self._pool)


class DeformableRoIPoolingHead(HybridBlock):
    """``(feature (N, C, H, W), rois (R, 5)) -> (R, fc_hidden)`` features for cls/box layers.

    Faster R-CNN 2fc head with (deformable) RoI pooling (:class:`DeformableRoIPool`;
    ``in_channels`` = C, 256 after ``conv_new_1``), then fc_new_1 -> ReLU ->
    fc_new_2 -> ReLU. ``deformable=False`` gives the paper's baseline
    (``plain_op`` "max": MXNet's max ``ROIPooling``; "bilinear": our operator, ``no_trans``).

    Parameters (block prefix, default ""): ``offset_weight/bias`` (zero init,
    lr_mult ``offset_lr_mult`` = 0.01 as in the original), ``fc_new_1_*``, ``fc_new_2_*``.
    """

    def __init__(self, in_channels: int, pooled_size: int = 7, spatial_scale: float = 1.0 / 16,
                 sample_per_part: int = 4, trans_std: float = 0.1, fc_hidden: int = 1024,
                 deformable: bool = True, offset_lr_mult: float = 0.01, plain_op: str = "max", *,
                 reference_impl: bool = False, **kwargs):
        kwargs.setdefault("prefix", "")
        super().__init__(**kwargs)
        self.in_channels, self.pooled_size, self.deformable = in_channels, pooled_size, deformable
        with self.name_scope():
            self.pool = DeformableRoIPool(in_channels, pooled_size, spatial_scale, sample_per_part, trans_std,
                                          deformable, offset_lr_mult, plain_op, reference_impl=reference_impl)
            self.fc = TwoFCHead(in_channels * pooled_size * pooled_size, fc_hidden)

    @property
    def offset(self) -> nn.Dense:
        return self.pool.offset

    def offsets(self, F, feature, rois):
        """Normalised offsets (R, 2, k, k) from plain RoI pooling and the offset fc."""
        return self.pool.offsets(F, feature, rois)

    def pooled(self, F, feature, rois):
        """The (deformable) RoI-pooled features (R, C, k, k)."""
        return self.pool(feature, rois)

    def hybrid_forward(self, F, feature, rois):
        return self.fc(self.pool(feature, rois))


class TwoFCHead(HybridBlock):
    """``(R, ...) -> (R, hidden)``: fc_new_1 -> ReLU -> fc_new_2 -> ReLU (normal(0.01) init), the 2fc head."""

    def __init__(self, in_units: int, hidden: int = 1024, **kwargs):
        kwargs.setdefault("prefix", "")
        super().__init__(**kwargs)
        with self.name_scope():
            self.fc1 = nn.Dense(hidden, in_units=in_units, weight_initializer=mx.init.Normal(0.01),
                                prefix="fc_new_1_")
            self.fc2 = nn.Dense(hidden, in_units=hidden, weight_initializer=mx.init.Normal(0.01),
                                prefix="fc_new_2_")

    def hybrid_forward(self, F, x):
        return F.relu(self.fc2(F.relu(self.fc1(x))))
