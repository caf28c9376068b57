// Run-time loaded cuBLAS (see cublas.h). Host code only.
#include "cublas.h"

#include <dlfcn.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

namespace dcnops {
namespace gpu {
namespace {

// The C ABI of the entry points we use (enums are ints, handles opaque).
using CreateFn = int (*)(void** handle);
using SetStreamFn = int (*)(void* handle, cudaStream_t stream);
using GemmExFn = int (*)(void* handle, int transa, int transb, int m, int n, int k, const void* alpha,
                         const void* A, int a_type, int lda, long long stride_a, const void* B, int b_type, int ldb,
                         long long stride_b, const void* beta, void* C, int c_type, int ldc, long long stride_c,
                         int batch, int compute_type, int algo);
constexpr int kOpN = 0, kOpT = 1, kCompute32F = 68, kCompute64F = 70, kGemmDefault = -1;

struct Cublas {
  CreateFn create = nullptr;
  SetStreamFn set_stream = nullptr;
  GemmExFn gemm = nullptr;
  std::string status;
};

std::atomic<bool> g_failed{false};  // a cuBLAS call failed: off for the rest of the process
std::mutex g_mutex;
std::string g_fail_status;

void notice(const std::string& msg) { std::fprintf(stderr, "[dcn operators] %s\n", msg.c_str()); }

Cublas load() {
  Cublas cb;
  const char* forced = std::getenv("DCN_CUBLAS_LIBRARY");
  const char* names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"};
  void* lib = nullptr;
  std::string tried, used;
#ifdef DCN_CUDA_EMULATION
  // Host memory stands for device memory here: a real cuBLAS must never see it.
  if (!(forced && *forced)) {
    cb.status = "built-in GEMM (CUDA emulation: only a cuBLAS stand-in named by DCN_CUBLAS_LIBRARY is used)";
    return cb;
  }
#endif
  if (forced && *forced) {
    lib = dlopen(forced, RTLD_NOW | RTLD_LOCAL);
    tried = forced;
    used = forced;
  } else {
    for (const char* n : names) {
      lib = dlopen(n, RTLD_NOW | RTLD_LOCAL);
      tried += (tried.empty() ? "" : ", ") + std::string(n);
      if (lib) { used = n; break; }
    }
  }
  if (!lib) {
    cb.status = "built-in GEMM (no cuBLAS found: tried " + tried + "; set DCN_CUBLAS_LIBRARY)";
    notice("cuBLAS not loaded (tried " + tried + "): the deformable convolution uses its built-in GEMM kernel; "
           "set DCN_CUBLAS_LIBRARY=/path/to/libcublas.so.N to use cuBLAS");
    return cb;
  }
#ifdef DCN_CUDA_EMULATION
  if (!dlsym(lib, "dcn_cublas_emulation")) {
    cb.status = "built-in GEMM (" + used + " is not the CPU stand-in src/emu/cublas_emu.cc)";
    notice(cb.status);
    return cb;
  }
#endif
  cb.create = reinterpret_cast<CreateFn>(dlsym(lib, "cublasCreate_v2"));
  cb.set_stream = reinterpret_cast<SetStreamFn>(dlsym(lib, "cublasSetStream_v2"));
  cb.gemm = reinterpret_cast<GemmExFn>(dlsym(lib, "cublasGemmStridedBatchedEx"));
  if (!cb.create || !cb.set_stream || !cb.gemm) {
    cb.gemm = nullptr;
    cb.status = "built-in GEMM (" + used + " lacks cublasCreate_v2/cublasSetStream_v2/cublasGemmStridedBatchedEx)";
    notice(cb.status);
    return cb;
  }
  cb.status = "cuBLAS (" + used + ")";
  return cb;
}

const Cublas& cublas() {
  static const Cublas cb = load();
  return cb;
}

bool disabled_by_env() {
  const char* v = std::getenv("DCN_CUBLAS");
  return v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "false") == 0 || std::strcmp(v, "off") == 0);
}

void fail(const std::string& why) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_failed.exchange(true)) return;
  g_fail_status = "built-in GEMM (" + why + ")";
  notice(why + ": the deformable convolution uses its built-in GEMM kernel from now on");
}

// One handle per (thread, device): a handle belongs to the device current at creation,
// and handles must not be shared between threads that set different streams.
void* handle_for_current_device() {
  thread_local std::unordered_map<int, void*> handles;
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return nullptr;
  auto it = handles.find(dev);
  if (it != handles.end()) return it->second;
  void* h = nullptr;
  const int st = cublas().create(&h);
  if (st != 0) {
    fail("cublasCreate failed with status " + std::to_string(st));
    return nullptr;
  }
  handles[dev] = h;
  return h;
}

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

}  // namespace

bool cublas_usable() { return !disabled_by_env() && !g_failed.load() && cublas().gemm; }

bool cublas_gemm(const CublasGemm& g, cudaStream_t stream) {
  if (!cublas_usable()) return false;
  if (!(fits_int(g.m) && fits_int(g.n) && fits_int(g.k) && fits_int(g.lda) && fits_int(g.ldb) &&
        fits_int(g.ldc) && fits_int(g.batch)))
    return false;
  void* h = handle_for_current_device();
  if (!h) return false;
  int st = cublas().set_stream(h, stream);
  if (st != 0) {
    fail("cublasSetStream failed with status " + std::to_string(st));
    return false;
  }
  const bool f64 = g.ab_type == kCublasF64;
  const float af = float(g.alpha), bf = float(g.beta);
  const double ad = g.alpha, bd = g.beta;
  const void* alpha = f64 ? static_cast<const void*>(&ad) : static_cast<const void*>(&af);
  const void* beta = f64 ? static_cast<const void*>(&bd) : static_cast<const void*>(&bf);
  st = cublas().gemm(h, g.ta ? kOpT : kOpN, g.tb ? kOpT : kOpN, int(g.m), int(g.n), int(g.k), alpha, g.A,
                     g.ab_type, int(g.lda), g.strideA, g.B, g.ab_type, int(g.ldb), g.strideB, beta, g.C, g.c_type,
                     int(g.ldc), g.strideC, int(g.batch), f64 ? kCompute64F : kCompute32F, kGemmDefault);
  if (st != 0) {
    // Nothing was enqueued for this call: the caller's kernel computes it.
    fail("cublasGemmStridedBatchedEx failed with status " + std::to_string(st));
    return false;
  }
  return true;
}

const char* gemm_backend() {
  static thread_local std::string s;
  if (disabled_by_env()) s = "built-in GEMM (DCN_CUBLAS=0)";
  else if (g_failed.load()) {
    std::lock_guard<std::mutex> lock(g_mutex);
    s = g_fail_status;
  } else s = cublas().status;
  return s.c_str();
}

}  // namespace gpu
}  // namespace dcnops
