// cuBLAS for the deformable convolution's GEMMs, loaded at run time with
// dlopen: no cuBLAS headers or link-time dependency (the toolkit may lack them,
// and an MXNet wheel or PyTorch process usually has a libcublas loaded
// already). Where no cuBLAS can be loaded (or DCN_CUBLAS=0), cublas_gemm()
// returns false and the caller runs its own GEMM kernel; a one-line notice on
// stderr says why, once.
//
// Library search: $DCN_CUBLAS_LIBRARY if set (only that file), else
// libcublas.so.13, .12, .11, libcublas.so (a library already loaded in the
// process under that name is found first).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace dcnops {
namespace gpu {

// cudaDataType_t / cublasComputeType_t values (stable in cuBLAS 11-13).
enum CublasType : int { kCublasF32 = 0, kCublasF64 = 1, kCublasF16 = 2 };

// One strided-batched GEMM in cuBLAS's column-major convention:
//   C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b],  b < batch,
// op(X) = X^T when tX. Scalars are float (double for kCublasF64 compute).
// Returns true when the GEMM was enqueued on `stream` with cuBLAS, false when
// the caller must compute it (cuBLAS absent or disabled, a size above int
// range, or a cuBLAS failure: then cuBLAS stays off for the process).
struct CublasGemm {
  bool ta, tb;
  int64_t m, n, k;
  const void* A; int64_t lda, strideA;
  const void* B; int64_t ldb, strideB;
  void* C; int64_t ldc, strideC;
  int64_t batch;
  int ab_type, c_type;  // CublasType of A/B and of C
  double alpha, beta;
};
bool cublas_gemm(const CublasGemm& g, cudaStream_t stream);

// cuBLAS is loaded, not disabled, and has not failed (cublas_gemm may still decline a size).
bool cublas_usable();

// "cuBLAS (<library>)" or "built-in GEMM (<reason>)": what cublas_gemm() does now.
const char* gemm_backend();

}  // namespace gpu
}  // namespace dcnops
