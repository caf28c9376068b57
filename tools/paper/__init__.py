"""The paper's ablations (Tables 1-4) on the synthetic benchmark: ``python -m tools.paper``
(or ``bash experiments/paper.sh``). See :mod:`tools.paper.__main__`."""
