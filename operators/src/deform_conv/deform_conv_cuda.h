// CUDA twin of deform_conv_cpu.h: same geometry struct, same semantics, device
// pointers in. Plain C++ declarations (no CUDA headers) so the g++-compiled
// registration can call it. dtype: gpu::kF32, kF64 or kF16 (fp16 storage,
// fp32 sampling coordinates and accumulation). Return 0 or a cudaError_t code.
#pragma once
#include <cstddef>

#include "../common/cuda_api.h"
#include "deform_conv_cpu.h"

namespace dcnops {
namespace gpu {

// Scratch bytes of one call; forward/backward must get at least this much.
size_t deform_conv_workspace_bytes(const DeformConvGeom& g, int dtype, bool backward, bool deterministic);

int deform_conv_forward(const DeformConvGeom& g, int dtype, const void* x, const void* offset, const void* mask,
                        const void* weight, const void* bias, void* out, void* workspace, void* stream);

// Overwrites every gradient. dX is scattered with atomics unless
// `deterministic` (then a stable sort by destination and a fixed-order
// gather: bitwise reproducible). All other gradients are always deterministic.
int deform_conv_backward(const DeformConvGeom& g, int dtype, bool deterministic, const void* dout, const void* x,
                         const void* offset, const void* mask, const void* weight, void* dx, void* doffset,
                         void* dmask, void* dweight, void* dbias, void* workspace, void* stream);

}  // namespace gpu
}  // namespace dcnops
