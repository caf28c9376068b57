// What every op registration does around its kernels, written once: input
// device/dtype/shape checks, workspace from MXNet's temp space, CUDA status
// to MXNetError, the CPU dtype dispatch and the "built without CUDA" answer.
// g++ side only (lib_api.h); the CUDA entry points come from cuda_api.h.
#pragma once
#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "attrs.h"
#include "memory.h"
#ifdef DCN_WITH_CUDA
#include "cuda_api.h"
#endif

namespace dcnops {

// Every input on `dev` ("cpu" or "gpu") of one device id, one dtype (float32/float64; float16 on
// the gpu too), valid dimensions; their shapes in *shapes. names[i] names input i in errors.
inline bool check_inputs(const char* op, const std::vector<mxnet::ext::MXTensor>& ins,
                         const std::vector<const char*>& names, const char* dev, std::vector<Shape>* shapes) {
  using namespace mxnet::ext;
  const int dtype = ins.empty() ? kFloat32 : ins[0].dtype;
  const bool gpu = std::string(dev) == "gpu";
  shapes->clear();
  for (size_t i = 0; i < ins.size(); ++i) {
    const char* name = i < names.size() ? names[i] : "?";
    if (ins[i].ctx.dev_type != dev || ins[i].ctx.dev_id != ins[0].ctx.dev_id) {
      DCN_ERROR(op) << "input '" << name << "' is on " << ins[i].ctx.dev_type << "(" << ins[i].ctx.dev_id
                    << "), expected every input on " << dev << "(" << ins[0].ctx.dev_id << ")";
      return false;
    }
    if (ins[i].dtype != dtype || (dtype != kFloat32 && dtype != kFloat64 && !(gpu && dtype == kFloat16))) {
      DCN_ERROR(op) << "input '" << name << "' has dtype " << dtype_name(ins[i].dtype)
                    << (gpu ? ", expected float32, float64 or float16 shared by all inputs"
                            : ", expected float32 or float64 shared by all inputs (float16 runs on gpu only)");
      return false;
    }
    Shape s;
    for (int64_t d : ins[i].shape) {
      if (d < 0 || d >= int64_t(kUnknownDim)) {
        DCN_ERROR(op) << "input '" << name << "' has an invalid dimension " << d;
        return false;
      }
      s.push_back(unsigned(d));
    }
    shapes->push_back(s);
  }
  return true;
}

// MXNet's temp space takes an int byte count.
inline bool workspace_fits(const char* op, size_t bytes) {
  if (bytes < size_t(INT_MAX)) return true;
  DCN_ERROR(op) << "workspace of " << bytes << " bytes exceeds MXNet's 2 GiB temp-space limit";
  return false;
}

// CPU workspace; huge_pages: ask for transparent huge pages (buffers streamed by a GEMM).
inline void* cpu_workspace(const char* op, const mxnet::ext::OpResource& res, size_t bytes, bool huge_pages = false) {
  if (!workspace_fits(op, bytes)) return nullptr;
  void* ws = res.alloc_cpu(int(bytes));
  if (!ws) DCN_ERROR(op) << "could not allocate " << bytes << " bytes of workspace";
  else if (huge_pages) advise_huge_pages(ws, bytes);
  return ws;
}

// The CPU kernels exist for float and double; check_inputs has rejected the rest.
template <typename F>
mxnet::ext::MXReturnValue dispatch_cpu_dtype(int dtype, F&& f) {
  return dtype == mxnet::ext::kFloat64 ? f(double()) : f(float());
}

#ifdef DCN_WITH_CUDA
inline void* gpu_workspace(const char* op, const mxnet::ext::OpResource& res, size_t bytes) {
  if (!workspace_fits(op, bytes)) return nullptr;
  void* ws = res.alloc_gpu(int(std::max<size_t>(bytes, 1)));
  if (!ws) DCN_ERROR(op) << "could not allocate " << bytes << " bytes of GPU workspace";
  return ws;
}

inline bool cuda_ok(const char* op, int err) {
  if (err == 0) return true;
  DCN_ERROR(op) << "CUDA error " << err << ": " << gpu::cuda_error_string(err);
  return false;
}
#endif

// Built without nvcc: a gpu-context call gets an error, not a missing-kernel crash.
inline mxnet::ext::MXReturnValue no_cuda(const char* op) {
  DCN_ERROR(op) << "this operator library was built without CUDA (nvcc was not found when it was "
                   "compiled); build the GPU variant with nvcc on PATH (`make -C operators CUDA=1`), "
                   "which operators.load() picks when MXNet sees a GPU";
  return mxnet::ext::MX_FAIL;
}

}  // namespace dcnops
