// Run-time lookup of oneDNN's dnnl_sgemm (see blas.h).
#include "blas.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dcnops {
namespace {

void* open_library() {
  const char* path = std::getenv("DCN_DNNL_LIBRARY");
  if (path && (std::strcmp(path, "none") == 0 || path[0] == '\0')) return nullptr;
  const char* name = path ? path : "libdnnl.so.3";
  void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!handle && path)
    std::fprintf(stderr, "dcn_ops: cannot load oneDNN from %s (%s); GEMMs use OpenBLAS\n", path, dlerror());
  return handle;
}

DnnlSgemmFn resolve() {
  void* handle = dnnl_library_handle();
  if (!handle) return nullptr;
  auto fn = reinterpret_cast<DnnlSgemmFn>(dlsym(handle, "dnnl_sgemm"));
  if (!fn) std::fprintf(stderr, "dcn_ops: the oneDNN library has no dnnl_sgemm; GEMMs use OpenBLAS\n");
  return fn;
}

}  // namespace

void* dnnl_library_handle() {
  static void* const handle = open_library();
  return handle;
}

DnnlSgemmFn dnnl_sgemm_fn() {
  static const DnnlSgemmFn fn = resolve();
  return fn;
}

const char* float_gemm_backend() { return dnnl_sgemm_fn() ? "onednn" : "openblas"; }

}  // namespace dcnops
