"""What the reproduction trains: rows of the paper's Tables 1 and 3, per task and seed, under one budget.

Rows (the paper's ResNet-101 settings, on our ResNet-18 / 4):

* ``dconv0..dconv6``: deformable 3x3 convs in the last 0/1/2/3/6 blocks (Table 1),
  conv5 dilation 2; ``dconv0`` is also Table 3's "atrous (2,2,2)" baseline and
  ``dconv3`` its "deformable convolution";
* ``atrous4/6/8``: no deformable layer, conv5 dilation 4/6/8 (Table 3);
* ``droi`` / ``both``: deformable (PS) RoI pooling alone / with 3 deformable
  layers (Table 3; Faster R-CNN and R-FCN only).

Tasks follow the paper's VOC protocol: DeepLab and the class-aware RPN train on
their own; one RPN per seed is trained alone (``TRAIN.RPN_ONLY``) and its fixed
proposals are shared by every Faster R-CNN and R-FCN row (no feature sharing).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]
CFGS = {"deeplab": REPO / "experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml",
        "rpn": REPO / "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml",
        "faster": REPO / "experiments/faster_rcnn/cfgs/synthetic_rcnn_dcn.yaml",
        "rfcn": REPO / "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml",
        "proposals": REPO / "experiments/rfcn/cfgs/synthetic_rfcn_dcn.yaml"}
SYMBOLS = {"deeplab": "resnet_v1_18_w{w}_deeplab_dcn", "rpn": "resnet_v1_18_w{w}_class_aware_rpn_dcn",
           "faster": "resnet_v1_18_w{w}_rcnn_dcn", "rfcn": "resnet_v1_18_w{w}_rfcn_dcn",
           "proposals": "resnet_v1_18_w{w}_rfcn"}
# the paper's own data: the released VOC configs (ResNet-101, their schedules), the same rows and protocol
VOC_CFGS = {"deeplab": REPO / "experiments/deeplab/cfgs/deeplab_resnet_v1_101_voc12_segmentation_dcn.yaml",
            "rpn": REPO / "experiments/rfcn/cfgs/resnet_v1_101_voc0712_rfcn_dcn_end2end_ohem.yaml",
            "faster": REPO / "experiments/faster_rcnn/cfgs/resnet_v1_101_voc0712_rcnn_dcn_end2end.yaml",
            "rfcn": REPO / "experiments/rfcn/cfgs/resnet_v1_101_voc0712_rfcn_dcn_end2end_ohem.yaml",
            "proposals": REPO / "experiments/rfcn/cfgs/resnet_v1_101_voc0712_rfcn_dcn_end2end_ohem.yaml"}
VOC_SYMBOLS = {"deeplab": "resnet_v1_101_deeplab_dcn", "rpn": "resnet_v1_101_class_aware_rpn_dcn",
               "faster": "resnet_v1_101_rcnn_dcn", "rfcn": "resnet_v1_101_rfcn_dcn", "proposals": "resnet_v1_101_rfcn"}
TASKS = ("deeplab", "rpn", "faster", "rfcn")
TASK_TITLES = {"deeplab": "DeepLab", "rpn": "class-aware RPN", "faster": "Faster R-CNN", "rfcn": "R-FCN"}
DETECTORS = ("faster", "rfcn")  # the tasks with an RoI head (deformable RoI pooling, fixed proposals)


@dataclass(frozen=True)
class Row:
    name: str
    title: str               # the paper's row label
    layers: int              # deformable 3x3 blocks
    dilation: int            # conv5 dilation
    deformable_roi: bool     # deformable (PS) RoI pooling

    def overrides(self) -> Tuple[str, ...]:
        return (f"network.num_deformable_layers={self.layers}", f"network.dilation={self.dilation}",
                f"network.deformable_psroi={'true' if self.deformable_roi else 'false'}")


ROWS: Dict[str, Row] = {r.name: r for r in (
    Row("dconv0", "none (0, baseline)", 0, 2, False),
    Row("dconv1", "res5b (1)", 1, 2, False),
    Row("dconv2", "res5a,b (2)", 2, 2, False),
    Row("dconv3", "res4b, res5a,b (3, default)", 3, 2, False),
    Row("dconv6", "res3a-res5b (6)", 6, 2, False),
    Row("atrous4", "atrous convolution (4,4,4)", 0, 4, False),
    Row("atrous6", "atrous convolution (6,6,6)", 0, 6, False),
    Row("atrous8", "atrous convolution (8,8,8)", 0, 8, False),
    Row("droi", "deformable RoI pooling", 0, 2, True),
    Row("both", "deformable convolution & RoI pooling", 3, 2, True),
)}
TABLE1_ROWS = ("dconv0", "dconv1", "dconv2", "dconv3", "dconv6")
TABLE3_ROWS = ("dconv0", "atrous4", "atrous6", "atrous8", "dconv3", "droi", "both")
TABLE3_TITLES = {"dconv0": "atrous convolution (2,2,2) (default)", "dconv3": "deformable convolution"}
# the smaller --quick plan: Table 1's ends, Table 3's first atrous step and the deformable modules
QUICK_ROWS = ("dconv0", "dconv3", "atrous4", "droi", "both")
SMOKE_ROWS = ("dconv0", "dconv3", "both")


@dataclass(frozen=True)
class Budget:
    """What every row gets (saved in ``<out>/settings.json``; a rerun must match)."""
    num_images: int = 500      # generated; every 5th is in val
    scale: int = 256
    epochs: int = 4
    lr_step: float = 3.0       # epoch of the 10x lr drop (the paper's 2/3 .. 3/4)
    flip: bool = False
    width_divisor: int = 4
    pretrained: bool = True    # fine-tune the shipped synthetic-pretrained ResNet-18 / 4, else scratch
    rpn_epochs: int = 4        # the proposal RPN (trained alone, once per seed)
    extra: Tuple[str, ...] = ()
    dilation_images: int = 50  # val images for Table 2
    runtime_images: int = 10   # val images timed for Table 4
    runtime_rounds: int = 3
    dataset: str = "synthetic"  # "voc": the VOC configs' own data and schedules (the fields above but seeds unused)
    cfgs: Tuple[Tuple[str, str], ...] = ()  # (task, config path) replacing a task's default config
    sets: Tuple[str, ...] = ()  # --set KEY=VALUE for every job (e.g. gpus=[0,1,2,3])

    def config_path(self, task: str) -> Path:
        own = dict(self.cfgs)
        key = "rfcn" if task == "proposals" and "rfcn" in own else task
        if key in own:
            return Path(own[key])
        return (VOC_CFGS if self.dataset == "voc" else CFGS)[task]

    def to_json(self) -> dict:
        def plain(v):
            return [plain(x) for x in v] if isinstance(v, (tuple, list)) else v
        return {k: plain(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict) -> "Budget":
        def frozen(v):
            return tuple(frozen(x) for x in v) if isinstance(v, list) else v
        return cls(**{k: frozen(v) for k, v in d.items()})


FULL = Budget()
SMOKE = Budget(num_images=10, scale=128, epochs=1, lr_step=0.75, width_divisor=16, pretrained=False, rpn_epochs=1,
               extra=("TRAIN.RPN_PRE_NMS_TOP_N=300", "TRAIN.RPN_POST_NMS_TOP_N=64", "TRAIN.BATCH_ROIS_OHEM=32",
                      "TRAIN.BATCH_ROIS=32", "TEST.RPN_PRE_NMS_TOP_N=200", "TEST.RPN_POST_NMS_TOP_N=32",
                      "TEST.PROPOSAL_POST_NMS_TOP_N=32", "default.frequent=1"),
               dilation_images=1, runtime_images=1, runtime_rounds=1)
# training from scratch (the smoke run's thin net has no pretrained file)
SCRATCH = ("network.pretrained=", "network.norm=gn", "network.FIXED_PARAMS=[]", "TRAIN.lr=0.03")

# measured seconds per training image at one OpenMP thread (2-core VM, 256 px, ResNet-18 / 4, 2026-12-02);
# only for the plan's time estimate and progress bar
SECONDS_PER_IMAGE = {"deeplab": 0.075, "rpn": 0.06, "faster": 0.15, "rfcn": 0.11, "proposals": 0.06}
DEFORMABLE_SECONDS_PER_LAYER = 0.012
EVAL_SECONDS_PER_IMAGE = {"deeplab": 0.05, "rpn": 0.08, "faster": 0.12, "rfcn": 0.1, "proposals": 0.08}


@dataclass(frozen=True)
class Job:
    key: str                  # "s0/rfcn/dconv3": also its folder under <out>/runs
    task: str                 # a TASKS entry, or "proposals"
    seed: int
    row: str = ""
    needs: Tuple[str, ...] = field(default=())

    @property
    def folder(self) -> str:
        return self.key

    def estimate_s(self, budget: Budget) -> float:
        """Work in seconds at one thread (training + evaluation), from :data:`SECONDS_PER_IMAGE`."""
        train_images = budget.num_images - budget.num_images // 5
        epochs = budget.rpn_epochs if self.task == "proposals" else budget.epochs
        per_image = SECONDS_PER_IMAGE[self.task]
        if self.row:
            per_image += DEFORMABLE_SECONDS_PER_LAYER * ROWS[self.row].layers
        scale = (budget.scale / 256) ** 2 * (4 / budget.width_divisor)
        evaluated = budget.num_images if self.task == "proposals" else budget.num_images // 5
        return scale * (per_image * train_images * epochs * (2 if budget.flip else 1)
                        + EVAL_SECONDS_PER_IMAGE[self.task] * evaluated)


def rows_for(task: str, rows: Sequence[str]) -> List[str]:
    return [r for r in rows if task in DETECTORS or not ROWS[r].deformable_roi]


def make_plan(tables: Sequence[int], tasks: Sequence[str], seeds: int, quick: bool = False,
              smoke: bool = False) -> List[Job]:
    """Every job the tables need, proposal RPNs first. Table 2 needs R-FCN's 3-layer model; Table 4 the
    plain and deformable model of each task."""
    wanted: List[str] = []

    def want(names: Sequence[str]) -> None:
        wanted.extend(n for n in names if n not in wanted)

    allowed = SMOKE_ROWS if smoke else QUICK_ROWS if quick else tuple(ROWS)
    if 1 in tables:
        want(TABLE1_ROWS)
    if 3 in tables:
        want(TABLE3_ROWS)
    if 4 in tables:
        want(("dconv0", "dconv3", "both"))
    rows = [r for r in wanted if r in allowed]
    jobs: List[Job] = []
    for seed in range(seeds):
        task_rows = {t: rows_for(t, rows) for t in tasks}
        if 2 in tables and "rfcn" in tasks and "dconv3" not in task_rows["rfcn"]:
            task_rows["rfcn"].append("dconv3")
        proposals = f"s{seed}/proposals"
        if any(task_rows.get(t) for t in DETECTORS):
            jobs.append(Job(proposals, "proposals", seed))
        for task in tasks:
            for row in task_rows[task]:
                jobs.append(Job(f"s{seed}/{task}/{row}", task, seed, row,
                                (proposals,) if task in DETECTORS else ()))
    return jobs


def table4_pairs(task: str) -> Tuple[str, str]:
    """(plain, deformable) rows compared in Table 4: the paper's "Ours" uses both deformable modules
    where the network has an RoI head."""
    return ("dconv0", "both" if task in DETECTORS else "dconv3")
