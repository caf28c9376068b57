"""Pictures and statistics of learned offsets (paper figures 5-7, Table 2) and of results (``results``: detections,
segmentations; no MXNet)."""
