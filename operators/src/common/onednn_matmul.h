// oneDNN's matmul primitive (brgemm kernels) for the float GEMMs where it beats
// dnnl_sgemm. Measured on a 2-core AVX-512 machine, 2 threads: the backward's
// dW = dY col^T (sgemm 'N','T') takes 35.8 ms on case A and 2.4 ms per image on
// case C with sgemm, 26.7 ms and 0.9 ms as a matmul. The forward GEMM is faster
// with sgemm; dcol = W^T dY is faster with one or the other depending on the
// shape (A: sgemm, B and C: matmul), so both stay on sgemm.
#pragma once
#include <cstdint>

namespace dcnops {

// Row-major C(m x n) = op(A) * op(B) + beta * C with beta 0 or 1, as a oneDNN
// matmul (strided memory descriptors, primitives cached per shape). Returns
// false, having done nothing, when libdnnl lacks the primitive API or rejects
// the problem: the caller then uses gemm().
bool onednn_matmul(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace dcnops
