// CPU kernels of deformable convolution: sampling tables + column chunk + GEMM.
//
// Per image and per chunk of output pixels:
//   1. sampling tables, one entry per (deformable group, tap, pixel): four
//      corner indices and weights (mask folded in), shared by every channel of
//      the group and by all backward passes;
//   2. the column chunk (C*kh*kw x P) sampled from a channels-last copy of the image
//      (forward: rows padded to 16 floats and streamed past the caches);
//   3. GEMM with the weights (oneDNN or OpenBLAS, threaded outside our parallel regions).
// Backward reuses the chunk buffer: col -> dW, then dcol = W^T dY -> dX
// (threads own 16-channel runs of a channels-last dX) and dOffset/dMask (threads own pixels):
// deterministic, no atomics.
#include "deform_conv_cpu.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "../common/blas.h"
#include "../common/memory.h"
#include "../common/onednn_matmul.h"
#include "../common/parallel.h"
#include "../common/hsum.h"
#include "../common/transpose.h"

namespace dcnops {
namespace {

// One sampling-table entry's size; a table row (P entries) is stored
// structure-of-arrays (TableRow) so that 16 pixels' corners load as vectors.
template <typename T>
struct Sample {
  int32_t idx[4];
  T w[4];
};

template <typename T>
struct TableRow {
  int32_t* idx;  // idx[k * P + pp]: corner k of pixel pp
  T* w;          // w[k * P + pp]: its weight (mask folded in)
};

template <typename T>
TableRow<T> table_row(Sample<T>* base, int64_t r, int64_t P) {
  char* p = reinterpret_cast<char*>(base + r * P);
  return {reinterpret_cast<int32_t*>(p), reinterpret_cast<T*>(p + 4 * P * sizeof(int32_t))};
}

constexpr int64_t kTableBudget = int64_t(64) << 20;

// Row stride of the forward's column buffer: a multiple of 16 floats, so that
// each 16-pixel row segment is one aligned cache line and can be streamed.
inline int64_t col_ld(int64_t P) { return (P + 15) / 16 * 16; }

template <typename T>
size_t grad_entry_bytes() {
  return sizeof(Sample<T>) + sizeof(Corners<T>) + sizeof(T);
}

// Scratch layout of one call, carved from a single buffer.
template <typename T>
struct Scratch {
  Sample<T>* samples;
  Corners<T>* corners;  // backward only
  T* mvals;             // backward only: mask value per table entry (1 without mask)
  T* col;
  T* x_cl;   // one image channels-last, x_cl[pixel * C + c]
  T* dx_cl;  // backward only: that image's dX, channels-last

  static size_t bytes(const DeformConvGeom& g, int64_t P, bool backward) {
    const int64_t entries = g.dgroups * g.taps() * P;
    size_t b = align_up(entries * sizeof(Sample<T>)) + align_up(g.C * g.taps() * col_ld(P) * sizeof(T));
    const size_t image = align_up(g.C * g.H * g.W * sizeof(T));
    if (backward) b += align_up(entries * sizeof(Corners<T>)) + align_up(entries * sizeof(T)) + image;
    b += image;
    return b;
  }

