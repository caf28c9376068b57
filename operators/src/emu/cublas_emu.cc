// A CPU stand-in for the three cuBLAS entry points common/cublas.cu loads,
// with cuBLAS's column-major semantics (double accumulation), for the CUDA
// emulation only: with DCN_CUBLAS_LIBRARY pointing at it, the emulated kernels
// take their cuBLAS path, so tests check the row-/column-major mapping, the
// batch strides and the bias epilogue without a GPU. Not a GEMM to use.
#include <cstdint>

#include "cuda_fp16.h"

namespace {

double load(const void* p, int type, int64_t i) {
  switch (type) {
    case 0: return static_cast<const float*>(p)[i];
    case 1: return static_cast<const double*>(p)[i];
    default: return __half2float(static_cast<const __half*>(p)[i]);
  }
}

void store(void* p, int type, int64_t i, double v) {
  switch (type) {
    case 0: static_cast<float*>(p)[i] = float(v); break;
    case 1: static_cast<double*>(p)[i] = v; break;
    default: static_cast<__half*>(p)[i] = __float2half_rn(float(v));
  }
}

int g_handle = 0;
long g_calls = 0;

}  // namespace

extern "C" {

// Marks this library as the stand-in (the emulated kernels refuse any other
// cuBLAS); returns the number of GEMM calls so far, so tests see it was used.
long dcn_cublas_emulation() { return g_calls; }

int cublasCreate_v2(void** handle) {
  *handle = &g_handle;
  return 0;
}

int cublasSetStream_v2(void*, void*) { return 0; }

int cublasGemmStridedBatchedEx(void*, int transa, int transb, int m, int n, int k, const void* alpha,
                               const void* A, int a_type, int lda, long long stride_a, const void* B, int b_type,
                               int ldb, long long stride_b, const void* beta, void* C, int c_type, int ldc,
                               long long stride_c, int batch, int compute_type, int /*algo*/) {
  // cuBLAS's argument checks (CUBLAS_STATUS_INVALID_VALUE), so a mapping that real cuBLAS would refuse fails here too
  auto at_least = [](int ld, int rows) { return ld >= (rows > 1 ? rows : 1); };
  if (m < 0 || n < 0 || k < 0 || batch < 0 || !at_least(lda, transa ? k : m) || !at_least(ldb, transb ? n : k) ||
      !at_least(ldc, m))
    return 7;
  ++g_calls;
  const bool f64 = compute_type == 70;
  const double al = f64 ? *static_cast<const double*>(alpha) : *static_cast<const float*>(alpha);
  const double be = f64 ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
  for (int b = 0; b < batch; ++b) {
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < m; ++i) {
        double s = 0;
        for (int p = 0; p < k; ++p) {  // op(A)(i, p) op(B)(p, j), column-major
          const int64_t ia = transa ? int64_t(i) * lda + p : int64_t(p) * lda + i;
          const int64_t ib = transb ? int64_t(p) * ldb + j : int64_t(j) * ldb + p;
          s += load(A, a_type, b * stride_a + ia) * load(B, b_type, b * stride_b + ib);
        }
        const int64_t ic = b * stride_c + int64_t(j) * ldc + i;
        store(C, c_type, ic, al * s + (be != 0 ? be * load(C, c_type, ic) : 0.0));
      }
    }
  }
  return 0;
}

}  // extern "C"
