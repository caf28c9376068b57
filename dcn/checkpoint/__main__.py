"""Command line: does a parameter file fit a config's network; convert; export.

    python -m dcn.checkpoint check   --cfg CFG --params FILE [--set KEY=VALUE ...] [--allow-missing] [--ignore-extra]
    python -m dcn.checkpoint convert --cfg CFG --params FILE --out OURS.params
    python -m dcn.checkpoint export  --cfg CFG --params FILE --out PREFIX [--epoch 0]
    python -m dcn.checkpoint export  --format onnx --cfg CFG (--params FILE | --random-init) --out PREFIX
                                     [--image-size H W] [--border-rule v1|onnx]
    python -m dcn.checkpoint table   --cfg CFG

``check`` exits 0 when FILE fits the network exactly (after the mapping of
its format, see ``dcn.checkpoint.loader``), 1 when it does not (every missing,
unexpected and mis-shaped parameter is listed), 2 for usage errors, unreadable
files and symbols of no network here. Networks: R-FCN, DeepLab, Faster R-CNN
2fc, FPN: the recipes the tasks register (``dcn.modeling.recipes``). ``convert`` writes the loaded network
with ``save_parameters`` (the format ``rfcn.test`` / ``deeplab.test`` /
``fpn.test`` and ``dcn.engine`` read); ``export`` writes ``-symbol.json`` +
``.params`` (``dcn.export``), or with ``--format onnx`` standard ONNX graphs (``dcn.deploy.export``).
All run on the CPU.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from dcn.config import load_config
from dcn.config.errors import ConfigError
from dcn.engine.checkpoint import CheckpointError
from dcn.utils.fileio import atomic_write

from .build import UnsupportedNetworkError, build_network, config_recipe
from .errors import ParamMismatchError
from .loader import bbox_stats, load_params, match_params, unused_prefixes


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m dcn.checkpoint", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name, help_ in (("check", "does FILE fit the network of CFG (exit 0) or not (exit 1)"),
                        ("convert", "load FILE strictly and save it in our format (save_parameters)"),
                        ("export", "load FILE strictly and export -symbol.json + .params"),
                        ("table", "print the mapping table of CFG's network")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--cfg", required=True, help="experiment YAML")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
        if name != "table":
            p.add_argument("--params", required=name != "export",
                           help="parameter file (original, export or our format)")
            p.add_argument("--source", default="auto", choices=("auto", "original", "export", "gluon", "gluon-legacy"),
                           help="format of --params (default: detected from its keys)")
            p.add_argument("--allow-missing", action="store_true", help="network parameters absent from the file "
                           "keep their initialisation (logged)")
            p.add_argument("--ignore-extra", action="store_true", help="arrays of the file the network has no "
                           "parameter for are dropped (logged)")
        if name in ("convert", "export"):
            p.add_argument("--out", required=True, help="output file (convert) or prefix (export)")
            p.add_argument("--force", action="store_true", help="replace output files that already exist")
        if name == "export":
            p.add_argument("--epoch", type=int, default=0, help="epoch number in the exported file names")
            p.add_argument("--format", default="mxnet", choices=("mxnet", "onnx"),
                           help="mxnet: -symbol.json + .params; onnx: standard ONNX graphs (dcn.deploy)")
            p.add_argument("--random-init", action="store_true", help="export the network with fresh weights "
                           "instead of --params (to try a deployment pipeline before training)")
            p.add_argument("--image-size", type=int, nargs=2, default=(128, 160), metavar=("H", "W"),
                           help="onnx: example input size the graphs are checked at (H, W stay dynamic)")
            p.add_argument("--border-rule", default="v1", choices=("v1", "onnx"),
                           help="onnx: v1 keeps DCNv1 convolutions exact; onnx writes plain DeformConv (DCNv2 "
                           "rule, exact only for networks built with border_rule=dcnv2)")
        if name == "check":
            p.add_argument("--limit", type=int, default=0, help="show at most N entries per list (0 = all)")
    return ap


def _check_outputs(args: argparse.Namespace) -> None:
    """Never write over the input, nor over existing files unless --force (export: every graph file of the
    prefix, ``PREFIX*-symbol.json`` / ``PREFIX*-EPOCH.params`` / ``PREFIX-meta.json``)."""
    out = Path(args.out)
    if args.command == "convert":
        targets = [out]
    elif args.format == "onnx":
        targets = [Path(f"{out}-meta.json")] + (list(out.parent.glob(f"{out.name}*.onnx")) if out.parent.is_dir()
                                               else [])
    else:
        folder = out.parent if out.parent.is_dir() else None
        targets = [Path(f"{out}-meta.json")] + ([p for pattern in (f"{out.name}*-symbol.json",
                                                                     f"{out.name}*-{args.epoch:04d}.params")
                                                 for p in folder.glob(pattern)] if folder else [])
    if args.params is None:
        existing = [t for t in targets if t.exists()]
        if existing and not args.force:
            raise FileExistsError(f"{existing[0]} exists; pass --force to replace it, or choose another --out")
        return
    source = Path(args.params).resolve()
    if any(t.resolve() == source for t in targets) or (
            args.command == "export" and source.parent == out.parent.resolve()
            and source.match(f"{out.name}*-{args.epoch:04d}.params")):
        raise FileExistsError(f"--out {out} would overwrite the input --params {args.params}")
    existing = [t for t in targets if t.exists()]
    if existing and not args.force:
        raise FileExistsError(f"{existing[0]} exists; pass --force to replace it, or choose another --out")


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(Path(args.cfg), args.overrides)
        if args.command == "table":
            for original, ours, note in config_recipe(cfg).table.rows():
                print(f"{original:45s} -> {ours:20s} {note}")
            return 0
        if args.command == "export" and (args.params is None) != args.random_init:
            print("error: export needs exactly one of --params FILE and --random-init", file=sys.stderr)
            return 2
        if args.command in ("convert", "export"):
            _check_outputs(args)
        net = build_network(cfg)
        means, stds = bbox_stats(cfg)
        if args.command == "check":
            report, _ = match_params(net, args.params, source=args.source, bbox_means=means, bbox_stds=stds,
                                     unused=unused_prefixes(cfg))
            fits = report.ok or (not report.mismatched and not report.problems
                                 and (args.allow_missing or not report.missing)
                                 and (args.ignore_extra or not report.unexpected))
            print(report.format(limit=args.limit))
            print(f"{'OK' if fits else 'DOES NOT FIT'}: {args.params} vs {cfg.symbol} "
                  f"(NUM_CLASSES={cfg.dataset.NUM_CLASSES})")
            return 0 if fits else 1
        if args.params is not None:
            load_params(net, args.params, cfg=cfg, source=args.source, allow_missing=args.allow_missing,
                        ignore_extra=args.ignore_extra)
        if args.command == "export" and args.format == "onnx":
            from dcn.checkpoint.build import network_kind
            from dcn.deploy.export import config_meta, export_onnx
            graphs = export_onnx(net, args.out, tuple(args.image_size), args.border_rule,
                                 config_meta(cfg, network_kind(net)))
            for name, g in graphs.items():
                print(f"{name}: {g['file']} inputs {g['inputs']} outputs {g['outputs']}")
        elif args.command == "convert":
            atomic_write(args.out, net.save_parameters)
            print(f"wrote {args.out}")
        else:
            from dcn.export import export_model
            graphs = export_model(net, args.out, args.epoch)
            for name, g in graphs.items():
                print(f"{name}: {g['symbol']} + {g['params']} inputs {g['inputs']}")
        return 0
    except ParamMismatchError as err:
        print(err, file=sys.stderr)
        return 1
    except (UnsupportedNetworkError, ConfigError, CheckpointError, FileNotFoundError, FileExistsError,
            OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