  Scratch(const DeformConvGeom& g, int64_t P, bool backward, void* ws) {
    const int64_t entries = g.dgroups * g.taps() * P;
    char* p = static_cast<char*>(ws);
    samples = reinterpret_cast<Sample<T>*>(p);
    p += align_up(entries * sizeof(Sample<T>));
    col = reinterpret_cast<T*>(p);
    p += align_up(g.C * g.taps() * col_ld(P) * sizeof(T));
    corners = nullptr;
    mvals = nullptr;
    dx_cl = nullptr;
    if (backward) {
      corners = reinterpret_cast<Corners<T>*>(p);
      p += align_up(entries * sizeof(Corners<T>));
      mvals = reinterpret_cast<T*>(p);
      p += align_up(entries * sizeof(T));
      dx_cl = reinterpret_cast<T*>(p);
      p += align_up(g.C * g.H * g.W * sizeof(T));
    }
    x_cl = reinterpret_cast<T*>(p);
  }
};

// One table entry (row r's pixel pp) from absolute coordinates (h, w).
template <typename T, bool kGrad>
inline void table_entry(const DeformConvGeom& g, T h, T w, const T* m, int64_t p, int64_t r, int64_t pp,
                        int64_t P, const TableRow<T>& out, Scratch<T>* s) {
  Corners<T> c;
  if (g.rule == BorderRule::kDCNv1) corners_dcnv1<T, kGrad>(h, w, g.H, g.W, &c);
  else corners_dcnv2<T, kGrad>(h, w, g.H, g.W, &c);
  const T mv = m ? m[p] : T(1);
  for (int k = 0; k < 4; ++k) {
    out.idx[k * P + pp] = c.idx[k];
    out.w[k * P + pp] = m ? c.w[k] * mv : c.w[k];
  }
  if (kGrad) {
    s->corners[r * P + pp] = c;
    s->mvals[r * P + pp] = mv;
  }
}

#if defined(__AVX512F__)
// GCC 12 flags the intrinsics' own undefined operands.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// 16 forward float entries at once: the operations of corners_dcnv1/2 and the
// mask fold, lane by lane (same roundings, so the same bits as table_entry).
// Invalid lanes (NaN included) get coordinates 0 before any conversion, then
// index 0 and weight 0 (times the mask, as in the scalar code).
inline void table_entries16(const DeformConvGeom& g, __m512 h, __m512 w, const float* m, int64_t pp,
                            int64_t P, const TableRow<float>& out) {
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.f);
  const __m512 Hf = _mm512_set1_ps(static_cast<float>(g.H)), Wf = _mm512_set1_ps(static_cast<float>(g.W));
  const __m512i Wi = _mm512_set1_epi32(static_cast<int32_t>(g.W));
  const bool v1 = g.rule == BorderRule::kDCNv1;
  const __mmask16 inside = _mm512_cmp_ps_mask(h, Hf, _CMP_LT_OQ) & _mm512_cmp_ps_mask(w, Wf, _CMP_LT_OQ);
  const __mmask16 valid = inside & (v1 ? _mm512_cmp_ps_mask(h, zero, _CMP_GE_OQ) & _mm512_cmp_ps_mask(w, zero, _CMP_GE_OQ)
                                       : _mm512_cmp_ps_mask(h, _mm512_set1_ps(-1.f), _CMP_GT_OQ) &
                                             _mm512_cmp_ps_mask(w, _mm512_set1_ps(-1.f), _CMP_GT_OQ));
  h = _mm512_mask_blend_ps(valid, zero, h);
  w = _mm512_mask_blend_ps(valid, zero, w);
  __m512i hl = _mm512_cvttps_epi32(_mm512_floor_ps(h)), wl = _mm512_cvttps_epi32(_mm512_floor_ps(w));
  __m512i hh_i = _mm512_add_epi32(hl, _mm512_set1_epi32(1)), wh_i = _mm512_add_epi32(wl, _mm512_set1_epi32(1));
  __mmask16 ok[4] = {valid, valid, valid, valid};
  if (v1) {  // clamped last row / column: both corners there, fraction dropped
    const __m512i Hm1 = _mm512_set1_epi32(static_cast<int32_t>(g.H - 1)), Wm1 = _mm512_set1_epi32(static_cast<int32_t>(g.W - 1));
    const __mmask16 ch = _mm512_cmpge_epi32_mask(hl, Hm1), cw = _mm512_cmpge_epi32_mask(wl, Wm1);
    hl = _mm512_mask_mov_epi32(hl, ch, Hm1);
    hh_i = _mm512_mask_mov_epi32(hh_i, ch, Hm1);
    h = _mm512_mask_mov_ps(h, ch, _mm512_cvtepi32_ps(Hm1));
    wl = _mm512_mask_mov_epi32(wl, cw, Wm1);
    wh_i = _mm512_mask_mov_epi32(wh_i, cw, Wm1);
    w = _mm512_mask_mov_ps(w, cw, _mm512_cvtepi32_ps(Wm1));
  } else {  // zero padding: corners outside the map do not count
    const __m512i zi = _mm512_setzero_si512();
    const __mmask16 ok_hl = _mm512_cmpge_epi32_mask(hl, zi), ok_wl = _mm512_cmpge_epi32_mask(wl, zi);
    const __mmask16 ok_hh = _mm512_cmplt_epi32_mask(hh_i, _mm512_set1_epi32(static_cast<int32_t>(g.H)));
    const __mmask16 ok_wh = _mm512_cmplt_epi32_mask(wh_i, Wi);
    ok[0] &= ok_hl & ok_wl;
    ok[1] &= ok_hl & ok_wh;
    ok[2] &= ok_hh & ok_wl;
    ok[3] &= ok_hh & ok_wh;
  }
  const __m512 lh = _mm512_sub_ps(h, _mm512_cvtepi32_ps(hl)), lw = _mm512_sub_ps(w, _mm512_cvtepi32_ps(wl));
  const __m512 hh = _mm512_sub_ps(one, lh), hw = _mm512_sub_ps(one, lw);
  const __m512i rl = _mm512_mullo_epi32(hl, Wi), rh = _mm512_mullo_epi32(hh_i, Wi);
  const __m512i idx[4] = {_mm512_add_epi32(rl, wl), _mm512_add_epi32(rl, wh_i), _mm512_add_epi32(rh, wl),
                          _mm512_add_epi32(rh, wh_i)};
  const __m512 wt[4] = {_mm512_mul_ps(hh, hw), _mm512_mul_ps(hh, lw), _mm512_mul_ps(lh, hw), _mm512_mul_ps(lh, lw)};
  const __m512 mv = m ? _mm512_loadu_ps(m) : one;
  for (int k = 0; k < 4; ++k) {
    _mm512_storeu_si512(out.idx + k * P + pp, _mm512_maskz_mov_epi32(ok[k], idx[k]));
    const __m512 wk = _mm512_maskz_mov_ps(ok[k], wt[k]);
    _mm512_storeu_ps(out.w + k * P + pp, m ? _mm512_mul_ps(wk, mv) : wk);
  }
}
#endif

// Fills the sampling tables of image n, pixels [p0, p0 + P). Threads own
// (row, 256-pixel block) items: a 3x3 conv has only 9 rows per group.
template <typename T, bool kGrad>
void build_tables(const DeformConvGeom& g, int64_t n, int64_t p0, int64_t P, const T* offset,
                  const T* mask, Scratch<T>* s) {
  constexpr int64_t kBlock = 256;
  const int64_t kk = g.taps(), HoWo = g.out_pixels();
  const int64_t rows = g.dgroups * kk, blocks = (P + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t it = 0; it < rows * blocks; ++it) {
    const int64_t r = it / blocks, b0 = (it % blocks) * kBlock, b1 = std::min(b0 + kBlock, P);
    const int64_t d = r / kk, tap = r % kk;
    const int64_t i = tap / g.kw, j = tap % g.kw;
    const T* off_h = offset + ((n * g.dgroups + d) * 2 * kk + 2 * tap) * HoWo;
    const T* off_w = off_h + HoWo;
    const T* m = mask ? mask + ((n * g.dgroups + d) * kk + tap) * HoWo : nullptr;
    const TableRow<T> out = table_row(s->samples, r, P);
    // where tap (i, j) of output pixel p samples before its offset
    auto origin_h = [&](int64_t p) { return (p / g.Wo) * g.sh - g.ph + i * g.dh; };
    auto origin_w = [&](int64_t p) { return (p % g.Wo) * g.sw - g.pw + j * g.dw; };
    int64_t pp = b0;
#if defined(__AVX512F__)
    if constexpr (std::is_same<T, float>::value && !kGrad) {
      alignas(64) int32_t bh[16], bw[16];
      for (; pp + 16 <= b1; pp += 16) {
        for (int q = 0; q < 16; ++q) {
          const int64_t p = p0 + pp + q;
          bh[q] = static_cast<int32_t>(origin_h(p));
          bw[q] = static_cast<int32_t>(origin_w(p));
        }
        const int64_t p = p0 + pp;
        const __m512 h = _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_load_si512(bh)), _mm512_loadu_ps(off_h + p));
        const __m512 w = _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_load_si512(bw)), _mm512_loadu_ps(off_w + p));
        table_entries16(g, h, w, m ? m + p : nullptr, pp, P, out);
      }
    }
