// CUDA kernels of deformable convolution (DCNv1 border rule and modulated DCNv2):
// the CPU algorithm (deform_conv_cpu.cc) on the GPU, with the same sampling
// math (common/bilinear.h) and the same chunking idea.
//
// Per chunk of whole images (or of output pixels of one image, when one image
// exceeds the column budget):
//   forward   im2col (one thread per deformable group, tap, pixel and block of
//             channels: the corners are computed once per channel block)
//             -> GEMM per (image, conv group), bias in the GEMM epilogue.
//   backward  im2col -> dW += dY col^T (images in order: deterministic)
//             -> dcol = W^T dY (fp32 for fp16 storage)
//             -> dOffset/dMask: one thread per (group, tap, pixel) sums the
//                group's channels in order (no atomics)
//             -> dX: atomicAdd into an fp32 (fp64) buffer, or, deterministic,
//                a stable radix sort of the corner contributions by
//                destination and a gather by one thread per input element.
// Indices are 64-bit; only plane offsets (H*W < 2^31, checked by the op) and
// sort keys of the deterministic mode are 32-bit.
#include <cub/device/device_radix_sort.cuh>

#include <climits>

#include "../common/bilinear.h"
#include "../common/cuda_utils.cuh"
#include "deform_conv_cuda.h"

