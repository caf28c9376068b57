// Float transposes in registers (the column tiles, images to channels-last): 16 x 16 in
// AVX-512, 8 x 8 in AVX2 (machines without AVX-512, e.g. AMD Zen 3). Copies only: same bits.
#pragma once
#if defined(__AVX2__)
#include <immintrin.h>
#include <cstdint>
#endif
#if defined(__AVX512F__)
namespace dcnops {

// GCC 12 warns that the intrinsics' own _mm512_undefined_ps() operands are uninitialised.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// kStream: the out rows are 64-byte aligned and are written past the caches.
template <bool kStream = false>
inline void transpose16x16(const float* in, int64_t ld_in, float* out, int64_t ld_out) {
  __m512 r[16], t[16];  // every element is written before it is read
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(in + i * ld_in);
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int h = 0; h < 2; ++h) {
    const int o = 8 * h;
    for (int i = 0; i < 4; ++i) {
      t[o + i] = _mm512_shuffle_f32x4(r[o + i], r[o + 4 + i], 0x88);
      t[o + 4 + i] = _mm512_shuffle_f32x4(r[o + i], r[o + 4 + i], 0xDD);
    }
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
  }
  for (int i = 0; i < 16; ++i) {
    if (kStream) _mm512_stream_ps(out + i * ld_out, r[i]);
    else _mm512_storeu_ps(out + i * ld_out, r[i]);
  }
}
#pragma GCC diagnostic pop
}  // namespace dcnops
#endif

#if defined(__AVX2__)
namespace dcnops {

inline void transpose8x8(const float* in, int64_t ld_in, float* out, int64_t ld_out) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(in + i * ld_in);
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm256_permute2f128_ps(r[i], r[4 + i], 0x20);
    t[4 + i] = _mm256_permute2f128_ps(r[i], r[4 + i], 0x31);
  }
  for (int i = 0; i < 8; ++i) _mm256_storeu_ps(out + i * ld_out, t[i]);
}

}  // namespace dcnops
#endif

#if defined(__AVX2__)
namespace dcnops {

// The widest register transpose of this build, for the blocked copies: kTransposeBlock x
// kTransposeBlock floats. kStream (out rows aligned to a block) writes past the caches where
// that pays: with AVX-512; on AVX2 machines (measured on AMD Zen 3) plain stores are faster,
// forward C -22 %, A and B -6 %, so there kStreamBlocks is false and kStream is ignored.
#if defined(__AVX512F__)
constexpr int kTransposeBlock = 16;
constexpr bool kStreamBlocks = true;
template <bool kStream = false>
inline void transpose_block(const float* in, int64_t ld_in, float* out, int64_t ld_out) {
  transpose16x16<kStream>(in, ld_in, out, ld_out);
}
#else
constexpr int kTransposeBlock = 8;
constexpr bool kStreamBlocks = false;
template <bool kStream = false>
inline void transpose_block(const float* in, int64_t ld_in, float* out, int64_t ld_out) {
  transpose8x8(in, ld_in, out, ld_out);
}
#endif

}  // namespace dcnops
#endif
