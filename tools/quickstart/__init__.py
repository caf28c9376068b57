"""The quickstart: R-FCN plain / atrous / deformable on the synthetic dataset, paper Tables 2-4 and figures 6-7
(``bash experiments/quickstart.sh`` or ``python -m tools.quickstart``; see :mod:`tools.quickstart.pipeline`)."""