#endif
    for (; pp < b1; ++pp) {
      const int64_t p = p0 + pp;
      const T h = static_cast<T>(origin_h(p)) + off_h[p];
      const T w = static_cast<T>(origin_w(p)) + off_w[p];
      table_entry<T, kGrad>(g, h, w, m, p, r, pp, P, out, s);
    }
  }
}
#if defined(__AVX512F__)
#pragma GCC diagnostic pop
#endif

// Sampling, channels-last: one table entry serves a run of contiguous
// channels (a vector loop, no gathers); 64 pixels at a time go through a small
// tile and are transposed into the usual column layout (C*kk rows x P), so the
// GEMMs and their summation order stay those of the NCHW formulation.

// out[j * rows + i] = in[i * cols + j]: an image to channels-last (rows = C,
// cols = H*W) and back (rows = H*W, cols = C). Threads own column blocks.
template <typename T>
void transpose_matrix(const T* in, int64_t rows, int64_t cols, T* out) {
  constexpr int64_t kTile = 32;
#pragma omp parallel for schedule(static)
  for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
    const int64_t j1 = std::min(j0 + kTile, cols);
    for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
      const int64_t i1 = std::min(i0 + kTile, rows);
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j) out[j * rows + i] = in[i * cols + j];
    }
  }
}

#if defined(__AVX2__)
// Same copy in kTransposeBlock-square register transposes (the scalar loop costs ~5 % of A's forward).
template <>
void transpose_matrix<float>(const float* in, int64_t rows, int64_t cols, float* out) {
  constexpr int64_t kB = kTransposeBlock;
  const int64_t rows_b = rows / kB * kB, blocks = (cols + kB - 1) / kB;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t j0 = b * kB, j1 = std::min(j0 + kB, cols);
    const bool full = j1 - j0 == kB;
    if (full)
      for (int64_t i0 = 0; i0 < rows_b; i0 += kB) transpose_block(in + i0 * cols + j0, cols, out + j0 * rows + i0, rows);
    for (int64_t j = j0; j < j1; ++j)
      for (int64_t i = full ? rows_b : 0; i < rows; ++i) out[j * rows + i] = in[i * cols + j];
  }
}
#endif

// col rows c (stride ld) <- tile[q * run + c], q < nq pixels. `stream` is a hint.
template <typename T>
void store_tile(const T* tile, int64_t nq, int64_t run, T* col, int64_t ld, bool /*stream*/) {
  for (int64_t c = 0; c < run; ++c)
    for (int64_t q = 0; q < nq; ++q) col[c * ld + q] = tile[q * run + c];
}

#if defined(__AVX2__)
template <>
void store_tile<float>(const float* tile, int64_t nq, int64_t run, float* col, int64_t ld, bool stream) {
  constexpr int64_t kB = kTransposeBlock;
  const int64_t nq_b = run % kB == 0 ? nq / kB * kB : 0;
  stream = kStreamBlocks && stream && ld % kB == 0 && reinterpret_cast<uintptr_t>(col) % (kB * 4) == 0;
  for (int64_t c = 0; c < run; c += kB)
    for (int64_t q = 0; q < nq_b; q += kB) {
      if (stream) transpose_block<true>(tile + q * run + c, run, col + c * ld + q, ld);
      else transpose_block(tile + q * run + c, run, col + c * ld + q, ld);
    }
  for (int64_t c = 0; c < run; ++c)
    for (int64_t q = nq_b; q < nq; ++q) col[c * ld + q] = tile[q * run + c];
}
#endif

