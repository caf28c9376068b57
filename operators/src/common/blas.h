// GEMM from the OpenBLAS that ships inside the mxnet wheel (libopenblas.so.0,
// an OpenMP build sharing libgomp with MXNet). lib_api.h exposes no BLAS.
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

// Row-major C(m x n) = alpha * op(A) * op(B) + beta * C.
inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                 int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
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
