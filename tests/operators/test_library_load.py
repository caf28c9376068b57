"""operators.load(): idempotent, and a clear error when the library is missing or stale."""
import os
import subprocess
import sys
import textwrap

import mxnet as mx

import operators


def run_python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_load_is_idempotent_and_registers_ops():
    assert operators.load() == operators.load()
    assert operators.is_loaded()
    for name in ("DeformableConvolution", "ModulatedDeformableConvolution"):
        assert hasattr(mx.nd, name) and hasattr(mx.sym, name)


def test_missing_library_names_init_sh(tmp_path):
    out = run_python("""
        import operators
        try:
            operators.load()
        except operators.OperatorLibraryError as e:
            print("ERR", e)
    """, env={"DCN_OPS_LIBRARY": str(tmp_path / "missing.so")})
    assert "ERR" in out.stdout and "init.sh" in out.stdout, out.stdout + out.stderr


def test_library_built_for_another_mxnet(tmp_path):
    stale = tmp_path / "mxnet_version.txt"
    stale.write_text("1.8.0\n")
    out = run_python(f"""
        import operators.library as lib
        lib._VERSION_FILE = lib.Path({str(stale)!r})
        try:
            lib.load()
        except lib.OperatorLibraryError as e:
            print("ERR", e)
    """)
    assert "ERR" in out.stdout and "1.8.0" in out.stdout and "init.sh" in out.stdout, out.stdout + out.stderr
