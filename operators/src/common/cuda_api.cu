// Host helpers of the CUDA build (see cuda_api.h).
#include <cstdlib>
#include <cstring>

#include "cuda_utils.cuh"

namespace dcnops {
namespace gpu {

const char* cuda_error_string(int code) { return cudaGetErrorString(static_cast<cudaError_t>(code)); }

int cuda_set_device(int device) {
  int cur = -1;
  cudaError_t e = cudaGetDevice(&cur);
  if (e == cudaSuccess && cur == device) return 0;
  return cudaSetDevice(device);
}

int cuda_device_count(int* count) {
  *count = 0;
  cudaError_t e = cudaGetDeviceCount(count);
  if (e != cudaSuccess) *count = 0;
  return e;
}

int cuda_copy_to_host(void* dst, const void* src, size_t bytes, void* stream) {
  if (bytes == 0) return 0;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s);
  if (e != cudaSuccess) return e;
  return cudaStreamSynchronize(s);
}

int cuda_memset_async(void* dst, int value, size_t bytes, void* stream) {
  if (bytes == 0) return 0;
  return cudaMemsetAsync(dst, value, bytes, static_cast<cudaStream_t>(stream));
}

static bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0 && std::strcmp(v, "false") != 0 && std::strcmp(v, "False") != 0;
}

bool deterministic_requested() { return env_on("DCN_DETERMINISTIC") || env_on("MXNET_ENFORCE_DETERMINISM"); }

}  // namespace gpu
}  // namespace dcnops