// Each value is computed as corners_dot does (w0*v0 + w1*v1 + w2*v2 + w3*v3),
// so the columns are those of a per-channel NCHW gather, bit for bit. Column
// row r starts at s->col + r * ldc. With `stream` (the forward, whose buffer
// only the GEMM reads, and is larger than the caches on the large shapes),
// full aligned row segments bypass the caches: no read for ownership, fewer
// evictions (measured, 2 threads: forward A -7 %, B -5 %, D -8 %, C within noise; same bits).
template <typename T>
void build_columns_cl(const DeformConvGeom& g, int64_t P, int64_t ldc, const T* x_cl, Scratch<T>* s,
                      bool stream) {
  constexpr int64_t kPix = 64, kRun = 128;  // 64 pixels: 256 B per column row written at once
  const int64_t kk = g.taps(), C = g.C, cpg = C / g.dgroups;
  const int64_t blocks = (P + kPix - 1) / kPix;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t q0 = b * kPix, nq = std::min(kPix, P - q0);
    alignas(64) T tile[kPix * kRun];
    for (int64_t tap = 0; tap < kk; ++tap) {
      for (int64_t c0 = 0, c1; c0 < C; c0 = c1) {  // runs within one deformable group
        const int64_t d = c0 / cpg;
        c1 = std::min({c0 + kRun, (d + 1) * cpg, C});
        const int64_t run = c1 - c0;
        const TableRow<T> t = table_row(s->samples, d * kk + tap, P);
        for (int64_t q = 0; q < nq; ++q) {
          const int64_t pp = q0 + q;
          const T* x0 = x_cl + int64_t(t.idx[pp]) * C + c0;
          const T* x1 = x_cl + int64_t(t.idx[P + pp]) * C + c0;
          const T* x2 = x_cl + int64_t(t.idx[2 * P + pp]) * C + c0;
          const T* x3 = x_cl + int64_t(t.idx[3 * P + pp]) * C + c0;
          const T w0 = t.w[pp], w1 = t.w[P + pp], w2 = t.w[2 * P + pp], w3 = t.w[3 * P + pp];
          T* dst = tile + q * run;
#pragma omp simd
          for (int64_t c = 0; c < run; ++c) dst[c] = w0 * x0[c] + w1 * x1[c] + w2 * x2[c] + w3 * x3[c];
        }
        store_tile(tile, nq, run, s->col + (c0 * kk + tap) * ldc + q0, kk * ldc, stream);
      }
    }
  }
#if defined(__AVX512F__)
  if (stream) _mm_sfence();  // the streamed rows are visible before the GEMM reads them
#endif
}

// tile[q * run + c] = col[c * ld + q] for c < run, q < nq (the inverse of store_tile).
template <typename T>
void load_tile(const T* col, int64_t ld, int64_t nq, int64_t run, T* tile) {
  for (int64_t c = 0; c < run; ++c)
    for (int64_t q = 0; q < nq; ++q) tile[q * run + c] = col[c * ld + q];
}

#if defined(__AVX2__)
template <>
void load_tile<float>(const float* col, int64_t ld, int64_t nq, int64_t run, float* tile) {
  constexpr int64_t kB = kTransposeBlock;
  if (nq == 16 && run == 16) {
    for (int64_t c = 0; c < 16; c += kB)
      for (int64_t q = 0; q < 16; q += kB) transpose_block(col + c * ld + q, ld, tile + q * 16 + c, 16);
  } else {
    for (int64_t c = 0; c < run; ++c)
      for (int64_t q = 0; q < nq; ++q) tile[q * run + c] = col[c * ld + q];
  }
}
#endif

// dX of one chunk into the channels-last image dx_cl: every element receives
// its terms in the order of a per-channel NCHW scatter (taps, then pixels, then
// corners 0..3), so the sums are the same bit for bit; a thread owns a run of
// 16 channels (one vector) of one deformable group: no atomics.
template <typename T>
void scatter_dx_cl(const DeformConvGeom& g, int64_t P, const Scratch<T>& s, T* dx_cl) {
  constexpr int64_t kRun = 16, kPix = 16;
  const int64_t kk = g.taps(), C = g.C, cpg = C / g.dgroups;
  const int64_t runs_per_group = (cpg + kRun - 1) / kRun, items = g.dgroups * runs_per_group;
#pragma omp parallel for schedule(static)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t d = it / runs_per_group;
    const int64_t c0 = d * cpg + (it % runs_per_group) * kRun, run = std::min(kRun, (d + 1) * cpg - c0);
    alignas(64) T tile[kPix * kRun];
    for (int64_t tap = 0; tap < kk; ++tap) {
      const TableRow<T> t = table_row(s.samples, d * kk + tap, P);
      const T* dcol = s.col + (c0 * kk + tap) * P;
      for (int64_t q0 = 0; q0 < P; q0 += kPix) {
        const int64_t nq = std::min(kPix, P - q0);
        load_tile(dcol + q0, kk * P, nq, run, tile);
        for (int64_t q = 0; q < nq; ++q) {
          const T* v = tile + q * run;
          for (int k = 0; k < 4; ++k) {
            const T w = t.w[k * P + q0 + q];
            T* dst = dx_cl + int64_t(t.idx[k * P + q0 + q]) * C + c0;
#pragma omp simd
            for (int64_t c = 0; c < run; ++c) dst[c] += w * v[c];
          }
        }
      }
    }
  }
}

