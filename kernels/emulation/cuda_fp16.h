// Stand-in for CUDA's cuda_fp16.h in the CPU emulation of the kernels (kernel_emulator.cpp):
// the types and conversions the kernels use, with the GPU's rounding (to nearest, ties to even),
// and the device intrinsics they call (built into NVRTC), with the GPU's results.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

struct __half {
    _Float16 value;
};
static_assert(sizeof(__half) == 2, "__half must be 2 bytes, like the GPU's and NumPy's float16");

inline __half __float2half_rn(float v) { return __half{static_cast<_Float16>(v)}; }
inline float __half2float(__half h) { return static_cast<float>(h.value); }

struct alignas(4) __half2 {
    __half x, y;
};
inline __half2 __floats2half2_rn(float a, float b) { return __half2{__float2half_rn(a), __float2half_rn(b)}; }

// CUDA's built-in vector type (vector_types.h), which NVRTC provides without an include.
struct alignas(8) float2 {
    float x, y;
};
inline float2 make_float2(float x, float y) { return float2{x, y}; }
struct alignas(16) float4 {
    float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
struct alignas(8) uint2 {
    unsigned int x, y;
};
inline uint2 make_uint2(unsigned int x, unsigned int y) { return uint2{x, y}; }
struct alignas(8) int2 {
    int x, y;
};
inline int2 make_int2(int x, int y) { return int2{x, y}; }

// Rounded to nearest, never fused with a neighbouring operation (g++ does not fuse without an FMA target).
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }

// Clamped to [0, 1]; NaN gives 0, as on the GPU.
inline float __saturatef(float v) { return v > 0.f ? (v < 1.f ? v : 1.f) : 0.f; }

inline float __uint_as_float(unsigned int bits) {
    float v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
}
inline unsigned int __float_as_uint(float v) {
    unsigned int bits;
    std::memcpy(&bits, &v, sizeof bits);
    return bits;
}

// Byte n of the result is byte (s >> 4n) & 7 of the eight bytes y:x (x the low four).
inline unsigned int __byte_perm(unsigned int x, unsigned int y, unsigned int s) {
    const uint64_t bytes = (uint64_t)y << 32 | x;
    unsigned int result = 0;
    for (int n = 0; n < 4; ++n) result |= (unsigned int)((bytes >> (((s >> (4 * n)) & 7) * 8)) & 0xff) << (8 * n);
    return result;
}

// a + b rounded toward minus infinity. Exact where a + b is exact in double, as for the kernels'
// 2^23 + v with v a float in [2^-29, 2^9).
inline float __fadd_rd(float a, float b) {
    const double sum = (double)a + (double)b;
    float rounded = (float)sum;
    return (double)rounded > sum ? std::nextafter(rounded, -INFINITY) : rounded;
}
