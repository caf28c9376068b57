// CPU kernels of deformable convolution: sampling tables + column chunk + GEMM.
//
// Per image and per chunk of output pixels:
//   1. sampling tables, one entry per (deformable group, tap, pixel): four
//      corner indices and weights (mask folded in), shared by every channel of
//      the group and by all backward passes;
//   2. the column chunk (C*kh*kw x P) gathered from the tables (parallel over rows);
//   3. GEMM with the weights (OpenBLAS, threaded outside our parallel regions).
// Backward reuses the chunk buffer: col -> dW, then dcol = W^T dY -> dX
// (threads own input channels) and dOffset/dMask (threads own pixels):
// deterministic, no atomics.
#include "deform_conv_cpu.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "../common/blas.h"
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
constexpr size_t kAlign = 64;

inline size_t align_up(size_t b) { return (b + kAlign - 1) / kAlign * kAlign; }

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
  T* x_cl;   // forward only: one image channels-last, x_cl[pixel * C + c]

  static size_t bytes(const DeformConvGeom& g, int64_t P, bool backward) {
    const int64_t entries = g.dgroups * g.taps() * P;
    size_t b = align_up(entries * sizeof(Sample<T>)) + align_up(g.C * g.taps() * P * sizeof(T));
    if (backward) b += align_up(entries * sizeof(Corners<T>)) + align_up(entries * sizeof(T));
    else b += align_up(g.C * g.H * g.W * sizeof(T));
    return b;
  }

  Scratch(const DeformConvGeom& g, int64_t P, bool backward, void* ws) {
    const int64_t entries = g.dgroups * g.taps() * P;
    char* p = static_cast<char*>(ws);
    samples = reinterpret_cast<Sample<T>*>(p);
    p += align_up(entries * sizeof(Sample<T>));
    col = reinterpret_cast<T*>(p);
    p += align_up(g.C * g.taps() * P * sizeof(T));
    corners = nullptr;
    mvals = nullptr;
    x_cl = nullptr;
    if (backward) {
      corners = reinterpret_cast<Corners<T>*>(p);
      p += align_up(entries * sizeof(Corners<T>));
      mvals = reinterpret_cast<T*>(p);
    } else {
      x_cl = reinterpret_cast<T*>(p);
    }
  }
};

// Fills the sampling tables of image n, pixels [p0, p0 + P).
template <typename T, bool kGrad>
void build_tables(const DeformConvGeom& g, int64_t n, int64_t p0, int64_t P, const T* offset,
                  const T* mask, Scratch<T>* s) {
  const int64_t kk = g.taps(), HoWo = g.out_pixels();
  const int64_t rows = g.dgroups * kk;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t d = r / kk, tap = r % kk;
    const int64_t i = tap / g.kw, j = tap % g.kw;
    const T* off_h = offset + ((n * g.dgroups + d) * 2 * kk + 2 * tap) * HoWo;
    const T* off_w = off_h + HoWo;
    const T* m = mask ? mask + ((n * g.dgroups + d) * kk + tap) * HoWo : nullptr;
    const TableRow<T> out = table_row(s->samples, r, P);
    Corners<T> c;
    for (int64_t pp = 0; pp < P; ++pp) {
      const int64_t p = p0 + pp;
      const int64_t oh = p / g.Wo, ow = p % g.Wo;
      const int64_t base_h = oh * g.sh - g.ph, base_w = ow * g.sw - g.pw;
      const T h = static_cast<T>(base_h + i * g.dh) + off_h[p];
      const T w = static_cast<T>(base_w + j * g.dw) + off_w[p];
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
  }
}

// row[pp] = bilinear sample of plane at table entry pp (corners_dot's order).
template <typename T>
void sample_row(const T* plane, const TableRow<T>& t, int64_t P, T* row) {
  for (int64_t pp = 0; pp < P; ++pp) {
    const int32_t idx[4] = {t.idx[pp], t.idx[P + pp], t.idx[2 * P + pp], t.idx[3 * P + pp]};
    const T w[4] = {t.w[pp], t.w[P + pp], t.w[2 * P + pp], t.w[3 * P + pp]};
    row[pp] = corners_dot(plane, idx, w);
  }
}

// col[(c*kk + tap) * P + pp] = sampled value of channel c at tap, pixel pp.
template <typename T>
void build_columns(const DeformConvGeom& g, int64_t n, int64_t P, const T* x, Scratch<T>* s) {
  const int64_t kk = g.taps(), HW = g.H * g.W, cpg = g.C / g.dgroups;
  const int64_t rows = g.C * kk;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r / kk, tap = r % kk;
    const TableRow<T> t = table_row(s->samples, (c / cpg) * kk + tap, P);
    sample_row(x + (n * g.C + c) * HW, t, P, s->col + r * P);
  }
}

// Forward sampling, channels-last: one table entry serves a run of contiguous
// channels (a vector loop, no gathers); 16 pixels at a time go through a small
// tile and are transposed into the usual column layout, so the GEMM (and its
// summation order) is the same as backward's.

// x_cl[p * C + c] = x[c * HW + p] for one image, in 32 x 32 tiles.
template <typename T>
void to_channels_last(const T* x, int64_t C, int64_t HW, T* x_cl) {
  constexpr int64_t kTile = 32;
#pragma omp parallel for schedule(static)
  for (int64_t p0 = 0; p0 < HW; p0 += kTile) {
    const int64_t p1 = std::min(p0 + kTile, HW);
    for (int64_t c0 = 0; c0 < C; c0 += kTile) {
      const int64_t c1 = std::min(c0 + kTile, C);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t p = p0; p < p1; ++p) x_cl[p * C + c] = x[c * HW + p];
    }
  }
}

