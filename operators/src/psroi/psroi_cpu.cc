// CPU kernels of deformable PS RoI pooling.
//
// RoIs are processed in chunks (bounded scratch memory). Per chunk:
//   1. per-RoI boxes (start, size, bin and sub-bin sizes, sample offsets);
//   2. RoIs grouped by batch image (stable, so ascending RoI order);
//   3. a table of bin start points (wstart, hstart) with the offsets applied,
//      laid out [class][bin][roi], so the main pass reads it contiguously;
//   4. the main pass: threads own data planes (batch image, channel) and visit
//      the bins of that image's RoIs that read the plane; the plane stays in
//      cache. Forward writes each output once. Backward scatters into the
//      owned dData plane (no atomics, fixed order) and writes one partial
//      offset gradient per (roi, ctop, bin); a reduction pass owned by
//      (roi, class, part cell) sums them into dTrans in a fixed order.
// Sample positions are separable: validity, clamping and corners depend on
// the column (iw) or the row (ih) alone, so each bin builds spp columns and
// spp rows; the valid count is n_valid_cols * n_valid_rows. Forward then sums
// the samples with contrib's terms in contrib's order. Backward uses the
// rank-1 structure of the summed weights instead: with Wy[y] the summed row
// weights, dP += dv * Wy (x) Wx, d/dx(offset) = sum_y Wy[y] G(y) and
// d/dy(offset) = sum_ih H(ceil row) - H(floor row), where H(y) / G(y) are the
// row's horizontal interpolation / difference sums over the valid columns;
// each needed row is read once (equal to contrib up to rounding).
//
// Coordinates are computed with the same operation sequence as contrib and
// without FMA contraction (pragma below), so skip/clamp decisions and corners
// are exactly contrib's and the forward result matches it bit for bit.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "psroi_cpu.h"

#include <omp.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <climits>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../common/bilinear.h"
#include "psroi_geometry.h"
#include "../common/memory.h"
#include "../common/parallel.h"
#include "../common/hsum.h"
#include "../common/transpose.h"

namespace dcnops {
namespace {

constexpr int64_t kChunkBudget = int64_t(64) << 20;  // bytes of per-RoI tables per chunk

template <typename T>
struct Box {
  int64_t batch;
  RoiBox<T> box;  // feature-map coordinates
};

template <typename T>
size_t per_roi_bytes(const PSROIGeom& g, bool backward) {
  size_t b = sizeof(Box<T>) + 2 * g.spp * sizeof(T) + sizeof(int64_t) +
             g.num_classes * g.bins() * 2 * sizeof(T);
  if (backward && !g.no_trans) b += g.output_dim * g.bins() * 2 * sizeof(T);
  return b;
}

template <typename T>
int64_t chunk_rois(const PSROIGeom& g, bool backward) {
  if (g.R <= 0) return 0;
  const int64_t per = static_cast<int64_t>(per_roi_bytes<T>(g, backward));
  return std::max<int64_t>(1, std::min<int64_t>(g.R, kChunkBudget / per));
}

// Scratch layout of one call, carved from one buffer.
template <typename T>
struct Scratch {
  int32_t* group_first;  // (group^2 + 1): bins reading group cell k are group_bins[first[k]..first[k+1])
  int32_t* group_bins;   // (bins)
  int32_t* part_first;   // (part^2 + 1): same for the offset (trans) cells
  int32_t* part_bins;    // (bins)
  int64_t* image_first;  // (N + 1): RoIs of image b are order[first[b]..first[b+1])
  int64_t* order;        // (Rc) chunk-local RoI indices grouped by image
  Box<T>* boxes;         // (Rc)
  T* offs;               // (Rc, 2, spp): iw * sub_w, then ih * sub_h
  T* table;              // (classes, bins, Rc, 2): wstart, hstart
  T* partial;            // (Rc, output_dim, bins, 2): backward offset gradients

  static size_t bytes(const PSROIGeom& g, int64_t Rc, bool backward) {
    const int64_t gg = g.group * g.group, pp = g.part * g.part, B = g.bins();
    size_t b = align_up((gg + 1) * 4) + align_up(B * 4) + align_up((pp + 1) * 4) + align_up(B * 4) +
               align_up((g.N + 1) * 8) + align_up(Rc * 8) + align_up(Rc * sizeof(Box<T>)) +
               align_up(Rc * 2 * g.spp * sizeof(T)) + align_up(g.num_classes * B * Rc * 2 * sizeof(T));
    if (backward && !g.no_trans) b += align_up(Rc * g.output_dim * B * 2 * sizeof(T));
    return b;
  }

