"""Parameter files from elsewhere: the released MSRA models, ImageNet backbones, exports.

* :func:`load_params` / :func:`match_params`: strict loading of the original
  ``prefix-000E.params`` files (``arg:``/``aux:``, ``moving_*``, ``*_test``),
  our exports and our own checkpoints into R-FCN / DeepLab / Faster R-CNN / FPN
  (see ``tables``);
* ``python -m dcn.checkpoint check --cfg CFG --params FILE``: does FILE fit the
  network of CFG (exit 0) or not (exit 1, listing every difference);
* ``python -m dcn.checkpoint convert`` / ``export``: to our format / to
  ``-symbol.json`` + ``.params`` (:mod:`dcn.export`).

Backbone initialisation from ImageNet files lives in :mod:`dcn.modeling.pretrained`.
(``dcn.engine.checkpoint`` is the training checkpoint format, a different module.)
"""
from .build import UnsupportedNetworkError, build_network, config_network
from .errors import FitReport, ParamMismatchError
from .loader import detect_source, load_params, match_params, read_params
from .tables import DEEPLAB_TABLE, FASTER_RCNN_TABLE, FPN_TABLE, RFCN_TABLE, network_kind, table_for

__all__ = ["FitReport", "ParamMismatchError", "UnsupportedNetworkError", "build_network", "config_network",
           "detect_source", "load_params", "match_params", "read_params", "DEEPLAB_TABLE", "FASTER_RCNN_TABLE",
           "FPN_TABLE", "RFCN_TABLE", "network_kind", "table_for"]
