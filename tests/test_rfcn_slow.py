"""Short CPU training of deformable R-FCN on the synthetic dataset, then VOC mAP on its val split.

Slow (minutes on 2 cores): ``pytest -m slow tests/test_rfcn_slow.py``.
"""
import pytest

from dcn.config import load_config

CFG = "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml"
EPOCHS = 3          # x 800 images (400 train + flips), lr drop after 2.25 epochs
MIN_MAP50 = 0.03    # measured 6.34% (area AP, IoU 0.5; 11-point 7.64%) with this budget; half as margin


@pytest.mark.slow
def test_short_synthetic_training_reaches_map(tmp_path):
    from rfcn.test import evaluate
    from rfcn.train import train

    # a private dataset copy: other runs regenerate ./data/synthetic with other sizes
    data = tmp_path / "data"
    cfg = load_config(CFG, [f"output_path={tmp_path / 'out'}", f"dataset.dataset_path={data}",
                            f"dataset.root_path={data}", f"TRAIN.end_epoch={EPOCHS}", "TRAIN.lr_step=[2.25]"])
    net, loop = train(cfg, progress=False)
    result = evaluate(net, cfg, progress=False)
    summary = result.summary()
    print(result.table())
    assert summary["mAP@0.5"] >= MIN_MAP50, summary
    assert summary["mAP@0.7"] <= summary["mAP@0.5"]
