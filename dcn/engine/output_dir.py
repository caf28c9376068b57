"""One run per output folder: a new run never overwrites another run's checkpoints and metrics.

Training into a folder that already holds checkpoints of ``TRAIN.model_prefix`` (or a
``metrics.csv``) is refused unless the caller continues that run (``--resume``) or asks
to start over (``--overwrite``), which moves the old folder aside, never deletes it.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import List, Union

from .checkpoint import list_checkpoints

logger = logging.getLogger(__name__)


class OutputExistsError(RuntimeError):
    """The output folder holds another run; nothing was written."""


def previous_run(out: Union[str, Path], prefix: str) -> List[str]:
    """What of an earlier run lies in ``out``: checkpoint manifests of ``prefix`` and metrics.csv."""
    out = Path(out)
    found = [c.manifest_path.name for c in list_checkpoints(out, prefix)]
    if (out / "metrics.csv").is_file():
        found.append("metrics.csv")
    return found


def aside_path(out: Union[str, Path]) -> Path:
    """A free sibling name for the old run: ``OUT.old-YYYYmmdd-HHMMSS[-N]``."""
    out = Path(out)
    base = out.with_name(f"{out.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
    path, n = base, 1
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


def claim_output_dir(out: Union[str, Path], prefix: str, *, resume: bool = False, overwrite: bool = False,
                     begin_epoch: int = 0) -> None:
    """Refuse (or, with ``overwrite``, move aside) an earlier run in ``out`` before a new run writes there.

    ``resume`` or ``begin_epoch > 0`` continue the run in ``out``: nothing to check.
    """
    if resume and overwrite:
        raise ValueError("--resume continues the run in the output folder and --overwrite moves it aside: "
                         "give one of them")
    if resume or begin_epoch > 0:
        return
    out = Path(out)
    found = previous_run(out, prefix)
    if not found:
        return
    aside = aside_path(out)
    if not overwrite:
        raise OutputExistsError(
            f"{out} holds another run ({', '.join(found[:4])}{' ...' if len(found) > 4 else ''}); a new run "
            f"would overwrite it. Continue it with --resume, start over with --overwrite (moves it to "
            f"{aside.name}), or set output_path to a new folder")
    out.rename(aside)
    logger.warning("moved the earlier run in %s to %s (--overwrite)", out, aside)
