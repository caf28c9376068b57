// The bin geometry of deformable PS RoI pooling, shared by the CPU kernels
// (g++) and their CUDA twins (nvcc): MXNet contrib's formulas with contrib's
// operation order. Both callers compile without FMA contraction (psroi_cpu.cc:
// fp-contract=off; the CUDA objects: -fmad=false), so the same inputs give the
// same coordinates, skip decisions and results on both devices, bit for bit.
#pragma once
#include <cmath>
#include <cstdint>

#include "../common/bilinear.h"

namespace dcnops {

// A RoI in feature-map coordinates (rounded image corners, contrib's -0.5 shift).
template <typename A>
struct RoiBox {
  A start_w, start_h;  // RoI start
  A roi_w, roi_h;      // RoI size (>= 0.1)
  A bin_w, bin_h;      // one of pooled x pooled bins
};

// x1, y1, x2, y2: the RoI's image coordinates, read as A.
template <typename A>
DCN_HOST_DEVICE inline RoiBox<A> psroi_box(A x1, A y1, A x2, A y2, A scale, int64_t pooled) {
  RoiBox<A> b;
  b.start_w = static_cast<A>(std::round(x1)) * scale - A(0.5);
  b.start_h = static_cast<A>(std::round(y1)) * scale - A(0.5);
  const A end_w = static_cast<A>(std::round(x2) + 1.) * scale - A(0.5);
  const A end_h = static_cast<A>(std::round(y2) + 1.) * scale - A(0.5);
  const A min_size = static_cast<A>(0.1);
  b.roi_w = end_w - b.start_w < min_size ? min_size : end_w - b.start_w;  // std::max, usable on the device
  b.roi_h = end_h - b.start_h < min_size ? min_size : end_h - b.start_h;
  b.bin_w = b.roi_w / static_cast<A>(pooled);
  b.bin_h = b.roi_h / static_cast<A>(pooled);
  return b;
}

// Position-sensitive group cell of bin row/column p (of P): floor(p * G / P), clamped.
template <typename A>
DCN_HOST_DEVICE inline int64_t psroi_group_cell(int64_t p, int64_t P, int64_t G) {
  return clamp_index(static_cast<int64_t>(std::floor(static_cast<A>(p) * G / P)), G);
}

// Offset (trans) cell of bin row/column p: floor(p / P * Q), clamped.
template <typename A>
DCN_HOST_DEVICE inline int64_t psroi_part_cell(int64_t p, int64_t P, int64_t Q) {
  return clamp_index(static_cast<int64_t>(std::floor(static_cast<A>(p) / P * Q)), Q);
}

// First sample of bin p along one axis, moved by the offset t (already times trans_std) of the RoI size.
template <typename A>
DCN_HOST_DEVICE inline A psroi_bin_start(int64_t p, A bin, A start, A t, A roi_size) {
  A s = static_cast<A>(p) * bin + start;
  s += t * roi_size;
  return s;
}

}  // namespace dcnops
