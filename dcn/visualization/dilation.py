"""Effective dilation statistics grouped by object size (paper Table 2)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .sampling import DeformLayer, effective_dilation, feature_to_image, padding_fraction

# COCO area thresholds (pixels^2) at COCO image scale; rescale for other sizes.
COCO_AREAS = (96.0 ** 2, 224.0 ** 2)
CATEGORIES = ("small", "medium", "large", "background")


def position_categories(shape: tuple[int, int], stride: float, boxes: np.ndarray,
                        areas: tuple[float, float] = COCO_AREAS) -> np.ndarray:
    """Category index (0 small, 1 medium, 2 large, 3 background) of every feature
    position, by the smallest ground-truth box containing its image centre."""
    Ho, Wo = shape
    yy, xx = np.meshgrid(np.arange(Ho), np.arange(Wo), indexing="ij")
    cy, cx = feature_to_image(yy, stride), feature_to_image(xx, stride)
    cat = np.full((Ho, Wo), 3, dtype=int)
    best_area = np.full((Ho, Wo), np.inf)
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        area = (x2 - x1 + 1) * (y2 - y1 + 1)
        inside = (cx >= x1) & (cx <= x2) & (cy >= y1) & (cy <= y2) & (area < best_area)
        best_area[inside] = area
        cat[inside] = 0 if area < areas[0] else (1 if area < areas[1] else 2)
    return cat


class DilationStats:
    """Accumulates effective dilations per layer and category over images."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, list[np.ndarray]]] = {}
        self.padding: dict[str, list[np.ndarray]] = {}

    def add(self, layers: list[DeformLayer], boxes: np.ndarray, stride: float,
            areas: tuple[float, float] = COCO_AREAS) -> None:
        for layer in layers:
            eff = effective_dilation(layer)
            cat = position_categories(eff.shape, stride * layer.stride[0], boxes, areas)
            per = self.values.setdefault(layer.name, {c: [] for c in CATEGORIES})
            for i, c in enumerate(CATEGORIES):
                per[c].append(eff[cat == i])
            self.padding.setdefault(layer.name, []).append(padding_fraction(layer).reshape(-1))

    def table(self) -> list[dict]:
        rows = []
        for name, per in self.values.items():
            row = {"layer": name}
            for c in CATEGORIES:
                v = np.concatenate(per[c]) if per[c] else np.zeros(0)
                row[f"{c}_mean"] = float(v.mean()) if v.size else float("nan")
                row[f"{c}_std"] = float(v.std()) if v.size else float("nan")
                row[f"{c}_n"] = int(v.size)
            pad = np.concatenate(self.padding.get(name, [])) if self.padding.get(name) else np.zeros(0)
            row["taps_on_padding"] = float(pad.mean()) if pad.size else float("nan")
            rows.append(row)
        return rows

    def markdown(self) -> str:
        lines = ["| layer | " + " | ".join(CATEGORIES) + " | taps on padding |",
                 "|---|" + "---:|" * (len(CATEGORIES) + 1)]
        for r in self.table():
            cells = [f"{r[c + '_mean']:.2f} ± {r[c + '_std']:.2f}" if r[c + "_n"] else "n/a" for c in CATEGORIES]
            lines.append(f"| {r['layer']} | " + " | ".join(cells) + f" | {100 * r['taps_on_padding']:.0f} % |")
        return "\n".join(lines)

    def write_csv(self, path: str | Path) -> Path:
        rows = self.table()
        path = Path(path)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["layer"])
            writer.writeheader()
            writer.writerows(rows)
        return path