  Scratch(const PSROIGeom& g, int64_t Rc, bool backward, void* ws) {
    const int64_t gg = g.group * g.group, pp = g.part * g.part, B = g.bins();
    char* p = static_cast<char*>(ws);
    auto take = [&p](size_t n) {
      char* q = p;
      p += align_up(n);
      return q;
    };
    group_first = reinterpret_cast<int32_t*>(take((gg + 1) * 4));
    group_bins = reinterpret_cast<int32_t*>(take(B * 4));
    part_first = reinterpret_cast<int32_t*>(take((pp + 1) * 4));
    part_bins = reinterpret_cast<int32_t*>(take(B * 4));
    image_first = reinterpret_cast<int64_t*>(take((g.N + 1) * 8));
    order = reinterpret_cast<int64_t*>(take(Rc * 8));
    boxes = reinterpret_cast<Box<T>*>(take(Rc * sizeof(Box<T>)));
    offs = reinterpret_cast<T*>(take(Rc * 2 * g.spp * sizeof(T)));
    table = reinterpret_cast<T*>(take(g.num_classes * B * Rc * 2 * sizeof(T)));
    partial = backward && !g.no_trans ? reinterpret_cast<T*>(take(Rc * g.output_dim * B * 2 * sizeof(T)))
                                      : nullptr;
  }
};

// Bucket lists: key[i] in [0, K) for i in [0, n) -> first (K+1), items (n), ascending within a key.
void bucket(const std::vector<int64_t>& key, int64_t K, int32_t* first, int32_t* items) {
  std::fill(first, first + K + 1, 0);
  for (int64_t k : key) ++first[k + 1];
  for (int64_t k = 0; k < K; ++k) first[k + 1] += first[k];
  std::vector<int32_t> fill(first, first + K);
  for (size_t i = 0; i < key.size(); ++i) items[fill[key[i]]++] = static_cast<int32_t>(i);
}

// Which group cell and which offset cell each bin uses (contrib's formulas,
// evaluated in T; clamped for memory safety).
template <typename T>
void build_bin_maps(const PSROIGeom& g, Scratch<T>* s) {
  const int64_t P = g.pooled, G = g.group, Q = g.part;
  std::vector<int64_t> gkey(P * P), pkey(P * P);
  for (int64_t ph = 0; ph < P; ++ph) {
    for (int64_t pw = 0; pw < P; ++pw) {
      gkey[ph * P + pw] = psroi_group_cell<T>(ph, P, G) * G + psroi_group_cell<T>(pw, P, G);
      pkey[ph * P + pw] = psroi_part_cell<T>(ph, P, Q) * Q + psroi_part_cell<T>(pw, P, Q);
    }
  }
  bucket(gkey, G * G, s->group_first, s->group_bins);
  bucket(pkey, Q * Q, s->part_first, s->part_bins);
}

// Steps 1-3 for RoIs [r0, r0 + Rc).
// Called by every thread of the enclosing parallel region (orphaned
// worksharing; each construct ends with a barrier).
template <typename T>
void build_chunk(const PSROIGeom& g, const T* rois, const T* trans, int64_t r0, int64_t Rc, Scratch<T>* s) {
  const T scale = static_cast<T>(g.spatial_scale);
  const T tstd = static_cast<T>(g.trans_std);
  const int64_t P = g.pooled, B = g.bins(), spp = g.spp, Q = g.part;
#pragma omp for schedule(static)
  for (int64_t rl = 0; rl < Rc; ++rl) {
    const T* roi = rois + (r0 + rl) * 5;
    Box<T>& b = s->boxes[rl];
    b.batch = static_cast<int64_t>(roi[0]);
    b.box = psroi_box<T>(roi[1], roi[2], roi[3], roi[4], scale, P);
    const T sub_w = b.box.bin_w / static_cast<T>(spp), sub_h = b.box.bin_h / static_cast<T>(spp);
    T* o = s->offs + rl * 2 * spp;
    for (int64_t i = 0; i < spp; ++i) {
      o[i] = static_cast<T>(i) * sub_w;
      o[spp + i] = static_cast<T>(i) * sub_h;
    }
  }
  // RoIs by image (serial: O(Rc + N)).
#pragma omp single
  {
    std::fill(s->image_first, s->image_first + g.N + 1, 0);
    for (int64_t rl = 0; rl < Rc; ++rl) {
      const int64_t b = s->boxes[rl].batch;
      if (b >= 0 && b < g.N) ++s->image_first[b + 1];  // invalid indices were rejected; never index with one
    }
    for (int64_t b = 0; b < g.N; ++b) s->image_first[b + 1] += s->image_first[b];
    std::vector<int64_t> fill(s->image_first, s->image_first + g.N);
    for (int64_t rl = 0; rl < Rc; ++rl) {
      const int64_t b = s->boxes[rl].batch;
      if (b >= 0 && b < g.N) s->order[fill[b]++] = rl;
    }
  }
  // Bin start points with the offsets applied.
  const int64_t rows = g.num_classes * B;
#pragma omp for schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t cls = row / B, bin = row % B;
    const int64_t ph = bin / P, pw = bin % P;
    const int64_t qh = psroi_part_cell<T>(ph, P, Q), qw = psroi_part_cell<T>(pw, P, Q);
    T* t = s->table + row * Rc * 2;
    for (int64_t rl = 0; rl < Rc; ++rl) {
      const RoiBox<T>& b = s->boxes[rl].box;
      T tx = T(0), ty = T(0);
      if (!g.no_trans) {
        const T* tr = trans + ((r0 + rl) * g.num_classes + cls) * 2 * Q * Q + qh * Q + qw;
        tx = tr[0] * tstd;
        ty = tr[Q * Q] * tstd;
      }
      t[2 * rl] = psroi_bin_start(pw, b.bin_w, b.start_w, tx, b.roi_w);
      t[2 * rl + 1] = psroi_bin_start(ph, b.bin_h, b.start_h, ty, b.roi_h);
    }
  }
}

// Valid sample columns (or rows) of one bin, packed at the front: corner
// indices and fractions by the PSROI rule (psroi_axis, bilinear.h). SPP > 0
// fixes the sample count at compile time (loops unroll, the arrays live in
// registers); SPP == 0 takes it at run time.
template <typename T, int SPP>
struct Axis {
  static constexpr int kCap = SPP > 0 ? SPP : 1;
  int32_t lo_f[kCap], hi_f[kCap];
  T frac_f[kCap];
  std::vector<int32_t> lo_v, hi_v;
  std::vector<T> frac_v;
  int32_t* lo;
  int32_t* hi;
  T* frac;
  explicit Axis(int64_t spp) {
    if (SPP > 0) {
      lo = lo_f;
      hi = hi_f;
      frac = frac_f;
    } else {
      lo_v.resize(spp);
      hi_v.resize(spp);
      frac_v.resize(spp);
      lo = lo_v.data();
      hi = hi_v.data();
      frac = frac_v.data();
    }
  }
  Axis(const Axis&) = delete;
  Axis& operator=(const Axis&) = delete;

  // Returns the number of valid samples.
  inline int64_t build(T start, const T* offs, int64_t spp_rt, int64_t n) {
    const int64_t spp = SPP > 0 ? SPP : spp_rt;
    int64_t k = 0;
    for (int64_t i = 0; i < spp; ++i) k += psroi_axis(start + offs[i], n, &lo[k], &hi[k], &frac[k]) ? 1 : 0;
    return k;
  }
};

// Per-row scratch of one bin (capacity 2*spp rows): horizontal interpolations
// H, horizontal differences G and summed row weights Wy.
template <typename T, int SPP>
struct RowCache {
  static constexpr int kCap = SPP > 0 ? 2 * SPP : 1;
  T h_f[kCap], g_f[kCap], w_f[kCap];
  std::vector<T> h_v, g_v, w_v;
  T* h;
  T* g;
  T* w;
  explicit RowCache(int64_t spp) {
    if (SPP > 0) {
      h = h_f;
      g = g_f;
      w = w_f;
    } else {
      h_v.resize(2 * spp);
      g_v.resize(2 * spp);
      w_v.resize(2 * spp);
      h = h_v.data();
      g = g_v.data();
      w = w_v.data();
    }
  }
  RowCache(const RowCache&) = delete;
  RowCache& operator=(const RowCache&) = delete;
};

// Sum over a bin's valid columns of the horizontal interpolation in one row
// (h) and of the horizontal differences row[ceil] - row[floor] (g).
template <typename T, int SPP>
inline void row_interp_diff(const T* row, const Axis<T, SPP>& xs, int64_t nw, T* h, T* g) {
  T acc = T(0), dif = T(0);
  for (int64_t i = 0; i < nw; ++i) {
    const T v0 = row[xs.lo[i]], v1 = row[xs.hi[i]];
    acc += (T(1) - xs.frac[i]) * v0 + xs.frac[i] * v1;
    dif += v1 - v0;
  }
  *h = acc;
  *g = dif;
}

// drow[x] += a * (column weight of x) for the bin's valid columns.
template <typename T, int SPP>
inline void scatter_row(T* drow, const Axis<T, SPP>& xs, int64_t nw, T a) {
  for (int64_t i = 0; i < nw; ++i) {
    drow[xs.lo[i]] += a * (T(1) - xs.frac[i]);
    drow[xs.hi[i]] += a * xs.frac[i];
  }
}

// Requests a whole data plane ahead of the scattered sample reads: in order,
// the hardware prefetcher streams it; sample order would miss line by line.
template <typename T>
inline void prefetch_plane(const T* p, int64_t n) {
  constexpr int64_t kLine = 64 / sizeof(T);
  for (int64_t i = 0; i < n; i += kLine) __builtin_prefetch(p + i, 0, 3);
}

// The forward's plane loop, shared by its scalar and vector forms (every thread
// of the enclosing parallel region calls it): threads own data planes (units);
// chunks of GG units = all group cells of one (image, ctop), so the output rows
// (roi, ctop, :) they fill stay in that thread's cache. body(plane, ctop, cell,
// cls, i0, i1) visits one plane; [i0, i1) are its image's RoIs in s.order.
template <typename T, typename Body>
inline void for_each_plane(const PSROIGeom& g, const Scratch<T>& s, const T* data, Body&& body) {
  const int64_t HW = g.H * g.W, GG = g.group * g.group, cpc = g.channels_per_class();
#pragma omp for schedule(dynamic, GG)
  for (int64_t unit = 0; unit < g.N * g.C; ++unit) {
    const int64_t b = unit / g.C, c = unit % g.C;
    const int64_t ctop = c / GG, cell = c % GG, cls = ctop / cpc;
    const int64_t i0 = s.image_first[b], i1 = s.image_first[b + 1];
    if (i0 == i1) continue;
    const T* plane = data + unit * HW;
    prefetch_plane(plane, HW);
    if (unit + 1 < g.N * g.C) prefetch_plane(plane + HW, HW);  // usually this thread's next unit
    body(plane, ctop, cell, cls, i0, i1);
  }
}

}  // namespace

