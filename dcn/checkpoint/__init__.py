"""Parameter files from elsewhere: the released MSRA models, ImageNet backbones, exports.

* :func:`load_params` / :func:`match_params`: strict loading of the original
  ``prefix-000E.params`` files (``arg:``/``aux:``, ``moving_*``, ``*_test``),
  our exports and our own checkpoints into the networks the tasks register
  (``dcn.modeling.recipes``; mapping rows in ``tables``);
* ``python -m dcn.checkpoint check --cfg CFG --params FILE``: does FILE fit the
  network of CFG (exit 0) or not (exit 1, listing every difference);
* ``python -m dcn.checkpoint convert`` / ``export``: to our format / to
  ``-symbol.json`` + ``.params`` (:mod:`dcn.export`).

Backbone initialisation from ImageNet files lives in :mod:`dcn.modeling.pretrained`.
(``dcn.engine.checkpoint`` is the training checkpoint format, a different module.)
"""
from .build import UnsupportedNetworkError, build_network, config_network, network_kind, table_for
from .errors import FitReport, ParamMismatchError
from .loader import detect_source, load_network, load_params, match_params, read_params

__all__ = ["FitReport", "ParamMismatchError", "UnsupportedNetworkError", "build_network", "config_network",
           "detect_source", "load_network", "load_params", "match_params", "read_params", "network_kind", "table_for"]
