// Stand-in for CUDA's cuda_fp16.h in the CPU emulation of the kernels (kernel_emulator.cpp):
// the types and conversions the kernels use, with the GPU's rounding (to nearest, ties to even).
#pragma once

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
