// oneDNN matmul through its C API, resolved at run time from the libdnnl that
// blas.cc loaded (no oneDNN headers at build time: the few declarations below
// are those of oneDNN 3.x's dnnl.h, stable across 3.x).
#include "onednn_matmul.h"

#include <dlfcn.h>

#include <array>
#include <map>
#include <mutex>

#include "blas.h"

namespace dcnops {
namespace {

using Handle = void*;  // dnnl_engine_t, dnnl_stream_t, dnnl_memory_desc_t, ... (opaque)
using Dims = int64_t[12];  // dnnl_dims_t (DNNL_MAX_NDIMS = 12)
struct ExecArg {
  int arg;
  Handle memory;
};
constexpr int kSuccess = 0, kCpu = 1, kF32 = 3, kInOrder = 1;
constexpr int kArgSrc = 1, kArgDst = 17, kArgWeights = 33;

struct Api {
  int (*engine_create)(Handle*, int, size_t);
  int (*stream_create)(Handle*, Handle, unsigned);
  int (*stream_wait)(Handle);
  int (*md_create)(Handle*, int, const Dims, int, const Dims);
  int (*attr_create)(Handle*);
  int (*attr_destroy)(Handle);
  int (*attr_set_post_ops)(Handle, Handle);
  int (*post_ops_create)(Handle*);
  int (*post_ops_destroy)(Handle);
  int (*post_ops_append_sum)(Handle, float, int32_t, int);
  int (*matmul_pd_create)(Handle*, Handle, Handle, Handle, Handle, Handle, Handle);
  int (*pd_destroy)(Handle);
  int (*primitive_create)(Handle*, Handle);
  int (*primitive_execute)(Handle, Handle, int, const ExecArg*);
  int (*memory_create)(Handle*, Handle, Handle, void*);
  int (*memory_destroy)(Handle);
  Handle engine = nullptr, stream = nullptr;
  bool ok = false;
};

template <typename F>
bool bind(void* lib, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
  return *fn != nullptr;
}

Api load_api() {
  Api api{};
  void* lib = dnnl_library_handle();
  if (!lib) return api;
  const bool found =
      bind(lib, "dnnl_engine_create", &api.engine_create) && bind(lib, "dnnl_stream_create", &api.stream_create) &&
      bind(lib, "dnnl_stream_wait", &api.stream_wait) &&
      bind(lib, "dnnl_memory_desc_create_with_strides", &api.md_create) &&
      bind(lib, "dnnl_primitive_attr_create", &api.attr_create) &&
      bind(lib, "dnnl_primitive_attr_destroy", &api.attr_destroy) &&
      bind(lib, "dnnl_primitive_attr_set_post_ops", &api.attr_set_post_ops) &&
      bind(lib, "dnnl_post_ops_create", &api.post_ops_create) && bind(lib, "dnnl_post_ops_destroy", &api.post_ops_destroy) &&
      bind(lib, "dnnl_post_ops_append_sum", &api.post_ops_append_sum) &&
      bind(lib, "dnnl_matmul_primitive_desc_create", &api.matmul_pd_create) &&
      bind(lib, "dnnl_primitive_desc_destroy", &api.pd_destroy) && bind(lib, "dnnl_primitive_create", &api.primitive_create) &&
      bind(lib, "dnnl_primitive_execute", &api.primitive_execute) && bind(lib, "dnnl_memory_create", &api.memory_create) &&
      bind(lib, "dnnl_memory_destroy", &api.memory_destroy);
  api.ok = found && api.engine_create(&api.engine, kCpu, 0) == kSuccess &&
           api.stream_create(&api.stream, api.engine, kInOrder) == kSuccess;
  return api;
}

Api& api() {
  static Api a = load_api();
  return a;
}

// One cached problem: the primitive and its three memory descriptors (kept for
// the life of the process, like the cache).
struct Plan {
  Handle primitive = nullptr, md[3] = {nullptr, nullptr, nullptr};
};
using Key = std::array<int64_t, 9>;

// A 2-D row-major operand op(X) of r x c with leading dimension ld: strides
// (ld, 1), or (1, ld) when transposed.
Handle matrix_desc(Api& a, int64_t r, int64_t c, int64_t ld, bool trans) {
  Dims dims = {r, c}, strides = {trans ? 1 : ld, trans ? ld : 1};
  Handle md = nullptr;
  return a.md_create(&md, 2, dims, kF32, strides) == kSuccess ? md : nullptr;
}

Plan make_plan(Api& a, const Key& key) {
  const auto [ta, tb, m, n, k, lda, ldb, ldc, accumulate] = key;
  Plan p;
  p.md[0] = matrix_desc(a, m, k, lda, ta);
  p.md[1] = matrix_desc(a, k, n, ldb, tb);
  p.md[2] = matrix_desc(a, m, n, ldc, false);
  if (!p.md[0] || !p.md[1] || !p.md[2]) return p;
  Handle attr = nullptr, ops = nullptr, pd = nullptr;
  if (a.attr_create(&attr) != kSuccess) return p;
  if (accumulate && a.post_ops_create(&ops) == kSuccess) {  // beta = 1: dst += product
    a.post_ops_append_sum(ops, 1.0f, 0, kF32);
    a.attr_set_post_ops(attr, ops);
  }
  if ((!accumulate || ops) && a.matmul_pd_create(&pd, a.engine, p.md[0], p.md[1], nullptr, p.md[2], attr) == kSuccess) {
    if (a.primitive_create(&p.primitive, pd) != kSuccess) p.primitive = nullptr;
    a.pd_destroy(pd);
  }
  if (ops) a.post_ops_destroy(ops);
  a.attr_destroy(attr);
  return p;
}

}  // namespace

bool onednn_matmul(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  Api& api_ = api();
  if (!api_.ok || (beta != 0.0f && beta != 1.0f) || m <= 0 || n <= 0 || k <= 0) return false;
  const Key key = {ta, tb, m, n, k, lda, ldb, ldc, beta != 0.0f};
  // One lock for the cache and the execution: a primitive and the stream are
  // used by one caller at a time (MXNet may run operators on several threads).
  static std::mutex mutex;
  static std::map<Key, Plan> plans;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans.find(key);
  if (it == plans.end()) {
    if (plans.size() >= 256) return false;  // pathological shape churn: leave it to sgemm
    it = plans.emplace(key, make_plan(api_, key)).first;
  }
  const Plan& p = it->second;
  if (!p.primitive) return false;
  Handle mem[3] = {nullptr, nullptr, nullptr};
  void* data[3] = {const_cast<float*>(a), const_cast<float*>(b), c};
  bool ok = true;
  for (int i = 0; i < 3; ++i) ok = ok && api_.memory_create(&mem[i], p.md[i], api_.engine, data[i]) == kSuccess;
  const ExecArg args[3] = {{kArgSrc, mem[0]}, {kArgWeights, mem[1]}, {kArgDst, mem[2]}};
  ok = ok && api_.primitive_execute(p.primitive, api_.stream, 3, args) == kSuccess &&
       api_.stream_wait(api_.stream) == kSuccess;
  for (Handle h : mem)
    if (h) api_.memory_destroy(h);
  return ok;
}

}  // namespace dcnops
