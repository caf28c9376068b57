// Deformable position-sensitive RoI pooling (DeformablePSROIPooling) on the CPU.
// Plain C++: pointers and sizes in, nothing from MXNet (same split as deform_conv).
//
// Semantics are MXNet 1.9.1 contrib's: RoI corners round()ed, scaled, minus
// 0.5; RoI size clamped >= 0.1; bins of size/pooled; sample_per_part^2 samples
// per bin at bin_start + i * bin/spp (not centred), shifted by
// trans * trans_std * roi_size; samples outside [-0.5, size-0.5] are skipped,
// the rest clamped to [0, size-1] and bilinearly interpolated; the bin value is
// the mean over valid samples (0 if none). Input channel of output (ctop, ph, pw)
// is (ctop*group + gh)*group + gw with gh = floor(ph*group/pooled).
#pragma once
#include <cstddef>
#include <cstdint>

#include "../common/bilinear.h"  // DCN_HOST_DEVICE

namespace dcnops {

struct PSROIGeom {
  int64_t N, C, H, W;    // data
  int64_t R;             // number of RoIs
  int64_t output_dim, group, pooled, part, spp;
  int64_t num_classes;   // trans classes (trans has 2*num_classes channels); 1 when no_trans
  bool no_trans;
  float spatial_scale;   // kept in float like contrib's parameters, so float64 matches it too
  float trans_std;

  DCN_HOST_DEVICE int64_t bins() const { return pooled * pooled; }
  DCN_HOST_DEVICE int64_t channels_per_class() const { return output_dim / num_classes; }
};

// First RoI whose values are unusable (index -1 when all are fine).
struct RoiProblem {
  int64_t roi = -1;
  const char* what = nullptr;  // which check failed
  double value = 0;            // the offending value
};

// Checks values only known at run time: finite coordinates, an integer batch
// index in [0, N), x2 >= x1 and y2 >= y1.
template <typename T>
RoiProblem psroi_check_rois(const PSROIGeom& g, const T* rois);

// Scratch memory of one call (RoI tables are built in chunks, so it is bounded).
template <typename T>
size_t psroi_workspace_bytes(const PSROIGeom& g, bool backward);

// out (R, output_dim, pooled, pooled). trans is null when no_trans.
// The RoIs must have passed psroi_check_rois.
template <typename T>
void psroi_forward(const PSROIGeom& g, const T* data, const T* rois, const T* trans, T* out,
                   void* workspace);

// Overwrites ddata (N, C, H, W) and dtrans (when not no_trans). Deterministic,
// no atomics: threads own data planes (batch image, channel) for ddata and
// (roi, class, part cell) for dtrans.
template <typename T>
void psroi_backward(const PSROIGeom& g, const T* dout, const T* data, const T* rois, const T* trans,
                    T* ddata, T* dtrans, void* workspace);

}  // namespace dcnops
