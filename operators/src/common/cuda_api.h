// Host-side helpers of the CUDA build, callable from g++-compiled code (the op
// registration never includes CUDA headers: lib_api.h would then want curand).
// Every function returns 0 or a cudaError_t code; cuda_error_string() names it.
#pragma once
#include <cstddef>

namespace dcnops {
namespace gpu {

enum DType : int { kF32 = 0, kF64 = 1, kF16 = 2 };  // mshadow codes, as MXTensor::dtype

const char* cuda_error_string(int code);
int cuda_set_device(int device);
int cuda_device_count(int* count);
// Blocking copy device -> host on `stream` (small RoI tables only).
int cuda_copy_to_host(void* dst, const void* src, size_t bytes, void* stream);
int cuda_memset_async(void* dst, int value, size_t bytes, void* stream);
// Deterministic backward requested: DCN_DETERMINISTIC=1 or MXNET_ENFORCE_DETERMINISM=1
// (read on every call, so tests and users can switch it at run time).
bool deterministic_requested();

}  // namespace gpu
}  // namespace dcnops
