"""Benchmarks: medians and ratios against the peers measured in the same run."""
import dcn  # noqa: F401 - sets OMP_NUM_THREADS before MXNet is imported
