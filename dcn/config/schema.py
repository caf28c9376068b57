"""Typed config schema with defaults, modelled on the original YAML keys.

Key spelling follows the original MSRA configs (UPPER_CASE vs lower_case as
there), so its YAML files read the same. Cleaned up versus the original:
``gpus`` is a list, ``lr_step`` a list of epochs, ``NUM_ANCHORS`` is derived,
``SCALES`` is one ``[short, max]`` pair, and keys that did nothing or are
replaced (``MXNET_VERSION``, ``CXX_PROPOSAL``, ``END2END``, ``RESUME``) are
rejected with a hint (see ``REMOVED_KEYS``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence


def _f(default: Any, help: str = "", choices: Optional[Sequence[Any]] = None) -> Any:
    """A dataclass field with documentation and optional allowed values."""
    meta = {"help": help, "choices": tuple(choices) if choices is not None else None}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: copy.deepcopy(d), metadata=meta)
    return field(default=default, metadata=meta)


FIXED_PARAMS_DEFAULT = ["conv1", "bn_conv1", "res2", "bn2", "gamma", "beta"]
FIXED_PARAMS_SHARED_DEFAULT = FIXED_PARAMS_DEFAULT[:4] + ["res3", "bn3", "res4", "bn4", "gamma", "beta"]

# Keys of the original configs that are not accepted, with what to do instead.
REMOVED_KEYS = {
    "MXNET_VERSION": "drop it: one MXNet (1.9.1) is used",
    "NUM_ANCHORS": "drop it: derived as len(ANCHOR_SCALES) * len(ANCHOR_RATIOS)",
    "CXX_PROPOSAL": "drop it: there is a single proposal implementation",
    "END2END": "drop it: the training mode is given by the entry point",
    "RESUME": "drop it: pass --resume on the command line",
}


@dataclass
class DefaultConfig:
    frequent: int = _f(20, "log the running metrics every N batches")
    kvstore: str = _f("device", "KVStore type for multi-device training ('device', 'local', 'dist_sync', ...)")
    seed: int = _f(0, "base seed; epoch e reseeds every RNG with seed + e (deterministic resume)")
    num_workers: int = _f(0, "data loading workers (0 = in the main process)")


@dataclass
class NetworkConfig:
    pretrained: str = _f("", "prefix of pretrained backbone parameters ('' = none / random init)")
    pretrained_epoch: int = _f(0, "epoch number of the pretrained parameter file")
    depth: int = _f(101, "ResNet-v1 backbone depth", choices=(18, 34, 50, 101, 152))
    norm: str = _f("frozen_bn", "backbone normalisation: frozen_bn (fixed statistics: pretrained backbones, the "
                   "original), gn (GroupNorm: training from scratch with one image per step) or bn (batch "
                   "statistics, running averages at test: classification pretraining)",
                   choices=("frozen_bn", "gn", "bn"))
    num_deformable_layers: int = _f(
        0, "how many of the last 3x3 convs are deformable (paper Table 1: 0/1/2/3 in res5, 6 = res5 + last 3 of res4)",
        choices=(0, 1, 2, 3, 6))
    dilation: int = _f(2, "dilation of the res5 3x3 convs (paper Table 2 sweeps 2/4/6/8)", choices=(1, 2, 4, 6, 8))
    deformable_pyramid: bool = _f(False, "FPN: also make the last 3x3 conv of res3 and res4 deformable "
                                  "(the original with_dpyramid)")
    deformable_groups: int = _f(4, "offset groups of each deformable conv (1 for DeepLab)")
    offset_dilation: int = _f(0, "dilation of the 3x3 offset convs of the deformable layers; 0 = the network's "
                              "original choice: the deformable conv's own (R-FCN, Faster R-CNN, FPN *_dcn models), "
                              "1 (DeepLab); the original deform_conv demo model needs 1", choices=(0, 1, 2, 4, 6, 8))
    border_rule: str = _f("dcnv1", "sampling rule of the (unmodulated) deformable convolutions: dcnv1 (MXNet "
                          "contrib's, the released models) or dcnv2 (zero-padded bilinear, as torchvision and ONNX "
                          "DeformConv: such a model exports to ONNX exactly)", choices=("dcnv1", "dcnv2"))
    deformable_psroi: bool = _f(False, "deformable (PS)RoI pooling in the head")
    psroi_group_size: int = _f(7, "R-FCN: k of the k x k position-sensitive bins (3 for the original deform_psroi "
                               "demo model)", choices=(1, 2, 3, 4, 5, 6, 7, 8, 9))
    plain_roi_pooling: str = _f("bilinear", "RoI pooling without offsets (deformable_psroi: false): bilinear (our "
                                "operator, no_trans), max (Faster R-CNN/FPN: MXNet ROIPooling, the original) or "
                                "average (R-FCN: MXNet PSROIPooling over integer bins, the original)",
                                choices=("bilinear", "max", "average"))
    PIXEL_MEANS: List[float] = _f([103.06, 115.90, 123.15], "per-channel means subtracted from the image")
    IMAGE_STRIDE: int = _f(0, "pad images to a multiple of this (0 = no padding; FPN 32)")
    RPN_FEAT_STRIDE: List[int] = _f([16], "feature stride(s) the RPN runs on (FPN: [4, 8, 16, 32, 64])")
    RCNN_FEAT_STRIDE: int = _f(16, "feature stride of the RoI head")
    FIXED_PARAMS: List[str] = _f(FIXED_PARAMS_DEFAULT, "parameters whose name matches one of these regexes are frozen")
    FIXED_PARAMS_SHARED: List[str] = _f(FIXED_PARAMS_SHARED_DEFAULT, "frozen patterns for the shared stage of "
                                        "alternate training")
    ANCHOR_SCALES: List[float] = _f([8, 16, 32], "anchor scales (x the RPN stride)")
    ANCHOR_RATIOS: List[float] = _f([0.5, 1, 2], "anchor aspect ratios h/w")

    @property
    def NUM_ANCHORS(self) -> int:  # noqa: N802 - the original key name
        return len(self.ANCHOR_SCALES) * len(self.ANCHOR_RATIOS)


@dataclass
class DatasetConfig:
    dataset: str = _f("synthetic", "dataset reader", choices=("synthetic", "PascalVOC", "coco", "CityScape"))
    image_set: str = _f("train", "training split(s), '+'-joined")
    test_image_set: str = _f("val", "evaluation split")
    root_path: str = _f("./data/synthetic", "where caches and generated data live")
    dataset_path: str = _f("./data/synthetic", "dataset root folder")
    NUM_CLASSES: int = _f(7, "number of classes including background")
    proposal: str = _f("rpn", "proposal source for training on precomputed proposals",
                       choices=("rpn", "selective_search"))
    annotation_prefix: str = _f("gtFine", "Cityscapes annotation folder")
    sbd_path: str = _f("", "SBD benchmark_RELEASE/dataset folder for VOC 'train_aug' ('' = unused)")
    num_images: int = _f(500, "images to generate for the synthetic dataset (ignored otherwise)")
    synthetic_seed: int = _f(0, "generator seed of the synthetic dataset: another seed draws other images from "
                             "the same distribution (use another dataset_path for it; ignored otherwise)")
    skip_bad_files: bool = _f(False, "skip (with a warning naming them) images and annotations that are missing, "
                              "truncated or malformed, instead of stopping at the first one")
    proposal_dir: str = _f("", "folder of precomputed proposals '<image_set>_<proposal>.npz' (python -m "
                           "fpn.proposals); when set, Faster R-CNN/FPN train the RoI head on them (the paper's VOC "
                           "ablation protocol) instead of end-to-end, and TEST.HAS_RPN: false tests on them")


@dataclass
class TrainConfig:
    lr: float = _f(0.0005, "base learning rate")
    lr_step: List[float] = _f([], "epochs at which lr is multiplied by lr_factor (fractions allowed)")
    lr_factor: float = _f(0.1, "lr decay factor at each lr_step")
    warmup: bool = _f(False, "use a constant warmup_lr for the first warmup_step updates")
    warmup_lr: float = _f(0.0, "learning rate during warmup")
    warmup_step: int = _f(0, "number of warmup updates")
    momentum: float = _f(0.9, "SGD momentum")
    wd: float = _f(0.0005, "weight decay")
    normalize_grad_by_batch: bool = _f(False, "average gradients over devices (FPN) instead of summing them "
                                       "(the original rescale_grad=1.0 of R-FCN/Faster R-CNN/DeepLab)")
    clip_gradient: Optional[float] = _f(None, "clip each gradient element to +-this (None = off)")
    begin_epoch: int = _f(0, "first epoch (normally 0; --resume sets it from the checkpoint)")
    end_epoch: int = _f(8, "number of epochs to train")
    model_prefix: str = _f("model", "checkpoint file prefix inside output_path")
    BATCH_IMAGES: int = _f(1, "images per device")
    FLIP: bool = _f(True, "horizontal-flip augmentation (doubles the epoch like the original)")
    SHUFFLE: bool = _f(True, "shuffle images each epoch")
    ASPECT_GROUPING: bool = _f(True, "batch images of similar aspect ratio together")
    RPN_ONLY: bool = _f(False, "train the RPN alone, the RoI head frozen and unused (the paper's separately "
                        "trained RPN whose proposals the VOC ablations share; step 1 of alternate training)")
    ENABLE_OHEM: bool = _f(False, "online hard example mining of RoIs")
    BATCH_ROIS: int = _f(128, "RoIs sampled per image (-1 = all proposals)")
    BATCH_ROIS_OHEM: int = _f(128, "RoIs kept per image by OHEM")
    FG_FRACTION: float = _f(0.25, "fraction of foreground RoIs")
    FG_THRESH: float = _f(0.5, "IoU for a foreground RoI")
    BG_THRESH_HI: float = _f(0.5, "background IoU upper bound")
    BG_THRESH_LO: float = _f(0.0, "background IoU lower bound")
    BBOX_REGRESSION_THRESH: float = _f(0.5, "IoU needed to train box regression")
    BBOX_WEIGHTS: List[float] = _f([1.0, 1.0, 1.0, 1.0], "RCNN box loss weights")
    BBOX_NORMALIZATION_PRECOMPUTED: bool = _f(True, "normalise box targets with BBOX_MEANS/BBOX_STDS")
    BBOX_MEANS: List[float] = _f([0.0, 0.0, 0.0, 0.0], "box target means")
    BBOX_STDS: List[float] = _f([0.1, 0.1, 0.2, 0.2], "box target stds")
    RPN_BATCH_SIZE: int = _f(256, "anchors sampled per image")
    RPN_FG_FRACTION: float = _f(0.5, "fraction of positive anchors")
    RPN_POSITIVE_OVERLAP: float = _f(0.7, "IoU for a positive anchor")
    RPN_NEGATIVE_OVERLAP: float = _f(0.3, "IoU below which an anchor is negative")
    RPN_CLOBBER_POSITIVES: bool = _f(False, "let negatives override positives")
    RPN_BBOX_WEIGHTS: List[float] = _f([1.0, 1.0, 1.0, 1.0], "RPN box loss weights")
    RPN_POSITIVE_WEIGHT: float = _f(-1.0, "positive anchor weight (-1 = uniform)")
    RPN_NMS_THRESH: float = _f(0.7, "proposal NMS IoU during training")
    RPN_PRE_NMS_TOP_N: int = _f(12000, "proposals kept before NMS during training")
    RPN_POST_NMS_TOP_N: int = _f(2000, "proposals kept after NMS during training")
    RPN_MIN_SIZE: int = _f(0, "minimum proposal side (pixels at the input scale)")
    ENABLE_CROP: bool = _f(False, "random crop (DeepLab Cityscapes)")
    CROP_HEIGHT: int = _f(768, "crop height")
    CROP_WIDTH: int = _f(1024, "crop width")


@dataclass
class TestConfig:
    HAS_RPN: bool = _f(True, "proposals from the RPN (else precomputed)")
    BATCH_IMAGES: int = _f(1, "images per device at test time")
    RPN_NMS_THRESH: float = _f(0.7, "proposal NMS IoU at test time")
    RPN_PRE_NMS_TOP_N: int = _f(6000, "proposals kept before NMS")
    RPN_POST_NMS_TOP_N: int = _f(300, "proposals kept after NMS")
    RPN_MIN_SIZE: int = _f(0, "minimum proposal side")
    PROPOSAL_NMS_THRESH: float = _f(0.7, "NMS IoU when dumping proposals")
    PROPOSAL_PRE_NMS_TOP_N: int = _f(20000, "pre-NMS proposals when dumping proposals")
    PROPOSAL_POST_NMS_TOP_N: int = _f(2000, "post-NMS proposals when dumping proposals")
    PROPOSAL_MIN_SIZE: int = _f(0, "minimum side when dumping proposals")
    NMS: float = _f(0.3, "per-class NMS IoU of detections")
    SCORE_THRESH: float = _f(0.001, "drop detections scoring below this")
    max_per_image: int = _f(300, "detections kept per image (0 = all)")
    USE_SOFTNMS: bool = _f(False, "soft-NMS instead of NMS (FPN)")
    SOFTNMS_METHOD: str = _f("gaussian", "soft-NMS score decay: gaussian exp(-IoU^2/SOFTNMS_THRESH) (the "
                             "original) or linear 1-IoU above TEST.NMS", choices=("gaussian", "linear"))
    SOFTNMS_THRESH: float = _f(0.6, "soft-NMS sigma (gaussian)")
    BBOX_AVERAGING: bool = _f(False, "iterative box averaging: a second regression pass and score-weighted "
                                     "averaging of overlapping candidates after NMS (paper Table 5 'B')")
    BBOX_AVERAGING_THRESH: float = _f(0.5, "IoU for box averaging")
    test_epoch: int = _f(0, "checkpoint epoch to evaluate (0 = TRAIN.end_epoch)")


@dataclass
class Config:
    output_path: str = _f("./output/synthetic", "folder for logs, checkpoints and results")
    symbol: str = _f("resnet_v1_101_rfcn", "network name")
    gpus: List[int] = _f([], "GPU ids ([] = CPU)")
    CLASS_AGNOSTIC: bool = _f(False, "class-agnostic box regression")
    SCALES: List[int] = _f([600, 1000], "training scale [short side, max long side]")
    TEST_SCALES: List[List[int]] = _f([], "test scales [[short, max], ...] ([] = SCALES; several = multi-scale)")
    default: DefaultConfig = field(default_factory=DefaultConfig, metadata={"help": "run settings"})
    network: NetworkConfig = field(default_factory=NetworkConfig, metadata={"help": "network settings"})
    dataset: DatasetConfig = field(default_factory=DatasetConfig, metadata={"help": "dataset settings"})
    TRAIN: TrainConfig = field(default_factory=TrainConfig, metadata={"help": "training settings"})
    TEST: TestConfig = field(default_factory=TestConfig, metadata={"help": "test settings"})

    @property
    def test_scales(self) -> List[List[int]]:
        return self.TEST_SCALES or [list(self.SCALES)]
