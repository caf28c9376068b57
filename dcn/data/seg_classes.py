"""Class names of the segmentation datasets, by the config's ``dataset.dataset`` name (no MXNet)."""
from __future__ import annotations

from typing import Tuple


def segmentation_class_names(dataset: str, num_classes: int) -> Tuple[str, ...]:
    """Names of ``num_classes`` classes of ``dataset`` (synthetic, PascalVOC, CityScape); ``class<i>`` for
    any other dataset."""
    if dataset == "synthetic":
        from .synthetic import SEG_CLASSES
        return tuple(SEG_CLASSES)
    if dataset == "PascalVOC":
        from .voc_seg import VOC_SEG_CLASSES
        return tuple(VOC_SEG_CLASSES)
    if dataset == "CityScape":
        from .cityscapes import CITYSCAPES_CLASSES
        return tuple(CITYSCAPES_CLASSES)
    return tuple(f"class{i}" for i in range(num_classes))