namespace dcnops {
namespace gpu {
namespace {

constexpr int64_t kChanBlock = 16;  // channels per im2col / col2im thread
inline size_t align_up(size_t b) { return dcnops::align_up(b, kGpuAlign); }

template <typename T>
struct Plan {
  int64_t nb = 1, P = 1;  // images per chunk (P == Ho*Wo), or 1 image and P pixels
  int64_t entries = 0;    // deterministic mode: corner contributions per chunk
  uint32_t sentinel = 0;  // deterministic mode: key of "no destination"
  int end_bit = 1;
  size_t col = 0, dw_acc = 0, dx_acc = 0, keys = 0, vals = 0, wt = 0, bounds = 0, sort_tmp = 0;
  size_t total = 0;
  bool ok = true;
};

template <typename T>
Plan<T> make_plan(const DeformConvGeom& g, bool backward, bool det) {
  using A = acc_t<T>;
  Plan<T> pl;
  const int64_t kk = g.taps(), HoWo = g.out_pixels(), HW = g.H * g.W;
  const size_t col_elem = backward ? std::max(sizeof(T), sizeof(A)) : sizeof(T);
  int64_t per_pix = g.C * kk * int64_t(col_elem);
  if (backward && det) per_pix += g.dgroups * kk * 4 * int64_t(4 * 4 + sizeof(A) + 8);
  const int64_t pix = std::max<int64_t>(1, g.col_budget_bytes / std::max<int64_t>(per_pix, 1));
  if (pix >= HoWo) {
    pl.nb = std::max<int64_t>(1, std::min<int64_t>(g.N, pix / HoWo));
    pl.P = HoWo;
  } else {
    pl.nb = 1;
    pl.P = pix;
  }
  if (backward && det) {  // 32-bit sort keys and entry ids
    while (4 * pl.nb * g.dgroups * kk * pl.P >= INT_MAX || pl.nb * g.dgroups * HW + 1 >= INT_MAX) {
      if (pl.nb > 1) pl.nb = (pl.nb + 1) / 2;
      else if (pl.P > 1) pl.P = (pl.P + 1) / 2;
      else { pl.ok = false; return pl; }
    }
    pl.entries = 4 * pl.nb * g.dgroups * kk * pl.P;
    pl.sentinel = uint32_t(pl.nb * g.dgroups * HW);
    pl.end_bit = 1;
    while ((uint64_t(1) << pl.end_bit) <= pl.sentinel) ++pl.end_bit;
  }
  pl.col = align_up(size_t(g.C * kk * pl.nb * pl.P) * col_elem);
  if (backward && sizeof(T) == 2) {
    pl.dw_acc = align_up(size_t(g.F * (g.C / g.groups) * kk) * sizeof(A));
    pl.dx_acc = align_up(size_t(g.N * g.C * HW) * sizeof(A));
  }
  if (backward && det) {
    pl.keys = align_up(size_t(pl.entries) * 4);  // x2: in and out
    pl.vals = align_up(size_t(pl.entries) * 4);  // x2
    pl.wt = align_up(size_t(pl.entries) * sizeof(A));
    pl.bounds = align_up((size_t(pl.sentinel) + 1) * 4);  // x2: start and end
    size_t tmp = 0;
    cub::DeviceRadixSort::SortPairs(nullptr, tmp, (const uint32_t*)nullptr, (uint32_t*)nullptr,
                                    (const int32_t*)nullptr, (int32_t*)nullptr, int(pl.entries), 0, pl.end_bit);
    pl.sort_tmp = align_up(tmp);
  }
  pl.total = pl.col + pl.dw_acc + pl.dx_acc + 2 * pl.keys + 2 * pl.vals + pl.wt + 2 * pl.bounds + pl.sort_tmp;
  return pl;
}

// The flat thread index of the tap kernels, innermost first: pixel p of the chunk, kernel tap, channel
// block (nblk per deformable group; 1 where a kernel has none), deformable group d, image b of the chunk.
struct TapIndex {
  int64_t p, tap, blk, d, b;
};

__device__ __forceinline__ TapIndex decode_tap_index(int64_t i, int64_t P, int64_t kk, int64_t nblk,
                                                     int64_t dgroups) {
  TapIndex ix;
  ix.p = i % P;
  int64_t t = i / P;
  ix.tap = t % kk;
  t /= kk;
  ix.blk = t % nblk;
  t /= nblk;
  ix.d = t % dgroups;
  ix.b = t / dgroups;
  return ix;
}

// Sample position of (image n, group d, tap, output pixel pix): corners by the
// op's border rule, mask value folded into the weights.
template <typename T, bool kMask, bool kGrad>
__device__ __forceinline__ acc_t<T> sample(const DeformConvGeom& g, int64_t n, int64_t d, int64_t tap, int64_t pix,
                                           const T* offset, const T* mask, Corners<acc_t<T>>* c) {
  using A = acc_t<T>;
  const int64_t kk = g.taps(), HoWo = g.out_pixels();
  const int64_t oh = pix / g.Wo, ow = pix % g.Wo, ki = tap / g.kw, kj = tap % g.kw;
  const T* off = offset + ((n * g.dgroups + d) * 2 * kk + 2 * tap) * HoWo + pix;
  const A h = static_cast<A>(oh * g.sh - g.ph + ki * g.dh) + ld(off);
  const A w = static_cast<A>(ow * g.sw - g.pw + kj * g.dw) + ld(off + HoWo);
  if (g.rule == BorderRule::kDCNv1) corners_dcnv1<A, kGrad>(h, w, g.H, g.W, c);
  else corners_dcnv2<A, kGrad>(h, w, g.H, g.W, c);
  return kMask ? ld(mask + ((n * g.dgroups + d) * kk + tap) * HoWo + pix) : A(1);
}

// One thread item of the per-channel-block kernels (im2col, atomic col2im): its (image, tap, pixel), the
// sample's corners, their weights with the mask folded in, and the block's channels [c0, c1).
template <typename A>
struct BlockSample {
  int64_t b, tap, p, c0, c1;
  Corners<A> c;
  A wk[4];
};

template <typename T, bool kMask>
__device__ __forceinline__ BlockSample<acc_t<T>> block_sample(const DeformConvGeom& g, int64_t i, int64_t n0,
                                                              int64_t p0, int64_t P, int64_t nblk, const T* offset,
                                                              const T* mask) {
  using A = acc_t<T>;
  const int64_t cpg = g.C / g.dgroups;
  const TapIndex ix = decode_tap_index(i, P, g.taps(), nblk, g.dgroups);
  BlockSample<A> s;
  s.b = ix.b;
  s.tap = ix.tap;
  s.p = ix.p;
  const A mv = sample<T, kMask, false>(g, n0 + ix.b, ix.d, ix.tap, p0 + ix.p, offset, mask, &s.c);
#pragma unroll
  for (int k = 0; k < 4; ++k) s.wk[k] = kMask ? s.c.w[k] * mv : s.c.w[k];
  s.c0 = ix.d * cpg + ix.blk * kChanBlock;
  s.c1 = min(s.c0 + kChanBlock, (ix.d + 1) * cpg);
  return s;
}

// col[b][c*kk + tap][p] for images n0.., pixels p0.. of the chunk.
template <typename T, bool kMask>
__global__ void im2col_kernel(DeformConvGeom g, int64_t n0, int64_t nb, int64_t p0, int64_t P, int64_t nblk,
                              const T* x, const T* offset, const T* mask, T* col) {
  using A = acc_t<T>;
  const int64_t kk = g.taps(), HW = g.H * g.W;
  const int64_t total = nb * g.dgroups * nblk * kk * P;
  DCN_GRID_LOOP(i, total) {
    const BlockSample<A> s = block_sample<T, kMask>(g, i, n0, p0, P, nblk, offset, mask);
    const int32_t* idx = s.c.idx;
    for (int64_t ch = s.c0; ch < s.c1; ++ch) {
      const T* plane = x + ((n0 + s.b) * g.C + ch) * HW;
      // corners_dot's order (as the CPU kernel): w0*v0 + w1*v1 + w2*v2 + w3*v3
      const A v = s.wk[0] * ld(plane + idx[0]) + s.wk[1] * ld(plane + idx[1]) + s.wk[2] * ld(plane + idx[2]) +
                  s.wk[3] * ld(plane + idx[3]);
      col[((s.b * g.C + ch) * kk + s.tap) * P + s.p] = cvt<T>(v);
    }
  }
}

// dOffset / dMask: one thread per (image, group, tap, pixel), channels in order.
template <typename T, bool kMask>
__global__ void coord_grad_kernel(DeformConvGeom g, int64_t n0, int64_t nb, int64_t p0, int64_t P, const T* x,
                                  const T* offset, const T* mask, const acc_t<T>* dcol, T* doffset, T* dmask) {
  using A = acc_t<T>;
  const int64_t kk = g.taps(), HW = g.H * g.W, cpg = g.C / g.dgroups, HoWo = g.out_pixels();
  const int64_t total = nb * g.dgroups * kk * P;
  DCN_GRID_LOOP(i, total) {
    const TapIndex ix = decode_tap_index(i, P, kk, 1, g.dgroups);
    const int64_t p = ix.p, tap = ix.tap, d = ix.d, b = ix.b;
    const int64_t n = n0 + b, pix = p0 + p;
    Corners<A> c;
    const A mv = sample<T, kMask, true>(g, n, d, tap, pix, offset, mask, &c);
    A acc_h = A(0), acc_w = A(0), acc_m = A(0);
    for (int64_t ch = d * cpg; ch < (d + 1) * cpg; ++ch) {
      const T* plane = x + (n * g.C + ch) * HW;
      const A v0 = ld(plane + c.idx[0]), v1 = ld(plane + c.idx[1]), v2 = ld(plane + c.idx[2]),
              v3 = ld(plane + c.idx[3]);
      const A dv = dcol[((b * g.C + ch) * kk + tap) * P + p];
      acc_h += dv * (c.gh[0] * v0 + c.gh[1] * v1 + c.gh[2] * v2 + c.gh[3] * v3);
      acc_w += dv * (c.gw[0] * v0 + c.gw[1] * v1 + c.gw[2] * v2 + c.gw[3] * v3);
      if (kMask) acc_m += dv * (c.w[0] * v0 + c.w[1] * v1 + c.w[2] * v2 + c.w[3] * v3);
    }
    T* oh = doffset + ((n * g.dgroups + d) * 2 * kk + 2 * tap) * HoWo + pix;
    oh[0] = cvt<T>(acc_h * mv);
    oh[HoWo] = cvt<T>(acc_w * mv);
    if (kMask) dmask[((n * g.dgroups + d) * kk + tap) * HoWo + pix] = cvt<T>(acc_m);
  }
}

// dX by atomics: each column entry adds to its four corners.
template <typename T, bool kMask>
__global__ void col2im_atomic_kernel(DeformConvGeom g, int64_t n0, int64_t nb, int64_t p0, int64_t P, int64_t nblk,
                                     const T* offset, const T* mask, const acc_t<T>* dcol, acc_t<T>* dx) {
  using A = acc_t<T>;
  const int64_t kk = g.taps(), HW = g.H * g.W;
  const int64_t total = nb * g.dgroups * nblk * kk * P;
  DCN_GRID_LOOP(i, total) {
    const BlockSample<A> s = block_sample<T, kMask>(g, i, n0, p0, P, nblk, offset, mask);
    if (s.c.w[0] == A(0) && s.c.w[1] == A(0) && s.c.w[2] == A(0) && s.c.w[3] == A(0)) continue;
    for (int64_t ch = s.c0; ch < s.c1; ++ch) {
      const A dv = dcol[((s.b * g.C + ch) * kk + s.tap) * P + s.p];
      A* plane = dx + ((n0 + s.b) * g.C + ch) * HW;
#pragma unroll
      for (int k = 0; k < 4; ++k)
        if (s.wk[k] != A(0)) atomic_add(plane + s.c.idx[k], s.wk[k] * dv);
    }
  }
}

// Deterministic dX, step 1: one entry per (image, group, tap, pixel, corner):
// key = destination (image, group, plane index), value = entry id, weight.
template <typename T, bool kMask>
__global__ void det_entries_kernel(DeformConvGeom g, int64_t n0, int64_t nb, int64_t p0, int64_t P, uint32_t sentinel,
                                   const T* offset, const T* mask, uint32_t* keys, int32_t* vals, acc_t<T>* wt) {
  using A = acc_t<T>;
  const int64_t kk = g.taps(), HW = g.H * g.W;
  const int64_t total = nb * g.dgroups * kk * P;
  DCN_GRID_LOOP(i, total) {
    const TapIndex ix = decode_tap_index(i, P, kk, 1, g.dgroups);
    const int64_t p = ix.p, tap = ix.tap, d = ix.d, b = ix.b;
    Corners<A> c;
    const A mv = sample<T, kMask, false>(g, n0 + b, d, tap, p0 + p, offset, mask, &c);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int64_t e = i * 4 + k;  // i == ((b*dg + d)*kk + tap)*P + p
      const A w = kMask ? c.w[k] * mv : c.w[k];
      keys[e] = w != A(0) ? uint32_t((b * g.dgroups + d) * HW + c.idx[k]) : sentinel;
      vals[e] = int32_t(e);
      wt[e] = w;
    }
  }
}

// Step 3: [start, end) of every key in the sorted list.
__global__ void det_bounds_kernel(int64_t n, uint32_t sentinel, const uint32_t* keys, int32_t* start, int32_t* end) {
  DCN_GRID_LOOP(i, n) {
    const uint32_t k = keys[i];
    if (k == sentinel) continue;
    if (i == 0 || keys[i - 1] != k) start[k] = int32_t(i);
    if (i == n - 1 || keys[i + 1] != k) end[k] = int32_t(i + 1);
  }
}

// Step 4: one thread per input element sums its contributions in entry order.
template <typename T>
__global__ void det_gather_kernel(DeformConvGeom g, int64_t n0, int64_t nb, int64_t P, const int32_t* start,
                                  const int32_t* end, const int32_t* vals, const acc_t<T>* wt,
                                  const acc_t<T>* dcol, acc_t<T>* dx) {
  using A = acc_t<T>;
  const int64_t kk = g.taps(), HW = g.H * g.W, cpg = g.C / g.dgroups;
  const int64_t total = nb * g.C * HW;
  DCN_GRID_LOOP(i, total) {
    const int64_t pix = i % HW;
    const int64_t ch = (i / HW) % g.C, b = i / (HW * g.C);
    const int64_t key = (b * g.dgroups + ch / cpg) * HW + pix;
    const int32_t s = start[key], e = end[key];
    if (s >= e) continue;
    A acc = A(0);
    for (int32_t j = s; j < e; ++j) {
      const int32_t v = vals[j];
      const int64_t q = v >> 2, p = q % P, tap = (q / P) % kk;
      acc += wt[v] * dcol[((b * g.C + ch) * kk + tap) * P + p];
    }
    dx[((n0 + b) * g.C + ch) * HW + pix] += acc;
  }
}

// dBias: one block per filter, fixed-order tree reduction.
template <typename T>
__global__ void bias_grad_kernel(int64_t N, int64_t F, int64_t HoWo, const T* dout, T* dbias) {
  using A = acc_t<T>;
  __shared__ A buf[kThreads];
  const int64_t f = blockIdx.x;
  A acc = A(0);
  for (int64_t j = threadIdx.x; j < N * HoWo; j += blockDim.x) acc += ld(dout + ((j / HoWo) * F + f) * HoWo + j % HoWo);
  buf[threadIdx.x] = acc;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) dbias[f] = cvt<T>(buf[0]);
}

// The column chunk of images [n0, n0 + nb), pixels [p0, p0 + P) (forward and backward).
template <typename T>
cudaError_t launch_im2col(const DeformConvGeom& g, int64_t n0, int64_t nb, int64_t p0, int64_t P, int64_t nblk,
                          const T* x, const T* offset, const T* mask, T* col, cudaStream_t st) {
  const int64_t items = nb * g.dgroups * nblk * g.taps() * P;
  if (mask) DCN_LAUNCH(blocks_for(items), kThreads, st, im2col_kernel<T, true>)(g, n0, nb, p0, P, nblk, x, offset, mask, col);
  else DCN_LAUNCH(blocks_for(items), kThreads, st, im2col_kernel<T, false>)(g, n0, nb, p0, P, nblk, x, offset, mask, col);
  return cudaGetLastError();
}

template <typename T>
int forward_t(const DeformConvGeom& g, const T* x, const T* offset, const T* mask, const T* weight, const T* bias,
              T* out, void* ws, cudaStream_t st) {
  const Plan<T> pl = make_plan<T>(g, false, false);
  if (!pl.ok) return int(cudaErrorInvalidValue);
  T* col = static_cast<T*>(ws);
  const int64_t kk = g.taps(), HoWo = g.out_pixels(), Fg = g.F / g.groups, Kg = g.C / g.groups * kk;
  const int64_t nblk = (g.C / g.dgroups + kChanBlock - 1) / kChanBlock;
  for (int64_t n0 = 0; n0 < g.N; n0 += pl.nb) {
    const int64_t nb = std::min(pl.nb, g.N - n0);
    for (int64_t p0 = 0; p0 < HoWo; p0 += pl.P) {
      const int64_t P = std::min(pl.P, HoWo - p0);
      DCN_CUDA_TRY(launch_im2col(g, n0, nb, p0, P, nblk, x, offset, mask, col, st));
      GemmArgs<T, T, T> a{};
      a.M = Fg; a.N = P; a.K = Kg;
      a.A = weight; a.lda = Kg; a.sA_in = Fg * Kg; a.sA_out = 0;
      a.B = col; a.ldb = P; a.sB_in = Kg * P; a.sB_out = g.C * kk * P;
      a.C = out + n0 * g.F * HoWo + p0; a.ldc = HoWo; a.sC_in = Fg * HoWo; a.sC_out = g.F * HoWo;
      a.bias = bias; a.sBias_in = Fg;
      a.nz_in = g.groups; a.nz = nb * g.groups;
      a.alpha = 1.f; a.beta = 0.f;
      DCN_CUDA_TRY((gemm<T, T, T, false, false>(a, st)));
    }
  }
  return 0;
}

template <typename T>
int backward_t(const DeformConvGeom& g, bool det, const T* dout, const T* x, const T* offset, const T* mask,
               const T* weight, T* dx, T* doffset, T* dmask, T* dweight, T* dbias, void* ws, cudaStream_t st) {
  using A = acc_t<T>;
  const Plan<T> pl = make_plan<T>(g, true, det);
  if (!pl.ok) return int(cudaErrorInvalidValue);
  const int64_t kk = g.taps(), HoWo = g.out_pixels(), HW = g.H * g.W;
  const int64_t Fg = g.F / g.groups, Kg = g.C / g.groups * kk;
  const int64_t nblk = (g.C / g.dgroups + kChanBlock - 1) / kChanBlock;
  char* p = static_cast<char*>(ws);
  auto take = [&p](size_t n) { char* q = p; p += n; return q; };
  void* colbuf = take(pl.col);
  T* col = static_cast<T*>(colbuf);
  A* dcol = static_cast<A*>(colbuf);  // overwrites col once dW has used it (same stream)
  A* dwa = pl.dw_acc ? reinterpret_cast<A*>(take(pl.dw_acc)) : reinterpret_cast<A*>(dweight);
  A* dxa = pl.dx_acc ? reinterpret_cast<A*>(take(pl.dx_acc)) : reinterpret_cast<A*>(dx);
  uint32_t *keys_in = nullptr, *keys_out = nullptr;
  int32_t *vals_in = nullptr, *vals_out = nullptr, *start = nullptr, *end = nullptr;
  A* wt = nullptr;
  void* sort_tmp = nullptr;
  if (det) {
    keys_in = reinterpret_cast<uint32_t*>(take(pl.keys));
    keys_out = reinterpret_cast<uint32_t*>(take(pl.keys));
    vals_in = reinterpret_cast<int32_t*>(take(pl.vals));
    vals_out = reinterpret_cast<int32_t*>(take(pl.vals));
    wt = reinterpret_cast<A*>(take(pl.wt));
    start = reinterpret_cast<int32_t*>(take(pl.bounds));
    end = reinterpret_cast<int32_t*>(take(pl.bounds));
    sort_tmp = take(pl.sort_tmp);
  }
  DCN_CUDA_TRY(cudaMemsetAsync(dwa, 0, size_t(g.F * Kg) * sizeof(A), st));
  DCN_CUDA_TRY(cudaMemsetAsync(dxa, 0, size_t(g.N * g.C * HW) * sizeof(A), st));
  if (dbias) {
    DCN_LAUNCH(unsigned(g.F), kThreads, st, bias_grad_kernel<T>)(g.N, g.F, HoWo, dout, dbias);
    DCN_CUDA_TRY(cudaGetLastError());
  }
  for (int64_t n0 = 0; n0 < g.N; n0 += pl.nb) {
    const int64_t nb = std::min(pl.nb, g.N - n0);
    for (int64_t p0 = 0; p0 < HoWo; p0 += pl.P) {
      const int64_t P = std::min(pl.P, HoWo - p0);
      DCN_CUDA_TRY(launch_im2col(g, n0, nb, p0, P, nblk, x, offset, mask, col, st));
      for (int64_t b = 0; b < nb; ++b) {  // dW += dY col^T, images in order
        GemmArgs<T, T, A> a{};
        a.M = Fg; a.N = Kg; a.K = P;
        a.A = dout + (n0 + b) * g.F * HoWo + p0; a.lda = HoWo; a.sA_in = Fg * HoWo;
        a.B = col + b * g.C * kk * P; a.ldb = P; a.sB_in = Kg * P;
        a.C = dwa; a.ldc = Kg; a.sC_in = Fg * Kg;
        a.nz_in = g.groups; a.nz = g.groups;
        a.alpha = 1.f; a.beta = 1.f;
        DCN_CUDA_TRY((gemm<T, T, A, false, true>(a, st)));
      }
      {  // dcol = W^T dY
        GemmArgs<T, T, A> a{};
        a.M = Kg; a.N = P; a.K = Fg;
        a.A = weight; a.lda = Kg; a.sA_in = Fg * Kg; a.sA_out = 0;
        a.B = dout + n0 * g.F * HoWo + p0; a.ldb = HoWo; a.sB_in = Fg * HoWo; a.sB_out = g.F * HoWo;
        a.C = dcol; a.ldc = P; a.sC_in = Kg * P; a.sC_out = g.C * kk * P;
        a.nz_in = g.groups; a.nz = nb * g.groups;
        a.alpha = 1.f; a.beta = 0.f;
        DCN_CUDA_TRY((gemm<T, T, A, true, false>(a, st)));
      }
      const int64_t pts = nb * g.dgroups * kk * P;
      if (mask) DCN_LAUNCH(blocks_for(pts), kThreads, st, coord_grad_kernel<T, true>)(g, n0, nb, p0, P, x, offset, mask, dcol, doffset, dmask);
      else DCN_LAUNCH(blocks_for(pts), kThreads, st, coord_grad_kernel<T, false>)(g, n0, nb, p0, P, x, offset, mask, dcol, doffset, dmask);
      DCN_CUDA_TRY(cudaGetLastError());
      const int64_t items = nb * g.dgroups * nblk * kk * P;
      if (!det) {
        if (mask) DCN_LAUNCH(blocks_for(items), kThreads, st, col2im_atomic_kernel<T, true>)(g, n0, nb, p0, P, nblk, offset, mask, dcol, dxa);
        else DCN_LAUNCH(blocks_for(items), kThreads, st, col2im_atomic_kernel<T, false>)(g, n0, nb, p0, P, nblk, offset, mask, dcol, dxa);
        DCN_CUDA_TRY(cudaGetLastError());
        continue;
      }
      const int64_t ne = 4 * pts;
      const uint32_t sentinel = uint32_t(nb * g.dgroups * HW);
      int end_bit = 1;
      while ((uint64_t(1) << end_bit) <= sentinel) ++end_bit;
      if (mask) DCN_LAUNCH(blocks_for(pts), kThreads, st, det_entries_kernel<T, true>)(g, n0, nb, p0, P, sentinel, offset, mask, keys_in, vals_in, wt);
      else DCN_LAUNCH(blocks_for(pts), kThreads, st, det_entries_kernel<T, false>)(g, n0, nb, p0, P, sentinel, offset, mask, keys_in, vals_in, wt);
      DCN_CUDA_TRY(cudaGetLastError());
      size_t tmp = pl.sort_tmp;  // stable: equal keys keep ascending entry order
      DCN_CUDA_TRY(cub::DeviceRadixSort::SortPairs(sort_tmp, tmp, keys_in, keys_out, vals_in, vals_out, int(ne), 0,
                                                   end_bit, st));
      DCN_CUDA_TRY(cudaMemsetAsync(start, 0, (size_t(sentinel) + 1) * 4, st));
      DCN_CUDA_TRY(cudaMemsetAsync(end, 0, (size_t(sentinel) + 1) * 4, st));
      DCN_LAUNCH(blocks_for(ne), kThreads, st, det_bounds_kernel)(ne, sentinel, keys_out, start, end);
      DCN_CUDA_TRY(cudaGetLastError());
      DCN_LAUNCH(blocks_for(nb * g.C * HW), kThreads, st, det_gather_kernel<T>)(g, n0, nb, P, start, end, vals_out, wt, dcol, dxa);
      DCN_CUDA_TRY(cudaGetLastError());
    }
  }
  if (pl.dw_acc) {
    DCN_LAUNCH(blocks_for(g.F * Kg), kThreads, st, convert_kernel<T>)(g.F * Kg, dwa, dweight);
    DCN_CUDA_TRY(cudaGetLastError());
  }
  if (pl.dx_acc) {
    DCN_LAUNCH(blocks_for(g.N * g.C * HW), kThreads, st, convert_kernel<T>)(g.N * g.C * HW, dxa, dx);
    DCN_CUDA_TRY(cudaGetLastError());
  }
  return 0;
}

}  // namespace

