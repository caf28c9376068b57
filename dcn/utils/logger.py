"""Logging to the console (tqdm-safe) and to a file in the output folder."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional, Union

from tqdm import tqdm

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_OURS = "_dcn_handler"  # marks handlers installed here, so a second call replaces them


class TqdmHandler(logging.StreamHandler):
    """Console handler that prints through ``tqdm.write`` so progress bars stay intact."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def setup_logging(output_dir: Optional[Union[str, Path]] = None, filename: str = "train.log",
                  level: int = logging.INFO) -> logging.Logger:
    """Root logger -> console and ``output_dir/filename`` (appending, so a resumed run keeps its history)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _OURS, False):
            root.removeHandler(h)
            h.close()
    handlers = [TqdmHandler(sys.stderr)]
    if output_dir is not None:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(Path(output_dir) / filename, encoding="utf-8"))
    for h in handlers:
        h.setFormatter(logging.Formatter(_FORMAT))
        setattr(h, _OURS, True)
        root.addHandler(h)
    root.setLevel(level)
    return root