template <typename T>
RoiProblem psroi_check_rois(const PSROIGeom& g, const T* rois) {
  RoiProblem p;
  for (int64_t r = 0; r < g.R; ++r) {
    const T* v = rois + r * 5;
    for (int k = 0; k < 5; ++k) {
      if (!std::isfinite(v[k])) {
        p.roi = r;
        p.what = "is not finite";
        p.value = static_cast<double>(v[k]);
        return p;
      }
    }
    if (v[0] != std::floor(v[0])) {
      p.roi = r;
      p.what = "batch index is not an integer";
      p.value = static_cast<double>(v[0]);
      return p;
    }
    if (v[0] < T(0) || v[0] >= static_cast<T>(g.N)) {
      p.roi = r;
      p.what = "batch index is out of range";
      p.value = static_cast<double>(v[0]);
      return p;
    }
    if (v[3] < v[1]) {
      p.roi = r;
      p.what = "has x2 < x1";
      p.value = static_cast<double>(v[3]);
      return p;
    }
    if (v[4] < v[2]) {
      p.roi = r;
      p.what = "has y2 < y1";
      p.value = static_cast<double>(v[4]);
      return p;
    }
  }
  return p;
}

template <typename T>
size_t psroi_workspace_bytes(const PSROIGeom& g, bool backward) {
  return Scratch<T>::bytes(g, chunk_rois<T>(g, backward), backward);
}

namespace {

#if defined(__AVX512F__)
// GCC 12 flags the intrinsics' own undefined operands.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// psroi_axis for 16 lanes: the same comparisons, clamps and conversions, so
// the same validity, corners and fractions bit for bit. Invalid lanes (NaN
// included) get x = 0 before the conversion; `live` masks lanes without a RoI.
struct Axis16 {
  __m512i lo, hi;
  __m512 frac;
  __mmask16 ok;
};

inline Axis16 psroi_axis16(__m512 x, int64_t n, __mmask16 live) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512 last = _mm512_set1_ps(static_cast<float>(n - 1));
  Axis16 a;
  a.ok = live & _mm512_cmp_ps_mask(x, _mm512_set1_ps(-0.5f), _CMP_GE_OQ) &
         _mm512_cmp_ps_mask(x, _mm512_set1_ps(static_cast<float>(n) - 0.5f), _CMP_LE_OQ);
  x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, last, _CMP_GT_OQ), x, last);
  x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), x, zero);
  x = _mm512_mask_blend_ps(a.ok, zero, x);
  a.lo = _mm512_cvttps_epi32(x);
  const __m512 lof = _mm512_cvtepi32_ps(a.lo);
  a.hi = _mm512_mask_add_epi32(a.lo, _mm512_cmp_ps_mask(x, lof, _CMP_GT_OQ), a.lo, _mm512_set1_epi32(1));
  a.frac = _mm512_sub_ps(x, lof);
  return a;
}

