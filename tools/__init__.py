"""Experiment tooling outside the library (as detectron2's ``tools/``): the paper reproduction."""

import dcn  # noqa: F401 - sets OMP_NUM_THREADS before MXNet is imported
