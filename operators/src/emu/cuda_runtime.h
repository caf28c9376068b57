// CPU emulation of the parts of the CUDA runtime our kernels use, so the .cu
// files compile with g++ (-x c++ -Isrc/emu) into libdcn_cuda_emu.so and the
// kernel logic (indexing, chunking, workspace carving, sort/gather, numerics)
// can be tested without a GPU: `make -C operators cuda-emu`. Not a GPU model:
// threads of a block run one at a time as ucontext coroutines that switch at
// __syncthreads (so shared memory and barriers behave as on the device),
// blocks run one after another, atomics are plain adds, memory is host memory.
// Test-only: nothing here is linked into the operator libraries.
#pragma once
#include <math.h>
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <tuple>
#include <vector>

#define DCN_CUDA_EMULATION 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __shared__ static  // blocks run one after another, so one copy serves all

using std::max;
using std::min;

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

typedef int cudaError_t;
enum : int { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2,
             cudaErrorInvalidConfiguration = 9 };
typedef void* cudaStream_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };

inline dim3 blockIdx, threadIdx, blockDim, gridDim;

namespace dcn_emu {

constexpr size_t kStack = 128 * 1024;

struct Scheduler {
  std::vector<ucontext_t> ctx;
  std::vector<std::vector<char>> stacks;
  std::vector<int> state;  // 0 ready, 1 at a barrier, 2 finished
  ucontext_t main;
  int cur = 0;
  bool hit_barrier = false;
  std::function<void()> body;
  std::map<const void*, bool> barrier_free;  // per kernel, learnt from its first block
};
inline Scheduler sched;

inline void trampoline() {
  sched.body();
  sched.state[sched.cur] = 2;  // uc_link returns to the scheduler
}

// Runs body once per thread of one block; threads switch at __syncthreads.
// Kernels whose first block never reached a barrier run as plain calls (a
// context switch costs system calls; our kernels reach barriers uniformly).
inline void run_block(unsigned nthreads, bool direct) {
  Scheduler& s = sched;
  if (direct) {
    for (unsigned t = 0; t < nthreads; ++t) {
      threadIdx = dim3(t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y));
      s.body();
    }
    return;
  }
  if (s.ctx.size() < nthreads) {
    s.ctx.resize(nthreads);
    s.stacks.resize(nthreads);
  }
  s.state.assign(nthreads, 0);
  for (unsigned t = 0; t < nthreads; ++t) {
    if (s.stacks[t].empty()) s.stacks[t].resize(kStack);
    getcontext(&s.ctx[t]);
    s.ctx[t].uc_stack.ss_sp = s.stacks[t].data();
    s.ctx[t].uc_stack.ss_size = kStack;
    s.ctx[t].uc_link = &s.main;
    makecontext(&s.ctx[t], trampoline, 0);
  }
  for (bool again = true; again;) {
    again = false;
    for (unsigned t = 0; t < nthreads; ++t) {
      if (s.state[t] == 2) continue;
      s.state[t] = 0;
      s.cur = int(t);
      threadIdx = dim3(t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y));
      swapcontext(&s.main, &s.ctx[t]);
      if (s.state[t] != 2) again = true;
    }
  }
}

template <typename... Args>
struct Launcher {
  dim3 grid, block;
  void (*fn)(Args...);
  template <typename... Actual>
  void operator()(Actual&&... actual) const {
    std::function<void()> body = [f = fn, tup = std::make_tuple(Args(actual)...)]() { std::apply(f, tup); };
    sched.body = body;
    gridDim = grid;
    blockDim = block;
    const void* key = reinterpret_cast<const void*>(fn);
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned x = 0; x < grid.x; ++x) {
          blockIdx = dim3(x, y, z);
          auto known = sched.barrier_free.find(key);
          const bool direct = known != sched.barrier_free.end() && known->second;
          sched.hit_barrier = false;
          run_block(block.x * block.y * block.z, direct);
          if (known == sched.barrier_free.end()) sched.barrier_free[key] = !sched.hit_barrier;
        }
  }
};

template <typename... Args>
Launcher<Args...> launch(dim3 grid, dim3 block, void (*fn)(Args...)) {
  return Launcher<Args...>{grid, block, fn};
}

}  // namespace dcn_emu

#define DCN_LAUNCH(grid, block, stream, ...) dcn_emu::launch(dim3(grid), dim3(block), &__VA_ARGS__)

inline void __syncthreads() {
  dcn_emu::sched.hit_barrier = true;
  dcn_emu::sched.state[dcn_emu::sched.cur] = 1;
  swapcontext(&dcn_emu::sched.ctx[dcn_emu::sched.cur], &dcn_emu::sched.main);
}

inline float atomicAdd(float* p, float v) { float o = *p; *p = o + v; return o; }
inline double atomicAdd(double* p, double v) { double o = *p; *p = o + v; return o; }

inline const char* cudaGetErrorString(cudaError_t e) { return e == 0 ? "no error" : "emulated CUDA error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, size_t n) {
  *p = std::malloc(n ? n : 1);
  if (*p) std::memset(*p, 0xA5, n);  // garbage, as device memory would be: unwritten outputs show up
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { std::memcpy(d, s, n); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) {
  std::memcpy(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t) { std::memset(d, v, n); return cudaSuccess; }