// forward_pass for float, one RoI at a time with its SPP x SPP samples in
// the lanes of one vector (lane k = ih * SPP + iw). The bin's image rows are
// read with one load each and the corners picked out of them by permutes
// (gathers when the bin is 16 or more pixels wide). Per lane the terms are the
// scalar pass's; invalid samples become -0, which adding leaves any sum
// unchanged, so after transposing 16 RoIs' samples the in-order sum over
// sample rows is the scalar pass's sum bit for bit.
template <int SPP>
void forward_pass16(const PSROIGeom& g, const Scratch<float>& s, int64_t r0, int64_t Rc, const float* data,
                    float* out) {
  static_assert(SPP >= 1 && SPP * SPP <= 16, "samples must fit one vector");
  constexpr int kS2 = SPP * SPP;
  constexpr __mmask16 kLanes = static_cast<__mmask16>((1u << kS2) - 1);
  constexpr __mmask16 kRow = static_cast<__mmask16>((1u << SPP) - 1);
  constexpr __mmask16 kOffs = static_cast<__mmask16>((1u << (2 * SPP)) - 1);
  const int64_t B = g.bins();
  const __m512 one = _mm512_set1_ps(1.f), zero = _mm512_setzero_ps(), nzero = _mm512_set1_ps(-0.f);
  const __m512i Wi = _mm512_set1_epi32(static_cast<int32_t>(g.W)), k16 = _mm512_set1_epi32(16);
  alignas(64) int32_t iw_of[16], ih_of[16];  // lane -> offs entry of its column / row
  for (int k = 0; k < 16; ++k) {
    iw_of[k] = k < kS2 ? k % SPP : 0;
    ih_of[k] = k < kS2 ? SPP + k / SPP : SPP;
  }
  const __m512i iw_idx = _mm512_load_si512(iw_of), ih_idx = _mm512_load_si512(ih_of);
  for_each_plane(g, s, data, [&](const float* plane, int64_t ctop, int64_t cell, int64_t cls, int64_t i0, int64_t i1) {
    for (int32_t k = s.group_first[cell]; k < s.group_first[cell + 1]; ++k) {
      const int64_t bin = s.group_bins[k];
      const float* tab = s.table + (cls * B + bin) * Rc * 2;
      for (int64_t i = i0; i < i1; i += 16) {
        const int n = static_cast<int>(std::min<int64_t>(16, i1 - i));
        alignas(64) float tile[16 * 16], sums[16 * 16];
        alignas(64) int32_t count[16] = {};
        for (int l = 0; l < n; ++l) {
          const int64_t rl = s.order[i + l];
          const __m512 o = _mm512_maskz_loadu_ps(kOffs, s.offs + rl * 2 * SPP);
          const __m512 xs = _mm512_add_ps(_mm512_set1_ps(tab[2 * rl]), _mm512_permutexvar_ps(iw_idx, o));
          const __m512 ys = _mm512_add_ps(_mm512_set1_ps(tab[2 * rl + 1]), _mm512_permutexvar_ps(ih_idx, o));
          const Axis16 xa = psroi_axis16(xs, g.W, kLanes), ya = psroi_axis16(ys, g.H, kLanes);
          const __mmask16 m = xa.ok & ya.ok;
          count[l] = __builtin_popcount(m);
          if (!m) {
            _mm512_store_ps(tile + l * 16, nzero);
            continue;
          }
          const __m512i rlo = _mm512_mullo_epi32(ya.lo, Wi), rhi = _mm512_mullo_epi32(ya.hi, Wi);
          alignas(64) int32_t xl[16];
          _mm512_store_si512(xl, xa.lo);
          const int32_t x0 = xl[__builtin_ctz(m)];  // a valid column: 0 <= x0 < W
          const __m512i clo = _mm512_sub_epi32(xa.lo, _mm512_set1_epi32(x0));
          const __m512i chi = _mm512_sub_epi32(xa.hi, _mm512_set1_epi32(x0));
          __m512 v00 = zero, v10 = zero, v01 = zero, v11 = zero;
          // unsigned compare: negative offsets count as out of the window too
          const __mmask16 near = _mm512_mask_cmplt_epu32_mask(m, clo, k16) & _mm512_mask_cmplt_epu32_mask(m, chi, k16);
          if (near == m) {
            alignas(64) int32_t yl[16], yh[16];
            _mm512_store_si512(yl, rlo);
            _mm512_store_si512(yh, rhi);
            const int64_t room = g.W - x0;  // the loads stay inside the row
            const __mmask16 kload = room >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << room) - 1);
            for (int ih = 0; ih < SPP; ++ih) {
              const __mmask16 kr = m & static_cast<__mmask16>(kRow << (ih * SPP));
              if (!kr) continue;
              const __m512 lo = _mm512_maskz_loadu_ps(kload, plane + yl[ih * SPP] + x0);
              const __m512 hi = _mm512_maskz_loadu_ps(kload, plane + yh[ih * SPP] + x0);
              v00 = _mm512_mask_permutexvar_ps(v00, kr, clo, lo);
              v01 = _mm512_mask_permutexvar_ps(v01, kr, chi, lo);
              v10 = _mm512_mask_permutexvar_ps(v10, kr, clo, hi);
              v11 = _mm512_mask_permutexvar_ps(v11, kr, chi, hi);
            }
          } else {
            v00 = _mm512_mask_i32gather_ps(zero, m, _mm512_add_epi32(rlo, xa.lo), plane, 4);
            v10 = _mm512_mask_i32gather_ps(zero, m, _mm512_add_epi32(rhi, xa.lo), plane, 4);
            v01 = _mm512_mask_i32gather_ps(zero, m, _mm512_add_epi32(rlo, xa.hi), plane, 4);
            v11 = _mm512_mask_i32gather_ps(zero, m, _mm512_add_epi32(rhi, xa.hi), plane, 4);
          }
          const __m512 dx = xa.frac, dy = ya.frac;
          const __m512 ax = _mm512_sub_ps(one, dx), by = _mm512_sub_ps(one, dy);
          // (1 - dx) * (1 - dy) * v00 + (1 - dx) * dy * v10 + dx * (1 - dy) * v01 + dx * dy * v11, left to right
          __m512 val = _mm512_mul_ps(_mm512_mul_ps(ax, by), v00);
          val = _mm512_add_ps(val, _mm512_mul_ps(_mm512_mul_ps(ax, dy), v10));
          val = _mm512_add_ps(val, _mm512_mul_ps(_mm512_mul_ps(dx, by), v01));
          val = _mm512_add_ps(val, _mm512_mul_ps(_mm512_mul_ps(dx, dy), v11));
          _mm512_store_ps(tile + l * 16, _mm512_mask_blend_ps(m, nzero, val));
        }
        for (int l = n; l < 16; ++l) _mm512_store_ps(tile + l * 16, nzero);
        transpose16x16(tile, 16, sums, 16);  // sums row k: sample k of the 16 RoIs
        __m512 sum = zero;
        for (int j = 0; j < kS2; ++j) sum = _mm512_add_ps(sum, _mm512_load_ps(sums + j * 16));
        const __m512i cnt = _mm512_load_si512(count);
        alignas(64) float res[16];
        _mm512_store_ps(res, _mm512_maskz_div_ps(_mm512_cmpneq_epi32_mask(cnt, _mm512_setzero_si512()), sum,
                                                 _mm512_cvtepi32_ps(cnt)));
        for (int l = 0; l < n; ++l) out[((r0 + s.order[i + l]) * g.output_dim + ctop) * B + bin] = res[l];
      }
    }
  });
}
#pragma GCC diagnostic pop
#endif

#if !defined(__AVX512F__) && defined(__AVX2__)
// The AVX2 form of psroi_axis16 (machines without AVX-512, e.g. AMD Zen 3):
// lane masks are all-ones vectors, the same operations, so the same bits.
struct Axis8 {
  __m256i lo, hi;
  __m256 frac, ok;
};

// last: n - 1 and up: n - 0.5 per lane (columns and rows share one vector).
inline Axis8 psroi_axis8(__m256 x, __m256 last, __m256 up, __m256 live) {
  const __m256 zero = _mm256_setzero_ps();
  Axis8 a;
  a.ok = _mm256_and_ps(live, _mm256_and_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-0.5f), _CMP_GE_OQ),
                                           _mm256_cmp_ps(x, up, _CMP_LE_OQ)));
  x = _mm256_blendv_ps(x, last, _mm256_cmp_ps(x, last, _CMP_GT_OQ));
  x = _mm256_blendv_ps(x, zero, _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
  x = _mm256_and_ps(x, a.ok);  // invalid lanes (NaN included) -> +0 before the conversion
  a.lo = _mm256_cvttps_epi32(x);
  const __m256 lof = _mm256_cvtepi32_ps(a.lo);
  a.hi = _mm256_sub_epi32(a.lo, _mm256_castps_si256(_mm256_cmp_ps(x, lof, _CMP_GT_OQ)));  // +1 where x > lo
  a.frac = _mm256_sub_ps(x, lof);
  return a;
}

