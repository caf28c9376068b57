"""Times our CPU operators against their peers in one run, on the same data and threads:
deformable / modulated convolution (cases A-D and A8 = A at batch 8) against ONNX Runtime's
DeformConv, OpenVINO's DeformableConvolution, MXNet's contrib op and dense Convolution;
the R-FCN deformable PS RoI pooling heads against OpenVINO's DeformablePSROIPooling and
the contrib op.

    python -m benchmarks.bench_ops                # all cases, markdown tables
    python -m benchmarks.bench_ops --cases A,C --psroi '' --repeats 5 --json out.json

Medians of wall-clock ms over interleaved rounds (each contender once per round) after
warm-up; fwd+bwd = forward plus backward to data, offset (and mask) and weight. Offsets
uniform in [-2, 2], float32, NCHW. The peers use the DCNv2 zero-padded border rule, so
they race against ours run with ``border_rule="dcnv2"`` (column "ours, v2 rule"), and
the largest difference of their outputs from ours is printed: the race is on the same
work. Peers need ``pip install -e .[bench]``; absent ones print as n/a. Uses every core
unless OMP_NUM_THREADS is set; the peers get the same number of threads.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

import argparse  # noqa: E402
import logging  # noqa: E402
from typing import Callable  # noqa: E402

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

import operators  # noqa: E402
from benchmarks import peers  # noqa: E402
from benchmarks.cases import (CONV_CASES, PSROI_CASES, conv_case, conv_data, cpu_description, fmt,  # noqa: E402
                              interleaved_medians, markdown_table, psroi_data, report)

LOG = logging.getLogger("bench_ops")
DEFAULT_CONV_CASES = (*CONV_CASES, "A8")


def _forward(op: Callable, inputs: list, attrs: dict) -> Callable[[], None]:
    def run():
        op(*inputs, **attrs).wait_to_read()
    return run


def _forward_backward(op: Callable, inputs: list, attrs: dict) -> Callable[[], None]:
    inputs = [a.copy() for a in inputs]
    for a in inputs:
        a.attach_grad()

    def run():
        with mx.autograd.record():
            y = op(*inputs, **attrs)
        y.backward()
        mx.nd.waitall()
    return run


def _peer(build: Callable[[], Callable], arrays: list[np.ndarray], name: str):
    """(timed callable, output) of a peer, or (None, None) when it is not installed or fails."""
    try:
        run = build()
        out = run(*arrays)
    except ImportError:
        return None, None
    except Exception as err:  # a peer's failure must not stop the benchmark
        LOG.warning("%s failed: %s", name, err)
        return None, None
    return (lambda: run(*arrays)), out


def conv_rows(case: str, repeats: int, threads: int) -> list[dict]:
    """One row per op kind (deformable, modulated) of a conv case."""
    N, C, H, W, F, dil, dg = shape = conv_case(case)
    d = conv_data(shape)
    nd = {k: mx.nd.array(v) for k, v in d.items()}
    conv = dict(kernel=(3, 3), pad=(dil, dil), dilate=(dil, dil), num_filter=F, no_bias=True)
    deform = dict(conv, num_deformable_group=dg)
    peer_kw = dict(pad=(dil, dil), dilate=(dil, dil), deformable_groups=dg, threads=threads)
    dense_fwd = _forward(mx.nd.Convolution, [nd["x"], nd["weight"]], conv)
    dense_fb = _forward_backward(mx.nd.Convolution, [nd["x"], nd["weight"]], conv)
    rows = []
    for kind in ("deformable", "modulated"):
        modulated = kind == "modulated"
        names = ["x", "offset", "mask"] if modulated else ["x", "offset"]
        ins = [nd[n] for n in names] + [nd["weight"]]
        arrays = [d[n] for n in names]
        ours_op = mx.nd.ModulatedDeformableConvolution if modulated else mx.nd.DeformableConvolution
        contrib_op = (mx.nd.contrib.ModulatedDeformableConvolution if modulated
                      else mx.nd.contrib.DeformableConvolution)
        # the modulated op always samples with the DCNv2 rule
        v2 = deform if modulated else dict(deform, border_rule="dcnv2")
        ours_v2_out = ours_op(*ins, **v2).asnumpy()
        fwd = {"ours": _forward(ours_op, ins, deform), "ours_v2": _forward(ours_op, ins, v2),
               "contrib": _forward(contrib_op, ins, deform), "dense": dense_fwd}
        agree = {}
        for peer, build in (
                ("onnxruntime", lambda: peers.onnxruntime_deform_conv(d["weight"], with_mask=modulated, **peer_kw)),
                ("openvino", lambda: peers.openvino_deform_conv(d["weight"], [a.shape for a in arrays],
                                                                with_mask=modulated, **peer_kw))):
            run, out = _peer(build, arrays, peer)
            if run is not None:
                fwd[peer] = run
                agree[peer] = float(np.abs(out - ours_v2_out).max())
        fwd_ms = interleaved_medians(fwd, repeats)
        fb = {"ours": _forward_backward(ours_op, ins, deform), "dense": dense_fb}
        if not modulated:  # contrib's modulated op has no CPU backward in MXNet 1.9.1
            fb["contrib"] = _forward_backward(contrib_op, ins, deform)
        fb_ms = interleaved_medians(fb, repeats)
        peer_ms = [fwd_ms[p] for p in ("onnxruntime", "openvino") if p in fwd_ms]
        row = dict(case=case, op=kind, fwd_ms=fwd_ms, fwdbwd_ms=fb_ms, max_abs_diff_vs_peer=agree,
                   fwd_vs_dense=fwd_ms["ours"] / fwd_ms["dense"],
                   fwdbwd_vs_dense=fb_ms["ours"] / fb_ms["dense"],
                   best_peer_over_ours=min(peer_ms) / fwd_ms["ours_v2"] if peer_ms else None,
                   fwd_speedup_vs_contrib=fwd_ms["contrib"] / fwd_ms["ours"],
                   fwdbwd_speedup_vs_contrib=fb_ms["contrib"] / fb_ms["ours"] if "contrib" in fb_ms else None)
        LOG.info("%s %s fwd %s | fwd+bwd %s | agreement %s", case, kind,
                 {k: round(v, 1) for k, v in fwd_ms.items()}, {k: round(v, 1) for k, v in fb_ms.items()}, agree)
        rows.append(row)
    return rows


def conv_markdown(rows: list[dict]) -> str:
    header = ["case", "op", "fwd: ours", "ours, v2 rule", "ONNX Runtime", "OpenVINO", "contrib", "dense",
              "ours / dense", "fastest peer / ours (v2)", "fwd+bwd: ours", "contrib", "dense", "ours / dense",
              "vs contrib (fwd / fwd+bwd)", "max abs diff ORT / OpenVINO"]
    out = []
    for r in rows:
        f, b, a = r["fwd_ms"], r["fwdbwd_ms"], r["max_abs_diff_vs_peer"]
        out.append([r["case"], r["op"], fmt(f["ours"]), fmt(f["ours_v2"]), fmt(f.get("onnxruntime")),
                    fmt(f.get("openvino")), fmt(f["contrib"]), fmt(f["dense"]), fmt(r["fwd_vs_dense"], "{:.2f}"),
                    fmt(r["best_peer_over_ours"], "{:.2f}x"), fmt(b["ours"]), fmt(b.get("contrib")), fmt(b["dense"]),
                    fmt(r["fwdbwd_vs_dense"], "{:.2f}"),
                    f"{r['fwd_speedup_vs_contrib']:.2f}x / {fmt(r['fwdbwd_speedup_vs_contrib'], '{:.2f}x')}",
                    f"{fmt(a.get('onnxruntime'), '{:.1e}')} / {fmt(a.get('openvino'), '{:.1e}')}"])
    return markdown_table(header, out, right_from=2)


def psroi_rows(case: str, repeats: int, threads: int) -> list[dict]:
    d, attrs = psroi_data(case)
    ins = [mx.nd.array(d[k]) for k in ("data", "rois", "trans")]
    arrays = [d[k] for k in ("data", "rois", "trans")]
    ours_out = mx.nd.DeformablePSROIPooling(*ins, **attrs).asnumpy()
    fwd = {"ours": _forward(mx.nd.DeformablePSROIPooling, ins, attrs),
           "contrib": _forward(mx.nd.contrib.DeformablePSROIPooling, ins, attrs)}
    ov_kw = {k: attrs[k] for k in ("spatial_scale", "output_dim", "group_size", "part_size", "sample_per_part",
                                   "trans_std")}
    run, out = _peer(lambda: peers.openvino_deform_psroi_pooling([a.shape for a in arrays], threads=threads,
                                                                 **ov_kw), arrays, "openvino")
    agree = None
    if run is not None:
        fwd["openvino"] = run
        agree = float(np.abs(out - ours_out).max())
    fwd_ms = interleaved_medians(fwd, repeats)
    fb_ms = interleaved_medians({"ours": _forward_backward(mx.nd.DeformablePSROIPooling, ins, attrs),
                                 "contrib": _forward_backward(mx.nd.contrib.DeformablePSROIPooling, ins, attrs)},
                                repeats)
    LOG.info("%s fwd %s fwd+bwd %s agreement %s", case, fwd_ms, fb_ms, agree)
    return [dict(case=f"{case} {tuple(d['trans'].shape)}", fwd_ms=fwd_ms, fwdbwd_ms=fb_ms,
                 max_abs_diff_vs_openvino=agree, fwd_speedup_vs_contrib=fwd_ms["contrib"] / fwd_ms["ours"],
                 fwdbwd_speedup_vs_contrib=fb_ms["contrib"] / fb_ms["ours"],
                 openvino_over_ours=fwd_ms["openvino"] / fwd_ms["ours"] if "openvino" in fwd_ms else None)]


def psroi_markdown(rows: list[dict]) -> str:
    header = ["PS RoI pooling case (trans shape)", "fwd: ours", "OpenVINO", "contrib", "OpenVINO / ours",
              "fwd+bwd: ours", "contrib", "vs contrib (fwd / fwd+bwd)", "max abs diff OpenVINO"]
    out = [[r["case"], fmt(r["fwd_ms"]["ours"], "{:.2f}"), fmt(r["fwd_ms"].get("openvino"), "{:.2f}"),
            fmt(r["fwd_ms"]["contrib"], "{:.2f}"), fmt(r["openvino_over_ours"], "{:.2f}x"),
            fmt(r["fwdbwd_ms"]["ours"], "{:.2f}"), fmt(r["fwdbwd_ms"]["contrib"], "{:.2f}"),
            f"{r['fwd_speedup_vs_contrib']:.1f}x / {r['fwdbwd_speedup_vs_contrib']:.1f}x",
            fmt(r["max_abs_diff_vs_openvino"], "{:.1e}")] for r in rows]
    return markdown_table(header, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(DEFAULT_CONV_CASES),
                        help="conv cases: A-D, A8-D8 (batch 8); '' for none")
    parser.add_argument("--psroi", default=",".join(PSROI_CASES), help="PS RoI pooling cases ('' for none)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds (at least 3)")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    threads = int(os.environ["OMP_NUM_THREADS"])
    operators.load()
    conv = [r for c in filter(None, args.cases.split(",")) for r in conv_rows(c.strip(), args.repeats, threads)]
    psroi = [r for c in filter(None, args.psroi.split(",")) for r in psroi_rows(c.strip(), args.repeats, threads)]
    versions = {k: v for k, v in peers.versions().items() if v}
    header = (f"mxnet {mx.__version__}, ops GEMM {operators.library.gemm_backend()}, "
              + "".join(f"{k} {v}, " for k, v in versions.items())
              + f"{cpu_description()}, {os.cpu_count()} cores, threads={threads}")
    tables = "\n\n".join(t for t in (conv and conv_markdown(conv), psroi and psroi_markdown(psroi)) if t)
    report(header, tables, conv + psroi, args.json)


if __name__ == "__main__":
    main()