// dOffset / dMask sums of `len` pixels of one (group, tap) table row over the
// group's cpg channels (planes at x + c * HW, gradient rows at dcol + c * ld),
// channels in order: acc_h/acc_w/acc_m[q] = sum_c dcol * (corner coefficients . corner values).
template <typename T>
void doffset_scalar(const Corners<T>* cr, int64_t len, const T* x, int64_t HW, const T* dcol, int64_t ld,
                    int64_t cpg, bool with_mask, T* acc_h, T* acc_w, T* acc_m) {
  for (int64_t q = 0; q < len; ++q) acc_h[q] = acc_w[q] = acc_m[q] = T(0);
  for (int64_t c = 0; c < cpg; ++c) {
    const T* plane = x + c * HW;
    const T* drow = dcol + c * ld;
    for (int64_t q = 0; q < len; ++q) {
      const Corners<T>& e = cr[q];
      const T v0 = plane[e.idx[0]], v1 = plane[e.idx[1]], v2 = plane[e.idx[2]], v3 = plane[e.idx[3]];
      const T dv = drow[q];
      acc_h[q] += dv * (e.gh[0] * v0 + e.gh[1] * v1 + e.gh[2] * v2 + e.gh[3] * v3);
      acc_w[q] += dv * (e.gw[0] * v0 + e.gw[1] * v1 + e.gw[2] * v2 + e.gw[3] * v3);
      if (with_mask) acc_m[q] += dv * (e.w[0] * v0 + e.w[1] * v1 + e.w[2] * v2 + e.w[3] * v3);
    }
  }
}

template <typename T>
void doffset_block(const Corners<T>* cr, int64_t len, const T* x, int64_t HW, const T* dcol, int64_t ld,
                   int64_t cpg, bool with_mask, T* acc_h, T* acc_w, T* acc_m) {
  doffset_scalar(cr, len, x, HW, dcol, ld, cpg, with_mask, acc_h, acc_w, acc_m);
}

#if defined(__AVX512F__)
// 16 pixels per vector, the channel loop in registers. A Corners<float> is 16
// words, so one 16 x 16 transpose turns 16 entries into idx/w/gh/gw vectors.
// Each lane does the scalar loop's operations in its order, contracted as GCC
// contracts the scalar a0*b0 + a1*b1 + a2*b2 + a3*b3 (fma(a0, b0, a1*b1), then
// fmas), so the results are the scalar ones bit for bit (checked against the
// scalar build). GCC 12 flags the gather intrinsics' own undefined operands.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
template <>
void doffset_block<float>(const Corners<float>* cr, int64_t len, const float* x, int64_t HW,
                          const float* dcol, int64_t ld, int64_t cpg, bool with_mask, float* acc_h,
                          float* acc_w, float* acc_m) {
  static_assert(sizeof(Corners<float>) == 64, "Corners<float> must be 16 words");
  const int64_t len16 = len / 16 * 16;
  for (int64_t q0 = 0; q0 < len16; q0 += 16) {
    alignas(64) float soa[256];
    transpose16x16(reinterpret_cast<const float*>(cr + q0), 16, soa, 16);
    __m512i idx[4];
    __m512 w[4], gh[4], gw[4];
    for (int k = 0; k < 4; ++k) {
      idx[k] = _mm512_castps_si512(_mm512_load_ps(soa + 16 * k));
      w[k] = _mm512_load_ps(soa + 16 * (4 + k));
      gh[k] = _mm512_load_ps(soa + 16 * (8 + k));
      gw[k] = _mm512_load_ps(soa + 16 * (12 + k));
    }
    __m512 ah = _mm512_setzero_ps(), aw = _mm512_setzero_ps(), am = _mm512_setzero_ps();
    for (int64_t c = 0; c < cpg; ++c) {
      const float* plane = x + c * HW;
      const __m512 dv = _mm512_loadu_ps(dcol + c * ld + q0);
      __m512 v[4];
      for (int k = 0; k < 4; ++k) v[k] = _mm512_i32gather_ps(idx[k], plane, 4);
      __m512 th = _mm512_fmadd_ps(gh[0], v[0], _mm512_mul_ps(gh[1], v[1]));
      __m512 tw = _mm512_fmadd_ps(gw[0], v[0], _mm512_mul_ps(gw[1], v[1]));
      for (int k = 2; k < 4; ++k) {
        th = _mm512_fmadd_ps(gh[k], v[k], th);
        tw = _mm512_fmadd_ps(gw[k], v[k], tw);
      }
      ah = _mm512_fmadd_ps(dv, th, ah);
      aw = _mm512_fmadd_ps(dv, tw, aw);
      if (with_mask) {
        __m512 tm = _mm512_fmadd_ps(w[0], v[0], _mm512_mul_ps(w[1], v[1]));
        for (int k = 2; k < 4; ++k) tm = _mm512_fmadd_ps(w[k], v[k], tm);
        am = _mm512_fmadd_ps(dv, tm, am);
      }
    }
    _mm512_storeu_ps(acc_h + q0, ah);
    _mm512_storeu_ps(acc_w + q0, aw);
    _mm512_storeu_ps(acc_m + q0, am);
  }
  if (len16 < len)
    doffset_scalar(cr + len16, len - len16, x, HW, dcol + len16, ld, cpg, with_mask, acc_h + len16,
                   acc_w + len16, acc_m + len16);
}
#pragma GCC diagnostic pop
#endif

