// GEMM for the CPU kernels. float: oneDNN's dnnl_sgemm (JIT AVX-512/AVX2
// kernels, ~1.2-1.3x faster than the OpenBLAS in the mxnet wheel on the
// deformable conv shapes) when libdnnl can be loaded at run time, else that
// OpenBLAS (libopenblas.so.0 inside the wheel, an OpenMP build sharing libgomp
// with MXNet). double: always OpenBLAS. lib_api.h exposes no BLAS, and
// libmxnet.so keeps its oneDNN symbols private, so libdnnl comes from the
// onednn-cpu-gomp wheel (same libgomp, so one thread pool).
#pragma once
#include <cstdint>

extern "C" {
enum DcnCblasOrder { DcnRowMajor = 101 };
enum DcnCblasTrans { DcnNoTrans = 111, DcnTrans = 112 };
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc);
void cblas_dgemm(int order, int ta, int tb, int m, int n, int k, double alpha, const double* a,
                 int lda, const double* b, int ldb, double beta, double* c, int ldc);
}

namespace dcnops {

// dnnl_sgemm (row-major), or nullptr when oneDNN is not used: $DCN_DNNL_LIBRARY
// names the library (set by operators/library.py; "none" turns it off), else
// libdnnl.so.3 is looked up on the loader path. Resolved once; a failure is
// reported on stderr once and OpenBLAS is used.
using DnnlSgemmFn = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t,
                            const float*, int64_t, float, float*, int64_t);
DnnlSgemmFn dnnl_sgemm_fn();

// The dlopen handle of that libdnnl (nullptr when oneDNN is not used).
void* dnnl_library_handle();

// "onednn" or "openblas": what float GEMMs use in this process.
const char* float_gemm_backend();

// Row-major C(m x n) = alpha * op(A) * op(B) + beta * C.
inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                 int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (DnnlSgemmFn f = dnnl_sgemm_fn()) {
    if (f(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == 0) return;
  }
  cblas_sgemm(DcnRowMajor, ta ? DcnTrans : DcnNoTrans, tb ? DcnTrans : DcnNoTrans, (int)m, (int)n,
              (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                 int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  cblas_dgemm(DcnRowMajor, ta ? DcnTrans : DcnNoTrans, tb ? DcnTrans : DcnNoTrans, (int)m, (int)n,
              (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

}  // namespace dcnops
