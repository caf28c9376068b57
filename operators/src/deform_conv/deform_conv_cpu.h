// Deformable convolution (DCNv1 and modulated DCNv2) on the CPU.
// Plain C++: pointers and sizes in, nothing from MXNet, so the kernels can be
// tested alone and given a CUDA twin.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../common/bilinear.h"

namespace dcnops {

struct DeformConvGeom {
  int64_t N, C, H, W;      // data
  int64_t F, Ho, Wo;       // output channels and size
  int64_t kh, kw, sh, sw, dh, dw, ph, pw;
  int64_t groups, dgroups;  // conv groups, deformable groups
  BorderRule rule;
  int64_t col_budget_bytes;  // cap on the column buffer (the `workspace` attribute)

  DCN_HOST_DEVICE int64_t taps() const { return kh * kw; }
  DCN_HOST_DEVICE int64_t out_pixels() const { return Ho * Wo; }
};

// Number of output pixels processed per GEMM, chosen from the column budget.
int64_t deform_conv_chunk(const DeformConvGeom& g, size_t elem_bytes);

// Bytes of scratch memory the forward / backward need (one buffer per call).
template <typename T>
size_t deform_conv_workspace_bytes(const DeformConvGeom& g, bool backward);

// out = conv(sample(x, offset) * mask, weight) + bias.  mask and bias may be null.
template <typename T>
void deform_conv_forward(const DeformConvGeom& g, const T* x, const T* offset, const T* mask,
                         const T* weight, const T* bias, T* out, void* workspace);

// Writes (overwrites) every gradient; dmask and dbias may be null when the op
// has no mask / bias. Deterministic: each output element has one owner thread.
template <typename T>
void deform_conv_backward(const DeformConvGeom& g, const T* dout, const T* x, const T* offset,
                          const T* mask, const T* weight, T* dx, T* doffset, T* dmask, T* dweight,
                          T* dbias, void* workspace);

}  // namespace dcnops