// dOffset / dMask from the channels-last image, for one (group, tap) row:
// false when not available (double, neither AVX-512 nor AVX2, or channels per group not a
// multiple of the vector width: 16, 8 with AVX2), then doffset_block is used.
template <typename T>
bool doffset_block_cl(const Corners<T>*, int64_t, const T*, int64_t, int64_t, const T*, int64_t, bool, T*, T*,
                      T*) {
  return false;
}

#if defined(__AVX512F__)
// 16 channels at a time with contiguous loads instead of gathers: the dcol
// tile of 16 channels x 16 pixels is transposed to one vector per pixel and
// multiplied with the pixel's four corner vectors; each pixel keeps its sums as
// 16 channel partials, added up at the end (_mm512_reduce_add_ps). A fixed
// order, so deterministic, but not the scalar loop's channel order: float
// results differ from doffset_block in the last bits (README: tolerances).
// x_cl: the image channels-last, at the group's first channel; dcol: that
// channel's row for the tap (rows of the following channels every ld).
#pragma GCC diagnostic push  // GCC 12 flags the intrinsics' own undefined operands
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
template <>
bool doffset_block_cl<float>(const Corners<float>* cr, int64_t len, const float* x_cl, int64_t C, int64_t cpg,
                             const float* dcol, int64_t ld, bool with_mask, float* acc_h, float* acc_w,
                             float* acc_m) {
  if (cpg % 16 != 0) return false;
  alignas(64) float tile[256];
  for (int64_t q0 = 0; q0 < len; q0 += 16) {
    const int64_t nq = std::min<int64_t>(16, len - q0);
    __m512 ah[16], aw[16], am[16];
    for (int q = 0; q < 16; ++q) ah[q] = aw[q] = am[q] = _mm512_setzero_ps();
    for (int64_t c0 = 0; c0 < cpg; c0 += 16) {
      load_tile(dcol + c0 * ld + q0, ld, nq, 16, tile);
      for (int64_t q = 0; q < nq; ++q) {
        const Corners<float>& e = cr[q0 + q];
        const float* xc = x_cl + c0;
        const __m512 v0 = _mm512_loadu_ps(xc + int64_t(e.idx[0]) * C), v1 = _mm512_loadu_ps(xc + int64_t(e.idx[1]) * C);
        const __m512 v2 = _mm512_loadu_ps(xc + int64_t(e.idx[2]) * C), v3 = _mm512_loadu_ps(xc + int64_t(e.idx[3]) * C);
        const __m512 dv = _mm512_load_ps(tile + q * 16);
        auto dot = [&](const float* k) {
          __m512 t = _mm512_fmadd_ps(_mm512_set1_ps(k[0]), v0, _mm512_mul_ps(_mm512_set1_ps(k[1]), v1));
          t = _mm512_fmadd_ps(_mm512_set1_ps(k[2]), v2, t);
          return _mm512_fmadd_ps(_mm512_set1_ps(k[3]), v3, t);
        };
        ah[q] = _mm512_fmadd_ps(dv, dot(e.gh), ah[q]);
        aw[q] = _mm512_fmadd_ps(dv, dot(e.gw), aw[q]);
        if (with_mask) am[q] = _mm512_fmadd_ps(dv, dot(e.w), am[q]);
      }
    }
    for (int64_t q = 0; q < nq; ++q) {
      acc_h[q0 + q] = _mm512_reduce_add_ps(ah[q]);
      acc_w[q0 + q] = _mm512_reduce_add_ps(aw[q]);
      acc_m[q0 + q] = with_mask ? _mm512_reduce_add_ps(am[q]) : 0.f;
    }
  }
  return true;
}
#pragma GCC diagnostic pop
#elif defined(__AVX2__)
// The same in 8-channel vectors: 8 pixels' dcol are transposed once per block of
// up to 256 channels (pixel-major), then each pixel sums its channels in 8
// lane partials (channel c in lane c % 8, in channel order), added up at the end.
template <>
bool doffset_block_cl<float>(const Corners<float>* cr, int64_t len, const float* x_cl, int64_t C, int64_t cpg,
                             const float* dcol, int64_t ld, bool with_mask, float* acc_h, float* acc_w,
                             float* acc_m) {
  if (cpg % 8 != 0) return false;
  constexpr int64_t kQ = 8, kChunk = 256;
  alignas(32) float tile[kQ * kChunk];
  for (int64_t q0 = 0; q0 < len; q0 += kQ) {
    const int64_t nq = std::min(kQ, len - q0);
    __m256 ah[kQ], aw[kQ], am[kQ];
    for (int64_t q = 0; q < kQ; ++q) ah[q] = aw[q] = am[q] = _mm256_setzero_ps();
    for (int64_t k0 = 0; k0 < cpg; k0 += kChunk) {
      const int64_t kn = std::min(kChunk, cpg - k0);
      for (int64_t c = 0; c < kn; c += 8) {  // tile[q * kChunk + c] = dcol[(k0 + c) * ld + q0 + q]
        if (nq == kQ) transpose8x8(dcol + (k0 + c) * ld + q0, ld, tile + c, kChunk);
        else
          for (int64_t cc = c; cc < c + 8; ++cc)
            for (int64_t q = 0; q < nq; ++q) tile[q * kChunk + cc] = dcol[(k0 + cc) * ld + q0 + q];
      }
      for (int64_t q = 0; q < nq; ++q) {
        const Corners<float>& e = cr[q0 + q];
        const float* x0 = x_cl + int64_t(e.idx[0]) * C + k0;
        const float* x1 = x_cl + int64_t(e.idx[1]) * C + k0;
        const float* x2 = x_cl + int64_t(e.idx[2]) * C + k0;
        const float* x3 = x_cl + int64_t(e.idx[3]) * C + k0;
        const float* dq = tile + q * kChunk;
        __m256 h = ah[q], w = aw[q], m = am[q];
        for (int64_t c = 0; c < kn; c += 8) {
          const __m256 v0 = _mm256_loadu_ps(x0 + c), v1 = _mm256_loadu_ps(x1 + c);
          const __m256 v2 = _mm256_loadu_ps(x2 + c), v3 = _mm256_loadu_ps(x3 + c);
          const __m256 dv = _mm256_load_ps(dq + c);
          auto dot = [&](const float* k) {
            __m256 t = _mm256_fmadd_ps(_mm256_set1_ps(k[0]), v0, _mm256_mul_ps(_mm256_set1_ps(k[1]), v1));
            t = _mm256_fmadd_ps(_mm256_set1_ps(k[2]), v2, t);
            return _mm256_fmadd_ps(_mm256_set1_ps(k[3]), v3, t);
          };
          h = _mm256_fmadd_ps(dv, dot(e.gh), h);
          w = _mm256_fmadd_ps(dv, dot(e.gw), w);
          if (with_mask) m = _mm256_fmadd_ps(dv, dot(e.w), m);
        }
        ah[q] = h;
        aw[q] = w;
        am[q] = m;
      }
    }
    for (int64_t q = 0; q < nq; ++q) {
      acc_h[q0 + q] = hsum8(ah[q]);
      acc_w[q0 + q] = hsum8(aw[q]);
      acc_m[q0 + q] = with_mask ? hsum8(am[q]) : 0.f;
    }
  }
  return true;
}
#endif

}  // namespace