// forward_pass16 in 8-lane vectors: one RoI's SPP x SPP samples in one or two
// vectors (lane k = ih * SPP + iw), corners from one masked load per image row
// and permutes when the valid corners lie within 8 columns (masked gathers
// otherwise), invalid samples -0; 8 RoIs' samples are transposed and summed in
// sample order, so the sums are the scalar pass's bit for bit.
template <int SPP>
void forward_pass8(const PSROIGeom& g, const Scratch<float>& s, int64_t r0, int64_t Rc, const float* data,
                   float* out) {
  static_assert(SPP >= 1 && SPP * SPP <= 16, "samples must fit two vectors");
  constexpr int kS2 = SPP * SPP, kV = (kS2 + 7) / 8;
  const int64_t B = g.bins();
  const __m256 one = _mm256_set1_ps(1.f), zero = _mm256_setzero_ps(), nzero = _mm256_set1_ps(-0.f);
  const __m256i Wi = _mm256_set1_epi32(static_cast<int32_t>(g.W));
  alignas(32) int32_t iw_of[16], ih_of[16], live_of[16], off_of[8];  // lane -> offs entry of its column / row
  for (int k = 0; k < 16; ++k) {
    iw_of[k] = k < kS2 ? k % SPP : 0;
    ih_of[k] = k < kS2 ? SPP + k / SPP : SPP;
    live_of[k] = k < kS2 ? -1 : 0;
  }
  for (int k = 0; k < 8; ++k) off_of[k] = k < 2 * SPP ? -1 : 0;
  __m256i iw_idx[kV], ih_idx[kV];
  __m256 live[kV];
  for (int h = 0; h < kV; ++h) {
    iw_idx[h] = _mm256_load_si256(reinterpret_cast<const __m256i*>(iw_of + 8 * h));
    ih_idx[h] = _mm256_load_si256(reinterpret_cast<const __m256i*>(ih_of + 8 * h));
    live[h] = _mm256_castsi256_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(live_of + 8 * h)));
  }
  const __m256i offs_mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(off_of));
  // The SPP columns and SPP rows of a bin in one vector (lanes [0, SPP) and [SPP, 2 SPP), as offs):
  // one axis computation per RoI, then permuted to the sample lanes.
  alignas(32) float last_of[8], up_of[8];
  alignas(32) int32_t row_of[8];
  for (int k = 0; k < 8; ++k) {
    const int64_t n = k < SPP ? g.W : g.H;
    last_of[k] = static_cast<float>(n - 1);
    up_of[k] = static_cast<float>(n) - 0.5f;
    row_of[k] = k >= SPP ? -1 : 0;
  }
  const __m256 last = _mm256_load_ps(last_of), up = _mm256_load_ps(up_of);
  const __m256 row_lanes = _mm256_castsi256_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(row_of)));
  const __m256 axis_live = _mm256_castsi256_ps(offs_mask);
  constexpr unsigned kColBits = (1u << SPP) - 1;
  const __m256i seven = _mm256_set1_epi32(7), lane_id = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  // sample rows of vector h: kFirstRow[h]..kLastRow[h]; row_sel[ih][h]: the lanes of row ih
  constexpr int kFirstRow[2] = {0, 8 / SPP}, kLastRow[2] = {std::min(SPP - 1, 7 / SPP), SPP - 1};
  __m256 row_sel[SPP][kV];
  for (int ih = 0; ih < SPP; ++ih)
    for (int h = 0; h < kV; ++h) {
      alignas(32) int32_t sel[8];
      for (int q = 0; q < 8; ++q) sel[q] = (8 * h + q) / SPP == ih && 8 * h + q < kS2 ? -1 : 0;
      row_sel[ih][h] = _mm256_castsi256_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(sel)));
    }
  for_each_plane(g, s, data, [&](const float* plane, int64_t ctop, int64_t cell, int64_t cls, int64_t i0, int64_t i1) {
    for (int32_t k = s.group_first[cell]; k < s.group_first[cell + 1]; ++k) {
      const int64_t bin = s.group_bins[k];
      const float* tab = s.table + (cls * B + bin) * Rc * 2;
      for (int64_t i = i0; i < i1; i += 8) {
        const int n = static_cast<int>(std::min<int64_t>(8, i1 - i));
        alignas(32) float tile[8 * 16], sums[16 * 8];
        alignas(32) int32_t count[8] = {};
        for (int l = 0; l < n; ++l) {
          const int64_t rl = s.order[i + l];
          const __m256 o = _mm256_maskload_ps(s.offs + rl * 2 * SPP, offs_mask);
          const __m256 start = _mm256_blendv_ps(_mm256_set1_ps(tab[2 * rl]), _mm256_set1_ps(tab[2 * rl + 1]), row_lanes);
          const Axis8 a = psroi_axis8(_mm256_add_ps(start, o), last, up, axis_live);
          const unsigned okbits = static_cast<unsigned>(_mm256_movemask_ps(a.ok));
          if (!(okbits & kColBits) || !(okbits >> SPP)) {  // no valid sample
            for (int h = 0; h < kV; ++h) _mm256_store_ps(tile + l * 16 + 8 * h, nzero);
            continue;
          }
          count[l] = __builtin_popcount(okbits & kColBits) * __builtin_popcount(okbits >> SPP);
          alignas(32) int32_t xl[8];
          _mm256_store_si256(reinterpret_cast<__m256i*>(xl), a.lo);
          const int32_t x0 = xl[__builtin_ctz(okbits)];  // the first valid column: 0 <= x0 < W
          const __m256i off_lo = _mm256_mullo_epi32(a.lo, Wi), off_hi = _mm256_mullo_epi32(a.hi, Wi);
          alignas(32) int32_t yl[8], yh[8];  // lane SPP + ih: row ih's offsets in the plane
          _mm256_store_si256(reinterpret_cast<__m256i*>(yl), off_lo);
          _mm256_store_si256(reinterpret_cast<__m256i*>(yh), off_hi);
          const __m256i x0v = _mm256_set1_epi32(x0);
          for (int h = 0; h < kV; ++h) {
            const __m256 m = _mm256_and_ps(live[h], _mm256_and_ps(_mm256_permutevar8x32_ps(a.ok, iw_idx[h]),
                                                                  _mm256_permutevar8x32_ps(a.ok, ih_idx[h])));
            const int bits = _mm256_movemask_ps(m);
            if (!bits) {
              _mm256_store_ps(tile + l * 16 + 8 * h, nzero);
              continue;
            }
            const __m256i xlo = _mm256_permutevar8x32_epi32(a.lo, iw_idx[h]), xhi = _mm256_permutevar8x32_epi32(a.hi, iw_idx[h]);
            const __m256i rlo = _mm256_permutevar8x32_epi32(off_lo, ih_idx[h]);
            const __m256i rhi = _mm256_permutevar8x32_epi32(off_hi, ih_idx[h]);
            const __m256i clo = _mm256_sub_epi32(xlo, x0v), chi = _mm256_sub_epi32(xhi, x0v);
            const __m256i far = _mm256_or_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), clo), _mm256_cmpgt_epi32(chi, seven));
            __m256 v00 = zero, v10 = zero, v01 = zero, v11 = zero;
            if (!_mm256_movemask_ps(_mm256_and_ps(_mm256_castsi256_ps(far), m))) {
              // the valid corners lie in the 8 columns from x0: one load per image row, permutes
              const int64_t room = g.W - x0;  // the loads stay inside the row
              const __m256i kload = room >= 8 ? _mm256_set1_epi32(-1)
                                              : _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(room)), lane_id);
              for (int ih = kFirstRow[h]; ih <= kLastRow[h]; ++ih) {
                const __m256 lo = _mm256_maskload_ps(plane + yl[SPP + ih] + x0, kload);
                const __m256 hi = _mm256_maskload_ps(plane + yh[SPP + ih] + x0, kload);
                const __m256 sel = row_sel[ih][h];
                v00 = _mm256_blendv_ps(v00, _mm256_permutevar8x32_ps(lo, clo), sel);
                v01 = _mm256_blendv_ps(v01, _mm256_permutevar8x32_ps(lo, chi), sel);
                v10 = _mm256_blendv_ps(v10, _mm256_permutevar8x32_ps(hi, clo), sel);
                v11 = _mm256_blendv_ps(v11, _mm256_permutevar8x32_ps(hi, chi), sel);
              }
            } else {
              v00 = _mm256_mask_i32gather_ps(zero, plane, _mm256_add_epi32(rlo, xlo), m, 4);
              v10 = _mm256_mask_i32gather_ps(zero, plane, _mm256_add_epi32(rhi, xlo), m, 4);
              v01 = _mm256_mask_i32gather_ps(zero, plane, _mm256_add_epi32(rlo, xhi), m, 4);
              v11 = _mm256_mask_i32gather_ps(zero, plane, _mm256_add_epi32(rhi, xhi), m, 4);
            }
            const __m256 dx = _mm256_permutevar8x32_ps(a.frac, iw_idx[h]), dy = _mm256_permutevar8x32_ps(a.frac, ih_idx[h]);
            const __m256 ax = _mm256_sub_ps(one, dx), by = _mm256_sub_ps(one, dy);
            // (1 - dx) * (1 - dy) * v00 + (1 - dx) * dy * v10 + dx * (1 - dy) * v01 + dx * dy * v11, left to right
            __m256 val = _mm256_mul_ps(_mm256_mul_ps(ax, by), v00);
            val = _mm256_add_ps(val, _mm256_mul_ps(_mm256_mul_ps(ax, dy), v10));
            val = _mm256_add_ps(val, _mm256_mul_ps(_mm256_mul_ps(dx, by), v01));
            val = _mm256_add_ps(val, _mm256_mul_ps(_mm256_mul_ps(dx, dy), v11));
            _mm256_store_ps(tile + l * 16 + 8 * h, _mm256_blendv_ps(nzero, val, m));
          }
        }
        for (int l = n; l < 8; ++l)
          for (int h = 0; h < kV; ++h) _mm256_store_ps(tile + l * 16 + 8 * h, nzero);
        for (int h = 0; h < kV; ++h) transpose8x8(tile + 8 * h, 16, sums + 64 * h, 8);  // row k: sample k of 8 RoIs
        __m256 sum = zero;
        for (int j = 0; j < kS2; ++j) sum = _mm256_add_ps(sum, _mm256_load_ps(sums + j * 8));
        const __m256i cnt = _mm256_load_si256(reinterpret_cast<const __m256i*>(count));
        const __m256 none = _mm256_castsi256_ps(_mm256_cmpeq_epi32(cnt, _mm256_setzero_si256()));
        alignas(32) float res[8];
        _mm256_store_ps(res, _mm256_andnot_ps(none, _mm256_div_ps(sum, _mm256_cvtepi32_ps(cnt))));
        for (int l = 0; l < n; ++l) out[((r0 + s.order[i + l]) * g.output_dim + ctop) * B + bin] = res[l];
      }
    }
  });
}
#endif