// col rows c (stride ld) <- tile[q * run + c], q < nq pixels.
template <typename T>
void store_tile(const T* tile, int64_t nq, int64_t run, T* col, int64_t ld) {
  for (int64_t c = 0; c < run; ++c)
    for (int64_t q = 0; q < nq; ++q) col[c * ld + q] = tile[q * run + c];
}

#if defined(__AVX512F__)
template <>
void store_tile<float>(const float* tile, int64_t nq, int64_t run, float* col, int64_t ld) {
  const int64_t nq16 = run % 16 == 0 ? nq / 16 * 16 : 0;
  for (int64_t c = 0; c < run; c += 16)
    for (int64_t q = 0; q < nq16; q += 16) transpose16x16(tile + q * run + c, run, col + c * ld + q, ld);
  for (int64_t c = 0; c < run; ++c)
    for (int64_t q = nq16; q < nq; ++q) col[c * ld + q] = tile[q * run + c];
}
#endif

// Same columns as build_columns, bit for bit: each value is computed as in
// corners_dot (w0*v0 + w1*v1 + w2*v2 + w3*v3).
template <typename T>
void build_columns_cl(const DeformConvGeom& g, int64_t P, const T* x_cl, Scratch<T>* s) {
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
        store_tile(tile, nq, run, s->col + (c0 * kk + tap) * P + q0, kk * P);
      }
    }
  }
}

template <typename T>
void fill_zero(T* p, int64_t count) {
  if (!p) return;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; i += 65536) std::memset(p + i, 0, sizeof(T) * std::min<int64_t>(65536, count - i));
}

}  // namespace

int64_t deform_conv_chunk(const DeformConvGeom& g, size_t elem_bytes) {
  const int64_t per_pixel_col = g.C * g.taps() * int64_t(elem_bytes);
  const int64_t per_pixel_tab = g.dgroups * g.taps() * int64_t(elem_bytes == 4 ? 100 : 168);
  int64_t P = std::min(g.col_budget_bytes / std::max<int64_t>(per_pixel_col, 1),
                       kTableBudget / std::max<int64_t>(per_pixel_tab, 1));
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
    to_channels_last(x + n * g.C * HW, g.C, HW, s.x_cl);
    for (int64_t p0 = 0; p0 < HoWo; p0 += P_max) {
      const int64_t P = std::min(P_max, HoWo - p0);
      build_tables<T, false>(g, n, p0, P, offset, mask, &s);
      build_columns_cl(g, P, s.x_cl, &s);
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        gemm(false, false, Fg, P, Kg, T(1), weight + gi * Fg * Kg, Kg, s.col + gi * Kg * P, P, T(0),
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
  fill_zero(dx, g.N * g.C * HW);
  fill_zero(dweight, g.F * Kg);

  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t p0 = 0; p0 < HoWo; p0 += P_max) {
      const int64_t P = std::min(P_max, HoWo - p0);
      build_tables<T, true>(g, n, p0, P, offset, mask, &s);
      build_columns(g, n, P, x, &s);
      const T* dy = dout + n * g.F * HoWo + p0;
      for (int64_t gi = 0; gi < g.groups; ++gi) {  // dW += dY col^T
        gemm(false, true, Fg, Kg, P, T(1), dy + gi * Fg * HoWo, HoWo, s.col + gi * Kg * P, P, T(1),
             dweight + gi * Fg * Kg, Kg);
      }
      for (int64_t gi = 0; gi < g.groups; ++gi) {  // dcol = W^T dY (overwrites col)
        gemm(true, false, Kg, P, Fg, T(1), weight + gi * Fg * Kg, Kg, dy + gi * Fg * HoWo, HoWo, T(0),
             s.col + gi * Kg * P, P);
      }
      // dX: each thread owns whole input channels.
#pragma omp parallel for schedule(static)
      for (int64_t c = 0; c < g.C; ++c) {
        T* plane = dx + (n * g.C + c) * HW;
        for (int64_t tap = 0; tap < kk; ++tap) {
          const TableRow<T> t = table_row(s.samples, (c / cpg) * kk + tap, P);
          const T* drow = s.col + (c * kk + tap) * P;
          for (int64_t pp = 0; pp < P; ++pp) {
            const T v = drow[pp];
            plane[t.idx[pp]] += t.w[pp] * v;
            plane[t.idx[P + pp]] += t.w[P + pp] * v;
            plane[t.idx[2 * P + pp]] += t.w[2 * P + pp] * v;
            plane[t.idx[3 * P + pp]] += t.w[3 * P + pp] * v;
          }
        }
      }
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
        const Corners<T>* cr = s.corners + r * P + b0;
        T acc_h[kBlock], acc_w[kBlock], acc_m[kBlock];
        for (int64_t q = 0; q < len; ++q) acc_h[q] = acc_w[q] = acc_m[q] = T(0);
        for (int64_t c = d * cpg; c < (d + 1) * cpg; ++c) {
          const T* plane = x + (n * g.C + c) * HW;
          const T* drow = s.col + (c * kk + tap) * P + b0;
          for (int64_t q = 0; q < len; ++q) {
            const Corners<T>& e = cr[q];
            const T v0 = plane[e.idx[0]], v1 = plane[e.idx[1]], v2 = plane[e.idx[2]], v3 = plane[e.idx[3]];
            const T dv = drow[q];
            acc_h[q] += dv * (e.gh[0] * v0 + e.gh[1] * v1 + e.gh[2] * v2 + e.gh[3] * v3);
            acc_w[q] += dv * (e.gw[0] * v0 + e.gw[1] * v1 + e.gw[2] * v2 + e.gw[3] * v3);
            if (dmask) acc_m[q] += dv * (e.w[0] * v0 + e.w[1] * v1 + e.w[2] * v2 + e.w[3] * v3);
          }
        }
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