int64_t deform_conv_chunk(const DeformConvGeom& g, size_t elem_bytes) {
  const int64_t per_pixel_col = g.C * g.taps() * int64_t(elem_bytes);
  const int64_t per_pixel_tab = g.dgroups * g.taps() * int64_t(elem_bytes == 4 ? 100 : 168);
  // The GEMM uses each column value once per filter of its group: with few filters it is short
  // for the buffer's size, and a chunk that has left the caches before the GEMM reads it costs
  // more than the GEMM's set-up. So the chunk is capped at 128 KB per filter (at least 4 MB).
  // Measured on AMD Zen 3, 2 threads: forward C (64 filters) 12.0 -> 8.3 ms with 8 MB instead of
  // 64 MB, forward+backward 37.3 -> 33.3 ms; A (512 filters) keeps 64 MB, where 8 MB would cost
  // +3 % forward and +10 % forward+backward.
  const int64_t filters = std::max<int64_t>(g.F / std::max<int64_t>(g.groups, 1), 1);
  const int64_t budget = std::min(g.col_budget_bytes, std::max(int64_t(4) << 20, filters * (int64_t(128) << 10)));
  int64_t P = std::min(budget / std::max<int64_t>(per_pixel_col, 1), kTableBudget / std::max<int64_t>(per_pixel_tab, 1));
  return std::max<int64_t>(1, std::min(P, g.out_pixels()));
}

template <typename T>
size_t deform_conv_workspace_bytes(const DeformConvGeom& g, bool backward) {
  static_assert(sizeof(Sample<T>) + sizeof(Corners<T>) + sizeof(T) <= (sizeof(T) == 4 ? 100 : 168),
                "table entry larger than the chunk estimate");
  return Scratch<T>::bytes(g, deform_conv_chunk(g, sizeof(T)), backward);
}

template <typename T>
void deform_conv_forward(const DeformConvGeom& g, const T* x, const T* offset, const T* mask,
                         const T* weight, const T* bias, T* out, void* workspace) {
  const int64_t P_max = deform_conv_chunk(g, sizeof(T));
  Scratch<T> s(g, P_max, false, workspace);
  const int64_t kk = g.taps(), HoWo = g.out_pixels();
  const int64_t Fg = g.F / g.groups, Kg = g.C / g.groups * kk, HW = g.H * g.W;
  for (int64_t n = 0; n < g.N; ++n) {
    transpose_matrix(x + n * g.C * HW, g.C, HW, s.x_cl);  // to channels-last
    for (int64_t p0 = 0; p0 < HoWo; p0 += P_max) {
      const int64_t P = std::min(P_max, HoWo - p0);
      const int64_t ldc = col_ld(P);
      build_tables<T, false>(g, n, p0, P, offset, mask, &s);
      build_columns_cl(g, P, ldc, s.x_cl, &s, true);
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        gemm(false, false, Fg, P, Kg, T(1), weight + gi * Fg * Kg, Kg, s.col + gi * Kg * ldc, ldc, T(0),
             out + (n * g.F + gi * Fg) * HoWo + p0, HoWo);
      }
    }
    if (bias) {
#pragma omp parallel for schedule(static)
      for (int64_t f = 0; f < g.F; ++f) {
        T* o = out + (n * g.F + f) * HoWo;
        for (int64_t p = 0; p < HoWo; ++p) o[p] += bias[f];
      }
    }
  }
}

