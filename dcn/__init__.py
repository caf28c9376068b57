"""Deformable ConvNets reproduction: datasets, evaluation and the paper's models."""
