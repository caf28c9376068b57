"""Tables 1 and 3 (Markdown + CSV in the paper's layout, mean ± std over seeds, the paper beside), the
Table 1 plot, and the paper's claims checked against the numbers."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import paper_numbers
from .plan import DETECTORS, ROWS, TABLE1_ROWS, TABLE3_ROWS, TABLE3_TITLES, TASK_TITLES

Results = Dict[Tuple[str, str], List[dict]]  # (task, row) -> metrics of each finished seed


def metric_names(task: str) -> Tuple[str, ...]:
    return ("mIoU",) if task == "deeplab" else ("mAP@0.5", "mAP@0.7")


def stats(results: Results, task: str, row: str, metric: str) -> Optional[Tuple[float, float, List[float]]]:
    """(mean, std, values) in percent over seeds, or None when no seed finished."""
    values = [100 * m[metric] for m in results.get((task, row), []) if metric in m]
    if not values:
        return None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, values


def fmt(s: Optional[Tuple[float, float, List[float]]]) -> str:
    if s is None:
        return "–"
    return f"{s[0]:.1f} ± {s[1]:.1f}" if len(s[2]) > 1 else f"{s[0]:.1f}"


def cell(results: Results, task: str, row: str) -> str:
    return " / ".join(fmt(stats(results, task, row, m)) for m in metric_names(task))


def paper_cell(table: dict, task: str, row: str) -> str:
    v = table.get(task, {}).get(row)
    return " / ".join(f"{x:.1f}" for x in v) if v else "N.A."


def _table(results: Results, tasks: Sequence[str], rows: Sequence[str], paper: dict, titles: Dict[str, str],
           first: str) -> str:
    head = [first] + [f"{TASK_TITLES[t]} {'mIoU' if t == 'deeplab' else 'mAP@0.5 / @0.7'} (ours \\| paper)"
                      for t in tasks]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(tasks)]
    for row in rows:
        cells = [titles.get(row, ROWS[row].title)]
        for t in tasks:
            applicable = t in DETECTORS or not ROWS[row].deformable_roi
            cells.append(f"{cell(results, t, row)} \\| {paper_cell(paper, t, row)}" if applicable else "N.A.")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table1_markdown(results: Results, tasks: Sequence[str], rows: Sequence[str] = TABLE1_ROWS) -> str:
    return _table(results, tasks, [r for r in TABLE1_ROWS if r in rows], paper_numbers.TABLE1, {},
                  "deformable 3x3 layers (ResNet-18 blocks)")


def table3_markdown(results: Results, tasks: Sequence[str], rows: Sequence[str] = TABLE3_ROWS) -> str:
    return _table(results, tasks, [r for r in TABLE3_ROWS if r in rows], paper_numbers.TABLE3, TABLE3_TITLES,
                  "deformation modules")


def write_csv(path: Path, results: Results, table: int, tasks: Sequence[str], rows: Sequence[str]) -> None:
    paper = paper_numbers.TABLE1 if table == 1 else paper_numbers.TABLE3
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["table", "row", "title", "task", "metric", "mean", "std", "seeds", "values", "paper"])
        for row in rows:
            for task in tasks:
                if ROWS[row].deformable_roi and task not in DETECTORS:
                    continue
                for i, metric in enumerate(metric_names(task)):
                    s = stats(results, task, row, metric)
                    p = paper.get(task, {}).get(row)
                    w.writerow([table, row, ROWS[row].title, task, metric,
                                "" if s is None else f"{s[0]:.2f}", "" if s is None else f"{s[1]:.2f}",
                                0 if s is None else len(s[2]),
                                "" if s is None else " ".join(f"{v:.2f}" for v in s[2]),
                                "" if p is None else p[i]])


def plot_table1(path: Path, results: Results, tasks: Sequence[str]) -> Optional[Path]:
    """Accuracy against the number of deformable layers, one line per task (mean ± std), the paper dashed."""
    from dcn.utils.pyplot import plt  # on first use: the tables need no matplotlib

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    drawn = False
    for i, task in enumerate(tasks):
        metric = metric_names(task)[0]
        pts = [(ROWS[r].layers, stats(results, task, r, metric)) for r in TABLE1_ROWS]
        pts = [(n, s) for n, s in pts if s is not None]
        if not pts:
            continue
        color = f"C{i}"
        axes[0].errorbar([n for n, _ in pts], [s[0] for _, s in pts], yerr=[s[1] for _, s in pts], marker="o",
                         capsize=3, color=color, label=f"{TASK_TITLES[task]} ({metric})")
        paper = paper_numbers.TABLE1[task]
        axes[1].plot([ROWS[r].layers for r in TABLE1_ROWS], [paper[r][0] for r in TABLE1_ROWS], "--", marker="s",
                     color=color, label=TASK_TITLES[task])
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    for ax, title in zip(axes, ("ours: synthetic shapes, ResNet-18 / 4 (val)", "paper: VOC, ResNet-101")):
        ax.set_xlabel("deformable 3x3 layers")
        ax.set_ylabel("mIoU / mAP@0.5 (%)")
        ax.set_xticks([ROWS[r].layers for r in TABLE1_ROWS])
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def compare(a: Optional[tuple], b: Optional[tuple]) -> Tuple[str, float]:
    """Is ``a`` above ``b``? 'yes' / 'no' beyond the seeds' noise (root sum of the two stds), else 'within
    noise'; with one seed there is no noise estimate and the sign decides."""
    if a is None or b is None:
        return "not measured", float("nan")
    diff = a[0] - b[0]
    noise = math.hypot(a[1], b[1])
    if diff > noise:
        return "yes", diff
    if diff < -noise:
        return "no", diff
    return "within noise", diff


