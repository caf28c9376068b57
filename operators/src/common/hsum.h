// Horizontal sum of an AVX2 float vector in a fixed order, so that results do
// not depend on the compiler: (lane i + lane i+4), then pairs, then the halves.
#pragma once
#if defined(__AVX2__)
#include <immintrin.h>
namespace dcnops {

inline float hsum8(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}

}  // namespace dcnops
#endif
