// Thread count for the ops' OpenMP regions and the OpenBLAS GEMMs.
//
// MXNet's CPU workers run with one OpenMP thread unless OMP_NUM_THREADS is set
// (it assumes hyper-threading and halves the core count). Our kernels use
// OMP_NUM_THREADS when the user set it, else every core; the choice is applied
// to the calling worker thread for the duration of one op call and restored
// afterwards, so MXNet's own kernels keep their setting.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace dcnops {

inline int op_num_threads() {
  static const int n = [] {
    for (const char* var : {"DCN_NUM_THREADS", "OMP_NUM_THREADS"}) {
      const char* s = std::getenv(var);
      if (s && std::atoi(s) > 0) return std::atoi(s);
    }
    return omp_get_num_procs();
  }();
  return n;
}

class ThreadScope {
 public:
  ThreadScope() : saved_(omp_get_max_threads()) { omp_set_num_threads(op_num_threads()); }
  ~ThreadScope() { omp_set_num_threads(saved_); }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_;
};

// Zeroes count elements with the op's threads (a gradient buffer before accumulation).
template <typename T>
void fill_zero(T* p, int64_t count) {
  if (!p) return;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; i += 65536) std::memset(p + i, 0, sizeof(T) * std::min<int64_t>(65536, count - i));
}

}  // namespace dcnops
