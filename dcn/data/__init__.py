"""Datasets (VOC, COCO, VOC+SBD segmentation, Cityscapes, built-in synthetic),
records, transforms and samplers. See ``records`` for the box convention."""
from .base import DetectionDataset, SegmentationDataset
from .cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_COLORS, CityscapesSegmentation
from .coco import COCODetection
from .records import DatasetFileError, DetRecord, SegRecord
from .voc import VOC_CLASSES, VOCDetection
from .voc_seg import VOC_SEG_CLASSES, VOCSegmentation

__all__ = [
    "CITYSCAPES_CLASSES", "CITYSCAPES_COLORS", "COCODetection", "CityscapesSegmentation", "DatasetFileError",
    "DetRecord", "DetectionDataset", "SegRecord", "SegmentationDataset", "VOCDetection",
    "VOCSegmentation", "VOC_CLASSES", "VOC_SEG_CLASSES",
]
