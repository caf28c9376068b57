"""Per-epoch checkpoints: parameters, trainer states, epoch, config and RNG state, with a manifest.

Layout in the output folder, for ``prefix`` and epoch ``E`` (= epochs completed,
as in the original's ``prefix-000E.params``):

* ``prefix-000E.params``  ``net.save_parameters``
* ``prefix-000E.states``  ``trainer.save_states`` (optimizer with its update count, momenta)
* ``prefix-000E.json``    manifest: epoch, sha256 and size of both files, config, RNG state, metrics

Every file is written atomically (temp file in the folder, fsync, ``os.replace``)
and the manifest last, so a checkpoint without a manifest is incomplete and
ignored by :func:`find_last_checkpoint`; one whose files do not match the
manifest raises :class:`CheckpointError` naming the file.
"""
from __future__ import annotations

import json
import logging
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..utils.fileio import atomic_write, atomic_write_text, sha256_file
from .finite import check_finite_params

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupt or does not fit the model."""


@dataclass
class Checkpoint:
    manifest_path: Path
    epoch: int

    @property
    def params_path(self) -> Path:
        return self.manifest_path.with_suffix(".params")

    @property
    def states_path(self) -> Path:
        return self.manifest_path.with_suffix(".states")


def checkpoint_path(output_dir: PathLike, prefix: str, epoch: int) -> Path:
    """Manifest path of epoch ``epoch`` (``.params``/``.states`` sit next to it)."""
    return Path(output_dir) / f"{prefix}-{epoch:04d}.json"


# --- RNG state ---------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and MXNet (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    mx.random.seed(seed)


def rng_state() -> Dict[str, Any]:
    """Python and NumPy generator states as JSON data (MXNet's cannot be read; it is reseeded per epoch)."""
    py = random.getstate()
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"python": [py[0], list(py[1]), py[2]],
            "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)]}


def set_rng_state(state: Dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))


# --- save ----------------------------------------------------------------------------------

def save_checkpoint(output_dir: PathLike, prefix: str, epoch: int, net: gluon.Block, trainer: gluon.Trainer,
                    config: Optional[Dict[str, Any]] = None, rng: Optional[Dict[str, Any]] = None,
                    metrics: Optional[Dict[str, float]] = None) -> Checkpoint:
    """Write the checkpoint of ``epoch`` (epochs completed) atomically; returns it.

    Non-finite weights are never written (:class:`~dcn.engine.finite.NonFiniteWeightsError`)."""
    check_finite_params(net, f"checkpoint {checkpoint_path(output_dir, prefix, epoch)}")
    ckpt = Checkpoint(checkpoint_path(output_dir, prefix, epoch), epoch)
    atomic_write(ckpt.params_path, net.save_parameters)
    atomic_write(ckpt.states_path, trainer.save_states)
    files = {}
    for path in (ckpt.params_path, ckpt.states_path):
        files[path.name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    manifest = {
        "format": FORMAT_VERSION, "epoch": epoch, "prefix": prefix, "time": time.time(),
        "mxnet": mx.__version__, "files": files, "config": config,
        "rng": rng if rng is not None else rng_state(), "metrics": metrics or {},
    }
    atomic_write_text(ckpt.manifest_path, json.dumps(manifest, indent=1, default=float))
    logger.info("saved checkpoint %s", ckpt.manifest_path)
    return ckpt


# --- find / verify / load ------------------------------------------------------------------

def list_checkpoints(output_dir: PathLike, prefix: str) -> List[Checkpoint]:
    """Checkpoints whose manifest exists, by increasing epoch (files are not verified here)."""
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d{{4,}})\.json$")
    found = []
    folder = Path(output_dir)
    if folder.is_dir():
        for p in folder.iterdir():
            m = pattern.match(p.name)
            if m:
                found.append(Checkpoint(p, int(m.group(1))))
    return sorted(found, key=lambda c: c.epoch)


def find_last_checkpoint(output_dir: PathLike, prefix: str) -> Optional[Checkpoint]:
    """The newest complete checkpoint (manifest written), or None."""
    found = list_checkpoints(output_dir, prefix)
    return found[-1] if found else None


