"""The error raised when a parameter file does not fit a network, listing every difference."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from dcn.engine.checkpoint import CheckpointError

Shape = Tuple[int, ...]


@dataclass
class FitReport:
    """How the arrays of one file line up with the parameters of one network.

    Names in ``missing`` are ours (the network's); names in ``unexpected`` are
    the file's, as written there (``arg:``/``aux:`` prefixes included);
    ``mismatched`` rows are ``(file name, our name, file shape, network shape)``.
    ``ignored`` lists file entries dropped on purpose, with the reason (e.g.
    the ImageNet classifier ``fc1000``); ``notes`` the values that were
    transformed on the way (renames with a layout change, de-normalised boxes).
    """

    path: str
    network: str
    source: str                                   # 'original', 'export', 'gluon', 'gluoncv'
    matched: Dict[str, str] = field(default_factory=dict)          # our name -> file name
    missing: List[Tuple[str, Shape]] = field(default_factory=list)
    unexpected: List[Tuple[str, Shape]] = field(default_factory=list)
    mismatched: List[Tuple[str, str, Shape, Shape]] = field(default_factory=list)
    ignored: Dict[str, str] = field(default_factory=dict)          # file name -> why
    # ours, not in the file, but never used with this config (the RPN under TEST.HAS_RPN: false): not an error
    unused: List[Tuple[str, Shape]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    hints: List[str] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)   # reasons the network cannot use the file besides names

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.problems)

    def summary(self) -> str:
        return (f"{len(self.matched)} matched, {len(self.missing)} missing, {len(self.unexpected)} unexpected, "
                f"{len(self.mismatched)} mis-shaped, {len(self.ignored)} ignored"
                + (f", {len(self.unused)} not in the file but unused" if self.unused else ""))

    def format(self, limit: int = 0) -> str:
        """Every difference, one per line (``limit`` > 0 shortens each list)."""
        def cut(rows):
            return rows if limit <= 0 or len(rows) <= limit else rows[:limit]

        lines = [f"{self.path} ({self.source} format) vs {self.network}: {self.summary()}"]
        if self.missing:
            lines.append("  missing (in the network, not in the file):")
            lines += [f"    {name} {tuple(shape)}" for name, shape in cut(self.missing)]
        if self.unexpected:
            lines.append("  unexpected (in the file, not in the network):")
            lines += [f"    {name} {tuple(shape)}" for name, shape in cut(self.unexpected)]
        if self.mismatched:
            lines.append("  mis-shaped:")
            lines += [f"    {fname} -> {ours}: file {tuple(fs)}, network {tuple(ns)}"
                      for fname, ours, fs, ns in cut(self.mismatched)]
        for rows in (self.missing, self.unexpected, self.mismatched):
            if limit > 0 and len(rows) > limit:
                lines.append(f"  ... ({len(rows) - limit} more of one list not shown)")
        if self.ignored:
            lines.append("  ignored on purpose:")
            lines += [f"    {name}: {why}" for name, why in self.ignored.items()]
        if self.unused:
            lines.append("  not in the file, unused with this config (left at their initial values):")
            lines += [f"    {name} {tuple(shape)}" for name, shape in cut(self.unused)]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  hint: {h}" for h in self.hints]
        return "\n".join(lines)


class ParamMismatchError(CheckpointError):
    """A parameter file does not fit the network; ``report`` lists every missing,
    unexpected and mis-shaped entry (the message does too)."""

    def __init__(self, report: FitReport):
        self.report = report
        super().__init__(report.format())