// Forward over one chunk of RoIs, called by every thread of the enclosing
// parallel region (planes as in for_each_plane).
template <typename T, int SPP>
void forward_pass(const PSROIGeom& g, const Scratch<T>& s, int64_t r0, int64_t Rc, const T* data, T* out) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float> && SPP > 0) {
    if (g.H * g.W <= INT32_MAX) {  // its plane offsets are int32
      forward_pass16<SPP>(g, s, r0, Rc, data, out);
      return;
    }
  }
#elif defined(__AVX2__)
  if constexpr (std::is_same_v<T, float> && SPP > 0) {
    if (g.H * g.W <= INT32_MAX) {  // its plane offsets are int32
      forward_pass8<SPP>(g, s, r0, Rc, data, out);
      return;
    }
  }
#endif
  const int64_t B = g.bins(), spp = g.spp;
  {
    Axis<T, SPP> xs(spp), ys(spp);
    for_each_plane(g, s, data, [&](const T* plane, int64_t ctop, int64_t cell, int64_t cls, int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t rl = s.order[i];
        const T* o = s.offs + rl * 2 * spp;
        T* orow = out + ((r0 + rl) * g.output_dim + ctop) * B;
        for (int32_t k = s.group_first[cell]; k < s.group_first[cell + 1]; ++k) {
          const int64_t bin = s.group_bins[k];
          const T* t = s.table + ((cls * B + bin) * Rc + rl) * 2;
          const int64_t nw = xs.build(t[0], o, spp, g.W);
          const int64_t nh = nw ? ys.build(t[1], o + spp, spp, g.H) : 0;
          T sum = T(0);
          for (int64_t ih = 0; ih < nh; ++ih) {
            const T* r_lo = plane + int64_t(ys.lo[ih]) * g.W;
            const T* r_hi = plane + int64_t(ys.hi[ih]) * g.W;
            const T dy = ys.frac[ih];
            for (int64_t iw = 0; iw < nw; ++iw) {
              const T dx = xs.frac[iw];
              const int32_t x0 = xs.lo[iw], x1 = xs.hi[iw];
              // contrib's terms and order, so the result is bit-identical
              const T val = (1 - dx) * (1 - dy) * r_lo[x0] + (1 - dx) * dy * r_hi[x0] +
                            dx * (1 - dy) * r_lo[x1] + dx * dy * r_hi[x1];
              sum += val;
            }
          }
          const int64_t count = nw * nh;
          orow[bin] = count == 0 ? T(0) : sum / static_cast<T>(count);
        }
      }
    });
  }
}

#if defined(__AVX2__)
// The separable weights of one float backward bin over a kCols x 16 pixel window
// from (x0, y0) (false, nothing written, when its samples do not fit): wx / gx the
// summed column weights / difference signs, wy / cy per row the summed row weights /
// (number of samples whose ceil row it is) - (floor row); rows y0..y1. The arrays
// (kCols and 16 floats) come zeroed.
template <int kCols, int SPP>
inline bool bin_window(const Axis<float, SPP>& xs, int64_t nw, const Axis<float, SPP>& ys, int64_t nh, int32_t* x0_out,
                       int32_t* y0_out, int32_t* y1_out, float* wx, float* gx, float* wy, float* cy) {
  int32_t x0 = xs.lo[0], x1 = xs.hi[0], y0 = ys.lo[0], y1 = ys.hi[0];
  for (int64_t i = 1; i < nw; ++i) {
    x0 = std::min(x0, xs.lo[i]);
    x1 = std::max(x1, xs.hi[i]);
  }
  for (int64_t i = 1; i < nh; ++i) {
    y0 = std::min(y0, ys.lo[i]);
    y1 = std::max(y1, ys.hi[i]);
  }
  if (x1 - x0 >= kCols || y1 - y0 >= 16) return false;
  for (int64_t i = 0; i < nw; ++i) {
    wx[xs.lo[i] - x0] += 1.f - xs.frac[i];
    wx[xs.hi[i] - x0] += xs.frac[i];
    gx[xs.hi[i] - x0] += 1.f;
    gx[xs.lo[i] - x0] -= 1.f;
  }
  for (int64_t i = 0; i < nh; ++i) {
    wy[ys.lo[i] - y0] += 1.f - ys.frac[i];
    wy[ys.hi[i] - y0] += ys.frac[i];
    cy[ys.hi[i] - y0] += 1.f;
    cy[ys.lo[i] - y0] -= 1.f;
  }
  *x0_out = x0;
  *y0_out = y0;
  *y1_out = y1;
  return true;
}
#endif

