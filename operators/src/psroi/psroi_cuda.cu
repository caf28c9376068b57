// CUDA kernels of deformable PS RoI pooling, contrib semantics (see psroi_cpu.h).
// One thread per output bin computes the bin exactly as the CPU forward does:
// same operation sequence, the shared psroi_axis() rule, and -fmad=false
// (Makefile) so coordinates round as on the CPU and the forward matches it.
// Backward: atomics into an fp32/fp64 buffer by default; deterministic mode has
// one thread per data plane scatter its bins in RoI/bin order, and offset
// gradients written per (roi, ctop, bin) and reduced in a fixed order.
#include "../common/bilinear.h"
#include "../common/cuda_utils.cuh"
#include "psroi_cuda.h"
#include "psroi_geometry.h"

namespace dcnops {
namespace gpu {
namespace {

inline size_t align_up(size_t b) { return dcnops::align_up(b, kGpuAlign); }

template <typename A>
struct Bin {
  int64_t b, c, cls, q;  // batch image, data channel, trans class, part cell
  A wstart, hstart, sub_w, sub_h, roi_w, roi_h;
};

template <typename T>
__device__ void bin_setup(const PSROIGeom& g, const T* rois, const T* trans, int64_t r, int64_t ctop, int64_t ph,
                          int64_t pw, Bin<acc_t<T>>* s) {
  using A = acc_t<T>;
  const T* roi = rois + r * 5;
  const A scale = static_cast<A>(g.spatial_scale), tstd = static_cast<A>(g.trans_std);
  const int64_t P = g.pooled, G = g.group, Q = g.part, spp = g.spp;
  s->b = clamp_index(static_cast<int64_t>(ld(roi)), g.N);
  const RoiBox<A> box = psroi_box<A>(ld(roi + 1), ld(roi + 2), ld(roi + 3), ld(roi + 4), scale, P);
  s->roi_w = box.roi_w;
  s->roi_h = box.roi_h;
  s->sub_w = box.bin_w / static_cast<A>(spp);
  s->sub_h = box.bin_h / static_cast<A>(spp);
  s->cls = ctop / g.channels_per_class();
  s->q = psroi_part_cell<A>(ph, P, Q) * Q + psroi_part_cell<A>(pw, P, Q);
  s->c = (ctop * G + psroi_group_cell<A>(ph, P, G)) * G + psroi_group_cell<A>(pw, P, G);
  A tx = A(0), ty = A(0);
  if (!g.no_trans) {
    const T* tr = trans + (r * g.num_classes + s->cls) * 2 * Q * Q + s->q;
    tx = ld(tr) * tstd;
    ty = ld(tr + Q * Q) * tstd;
  }
  s->wstart = psroi_bin_start(pw, box.bin_w, box.start_w, tx, box.roi_w);
  s->hstart = psroi_bin_start(ph, box.bin_h, box.start_h, ty, box.roi_h);
}

template <typename A>
__device__ __forceinline__ int64_t valid_count(const Bin<A>& s, int64_t spp, int64_t H, int64_t W) {
  int64_t nw = 0, nh = 0;
  int32_t lo, hi;
  A f;
  for (int64_t i = 0; i < spp; ++i) nw += psroi_axis(s.wstart + static_cast<A>(i) * s.sub_w, W, &lo, &hi, &f) ? 1 : 0;
  for (int64_t i = 0; i < spp; ++i) nh += psroi_axis(s.hstart + static_cast<A>(i) * s.sub_h, H, &lo, &hi, &f) ? 1 : 0;
  return nw * nh;
}

template <typename T>
__global__ void forward_kernel(PSROIGeom g, const T* data, const T* rois, const T* trans, T* out) {
  using A = acc_t<T>;
  const int64_t B = g.bins(), HW = g.H * g.W, total = g.R * g.output_dim * B;
  DCN_GRID_LOOP(i, total) {
    const int64_t pw = i % g.pooled, ph = (i / g.pooled) % g.pooled, ctop = (i / B) % g.output_dim;
    const int64_t r = i / (B * g.output_dim);
    Bin<A> s;
    bin_setup<T>(g, rois, trans, r, ctop, ph, pw, &s);
    const T* plane = data + (s.b * g.C + s.c) * HW;
    A sum = A(0);
    int64_t count = 0;
    for (int64_t ih = 0; ih < g.spp; ++ih) {
      int32_t y0, y1;
      A dy;
      if (!psroi_axis(s.hstart + static_cast<A>(ih) * s.sub_h, g.H, &y0, &y1, &dy)) continue;
      const T* r_lo = plane + int64_t(y0) * g.W;
      const T* r_hi = plane + int64_t(y1) * g.W;
      for (int64_t iw = 0; iw < g.spp; ++iw) {
        int32_t x0, x1;
        A dx;
        if (!psroi_axis(s.wstart + static_cast<A>(iw) * s.sub_w, g.W, &x0, &x1, &dx)) continue;
        // contrib's terms and order, as the CPU kernel
        const A val = (1 - dx) * (1 - dy) * ld(r_lo + x0) + (1 - dx) * dy * ld(r_hi + x0) +
                      dx * (1 - dy) * ld(r_lo + x1) + dx * dy * ld(r_hi + x1);
        sum += val;
        ++count;
      }
    }
    out[i] = cvt<T>(count == 0 ? A(0) : sum / static_cast<A>(count));
  }
}

// Scatters one bin's gradient into dplane (atomically or not) and returns the
// summed horizontal / vertical differences for the offset gradient.
template <typename T, bool kAtomic>
__device__ void scatter_bin(const PSROIGeom& g, const Bin<acc_t<T>>& s, acc_t<T> dv, const T* plane,
                            acc_t<T>* dplane, bool want_trans, acc_t<T>* sx_out, acc_t<T>* sy_out) {
  using A = acc_t<T>;
  A sx = A(0), sy = A(0);
  for (int64_t ih = 0; ih < g.spp; ++ih) {
    int32_t y0, y1;
    A dy;
    if (!psroi_axis(s.hstart + static_cast<A>(ih) * s.sub_h, g.H, &y0, &y1, &dy)) continue;
    for (int64_t iw = 0; iw < g.spp; ++iw) {
      int32_t x0, x1;
      A dx;
      if (!psroi_axis(s.wstart + static_cast<A>(iw) * s.sub_w, g.W, &x0, &x1, &dx)) continue;
      const int64_t i00 = int64_t(y0) * g.W + x0, i01 = int64_t(y0) * g.W + x1;
      const int64_t i10 = int64_t(y1) * g.W + x0, i11 = int64_t(y1) * g.W + x1;
      const A q00 = (1 - dx) * (1 - dy), q01 = dx * (1 - dy), q10 = (1 - dx) * dy, q11 = dx * dy;
      if (!dplane) {
        // offset gradients only (deterministic mode scatters ddata separately)
      } else if (kAtomic) {
        atomic_add(dplane + i00, q00 * dv);
        atomic_add(dplane + i01, q01 * dv);
        atomic_add(dplane + i10, q10 * dv);
        atomic_add(dplane + i11, q11 * dv);
      } else {
        dplane[i00] += q00 * dv;
        dplane[i01] += q01 * dv;
        dplane[i10] += q10 * dv;
        dplane[i11] += q11 * dv;
      }
      if (want_trans) {
        const A v00 = ld(plane + i00), v01 = ld(plane + i01), v10 = ld(plane + i10), v11 = ld(plane + i11);
        sx += (1 - dy) * (v01 - v00) + dy * (v11 - v10);
        sy += (1 - dx) * (v10 - v00) + dx * (v11 - v01);
      }
    }
  }
  *sx_out = sx;
  *sy_out = sy;
}

// Default backward: one thread per output bin, atomics for ddata and (unless a
// partial buffer is given) for dtrans.
template <typename T>
__global__ void backward_atomic_kernel(PSROIGeom g, const T* dout, const T* data, const T* rois, const T* trans,
                                       acc_t<T>* ddata, acc_t<T>* dtrans, acc_t<T>* partial) {
  using A = acc_t<T>;
  const int64_t B = g.bins(), HW = g.H * g.W, QQ = g.part * g.part, total = g.R * g.output_dim * B;
  const bool want_trans = !g.no_trans;
  DCN_GRID_LOOP(i, total) {
    const int64_t pw = i % g.pooled, ph = (i / g.pooled) % g.pooled, ctop = (i / B) % g.output_dim;
    const int64_t r = i / (B * g.output_dim);
    Bin<A> s;
    bin_setup<T>(g, rois, trans, r, ctop, ph, pw, &s);
    const int64_t count = valid_count(s, g.spp, g.H, g.W);
    A gx = A(0), gy = A(0);
    if (count > 0) {
      const A dv = ld(dout + i) / static_cast<A>(count);
      A sx, sy;
      scatter_bin<T, true>(g, s, dv, data + (s.b * g.C + s.c) * HW, ddata ? ddata + (s.b * g.C + s.c) * HW : nullptr,
                           want_trans, &sx, &sy);
      const A tstd = static_cast<A>(g.trans_std);
      gx = sx * (tstd * dv * s.roi_w);
      gy = sy * (tstd * dv * s.roi_h);
    }
    if (!want_trans) continue;
    if (partial) {
      partial[2 * i] = gx;
      partial[2 * i + 1] = gy;
    } else if (count > 0) {
      A* dt = dtrans + (r * g.num_classes + s.cls) * 2 * QQ + s.q;
      atomic_add(dt, gx);
      atomic_add(dt + QQ, gy);
    }
  }
}

// Deterministic ddata: one thread per (image, channel) plane, RoIs and bins in order.
template <typename T>
__global__ void backward_plane_kernel(PSROIGeom g, const T* dout, const T* data, const T* rois, const T* trans,
                                      acc_t<T>* ddata) {
  using A = acc_t<T>;
  const int64_t B = g.bins(), HW = g.H * g.W, GG = g.group * g.group, P = g.pooled;
  DCN_GRID_LOOP(unit, g.N * g.C) {
    const int64_t b = unit / g.C, c = unit % g.C, ctop = c / GG;
    A* dplane = ddata + unit * HW;
    const T* plane = data + unit * HW;
    for (int64_t r = 0; r < g.R; ++r) {
      if (clamp_index(static_cast<int64_t>(ld(rois + r * 5)), g.N) != b) continue;
      for (int64_t bin = 0; bin < B; ++bin) {
        Bin<A> s;
        bin_setup<T>(g, rois, trans, r, ctop, bin / P, bin % P, &s);
        if (s.c != c) continue;
        const int64_t count = valid_count(s, g.spp, g.H, g.W);
        if (count == 0) continue;
        const A dv = ld(dout + (r * g.output_dim + ctop) * B + bin) / static_cast<A>(count);
        A sx, sy;
        scatter_bin<T, false>(g, s, dv, plane, dplane, false, &sx, &sy);
      }
    }
  }
}

// Deterministic dtrans: one thread per (roi, class, part cell), fixed order.
template <typename T>
__global__ void reduce_trans_kernel(PSROIGeom g, const acc_t<T>* partial, T* dtrans) {
  using A = acc_t<T>;
  const int64_t B = g.bins(), Q = g.part, QQ = Q * Q, P = g.pooled, cpc = g.channels_per_class();
  DCN_GRID_LOOP(i, g.R * g.num_classes * QQ) {
    const int64_t q = i % QQ, cls = (i / QQ) % g.num_classes, r = i / (QQ * g.num_classes);
    A sx = A(0), sy = A(0);
    for (int64_t j = 0; j < cpc; ++j) {
      const A* prow = partial + (r * g.output_dim + cls * cpc + j) * B * 2;
      for (int64_t bin = 0; bin < B; ++bin) {
        const int64_t ph = bin / P, pw = bin % P;
        const int64_t qh = psroi_part_cell<A>(ph, P, Q), qw = psroi_part_cell<A>(pw, P, Q);
        if (qh * Q + qw != q) continue;
        sx += prow[2 * bin];
        sy += prow[2 * bin + 1];
      }
    }
    T* dt = dtrans + (r * g.num_classes + cls) * 2 * QQ;
    dt[q] = cvt<T>(sx);
    dt[QQ + q] = cvt<T>(sy);
  }
}

struct Layout {
  size_t ddata = 0, dtrans = 0, partial = 0, total = 0;
};

template <typename T>
Layout layout(const PSROIGeom& g, bool backward, bool det) {
  using A = acc_t<T>;
  Layout l;
  if (backward) {
    if (sizeof(T) == 2) {
      l.ddata = align_up(size_t(g.N * g.C * g.H * g.W) * sizeof(A));
      if (!g.no_trans && !det) l.dtrans = align_up(size_t(g.R * g.num_classes * 2 * g.part * g.part) * sizeof(A));
    }
    if (!g.no_trans && det) l.partial = align_up(size_t(g.R * g.output_dim * g.bins() * 2) * sizeof(A));
  }
  l.total = std::max<size_t>(kGpuAlign, l.ddata + l.dtrans + l.partial);
  return l;
}

template <typename T>
int forward_t(const PSROIGeom& g, const T* data, const T* rois, const T* trans, T* out, cudaStream_t st) {
  const int64_t total = g.R * g.output_dim * g.bins();
  if (total == 0) return 0;
  DCN_LAUNCH(blocks_for(total), kThreads, st, forward_kernel<T>)(g, data, rois, trans, out);
  return int(cudaGetLastError());
}

template <typename T>
int backward_t(const PSROIGeom& g, bool det, const T* dout, const T* data, const T* rois, const T* trans, T* ddata,
               T* dtrans, void* ws, cudaStream_t st) {
  using A = acc_t<T>;
  const Layout l = layout<T>(g, true, det);
  char* p = static_cast<char*>(ws);
  A* dda = l.ddata ? reinterpret_cast<A*>(p) : reinterpret_cast<A*>(ddata);
  p += l.ddata;
  A* dta = l.dtrans ? reinterpret_cast<A*>(p) : reinterpret_cast<A*>(dtrans);
  p += l.dtrans;
  A* partial = l.partial ? reinterpret_cast<A*>(p) : nullptr;
  const int64_t nd = g.N * g.C * g.H * g.W, nt = g.R * g.num_classes * 2 * g.part * g.part;
  const int64_t total = g.R * g.output_dim * g.bins();
  DCN_CUDA_TRY(cudaMemsetAsync(dda, 0, size_t(nd) * sizeof(A), st));
  if (!g.no_trans && !det) DCN_CUDA_TRY(cudaMemsetAsync(dta, 0, size_t(nt) * sizeof(A), st));
  if (det) {
    if (g.R > 0 && nd > 0)
      DCN_LAUNCH(unsigned((g.N * g.C + 63) / 64), 64, st, backward_plane_kernel<T>)(g, dout, data, rois, trans, dda);
    if (!g.no_trans && total > 0) {  // offset gradients only: ddata is scattered above
      DCN_LAUNCH(blocks_for(total), kThreads, st, backward_atomic_kernel<T>)(g, dout, data, rois, trans, nullptr,
                                                                        nullptr, partial);
      DCN_CUDA_TRY(cudaGetLastError());
      DCN_LAUNCH(blocks_for(nt / 2), kThreads, st, reduce_trans_kernel<T>)(g, partial, dtrans);
    }
  } else if (total > 0) {
    DCN_LAUNCH(blocks_for(total), kThreads, st, backward_atomic_kernel<T>)(g, dout, data, rois, trans, dda, dta, nullptr);
  }
  DCN_CUDA_TRY(cudaGetLastError());
  if (l.ddata) DCN_LAUNCH(blocks_for(nd), kThreads, st, convert_kernel<T>)(nd, dda, ddata);
  if (l.dtrans) DCN_LAUNCH(blocks_for(nt), kThreads, st, convert_kernel<T>)(nt, dta, dtrans);
  return int(cudaGetLastError());
}

}  // namespace

size_t psroi_workspace_bytes(const PSROIGeom& g, int dtype, bool backward, bool deterministic) {
  return dispatch_dtype(dtype, size_t(0), [&](auto t) {
    return layout<decltype(t)>(g, backward, deterministic).total;
  });
}

int psroi_forward(const PSROIGeom& g, int dtype, const void* data, const void* rois, const void* trans, void* out,
                  void* workspace, void* stream) {
  (void)workspace;
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  return dispatch_dtype(dtype, int(cudaErrorInvalidValue), [&](auto t) {
    using T = decltype(t);
    return forward_t<T>(g, static_cast<const T*>(data), static_cast<const T*>(rois), static_cast<const T*>(trans),
                        static_cast<T*>(out), st);
  });
}

int psroi_backward(const PSROIGeom& g, int dtype, bool deterministic, const void* dout, const void* data,
                   const void* rois, const void* trans, void* ddata, void* dtrans, void* workspace, void* stream) {
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  return dispatch_dtype(dtype, int(cudaErrorInvalidValue), [&](auto t) {
    using T = decltype(t);
    return backward_t<T>(g, deterministic, static_cast<const T*>(dout), static_cast<const T*>(data),
                         static_cast<const T*>(rois), static_cast<const T*>(trans), static_cast<T*>(ddata),
                         static_cast<T*>(dtrans), workspace, st);
  });
}

}  // namespace gpu
}  // namespace dcnops
