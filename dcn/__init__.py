"""Deformable ConvNets reproduction: datasets, evaluation and the paper's models."""
from .utils.env import set_default_threads

set_default_threads()  # MXNet reads OMP_NUM_THREADS once, when first imported: set it before any of ours does
