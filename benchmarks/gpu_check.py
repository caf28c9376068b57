"""The device check: every CUDA kernel against references that run on the GPU machine, then the
GPU benchmark, in one command that needs no MXNet (torch, torchvision, numpy and the harness
library operators/build/libdcn_cuda_harness.so only). Writes report.json and report.md.

    bash benchmarks/gpu_check.sh OUT_DIR                 # on a GPU machine (builds the harness if absent)
    python -m benchmarks.gpu_check --out OUT_DIR --emulator   # dry run here: CPU torch, emulated kernels

1. Correctness. Deformable convolution forward and backward (data, offset, mask, weight, bias) in
   both border rules and modulated, with groups, deformable groups, stride, dilation, a chunked
   column buffer, float64 / float32 / float16, the atomic and the deterministic backward (run
   twice: bitwise equal); deformable PS RoI pooling forward and backward (data, trans), with and
   without trans, part_size != pooled_size. References: torchvision's deform_conv2d for the DCNv2
   rule and float64 PyTorch references (benchmarks/torch_reference.py, autograd for the
   backward) of the DCNv1 rule and of PS RoI pooling. float16 cases are compared with the float64
   reference on the same (fp16-rounded) inputs. On a GPU with room, a convolution over more than
   2^31 input elements must equal the same images run alone.
2. Benchmark (benchmarks/bench_cuda.py): ours vs torchvision CUDA deform_conv2d vs cuDNN dense
   convolution on the CPU benchmark's shapes and batch 8, float32 and float16, CUDA-event medians.
   Skipped cases are named in the report when the time budget (--budget-s) runs out.
Exit status: 0 when every correctness check passed.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from operators import cuda_harness as ch

LOG = logging.getLogger("gpu_check")

# (name, N, C, H, W, F, (kh, kw), stride, pad, dilation, groups, dgroups, bias, column budget bytes (0: default))
CONV_CASES = [
    ("g2-dg2", 2, 8, 9, 11, 6, (3, 3), 1, 1, 1, 2, 2, True, 0),
    ("s2-d2-dg3", 1, 6, 10, 8, 4, (3, 3), 2, 2, 2, 1, 3, False, 0),
    ("k1x3-chunked", 3, 16, 7, 7, 8, (1, 3), 1, (0, 1), 1, 1, 1, True, 3000),
]
# (name, N, H, W, R, output_dim, classes (0: no trans), group, pooled, part, spp)
PSROI_CASES = [
    ("trans", 2, 12, 14, 10, 4, 2, 3, 3, 3, 2),
    ("no-trans", 1, 9, 10, 7, 3, 0, 3, 3, 3, 2),
    ("part2-pooled4", 2, 11, 13, 9, 2, 1, 2, 4, 2, 3),
]
# max |ours - ref| / max |ref| allowed, per storage type (float16: rounding of fp16 outputs and sums)
# (measured on the emulator: float64 1e-15, float32 2.4e-6, float16 4.5e-4)
TOLERANCE = {"float64": 1e-12, "float32": 2e-5, "float16": 5e-3}


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def rel_err(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    ours, ref = ours.astype(np.float64), ref.astype(np.float64)
    if ours.shape != ref.shape:
        return float("inf"), float("inf")
    if not np.isfinite(ours).all():
        return float("inf"), float("inf")
    diff = float(np.abs(ours - ref).max()) if ours.size else 0.0
    return diff, diff / max(float(np.abs(ref).max()) if ref.size else 0.0, 1e-30)


def _row(kind: str, case: str, dtype: str, what: str, errs: dict, tol: float, note: str = "") -> dict:
    worst = max((e[1] for e in errs.values()), default=0.0)
    return dict(kind=kind, case=case, dtype=dtype, check=what, max_rel_err=worst, tol=tol, passed=bool(worst <= tol),
                errors={k: {"max_abs": a, "max_rel": r} for k, (a, r) in errs.items()}, note=note)


def backward_rows(kind: str, case: str, dtype: str, what: str, backward, ref: dict, tol: float
                  ) -> tuple[list[dict], dict]:
    """Rows of the atomic and the deterministic backward (``backward(deterministic)`` -> gradients) against
    ``ref``; the deterministic one runs twice and must repeat bit for bit. Also returns the atomic gradients."""
    rows, atomic = [], None
    for det in (False, True):
        grads = backward(det)
        errs = {key: rel_err(grads[key], ref[key]) for key in grads}
        note = ""
        if det:
            again = backward(True)
            same = all(np.array_equal(grads[key], again[key]) for key in grads)
            note = "bitwise repeatable" if same else "NOT bitwise repeatable"
            if not same:
                errs["repeat"] = (float("inf"), float("inf"))
        else:
            atomic = grads
        rows.append(_row(kind, case, dtype, what + (" (deterministic)" if det else ""), errs, tol, note))
    return rows, atomic


def conv_checks(torch, device: str, label: str = "") -> list[dict]:
    """All CONV_CASES x rules x dtypes; label is appended to the case names."""
    from benchmarks import torch_reference as tr
    try:
        from torchvision.ops import deform_conv2d as tv_deform_conv2d
    except ImportError:  # the CI dry run's light venv has torch only
        tv_deform_conv2d = None
    rows = []
    for ci, (name, N, C, H, W, F, k, stride, pad, dil, groups, dg, bias, budget) in enumerate(CONV_CASES):
        name += label
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = k, _pair(stride), _pair(pad), _pair(dil)
        Ho, Wo = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        rng = np.random.RandomState(100 + ci)
        base = dict(x=rng.randn(N, C, H, W), off=rng.uniform(-2.5, 2.5, (N, 2 * dg * kh * kw, Ho, Wo)),
                    mask=rng.rand(N, dg * kh * kw, Ho, Wo), w=rng.randn(F, C // groups, kh, kw) * 0.3,
                    b=rng.randn(F) if bias else None, dy=rng.randn(N, F, Ho, Wo))
        geo = dict(stride=(sh, sw), pad=(ph, pw), dilate=(dh, dw), groups=groups, dgroups=dg)
        for variant, rule, use_mask in (("dcnv1", "dcnv1", False), ("dcnv2", "dcnv2", False),
                                        ("modulated", "dcnv2", True)):
            for dtype in (np.float64, np.float32, np.float16):
                arr = {key: None if v is None else v.astype(dtype) for key, v in base.items()}
                mask = arr["mask"] if use_mask else None
                # float64 reference on the same (rounded) inputs
                t = {key: None if v is None else torch.tensor(v.astype(np.float64), device=device,
                                                              requires_grad=key != "dy")
                     for key, v in arr.items()}
                tm = t["mask"] if use_mask else None
                y = tr.deform_conv2d(t["x"], t["off"], t["w"], t["b"], tm, stride=(sh, sw), pad=(ph, pw),
                                     dilation=(dh, dw), groups=groups, dgroups=dg, rule=rule)
                y.backward(t["dy"])
                ref = {"out": y.detach().cpu().numpy(), "data": t["x"].grad.cpu().numpy(),
                       "offset": t["off"].grad.cpu().numpy(), "weight": t["w"].grad.cpu().numpy()}
                if use_mask:
                    ref["mask"] = t["mask"].grad.cpu().numpy()
                if bias:
                    ref["bias"] = t["b"].grad.cpu().numpy()
                dname = np.dtype(dtype).name
                tol = TOLERANCE[dname]
                out = ch.deform_conv_forward(arr["x"], arr["off"], arr["w"], mask, arr["b"], rule=rule,
                                             budget_bytes=budget, **geo)
                rows.append(_row("deform_conv", name, dname, f"{variant} forward", {"out": rel_err(out, ref["out"])},
                                 tol))

                def backward(det: bool) -> dict:
                    return ch.deform_conv_backward(arr["dy"], arr["x"], arr["off"], arr["w"], mask, with_bias=bias,
                                                   rule=rule, budget_bytes=budget, deterministic=det, **geo)
                bwd_rows, atomic_grads = backward_rows("deform_conv", name, dname, f"{variant} backward", backward,
                                                       ref, tol)
                rows += bwd_rows
                if rule == "dcnv2" and tv_deform_conv2d is not None and dtype == np.float64:
                    # independent oracle for the DCNv2 rule (and a check of our torch reference)
                    tt = {key: torch.tensor(v, device=device, requires_grad=key != "dy")
                          for key, v in base.items() if v is not None}
                    ytv = tv_deform_conv2d(tt["x"], tt["off"], tt["w"], tt.get("b"), stride=(sh, sw),
                                           padding=(ph, pw), dilation=(dh, dw),
                                           mask=tt["mask"] if use_mask else None)
                    ytv.backward(tt["dy"])
                    tv = {"out": ytv.detach().cpu().numpy(), "data": tt["x"].grad.cpu().numpy(),
                          "offset": tt["off"].grad.cpu().numpy(), "weight": tt["w"].grad.cpu().numpy()}
                    if use_mask:
                        tv["mask"] = tt["mask"].grad.cpu().numpy()
                    ours = {"out": out, **atomic_grads}
                    rows.append(_row("deform_conv", name, dname, f"{variant} vs torchvision (fwd+bwd)",
                                     {key: rel_err(ours[key], tv[key]) for key in tv}, 1e-12))
                    rows.append(_row("reference", name, dname, f"torch reference vs torchvision, {variant}",
                                     {key: rel_err(ref[key], tv[key]) for key in tv}, 1e-12))
    return rows


def psroi_checks(torch, device: str) -> list[dict]:
    from benchmarks import torch_reference as tr
    rows = []
    scale, tstd = 0.5, float(np.float32(0.2))  # the kernels take float attributes, as MXNet's op
    for ci, (name, N, H, W, R, D, classes, G, P, Q, S) in enumerate(PSROI_CASES):
        rng = np.random.RandomState(200 + ci)
        C = D * G * G
        x1 = rng.uniform(-6, 2 * W - 6, R)  # image coordinates (scale 0.5), some RoIs partly outside the map
        y1 = rng.uniform(-6, 2 * H - 6, R)
        rois = np.stack([rng.randint(0, N, R), x1, y1, x1 + rng.uniform(2, 14, R), y1 + rng.uniform(2, 14, R)], 1)
        base = dict(data=rng.randn(N, C, H, W), trans=rng.randn(R, 2 * classes, Q, Q) if classes else None,
                    dy=rng.randn(R, D, P, P))
        geo = dict(spatial_scale=scale, output_dim=D, group_size=G, pooled_size=P, part_size=Q, sample_per_part=S,
                   trans_std=tstd, no_trans=not classes)
        for dtype in (np.float64, np.float32, np.float16):
            arr = {key: None if v is None else v.astype(dtype) for key, v in base.items()}
            r_arr = rois.astype(dtype)
            t = {key: None if v is None else torch.tensor(v.astype(np.float64), device=device,
                                                          requires_grad=key != "dy") for key, v in arr.items()}
            y = tr.deformable_psroi_pool(t["data"], torch.tensor(r_arr.astype(np.float64), device=device),
                                         t["trans"], spatial_scale=scale, output_dim=D, group_size=G, pooled_size=P,
                                         part_size=Q, sample_per_part=S, trans_std=tstd)
            y.backward(t["dy"])
            ref = {"out": y.detach().cpu().numpy(), "data": t["data"].grad.cpu().numpy()}
            if classes:
                ref["trans"] = t["trans"].grad.cpu().numpy()
            dname = np.dtype(dtype).name
            tol = TOLERANCE[dname]
            out = ch.psroi_forward(arr["data"], r_arr, arr["trans"], **geo)
            rows.append(_row("psroi", name, dname, "forward", {"out": rel_err(out, ref["out"])}, tol))

            def backward(det: bool) -> dict:
                return ch.psroi_backward(arr["dy"], arr["data"], r_arr, arr["trans"], deterministic=det, **geo)
            rows += backward_rows("psroi", name, dname, "backward", backward, ref, tol)[0]
    return rows


def large_index_check(torch) -> list[dict]:
    """A float16 convolution over > 2^31 input elements: image 1 must equal image 1 run alone
    (64-bit indexing); skipped without ~16 GB free on the GPU."""
    N, C, H, W, F = 2, 64, 4096, 4200, 8
    free, _ = torch.cuda.mem_get_info()
    if free < 24 << 30:
        return [dict(kind="deform_conv", case="> 2^31 elements", dtype="float16", check="64-bit indexing",
                     passed=True, skipped=True, note=f"skipped: {free / 2**30:.1f} GiB free", max_rel_err=0.0,
                     tol=0.0, errors={})]
    assert N * C * H * W > 2 ** 31
    gen = torch.Generator(device="cuda").manual_seed(7)  # numpy would take ~30 s for 2.2e9 samples
    x = torch.randn(N, C, H, W, generator=gen, device="cuda", dtype=torch.float16).cpu().numpy()
    off = (torch.rand(N, 18, H, W, generator=gen, device="cuda", dtype=torch.float16) * 4 - 2).cpu().numpy()
    w = (torch.randn(F, C, 3, 3, generator=gen, device="cuda") * 0.05).half().cpu().numpy()
    torch.cuda.empty_cache()
    y = ch.deform_conv_forward(x, off, w, pad=(1, 1))
    y1 = ch.deform_conv_forward(x[1:], off[1:], w, pad=(1, 1))
    errs = {"image 1 vs alone": rel_err(y[1], y1[0])}
    return [_row("deform_conv", "> 2^31 elements", "float16", "forward, 64-bit indexing", errs, 0.0,
                 f"input {N}x{C}x{H}x{W} = {N * C * H * W / 2**31:.2f} x 2^31 elements")]


def bench(torch, device: str, dry_run: bool, budget_s: float, started: float, repeats: int) -> dict:
    from benchmarks import bench_cuda as bc
    results, skipped = {}, []
    try:
        import torchvision.ops  # noqa: F401  (the peer of every row)
    except ImportError as e:
        return dict(rows={}, skipped=[f"whole benchmark: torchvision not importable ({e})"])
    if dry_run:  # the code path on tiny shapes: imports, harness calls, report
        plans = [("float32", [("tiny", (1, 16, 8, 8, 16, 1, 2))], [("tiny", (8, 9, 6))])]
    else:
        cases = list(bc.CONV_CASES)
        plans = [(dt, [(c, None) for c in cases], [(p, None) for p in bc.PSROI_CASES]) for dt in
                 ("float32", "float16")]
    for dname, conv, psroi in plans:
        rows = []
        dtype = getattr(torch, dname)
        for case, shape in conv:
            if time.time() - started > budget_s:
                skipped.append(f"{dname} conv {case}")
                continue
            rows += bc.conv_rows(torch, case, dtype, repeats, device=device, shape=shape)
        for case, size in psroi:
            if time.time() - started > budget_s:
                skipped.append(f"{dname} psroi {case}")
                continue
            pcase = "bbox8" if dry_run else case
            rows += bc.psroi_rows(torch, pcase, dtype, repeats, device=device, **({"size": size} if size else {}))
        results[dname] = rows
    return dict(rows=results, skipped=skipped)


def environment(torch, device: str) -> dict:
    env = dict(python=sys.version.split()[0], numpy=np.__version__, torch=torch.__version__,
               platform=platform.platform(), harness=str(ch._active), emulation=ch.is_emulation(),
               gemm=ch.gemm_backend(), mxnet_imported=sys.modules.get("mxnet") is not None)
    try:
        import torchvision
        env["torchvision"] = torchvision.__version__
    except ImportError:
        env["torchvision"] = None
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=torch.cuda.get_device_name(0), capability=f"sm_{p.major}{p.minor}",
                   gpu_memory_gib=round(p.total_memory / 2**30, 1), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
    return env


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = ["# GPU check", "", "| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in env.items()]
    c = report["correctness"]
    n_pass = sum(r["passed"] for r in c)
    lines += ["", f"## Correctness: {n_pass} / {len(c)} passed", "",
              "| kernel | case | dtype | check | max rel err | tol | | worst output | note |",
              "|---|---|---|---|---:|---:|---|---|---|"]
    for r in c:
        worst = max(r["errors"].items(), key=lambda kv: kv[1]["max_rel"])[0] if r["errors"] else ""
        lines.append(f"| {r['kind']} | {r['case']} | {r['dtype']} | {r['check']} | {r['max_rel_err']:.2e} | "
                     f"{r['tol']:.0e} | {'pass' if r['passed'] else '**FAIL**'} | {worst} | {r.get('note', '')} |")
    b = report.get("benchmark")
    if b:
        from benchmarks import bench_cuda as bc
        for dname, rows in b["rows"].items():
            lines += ["", f"## Benchmark, {dname}", "", bc.markdown(rows)]
        if b["skipped"]:
            lines += ["", "Skipped (time budget): " + ", ".join(b["skipped"])]
    lines += ["", f"Total {report['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for report.json and report.md")
    parser.add_argument("--emulator", action="store_true",
                        help="dry run: emulated kernels (libdcn_cuda_emu.so), CPU torch, tiny benchmark")
    parser.add_argument("--skip-bench", action="store_true")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per benchmark row")
    parser.add_argument("--budget-s", type=float, default=300.0,
                        help="no new benchmark case starts after this many seconds (the check must end in 6 min)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    started = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        import torch
    except ImportError as e:
        LOG.error("gpu_check needs torch (%s)", e)
        return 2
    if args.emulator:
        device = "cpu"
        ch.use(ch.EMULATOR_PATH)
    else:
        device = "cuda"
        if not torch.cuda.is_available():
            LOG.error("torch sees no CUDA GPU: run with --emulator for the dry run")
            return 2
        torch.cuda.init()
        if "DCN_CUBLAS_LIBRARY" not in os.environ and (found := ch.find_cublas()):
            os.environ["DCN_CUBLAS_LIBRARY"] = found
        if ch.gpu_count() == 0:
            LOG.error("the harness %s sees no GPU (driver older than the toolkit that built it?)", ch._active)
            return 2
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    report = {"environment": environment(torch, device), "correctness": []}
    LOG.info("environment: %s", report["environment"])
    for name, fn in (("deformable convolution", lambda: conv_checks(torch, device)),
                     ("PS RoI pooling", lambda: psroi_checks(torch, device))):
        t0 = time.time()
        rows = fn()
        report["correctness"] += rows
        LOG.info("%s: %d / %d checks passed (%.1f s)", name, sum(r["passed"] for r in rows), len(rows),
                 time.time() - t0)
    if ch.gemm_backend().startswith("cuBLAS"):  # the built-in GEMM kernel is the fallback: check it too
        with ch.builtin_gemm():
            rows = conv_checks(torch, device, " [built-in GEMM]")
        report["correctness"] += rows
        LOG.info("deformable convolution, built-in GEMM: %d / %d passed", sum(r["passed"] for r in rows), len(rows))
    if device == "cuda":
        report["correctness"] += large_index_check(torch)
    for r in report["correctness"]:
        if not r["passed"]:
            LOG.error("FAILED %s %s %s %s: max rel err %.3g > %.1g %s", r["kind"], r["case"], r["dtype"], r["check"],
                      r["max_rel_err"], r["tol"], r["errors"])
    if not args.skip_bench:
        report["benchmark"] = bench(torch, device, args.emulator, args.budget_s, started,
                                    1 if args.emulator else args.repeats)
    report["environment"]["gemm"] = ch.gemm_backend()  # after the first convolution: what really ran
    report["seconds"] = time.time() - started
    (out / "report.json").write_text(json.dumps(report, indent=1, default=float))
    (out / "report.md").write_text(markdown(report))
    ok = all(r["passed"] for r in report["correctness"])
    LOG.info("%s: %d / %d correctness checks passed; report in %s (%.0f s)", "PASS" if ok else "FAIL",
             sum(r["passed"] for r in report["correctness"]), len(report["correctness"]), out, report["seconds"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
