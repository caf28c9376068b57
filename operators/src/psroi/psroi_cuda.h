// CUDA twin of psroi_cpu.h (same geometry and semantics, device pointers in).
// Plain C++ declarations for the g++-compiled registration. dtype: gpu::kF32,
// kF64 or kF16 (fp16 storage, fp32 coordinates and sums). RoIs must have
// passed psroi_check_rois (the op copies the small RoI table to the host for
// that); the kernels still clamp the batch index, so no value can make them
// read out of bounds. Return 0 or a cudaError_t code.
#pragma once
#include <cstddef>

#include "../common/cuda_api.h"
#include "psroi_cpu.h"

namespace dcnops {
namespace gpu {

size_t psroi_workspace_bytes(const PSROIGeom& g, int dtype, bool backward, bool deterministic);

int psroi_forward(const PSROIGeom& g, int dtype, const void* data, const void* rois, const void* trans, void* out,
                  void* workspace, void* stream);

// Overwrites ddata and dtrans (when !no_trans). Atomics by default;
// deterministic: threads own data planes for ddata and (roi, class, part cell)
// for dtrans, everything summed in a fixed order.
int psroi_backward(const PSROIGeom& g, int dtype, bool deterministic, const void* dout, const void* data,
                   const void* rois, const void* trans, void* ddata, void* dtrans, void* workspace, void* stream);

}  // namespace gpu
}  // namespace dcnops
