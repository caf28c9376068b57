"""Networks: backbones, heads and detectors built from small HybridBlocks."""
