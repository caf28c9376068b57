"""Backbones: Caffe-style ResNet-v1 and Aligned-Inception-ResNet with deformable stages."""
from .resnet_v1 import ResNetV1, ResNetV1Spec, resnet_v1

__all__ = ["ResNetV1", "ResNetV1Spec", "resnet_v1"]
