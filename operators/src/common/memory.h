// Workspace helpers: alignment (CPU and CUDA layouts) and host memory hints for the CPU kernels.
#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace dcnops {

// Workspace layouts carve one buffer into aligned pieces (64 B on the CPU, 256 B on the GPU).
constexpr size_t kCpuAlign = 64;
constexpr size_t align_up(size_t bytes, size_t alignment = kCpuAlign) {
  return (bytes + alignment - 1) / alignment * alignment;
}

// Asks Linux for transparent huge pages on the 2 MiB-aligned part of a large
// buffer (a hint; ignored where THP is off). The column buffer is read by the
// GEMM's packing with a row stride of P floats, so with 4 KiB pages nearly
// every row is a TLB miss: huge pages make the GEMM ~10 % faster. Pages that
// MXNet's pool has already faulted in keep their size; new ones get huge pages.
inline void advise_huge_pages(void* p, size_t bytes) {
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

}  // namespace dcnops
