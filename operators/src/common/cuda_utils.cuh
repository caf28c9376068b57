// Device-side helpers shared by the CUDA kernels: storage/accumulation types,
// conversions, atomics, launch sizes and the GEMM: cuBLAS when it can be
// loaded at run time (cublas.h; tensor cores for fp16), else our own tiled
// kernel (lib_api gives extensions no BLAS, and cuBLAS is not part of every
// CUDA install; ours has fp32 accumulation for fp16 storage and 64-bit strides).
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "cuda_api.h"
#include "cublas.h"
#include "memory.h"

namespace dcnops {
namespace gpu {

// The entry points take MXNet's dtype code: f(T()) with T = float / double / __half, `otherwise` for
// any other code (the registration layer has rejected those already).
template <typename R, typename F>
R dispatch_dtype(int dtype, R otherwise, F&& f) {
  switch (dtype) {
    case kF32: return f(float());
    case kF64: return f(double());
    case kF16: return f(__half());
    default: return otherwise;
  }
}

// fp16 is a storage type: sampling coordinates and sums are fp32.
template <typename T> struct Acc { using type = float; };
template <> struct Acc<double> { using type = double; };
template <typename T> using acc_t = typename Acc<T>::type;

__device__ __forceinline__ float ld(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ float ld(const float* p) { return *p; }
__device__ __forceinline__ double ld(const double* p) { return *p; }

template <typename T> __device__ __forceinline__ T cvt(float v) { return static_cast<T>(v); }
template <typename T> __device__ __forceinline__ T cvt(double v) { return static_cast<T>(v); }
template <> __device__ __forceinline__ __half cvt<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __half cvt<__half>(double v) { return __float2half_rn(float(v)); }

__device__ __forceinline__ void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(double* p, double v) { atomicAdd(p, v); }

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items (kernels loop, so a capped grid is fine).
inline unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(std::max<int64_t>(1, std::min<int64_t>(b, int64_t(1) << 20)));
}

// Kernel launch. The CPU emulation of the CUDA runtime (src/emu, used only to
// test the kernels' logic on machines without a GPU) defines its own.
#ifndef DCN_LAUNCH
#define DCN_LAUNCH(grid, block, stream, ...) __VA_ARGS__<<<(grid), (block), 0, (stream)>>>
#endif

#define DCN_GRID_LOOP(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

// In functions returning an int CUDA status: return the first failing call's code.
#define DCN_CUDA_TRY(expr)                 \
  do {                                     \
    cudaError_t e_ = (expr);               \
    if (e_ != cudaSuccess) return int(e_); \
  } while (0)

constexpr size_t kGpuAlign = 256;  // workspace pieces

// out = in in the storage type (fp16 gradients accumulated in fp32 buffers).
template <typename T>
__global__ void convert_kernel(int64_t n, const acc_t<T>* in, T* out) {
  DCN_GRID_LOOP(i, n) out[i] = cvt<T>(in[i]);
}

// ---------------------------------------------------------------- GEMM
// C[z](m, n) = alpha * sum_k A[z](m, k) B[z](k, n) + beta * C[z](m, n) + bias[z](m)
// Row-major; A(m,k) = TA ? A[k*lda+m] : A[m*lda+k]; B(k,n) = TB ? B[n*ldb+k] : B[k*ldb+n].
// Batch z = zo * nz_in + zi with separate strides for the inner (conv group)
// and outer (image) index. beta == 0 never reads C.
template <typename TA_, typename TB_, typename TC_>
struct GemmArgs {
  int64_t M, N, K;
  const TA_* A; int64_t lda, sA_in, sA_out;
  const TB_* B; int64_t ldb, sB_in, sB_out;
  TC_* C; int64_t ldc, sC_in, sC_out;
  const TA_* bias; int64_t sBias_in;  // may be null; same storage type as A
  int64_t nz_in, nz;
  float alpha, beta;
};

// Tiles of BM x BN outputs per 256-thread block, BK-deep slices of K staged in
// shared memory; each thread owns a (BM/16) x (BN/16) register tile at rows
// ty + 16 i and columns tx + 16 j (conflict-free shared reads). 128x128x8 for
// large float/half problems (8x8 per thread: half the shared-memory traffic per
// FMA of 4x4), 64x64x16 for small ones and for double (register pressure).
template <typename TA_, typename TB_, typename TC_, typename AccT, bool TA, bool TB, int BM, int BN, int BK>
__global__ void __launch_bounds__(256) gemm_kernel(GemmArgs<TA_, TB_, TC_> a, int64_t z0) {
  constexpr int TM = BM / 16, TN = BN / 16, LA = BM * BK / 256, LB = BN * BK / 256;
  static_assert(LA * 256 == BM * BK && LB * 256 == BN * BK, "tile must be a multiple of the block");
  __shared__ AccT As[BK][BM + 4];
  __shared__ AccT Bs[BK][BN + 4];
  const int64_t z = z0 + blockIdx.z;
  const int64_t zi = z % a.nz_in, zo = z / a.nz_in;
  const TA_* A = a.A + zi * a.sA_in + zo * a.sA_out;
  const TB_* B = a.B + zi * a.sB_in + zo * a.sB_out;
  TC_* C = a.C + zi * a.sC_in + zo * a.sC_out;
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  AccT acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = AccT(0);

  for (int64_t k0 = 0; k0 < a.K; k0 += BK) {
    // Load order follows the contiguous dimension of each operand (coalesced).
#pragma unroll
    for (int r = 0; r < LA; ++r) {
      const int e = tid + r * 256;
      const int mm = TA ? e % BM : e / BK, kk = TA ? e / BM : e % BK;
      const int64_t gm = m0 + mm, gk = k0 + kk;
      As[kk][mm] = (gm < a.M && gk < a.K) ? AccT(ld(TA ? A + gk * a.lda + gm : A + gm * a.lda + gk)) : AccT(0);
    }
#pragma unroll
    for (int r = 0; r < LB; ++r) {
      const int e = tid + r * 256;
      const int nn = TB ? e / BK : e % BN, kk = TB ? e % BK : e / BN;
      const int64_t gn = n0 + nn, gk = k0 + kk;
      Bs[kk][nn] = (gn < a.N && gk < a.K) ? AccT(ld(TB ? B + gn * a.ldb + gk : B + gk * a.ldb + gn)) : AccT(0);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      AccT av[TM], bv[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) av[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < TN; ++j) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
  }
  const TA_* bias = a.bias ? a.bias + zi * a.sBias_in : nullptr;
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t gm = m0 + ty + 16 * i;
    if (gm >= a.M) continue;
    const AccT bv = bias ? AccT(ld(bias + gm)) : AccT(0);
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t gn = n0 + tx + 16 * j;
      if (gn >= a.N) continue;
      TC_* c = C + gm * a.ldc + gn;
      AccT v = AccT(a.alpha) * acc[i][j] + bv;
      if (a.beta != 0.f) v += AccT(a.beta) * AccT(ld(c));
      *c = cvt<TC_>(v);
    }
  }
}

template <typename TA_, typename TB_, typename TC_, bool TA, bool TB, int BM, int BN, int BK>
cudaError_t gemm_launch(const GemmArgs<TA_, TB_, TC_>& a, cudaStream_t stream) {
  const int64_t gx = (a.N + BN - 1) / BN, gy = (a.M + BM - 1) / BM;
  if (gy > 65535) return cudaErrorInvalidConfiguration;  // M < 4M rows: far above any conv
  for (int64_t z0 = 0; z0 < a.nz; z0 += 65535) {
    const dim3 grid(unsigned(gx), unsigned(gy), unsigned(std::min<int64_t>(65535, a.nz - z0)));
    DCN_LAUNCH(grid, 256, stream, gemm_kernel<TA_, TB_, TC_, acc_t<TA_>, TA, TB, BM, BN, BK>)(a, z0);
  }
  return cudaGetLastError();
}

template <typename TA_, typename TB_, typename TC_, bool TA, bool TB>
cudaError_t gemm_builtin(const GemmArgs<TA_, TB_, TC_>& a, cudaStream_t stream) {
  if constexpr (sizeof(acc_t<TA_>) == 4) {
    if (a.M >= 128 && a.N >= 128) return gemm_launch<TA_, TB_, TC_, TA, TB, 128, 128, 8>(a, stream);
  }
  return gemm_launch<TA_, TB_, TC_, TA, TB, 64, 64, 16>(a, stream);
}

template <typename T> constexpr int cublas_type() {
  return sizeof(T) == 8 ? kCublasF64 : (sizeof(T) == 4 ? kCublasF32 : kCublasF16);
}

// C[z](m, n) = bias[z](m): cuBLAS then accumulates onto it (beta = 1).
template <typename TA_, typename TB_, typename TC_>
__global__ void gemm_bias_fill_kernel(GemmArgs<TA_, TB_, TC_> a) {
  DCN_GRID_LOOP(i, a.nz * a.M * a.N) {
    const int64_t n = i % a.N, m = (i / a.N) % a.M, z = i / (a.N * a.M);
    const int64_t zi = z % a.nz_in, zo = z / a.nz_in;
    a.C[zi * a.sC_in + zo * a.sC_out + m * a.ldc + n] = cvt<TC_>(acc_t<TA_>(ld(a.bias + zi * a.sBias_in + m)));
  }
}

constexpr int kGemmNotRun = -1;

// The GemmArgs problem on cuBLAS. Row-major C = A B is column-major C^T = B^T A^T,
// so cuBLAS gets (B, A) with their transposes swapped and m = N, n = M. The batch
// z = zo * nz_in + zi has two strides: one strided-batched call per outer index
// unless one of the two loops is trivial. Returns kGemmNotRun (nothing enqueued:
// the caller's kernel computes it all) or a cudaError_t.
template <typename TA_, typename TB_, typename TC_, bool TA, bool TB>
int gemm_cublas(const GemmArgs<TA_, TB_, TC_>& a, cudaStream_t stream) {
  static_assert(sizeof(TA_) == sizeof(TB_), "A and B share one storage type");
  if (a.K <= 0 || (a.bias && a.beta != 0.f)) return kGemmNotRun;
  const bool inner_only = a.nz == a.nz_in, outer_only = a.nz_in == 1;
  const int64_t outer = inner_only || outer_only ? 1 : a.nz / a.nz_in;
  CublasGemm g{};
  g.ta = TB; g.tb = TA;
  g.m = a.N; g.n = a.M; g.k = a.K;
  g.lda = a.ldb; g.ldb = a.lda; g.ldc = a.ldc;
  g.strideA = outer_only ? a.sB_out : a.sB_in;
  g.strideB = outer_only ? a.sA_out : a.sA_in;
  g.strideC = outer_only ? a.sC_out : a.sC_in;
  g.batch = inner_only || outer_only ? a.nz : a.nz_in;
  g.ab_type = cublas_type<TA_>(); g.c_type = cublas_type<TC_>();
  g.alpha = a.alpha; g.beta = a.beta;
  for (int64_t zo = 0; zo < outer; ++zo) {
    if (zo == 0 && a.bias) {  // only once cuBLAS is known to be usable
      if (!cublas_usable()) return kGemmNotRun;
      DCN_LAUNCH(blocks_for(a.nz * a.M * a.N), kThreads, stream, gemm_bias_fill_kernel<TA_, TB_, TC_>)(a);
      const cudaError_t e = cudaGetLastError();
      if (e != cudaSuccess) return int(e);
      g.beta = 1.0;
    }
    g.A = a.B + zo * a.sB_out; g.B = a.A + zo * a.sA_out; g.C = a.C + zo * a.sC_out;
    if (cublas_gemm(g, stream)) continue;
    if (zo == 0 && !a.bias) return kGemmNotRun;
    // cuBLAS turned off mid-way: the remaining batches on our kernel (their C holds only the bias).
    GemmArgs<TA_, TB_, TC_> rest = a;
    rest.A += zo * a.sA_out; rest.B += zo * a.sB_out; rest.C += zo * a.sC_out;
    rest.nz = a.nz - zo * a.nz_in;
    if (a.bias) { rest.bias = nullptr; rest.beta = 1.f; }
    return int(gemm_builtin<TA_, TB_, TC_, TA, TB>(rest, stream));
  }
  return int(cudaGetLastError());
}

template <typename TA_, typename TB_, typename TC_, bool TA, bool TB>
cudaError_t gemm(const GemmArgs<TA_, TB_, TC_>& a, cudaStream_t stream) {
  if (a.M <= 0 || a.N <= 0 || a.nz <= 0) return cudaSuccess;
  const int r = gemm_cublas<TA_, TB_, TC_, TA, TB>(a, stream);
  if (r != kGemmNotRun) return static_cast<cudaError_t>(r);
  return gemm_builtin<TA_, TB_, TC_, TA, TB>(a, stream);
}

}  // namespace gpu
}  // namespace dcnops
