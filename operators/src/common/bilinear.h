// Bilinear sampling helpers shared by the ops: one header, two border rules
// for the convolutions and the per-axis rule of PS RoI pooling.
//
// A sample is described by four corner indices into one H*W plane and four
// weights, so a value is  sum_k w[k] * plane[idx[k]].  Corners that do not
// contribute get weight 0 and index 0 (always a valid address). The partial
// derivatives of the value w.r.t. the sample's row (h) and column (w) are
// sum_k gh[k] * plane[idx[k]] and sum_k gw[k] * plane[idx[k]].
//
// Every validity test is written in the positive form (h >= 0 && h < H), so
// NaN coordinates fail it and never reach floor()/int conversion.
#pragma once
#include <cmath>
#include <cstdint>

// The helpers below are pure inline functions shared by the CPU kernels (g++)
// and their CUDA twins (nvcc): one copy of the sampling math for both.
#if defined(__CUDACC__)
#define DCN_HOST_DEVICE __host__ __device__
#else
#define DCN_HOST_DEVICE
#endif

namespace dcnops {

enum class BorderRule : int {
  // MXNet contrib DeformableConvolution (DCNv1, the released models): a sample
  // counts iff 0 <= h < H and 0 <= w < W; in the last row/column the high
  // corner is clamped and the fraction dropped; the offset gradient is zero
  // whenever a coordinate was clamped (exactly what contrib computes).
  kDCNv1 = 0,
  // DCNv2 / torchvision / MXNet Modulated: bilinear on a zero-padded map, a
  // sample counts iff -1 < h < H and -1 < w < W, outside corners read 0.
  kDCNv2 = 1,
};

DCN_HOST_DEVICE inline int64_t clamp_index(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

template <typename T>
struct Corners {
  int32_t idx[4];  // (lo,lo) (lo,hi) (hi,lo) (hi,hi) as row*W+col
  T w[4];          // bilinear weights
  T gh[4];         // d value / d h coefficients
  T gw[4];         // d value / d w coefficients
};

template <typename T>
DCN_HOST_DEVICE inline void corners_zero(Corners<T>* c) {
  for (int k = 0; k < 4; ++k) {
    c->idx[k] = 0;
    c->w[k] = c->gh[k] = c->gw[k] = T(0);
  }
}

// DCNv1 rule on absolute coordinates (h, w), as MXNet 1.9.1's CPU
// deformable_im2col / col2im / col2im_coord compute it. In the clamped last
// row (column) both corners coincide, so the derivative along that axis is
// exactly zero, as in contrib.
template <typename T, bool kGrad>
DCN_HOST_DEVICE inline bool corners_dcnv1(T h, T w, int64_t H, int64_t W, Corners<T>* c) {
  if (!(h >= T(0) && w >= T(0) && h < static_cast<T>(H) && w < static_cast<T>(W))) {
    corners_zero(c);
    return false;
  }
  int64_t h_lo = static_cast<int64_t>(std::floor(h));
  int64_t w_lo = static_cast<int64_t>(std::floor(w));
  int64_t h_hi, w_hi;
  if (h_lo >= H - 1) {
    h_hi = h_lo = H - 1;
    h = static_cast<T>(h_lo);
  } else {
    h_hi = h_lo + 1;
  }
  if (w_lo >= W - 1) {
    w_hi = w_lo = W - 1;
    w = static_cast<T>(w_lo);
  } else {
    w_hi = w_lo + 1;
  }
  const T lh = h - static_cast<T>(h_lo), lw = w - static_cast<T>(w_lo);
  const T hh = T(1) - lh, hw = T(1) - lw;
  // Validity implies the clamps below never change an index; they make an
  // out-of-bounds read impossible whatever the rounding.
  const int64_t r_lo = clamp_index(h_lo, H) * W, r_hi = clamp_index(h_hi, H) * W;
  const int64_t c_lo = clamp_index(w_lo, W), c_hi = clamp_index(w_hi, W);
  c->idx[0] = static_cast<int32_t>(r_lo + c_lo);
  c->idx[1] = static_cast<int32_t>(r_lo + c_hi);
  c->idx[2] = static_cast<int32_t>(r_hi + c_lo);
  c->idx[3] = static_cast<int32_t>(r_hi + c_hi);
  c->w[0] = hh * hw;
  c->w[1] = hh * lw;
  c->w[2] = lh * hw;
  c->w[3] = lh * lw;
  if (kGrad) {
    c->gh[0] = -hw; c->gh[1] = -lw; c->gh[2] = hw; c->gh[3] = lw;
    c->gw[0] = -hh; c->gw[1] = hh; c->gw[2] = -lh; c->gw[3] = lh;
  }
  return true;
}

// DCNv2 rule on absolute coordinates (h, w).
template <typename T, bool kGrad>
DCN_HOST_DEVICE inline bool corners_dcnv2(T h, T w, int64_t H, int64_t W, Corners<T>* c) {
  if (!(h > T(-1) && w > T(-1) && h < static_cast<T>(H) && w < static_cast<T>(W))) {
    corners_zero(c);
    return false;
  }
  const int64_t h_lo = static_cast<int64_t>(std::floor(h));
  const int64_t w_lo = static_cast<int64_t>(std::floor(w));
  const int64_t h_hi = h_lo + 1, w_hi = w_lo + 1;
  const T lh = h - static_cast<T>(h_lo), lw = w - static_cast<T>(w_lo);
  const T hh = T(1) - lh, hw = T(1) - lw;
  const bool ok_hl = h_lo >= 0, ok_hh = h_hi <= H - 1, ok_wl = w_lo >= 0, ok_wh = w_hi <= W - 1;
  const bool ok[4] = {ok_hl && ok_wl, ok_hl && ok_wh, ok_hh && ok_wl, ok_hh && ok_wh};
  const int64_t idx[4] = {h_lo * W + w_lo, h_lo * W + w_hi, h_hi * W + w_lo, h_hi * W + w_hi};
  const T wt[4] = {hh * hw, hh * lw, lh * hw, lh * lw};
  const T gh[4] = {-hw, -lw, hw, lw};
  const T gw[4] = {-hh, hh, -lh, lh};
  for (int k = 0; k < 4; ++k) {
    c->idx[k] = ok[k] ? static_cast<int32_t>(idx[k]) : 0;
    c->w[k] = ok[k] ? wt[k] : T(0);
    if (kGrad) {
      c->gh[k] = ok[k] ? gh[k] : T(0);
      c->gw[k] = ok[k] ? gw[k] : T(0);
    }
  }
  return true;
}

// PSROI rule (MXNet DeformablePSROIPooling) along one axis of length n < 2^31:
// a sample counts iff -0.5 <= x <= n - 0.5 (NaN fails), is then clamped to
// [0, n-1] and interpolated between floor(x) and ceil(x) with fraction
// x - floor(x); on an integer x both corners coincide, so the derivative along
// that axis is 0, as in contrib. Branch-free: always writes in-range corners
// (0, 0, 0 for an invalid sample) and returns the validity.
template <typename T>
DCN_HOST_DEVICE inline bool psroi_axis(T x, int64_t n, int32_t* lo, int32_t* hi, T* frac) {
  const bool ok = x >= T(-0.5) && x <= static_cast<T>(n) - T(0.5);
  const T last = static_cast<T>(n - 1);
  x = x < T(0) ? T(0) : (x > last ? last : x);
  x = ok ? x : T(0);                          // no conversion of NaN / huge values
  const int32_t l = static_cast<int32_t>(x);  // x >= 0: truncation is floor
  *lo = l;
  *hi = l + (x > static_cast<T>(l) ? 1 : 0);  // ceil
  *frac = x - static_cast<T>(l);
  return ok;
}

template <typename T>
DCN_HOST_DEVICE inline T corners_dot(const T* plane, const int32_t* idx, const T* w) {
  // Same summation order as contrib: w1*v1 + w2*v2 + w3*v3 + w4*v4.
  return w[0] * plane[idx[0]] + w[1] * plane[idx[1]] + w[2] * plane[idx[2]] + w[3] * plane[idx[3]];
}

}  // namespace dcnops