template <typename T>
void deform_conv_backward(const DeformConvGeom& g, const T* dout, const T* x, const T* offset,
                          const T* mask, const T* weight, T* dx, T* doffset, T* dmask, T* dweight,
                          T* dbias, void* workspace) {
  const int64_t P_max = deform_conv_chunk(g, sizeof(T));
  Scratch<T> s(g, P_max, true, workspace);
  const int64_t kk = g.taps(), HoWo = g.out_pixels(), HW = g.H * g.W;
  const int64_t Fg = g.F / g.groups, Kg = g.C / g.groups * kk, cpg = g.C / g.dgroups;
  fill_zero(dweight, g.F * Kg);

  for (int64_t n = 0; n < g.N; ++n) {
    transpose_matrix(x + n * g.C * HW, g.C, HW, s.x_cl);  // to channels-last
    fill_zero(s.dx_cl, g.C * HW);
    for (int64_t p0 = 0; p0 < HoWo; p0 += P_max) {
      const int64_t P = std::min(P_max, HoWo - p0);
      build_tables<T, true>(g, n, p0, P, offset, mask, &s);
      build_columns_cl(g, P, P, s.x_cl, &s, false);  // row stride P: the passes below read it so
      const T* dy = dout + n * g.F * HoWo + p0;
      for (int64_t gi = 0; gi < g.groups; ++gi) {  // dW += dY col^T
        const T* dyg = dy + gi * Fg * HoWo;
        const T* colg = s.col + gi * Kg * P;
        T* dwg = dweight + gi * Fg * Kg;
        if constexpr (std::is_same_v<T, float>) {  // a matmul beats sgemm 'N','T' here (onednn_matmul.h)
          if (onednn_matmul(false, true, Fg, Kg, P, dyg, HoWo, colg, P, 1.0f, dwg, Kg)) continue;
        }
        gemm(false, true, Fg, Kg, P, T(1), dyg, HoWo, colg, P, T(1), dwg, Kg);
      }
      for (int64_t gi = 0; gi < g.groups; ++gi) {  // dcol = W^T dY (overwrites col)
        gemm(true, false, Kg, P, Fg, T(1), weight + gi * Fg * Kg, Kg, dy + gi * Fg * HoWo, HoWo, T(0),
             s.col + gi * Kg * P, P);
      }
      scatter_dx_cl(g, P, s, s.dx_cl);
      // dOffset / dMask: each thread owns (group, tap, pixel block) and sums
      // over the group's channels in a fixed order.
      constexpr int64_t kBlock = 64;
      const int64_t nblocks = (P + kBlock - 1) / kBlock;
      const int64_t items = g.dgroups * kk * nblocks;
#pragma omp parallel for schedule(static)
      for (int64_t it = 0; it < items; ++it) {
        const int64_t r = it / nblocks, b0 = (it % nblocks) * kBlock;
        const int64_t d = r / kk, tap = r % kk;
        const int64_t len = std::min(kBlock, P - b0);
        T acc_h[kBlock], acc_w[kBlock], acc_m[kBlock];
        const T* dcol = s.col + (d * cpg * kk + tap) * P + b0;
        if (!doffset_block_cl(s.corners + r * P + b0, len, s.x_cl + d * cpg, g.C, cpg, dcol, kk * P,
                              dmask != nullptr, acc_h, acc_w, acc_m))
          doffset_block(s.corners + r * P + b0, len, x + (n * g.C + d * cpg) * HW, HW, dcol, kk * P, cpg,
                        dmask != nullptr, acc_h, acc_w, acc_m);
        const T* mv = s.mvals + r * P + b0;
        T* oh = doffset + ((n * g.dgroups + d) * 2 * kk + 2 * tap) * HoWo + p0 + b0;
        T* ow = oh + HoWo;
        for (int64_t q = 0; q < len; ++q) {
          oh[q] = acc_h[q] * mv[q];
          ow[q] = acc_w[q] * mv[q];
        }
        if (dmask) {
          T* om = dmask + ((n * g.dgroups + d) * kk + tap) * HoWo + p0 + b0;
          for (int64_t q = 0; q < len; ++q) om[q] = acc_m[q];
        }
      }
    }
    transpose_matrix(s.dx_cl, HW, g.C, dx + n * g.C * HW);  // back to NCHW
  }
  if (dbias) {
#pragma omp parallel for schedule(static)
    for (int64_t f = 0; f < g.F; ++f) {
      T acc = T(0);
      for (int64_t n = 0; n < g.N; ++n) {
        const T* d = dout + (n * g.F + f) * HoWo;
        for (int64_t p = 0; p < HoWo; ++p) acc += d[p];
      }
      dbias[f] = acc;
    }
  }
}

#define DCN_INSTANTIATE(T)                                                                        \
  template size_t deform_conv_workspace_bytes<T>(const DeformConvGeom&, bool);                    \
  template void deform_conv_forward<T>(const DeformConvGeom&, const T*, const T*, const T*,      \
                                       const T*, const T*, T*, void*);                            \
  template void deform_conv_backward<T>(const DeformConvGeom&, const T*, const T*, const T*,     \
                                        const T*, const T*, T*, T*, T*, T*, T*, void*);
DCN_INSTANTIATE(float)
DCN_INSTANTIATE(double)

}  // namespace dcnops
