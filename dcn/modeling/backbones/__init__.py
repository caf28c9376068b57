"""Backbones: Caffe-style ResNet-v1 and Aligned-Inception-ResNet with deformable stages."""
from .aligned_inception_resnet import AlignedInceptionResNet, AlignedInceptionResNetSpec, aligned_inception_resnet
from .resnet_v1 import ResNetV1, ResNetV1Spec, resnet_v1

__all__ = ["AlignedInceptionResNet", "AlignedInceptionResNetSpec", "aligned_inception_resnet",
           "ResNetV1", "ResNetV1Spec", "resnet_v1"]