#if defined(__AVX512F__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// One bin of the float backward when its samples fit a 16 x 16 pixel window
// (returns false otherwise; the caller then runs the scalar code). The
// separable form as vectors over the window's columns: Wx / Gx are the summed
// column weights / difference signs, wy / cy per row the summed row weights /
// (number of samples whose ceil row it is) - (floor row). Each touched row
// then gets dP += (dv * wy) * Wx in one vector, and the offset sums become
// two dot products, sx = <sum_y wy R_y, Gx>, sy = <sum_y cy R_y, Wx>. The same
// terms as the scalar code, grouped differently: equal up to rounding. Only
// touched pixels are read or written (masked), as in the scalar code.
template <int SPP>
inline bool backward_bin16(const float* plane, float* dplane, int64_t W, const Axis<float, SPP>& xs, int64_t nw,
                           const Axis<float, SPP>& ys, int64_t nh, float dv, bool want_trans, float* sx,
                           float* sy) {
  int32_t x0, y0, y1;
  alignas(64) float wx[16] = {}, gx[16] = {}, wy[16] = {}, cy[16] = {};
  if (!bin_window<16>(xs, nw, ys, nh, &x0, &y0, &y1, wx, gx, wy, cy)) return false;
  const __m512 Wx = _mm512_load_ps(wx), Gx = _mm512_load_ps(gx);
  const __mmask16 touched = _mm512_cmp_ps_mask(Wx, _mm512_setzero_ps(), _CMP_NEQ_UQ);
  __m512 V = _mm512_setzero_ps(), U = _mm512_setzero_ps();
  for (int32_t j = 0; j <= y1 - y0; ++j) {
    if (wy[j] == 0.f) continue;  // a row between samples: untouched
    const int64_t y = int64_t(y0 + j) * W + x0;
    const __m512 d = _mm512_maskz_loadu_ps(touched, dplane + y);
    _mm512_mask_storeu_ps(dplane + y, touched, _mm512_add_ps(d, _mm512_mul_ps(_mm512_set1_ps(dv * wy[j]), Wx)));
    if (want_trans) {
      const __m512 r = _mm512_maskz_loadu_ps(touched, plane + y);
      V = _mm512_add_ps(V, _mm512_mul_ps(_mm512_set1_ps(wy[j]), r));
      U = _mm512_add_ps(U, _mm512_mul_ps(_mm512_set1_ps(cy[j]), r));
    }
  }
  if (want_trans) {
    *sx = _mm512_reduce_add_ps(_mm512_mul_ps(V, Gx));
    *sy = _mm512_reduce_add_ps(_mm512_mul_ps(U, Wx));
  }
  return true;
}
#pragma GCC diagnostic pop
#elif defined(__AVX2__)
// backward_bin16 in 8-lane vectors: the bin's samples must fit 8 columns
// (and 16 rows). Equal to the scalar code up to rounding, as backward_bin16.
template <int SPP>
inline bool backward_bin8(const float* plane, float* dplane, int64_t W, const Axis<float, SPP>& xs, int64_t nw,
                          const Axis<float, SPP>& ys, int64_t nh, float dv, bool want_trans, float* sx,
                          float* sy) {
  int32_t x0, y0, y1;
  alignas(32) float wx[8] = {}, gx[8] = {};
  float wy[16] = {}, cy[16] = {};
  if (!bin_window<8>(xs, nw, ys, nh, &x0, &y0, &y1, wx, gx, wy, cy)) return false;
  const __m256 Wx = _mm256_load_ps(wx), Gx = _mm256_load_ps(gx);
  const __m256i touched = _mm256_castps_si256(_mm256_cmp_ps(Wx, _mm256_setzero_ps(), _CMP_NEQ_UQ));
  __m256 V = _mm256_setzero_ps(), U = _mm256_setzero_ps();
  for (int32_t j = 0; j <= y1 - y0; ++j) {
    if (wy[j] == 0.f) continue;  // a row between samples: untouched
    const int64_t y = int64_t(y0 + j) * W + x0;
    const __m256 d = _mm256_maskload_ps(dplane + y, touched);
    _mm256_maskstore_ps(dplane + y, touched, _mm256_add_ps(d, _mm256_mul_ps(_mm256_set1_ps(dv * wy[j]), Wx)));
    if (want_trans) {
      const __m256 r = _mm256_maskload_ps(plane + y, touched);
      V = _mm256_add_ps(V, _mm256_mul_ps(_mm256_set1_ps(wy[j]), r));
      U = _mm256_add_ps(U, _mm256_mul_ps(_mm256_set1_ps(cy[j]), r));
    }
  }
  if (want_trans) {
    *sx = hsum8(_mm256_mul_ps(V, Gx));
    *sy = hsum8(_mm256_mul_ps(U, Wx));
  }
  return true;
}
#endif

// Backward over one chunk (every thread of the enclosing region): scatters
// into the owned dData planes (zeroed by the first chunk) and writes one
// partial offset gradient per (roi, ctop, bin).
template <typename T, int SPP>
void backward_pass(const PSROIGeom& g, const Scratch<T>& s, int64_t r0, int64_t Rc, const T* dout,
                   const T* data, T* ddata) {
  const int64_t HW = g.H * g.W, GG = g.group * g.group, B = g.bins(), spp = g.spp;
  const int64_t cpc = g.channels_per_class();
  const T tstd = static_cast<T>(g.trans_std);
  const bool want_trans = !g.no_trans, first_chunk = r0 == 0;
  {
    Axis<T, SPP> xs(spp), ys(spp);
    RowCache<T, SPP> rc(spp);
#pragma omp for schedule(dynamic, GG)
    for (int64_t unit = 0; unit < g.N * g.C; ++unit) {
      const int64_t b = unit / g.C, c = unit % g.C;
      const int64_t ctop = c / GG, cell = c % GG, cls = ctop / cpc;
      T* dplane = ddata + unit * HW;
      if (first_chunk) std::memset(dplane, 0, sizeof(T) * HW);
      const int64_t i0 = s.image_first[b], i1 = s.image_first[b + 1];
      if (i0 == i1) continue;
      const T* plane = data + unit * HW;
      if (want_trans) prefetch_plane(plane, HW);
      if (!first_chunk) prefetch_plane(dplane, HW);
      if (want_trans && unit + 1 < g.N * g.C) prefetch_plane(plane + HW, HW);
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t rl = s.order[i];
        const T* o = s.offs + rl * 2 * spp;
        const RoiBox<T>& box = s.boxes[rl].box;
        const T* drow = dout + ((r0 + rl) * g.output_dim + ctop) * B;
        T* prow = want_trans ? s.partial + (rl * g.output_dim + ctop) * B * 2 : nullptr;
        for (int32_t k = s.group_first[cell]; k < s.group_first[cell + 1]; ++k) {
          const int64_t bin = s.group_bins[k];
          const T* t = s.table + ((cls * B + bin) * Rc + rl) * 2;
          const int64_t nw = xs.build(t[0], o, spp, g.W);
          const int64_t nh = nw ? ys.build(t[1], o + spp, spp, g.H) : 0;
          const int64_t count = nw * nh;
          if (count == 0) {
            if (prow) prow[2 * bin] = prow[2 * bin + 1] = T(0);
            continue;
          }
          const T dv = drow[bin] / static_cast<T>(count);
          // Separable as in forward: dP += dv * Wy (x) Wx over the bin's rows and
          // columns; offset gradients from per-row sums H (interpolation) and
          // G (differences): d/dx = sum_y Wy[y] G(y), d/dy = sum_ih H(hi) - H(lo).
          T sx = T(0), sy = T(0);
          bool done = false;
#if defined(__AVX512F__)
          if constexpr (std::is_same_v<T, float> && SPP > 0)
            done = backward_bin16(plane, dplane, g.W, xs, nw, ys, nh, dv, want_trans, &sx, &sy);
#elif defined(__AVX2__)
          if constexpr (std::is_same_v<T, float> && SPP > 0)
            done = backward_bin8(plane, dplane, g.W, xs, nw, ys, nh, dv, want_trans, &sx, &sy);
#endif
          if (!done) {
          // Rows are non-decreasing in ih, but take min/max anyway so the
          // dense row cache can never be indexed out of range.
          int64_t base = ys.lo[0], top = ys.hi[0];
          for (int64_t ih = 1; ih < nh; ++ih) {
            base = std::min<int64_t>(base, ys.lo[ih]);
            top = std::max<int64_t>(top, ys.hi[ih]);
          }
          const int64_t span = top - base + 1;
          if (span <= 2 * nh) {
            for (int64_t j = 0; j < span; ++j) rc.w[j] = T(0);
            for (int64_t ih = 0; ih < nh; ++ih) {
              rc.w[ys.lo[ih] - base] += T(1) - ys.frac[ih];
              rc.w[ys.hi[ih] - base] += ys.frac[ih];
            }
            for (int64_t j = 0; j < span; ++j) {
              if (rc.w[j] == T(0)) continue;  // a row between samples: untouched, as in contrib
              const int64_t y = (base + j) * g.W;
              scatter_row(dplane + y, xs, nw, dv * rc.w[j]);
              if (want_trans) {
                row_interp_diff(plane + y, xs, nw, &rc.h[j], &rc.g[j]);
                sx += rc.w[j] * rc.g[j];
              }
            }
            if (want_trans) {
              for (int64_t ih = 0; ih < nh; ++ih) sy += rc.h[ys.hi[ih] - base] - rc.h[ys.lo[ih] - base];
            }
          } else {
            for (int64_t ih = 0; ih < nh; ++ih) {
              const T dy = ys.frac[ih];
              const int64_t y0 = int64_t(ys.lo[ih]) * g.W, y1 = int64_t(ys.hi[ih]) * g.W;
              scatter_row(dplane + y0, xs, nw, dv * (T(1) - dy));
              scatter_row(dplane + y1, xs, nw, dv * dy);
              if (want_trans) {
                T h0, g0, h1, g1;
                row_interp_diff(plane + y0, xs, nw, &h0, &g0);
                row_interp_diff(plane + y1, xs, nw, &h1, &g1);
                sx += (T(1) - dy) * g0 + dy * g1;
                sy += h1 - h0;
              }
            }
          }
          }
          if (prow) {
            prow[2 * bin] = sx * (tstd * dv * box.roi_w);
            prow[2 * bin + 1] = sy * (tstd * dv * box.roi_h);
          }
        }
      }
    }
  }
}

