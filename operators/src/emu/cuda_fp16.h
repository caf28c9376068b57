// CPU emulation of __half (see cuda_runtime.h here): IEEE binary16 storage,
// round-to-nearest-even conversion from float.
#pragma once
#include <cstdint>
#include <cstring>

struct __half {
  uint16_t bits;
};

inline float __half2float(__half h) {
  const uint32_t sign = uint32_t(h.bits & 0x8000u) << 16, exp = (h.bits >> 10) & 0x1fu, man = h.bits & 0x3ffu;
  uint32_t out;
  if (exp == 0) {
    if (man == 0) {
      out = sign;
    } else {  // subnormal: normalise
      int e = -1;
      uint32_t m = man;
      do { ++e; m <<= 1; } while (!(m & 0x400u));
      out = sign | (uint32_t(127 - 15 - e) << 23) | ((m & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    out = sign | 0x7f800000u | (man << 13);
  } else {
    out = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &out, 4);
  return f;
}

inline __half __float2half_rn(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  __half h;
  if (absx >= 0x7f800000u) {  // inf / nan
    h.bits = uint16_t(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
    return h;
  }
  if (absx >= 0x477ff000u) {  // rounds to >= 65520: overflow to inf
    h.bits = uint16_t(sign | 0x7c00u);
    return h;
  }
  if (absx < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    const int shift = 126 - int(absx >> 23);  // 14 - unbiased exponent... via the full mantissa
    if (shift > 24) { h.bits = uint16_t(sign); return h; }
    const uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    const uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    uint32_t r = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
    h.bits = uint16_t(sign | r);
    return h;
  }
  const uint32_t e = (absx >> 23) - 112, m = absx & 0x7fffffu;
  uint32_t r = (e << 10) | (m >> 13);
  const uint32_t rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  h.bits = uint16_t(sign | r);
  return h;
}