def read_manifest(path: PathLike) -> Dict[str, Any]:
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint manifest not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION or "files" not in manifest:
        raise CheckpointError(f"{path}: not a checkpoint manifest of format {FORMAT_VERSION}")
    return manifest


def verify_checkpoint(ckpt: Union[Checkpoint, PathLike]) -> Dict[str, Any]:
    """Check sizes and sha256 of the checkpoint files against the manifest; returns the manifest."""
    manifest_path = ckpt.manifest_path if isinstance(ckpt, Checkpoint) else Path(ckpt)
    manifest = read_manifest(manifest_path)
    for name, meta in manifest["files"].items():
        path = manifest_path.parent / name
        if not path.is_file():
            raise CheckpointError(f"{path}: checkpoint file missing (listed in {manifest_path.name})")
        size = path.stat().st_size
        if size != meta["bytes"]:
            raise CheckpointError(f"{path}: truncated or overwritten checkpoint file "
                                  f"({size} bytes, manifest says {meta['bytes']})")
        if sha256_file(path) != meta["sha256"]:
            raise CheckpointError(f"{path}: corrupt checkpoint file (sha256 differs from {manifest_path.name})")
    return manifest


def verify_against_manifest(params_path: PathLike) -> Optional[Path]:
    """Check a ``.params`` file against the sha256 that the JSON beside it records, if it records one.

    Both JSON kinds are read: a training checkpoint manifest (``files``) and the info file of
    ``python -m dcn.pretrain`` (``params_sha256``). Returns the JSON's path, or None when there is
    nothing to compare with (no JSON, or one that records no hash of this file). Raises
    :class:`CheckpointError` naming the file on a size or hash mismatch.
    """
    path = Path(params_path)
    manifest_path = path.with_suffix(".json")
    if not manifest_path.is_file():
        return None
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        logger.warning("%s: unreadable JSON beside %s (%s); the parameter file is not verified",
                       manifest_path, path.name, exc)
        return None
    meta = None
    if isinstance(data, dict):
        files = data.get("files")
        if isinstance(files, dict) and isinstance(files.get(path.name), dict):
            meta = files[path.name]
        elif data.get("params") == path.name and data.get("params_sha256"):
            meta = {"sha256": data["params_sha256"], "bytes": data.get("params_bytes")}
    if not meta or not meta.get("sha256"):
        return None
    size = path.stat().st_size
    if meta.get("bytes") is not None and size != meta["bytes"]:
        raise CheckpointError(f"{path}: truncated or overwritten parameter file ({size} bytes, "
                              f"{manifest_path.name} says {meta['bytes']})")
    if sha256_file(path) != meta["sha256"]:
        raise CheckpointError(f"{path}: corrupt or modified parameter file (sha256 differs from the one "
                              f"{manifest_path.name} records)")
    logger.debug("%s matches the sha256 in %s", path, manifest_path.name)
    return manifest_path


def load_checkpoint(ckpt: Union[Checkpoint, PathLike], net: gluon.Block, trainer: Optional[gluon.Trainer],
                    ctx: Sequence[mx.Context], restore_rng: bool = True) -> Dict[str, Any]:
    """Verify, then load parameters (and trainer states) into ``net``/``trainer``; returns the manifest."""
    if not isinstance(ckpt, Checkpoint):
        path = Path(ckpt)
        ckpt = Checkpoint(path, int(read_manifest(path)["epoch"]))
    manifest = verify_checkpoint(ckpt)
    try:
        net.load_parameters(str(ckpt.params_path), ctx=list(ctx))
    except (mx.MXNetError, AssertionError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{ckpt.params_path}: cannot load parameters into the model: {exc}") from None
    if trainer is not None:
        try:
            trainer.load_states(str(ckpt.states_path))
        except Exception as exc:  # noqa: BLE001 - pickle/kvstore errors have many types
            raise CheckpointError(f"{ckpt.states_path}: cannot load trainer states: {exc}") from None
    if restore_rng and manifest.get("rng"):
        set_rng_state(manifest["rng"])
    logger.info("loaded checkpoint %s (epoch %d)", ckpt.manifest_path, manifest["epoch"])
    return manifest