// dTrans of one chunk (every thread of the enclosing region): one owner per
// (roi, class, part cell), fixed order.
template <typename T>
void reduce_trans(const PSROIGeom& g, const Scratch<T>& s, int64_t r0, int64_t Rc, T* dtrans) {
  const int64_t B = g.bins(), QQ = g.part * g.part, cpc = g.channels_per_class();
#pragma omp for collapse(2) schedule(static)
  for (int64_t rl = 0; rl < Rc; ++rl) {
    for (int64_t cls = 0; cls < g.num_classes; ++cls) {
      const T* pcls = s.partial + (rl * g.output_dim + cls * cpc) * B * 2;
      T* dt = dtrans + ((r0 + rl) * g.num_classes + cls) * 2 * QQ;
      for (int64_t q = 0; q < QQ; ++q) {
        T sx = T(0), sy = T(0);
        for (int64_t j = 0; j < cpc; ++j) {
          const T* prow = pcls + j * B * 2;
          for (int32_t k = s.part_first[q]; k < s.part_first[q + 1]; ++k) {
            const int64_t bin = s.part_bins[k];
            sx += prow[2 * bin];
            sy += prow[2 * bin + 1];
          }
        }
        dt[q] = sx;
        dt[QQ + q] = sy;
      }
    }
  }
}

}  // namespace

// One parallel region per call: waking the worker threads once matters on
// busy or virtualised machines, where a wake-up can cost milliseconds.
template <typename T>
void psroi_forward(const PSROIGeom& g, const T* data, const T* rois, const T* trans, T* out,
                   void* workspace) {
  if (g.R <= 0) return;
  const int64_t Rc_max = chunk_rois<T>(g, false);
  Scratch<T> s(g, Rc_max, false, workspace);
  build_bin_maps(g, &s);
#pragma omp parallel
  for (int64_t r0 = 0; r0 < g.R; r0 += Rc_max) {
    const int64_t Rc = std::min(Rc_max, g.R - r0);
    build_chunk(g, rois, trans, r0, Rc, &s);
    switch (g.spp) {  // the common sample counts get unrolled kernels
      case 1: forward_pass<T, 1>(g, s, r0, Rc, data, out); break;
      case 2: forward_pass<T, 2>(g, s, r0, Rc, data, out); break;
      case 3: forward_pass<T, 3>(g, s, r0, Rc, data, out); break;
      case 4: forward_pass<T, 4>(g, s, r0, Rc, data, out); break;
      default: forward_pass<T, 0>(g, s, r0, Rc, data, out); break;
    }
  }
}

template <typename T>
void psroi_backward(const PSROIGeom& g, const T* dout, const T* data, const T* rois, const T* trans,
                    T* ddata, T* dtrans, void* workspace) {
  if (g.R <= 0) {
    fill_zero(ddata, g.N * g.C * g.H * g.W);
    return;
  }
  const int64_t Rc_max = chunk_rois<T>(g, true);
  Scratch<T> s(g, Rc_max, true, workspace);
  build_bin_maps(g, &s);
#pragma omp parallel
  for (int64_t r0 = 0; r0 < g.R; r0 += Rc_max) {
    const int64_t Rc = std::min(Rc_max, g.R - r0);
    build_chunk(g, rois, trans, r0, Rc, &s);
    switch (g.spp) {
      case 1: backward_pass<T, 1>(g, s, r0, Rc, dout, data, ddata); break;
      case 2: backward_pass<T, 2>(g, s, r0, Rc, dout, data, ddata); break;
      case 3: backward_pass<T, 3>(g, s, r0, Rc, dout, data, ddata); break;
      case 4: backward_pass<T, 4>(g, s, r0, Rc, dout, data, ddata); break;
      default: backward_pass<T, 0>(g, s, r0, Rc, dout, data, ddata); break;
    }
    if (!g.no_trans) reduce_trans(g, s, r0, Rc, dtrans);
  }
}

#define DCN_PSROI_INSTANTIATE(T)                                                                    \
  template RoiProblem psroi_check_rois<T>(const PSROIGeom&, const T*);                              \
  template size_t psroi_workspace_bytes<T>(const PSROIGeom&, bool);                                 \
  template void psroi_forward<T>(const PSROIGeom&, const T*, const T*, const T*, T*, void*);        \
  template void psroi_backward<T>(const PSROIGeom&, const T*, const T*, const T*, const T*, T*, T*, \
                                  void*);
DCN_PSROI_INSTANTIATE(float)
DCN_PSROI_INSTANTIATE(double)

}  // namespace dcnops