size_t deform_conv_workspace_bytes(const DeformConvGeom& g, int dtype, bool backward, bool deterministic) {
  return dispatch_dtype(dtype, size_t(0), [&](auto t) {
    return make_plan<decltype(t)>(g, backward, deterministic).total;
  });
}

int deform_conv_forward(const DeformConvGeom& g, int dtype, const void* x, const void* offset, const void* mask,
                        const void* weight, const void* bias, void* out, void* workspace, void* stream) {
  if (g.N == 0) return 0;
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  return dispatch_dtype(dtype, int(cudaErrorInvalidValue), [&](auto t) {
    using T = decltype(t);
    return forward_t<T>(g, static_cast<const T*>(x), static_cast<const T*>(offset), static_cast<const T*>(mask),
                        static_cast<const T*>(weight), static_cast<const T*>(bias), static_cast<T*>(out),
                        workspace, st);
  });
}

int deform_conv_backward(const DeformConvGeom& g, int dtype, bool deterministic, const void* dout, const void* x,
                         const void* offset, const void* mask, const void* weight, void* dx, void* doffset,
                         void* dmask, void* dweight, void* dbias, void* workspace, void* stream) {
  if (g.N == 0) return 0;
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  return dispatch_dtype(dtype, int(cudaErrorInvalidValue), [&](auto t) {
    using T = decltype(t);
    return backward_t<T>(g, deterministic, static_cast<const T*>(dout), static_cast<const T*>(x),
                         static_cast<const T*>(offset), static_cast<const T*>(mask), static_cast<const T*>(weight),
                         static_cast<T*>(dx), static_cast<T*>(doffset), static_cast<T*>(dmask),
                         static_cast<T*>(dweight), static_cast<T*>(dbias), workspace, st);
  });
}

}  // namespace gpu
}  // namespace dcnops
