"""Experiment tooling outside the library (as detectron2's ``tools/``): the paper reproduction."""
