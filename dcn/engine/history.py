"""Metric history on disk: CSV files and a loss-curve PNG in the output folder (rewritten each epoch)."""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Dict, List, Optional, Union

from ..utils.fileio import atomic_write, atomic_write_text
from ..utils.pyplot import plt

logger = logging.getLogger(__name__)
Row = Dict[str, float]


class MetricHistory:
    """Rows keyed by ``epoch`` (one per epoch) and by fractional ``progress`` (one per ``frequent`` batches).

    ``load(resume_epoch)`` keeps what an earlier run wrote before that epoch, so a
    resumed run's files look like an uninterrupted run's.
    """

    def __init__(self, output_dir: Union[str, Path], epoch_file: str = "metrics.csv",
                 batch_file: str = "metrics_batches.csv", plot_file: str = "loss_curve.png") -> None:
        self.dir = Path(output_dir)
        self.epoch_path = self.dir / epoch_file
        self.batch_path = self.dir / batch_file
        self.plot_path = self.dir / plot_file
        self.epochs: List[Row] = []
        self.batches: List[Row] = []

    def load(self, before_epoch: int) -> None:
        self.epochs = [r for r in _read_csv(self.epoch_path) if r.get("epoch", 0) <= before_epoch]
        self.batches = [r for r in _read_csv(self.batch_path) if r.get("progress", 0) <= before_epoch]

    def add_batch(self, row: Row) -> None:
        self.batches.append(dict(row))

    def add_epoch(self, row: Row) -> None:
        self.epochs.append(dict(row))

    def write(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.epoch_path, _to_csv(self.epochs, first=("epoch",)))
        atomic_write_text(self.batch_path, _to_csv(self.batches, first=("progress",)))
        try:
            atomic_write(self.plot_path, lambda tmp: plot_losses(self.batches, self.epochs, tmp))
        except Exception:  # noqa: BLE001 - a failed picture must not stop training
            logger.exception("could not draw %s", self.plot_path)


def _to_csv(rows: List[Row], first=()) -> str:
    names = list(first) + sorted({k for r in rows for k in r} - set(first))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _read_csv(path: Path) -> List[Row]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]


def plot_losses(batches: List[Row], epochs: List[Row], filename: str, keys: Optional[List[str]] = None) -> None:
    """Loss curves: thin lines per logged window, dots for epoch means (x = epochs)."""
    keys = keys or sorted({k for r in batches + epochs for k in r if "loss" in k.lower()})
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for i, key in enumerate(keys):
        color = f"C{i % 10}"
        pts = [(r["progress"], r[key]) for r in batches if key in r]
        if pts:
            ax.plot(*zip(*pts), color=color, lw=1, alpha=0.6, label=f"{key} (every N batches)")
        pts = [(r["epoch"], r[key]) for r in epochs if key in r]  # mean over epoch e, drawn at its end
        if pts:
            ax.plot(*zip(*pts), "o-", color=color, lw=2, label=f"{key} (epoch mean)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if keys:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(filename, format="png")
    plt.close(fig)
