"""The paper's "ImageNet pretraining" step on synthetic data: a ResNet-v1 backbone trained to classify
synthetic shape crops (``dcn.data.synthetic_classes``), saved in the file format and parameter names of
the released MSRA ImageNet models, so ``network.pretrained`` loads it as it loads those.

    python -m dcn.pretrain --cfg experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml
        -> ./model/pretrained_model/synthetic_resnet_v1_18_w4-0000.params (+ -0000.json)

Python: ``ensure_pretrained(cfg_or_depth, prefix)`` returns the file, pretraining it first when it is
missing or was made with other settings. This package imports MXNet only when training.
"""
from .ensure import ensure_for_prefix, ensure_pretrained
from .settings import PretrainSettings, default_prefix, params_path, settings_from_config

__all__ = ["PretrainSettings", "default_prefix", "ensure_for_prefix", "ensure_pretrained", "params_path",
           "settings_from_config"]
