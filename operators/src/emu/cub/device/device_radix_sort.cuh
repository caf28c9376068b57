// CPU emulation of cub::DeviceRadixSort::SortPairs (see ../../cuda_runtime.h):
// a stable sort on the key bits [begin_bit, end_bit), as CUB's radix sort.
#pragma once
#include "../../cuda_runtime.h"
#include <algorithm>
#include <cstddef>
#include <numeric>
#include <tuple>
#include <vector>

namespace cub {
struct DeviceRadixSort {
  template <typename K, typename V>
  static cudaError_t SortPairs(void* tmp, size_t& tmp_bytes, const K* keys_in, K* keys_out, const V* vals_in,
                               V* vals_out, int n, int begin_bit = 0, int end_bit = int(sizeof(K) * 8),
                               cudaStream_t = nullptr) {
    if (!tmp) {
      tmp_bytes = 1;
      return cudaSuccess;
    }
    const K mask = end_bit - begin_bit >= int(sizeof(K) * 8) ? K(~K(0)) : K((K(1) << (end_bit - begin_bit)) - 1);
    std::vector<int> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) {
      return ((keys_in[a] >> begin_bit) & mask) < ((keys_in[b] >> begin_bit) & mask);
    });
    for (int i = 0; i < n; ++i) {
      keys_out[i] = keys_in[idx[i]];
      vals_out[i] = vals_in[idx[i]];
    }
    return cudaSuccess;
  }
};
}  // namespace cub