def claims(results: Results, tasks: Sequence[str], table2: Optional[List[dict]] = None,
           table4: Optional[List[dict]] = None) -> List[Tuple[str, str, str]]:
    """(claim, task or layer, verdict with the numbers) for the paper's statements in section 4.2."""
    out = []

    def s(task, row, k=0):
        return stats(results, task, row, metric_names(task)[k])

    for task in tasks:
        v, d = compare(s(task, "dconv3"), s(task, "dconv0"))
        if v != "not measured":
            out.append(("Table 1: accuracy rises with deformable layers (3 vs 0)", TASK_TITLES[task],
                        f"{v} ({d:+.1f})"))
        best = max((r for r in TABLE1_ROWS if s(task, r)), key=lambda r: s(task, r)[0], default=None)
        if best and len([r for r in TABLE1_ROWS if s(task, r)]) > 2:
            out.append(("Table 1: best number of deformable layers (paper: 3 DeepLab, 6 others)",
                        TASK_TITLES[task], f"{ROWS[best].layers}"))
    for task in tasks:
        atrous = [r for r in ("atrous4", "atrous6", "atrous8") if s(task, r)]
        if not atrous:
            continue
        best = max(atrous, key=lambda r: s(task, r)[0])
        v, d = compare(s(task, best), s(task, "dconv0"))
        out.append(("Table 3: a dilation above 2 helps", TASK_TITLES[task],
                    f"{v} (best {ROWS[best].dilation}: {d:+.1f})"))
        best_all = max(["dconv0", *atrous], key=lambda r: s(task, r)[0] if s(task, r) else -1)
        out.append(("Table 3: best dilation (paper: 6 DeepLab, 4 Faster R-CNN, 6 class-aware RPN, 4 R-FCN)",
                    TASK_TITLES[task], str(ROWS[best_all].dilation)))
        v, d = compare(s(task, "dconv3"), s(task, best_all))
        out.append(("Table 3: deformable convolution beats every atrous setting", TASK_TITLES[task],
                    f"{v} ({d:+.1f} over dilation {ROWS[best_all].dilation})"))
    for task in tasks:
        if task not in DETECTORS:
            continue
        v5, d5 = compare(s(task, "droi"), s(task, "dconv0"))
        v7, d7 = compare(s(task, "droi", 1), s(task, "dconv0", 1))
        if v5 != "not measured":
            out.append(("Table 3: deformable RoI pooling alone helps, more at mAP@0.7", TASK_TITLES[task],
                        f"@0.5 {v5} ({d5:+.1f}), @0.7 {v7} ({d7:+.1f})"))
        others = [r for r in TABLE3_ROWS if r != "both" and s(task, r)]
        if s(task, "both") and others:
            best = max(others, key=lambda r: s(task, r)[0])
            v, d = compare(s(task, "both"), s(task, best))
            out.append(("Table 3: both deformable modules give the best accuracy", TASK_TITLES[task],
                        f"{v} ({d:+.1f} over {ROWS[best].title})"))
    for row in table2 or []:
        m = [row[f"{c}_mean"] for c in ("small", "medium", "large", "background")]
        if any(math.isnan(x) for x in m):
            continue
        grows = m[0] < m[1] < m[2]
        between = m[1] <= m[3] <= m[2]
        out.append(("Table 2: effective dilation grows with object size (small < medium < large)", row["layer"],
                    f"{'yes' if grows else 'no'} ({m[0]:.2f} / {m[1]:.2f} / {m[2]:.2f})"))
        out.append(("Table 2: background between medium and large", row["layer"],
                    f"{'yes' if between else 'no'} (background {m[3]:.2f})"))
    for row in table4 or []:
        out.append(("Table 4: deformable modules add little (parameters, forward time)", row["task"],
                    f"parameters x{row['params_ratio']:.3f}, forward x{row['forward_ratio']:.2f} "
                    f"(paper x{row['paper_params_ratio']:.3f}, x{row['paper_forward_ratio']:.2f})"))
    return out


def claims_markdown(items: Sequence[Tuple[str, str, str]]) -> str:
    lines = ["| claim (paper section 4.2) | where | ours |", "|---|---|---|"]
    lines += [f"| {c} | {w} | {v} |" for c, w, v in items]
    return "\n".join(lines)
