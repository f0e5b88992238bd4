// Fused pre/post-processing kernels: one pass over the pixels each way, one thread a pixel.
// Compiled at first use with NVRTC for the GPU present (sdk/cuda/compiler.py). The
// per-pixel math is in pixel_math.cuh, shared with the CPU build (cpu_reference.cpp).
#include <cuda_fp16.h>
#include "pixel_math.cuh"

struct HalfIo {
    static __device__ __forceinline__ void store(__half* p, float v) { *p = __float2half_rn(v); }
    static __device__ __forceinline__ float load(const __half* p) { return __half2float(*p); }
};

#define PIXEL_XY                                        \
    int x = blockIdx.x * blockDim.x + threadIdx.x;      \
    int y = blockIdx.y * blockDim.y + threadIdx.y;

// frame (uint8 HWC in `order`, `pitch` bytes a row, H x W) -> bilinear to h x w -> [-1, 1] NCHW RGB.
extern "C" __global__ void preprocess_f32(const unsigned char* frame, long pitch, int H, int W, int order, float* out, int h, int w) {
    PIXEL_XY
    if (x < w && y < h) sk::preprocess_pixel<float, sk::FloatIo>(frame, pitch, H, W, order, out, h, w, x, y);
}
extern "C" __global__ void preprocess_f16(const unsigned char* frame, long pitch, int H, int W, int order, __half* out, int h, int w) {
    PIXEL_XY
    if (x < w && y < h) sk::preprocess_pixel<__half, HalfIo>(frame, pitch, H, W, order, out, h, w, x, y);
}
// Postprocess, PIXELS consecutive pixels of a row per thread: the frame's, previous output's and
// result's bytes move as 32-bit words (12 or 16 bytes per 4 pixels) instead of single bytes, and
// the per-pixel math (pixel_math.cuh) runs on copies in registers. Rows whose pointers are not
// 4-byte aligned, and the last pixels of a row, take the byte path.
constexpr int PIXELS = 4;

template <int C>
__device__ __forceinline__ void load_bytes(const unsigned char* p, unsigned char* r, bool words) {
    if (words) {
#pragma unroll
        for (int i = 0; i < C; ++i) reinterpret_cast<unsigned int*>(r)[i] = reinterpret_cast<const unsigned int*>(p)[i];
    } else {
#pragma unroll
        for (int i = 0; i < C * PIXELS; ++i) r[i] = p[i];
    }
}

template <int C>
__device__ __forceinline__ void store_bytes(unsigned char* p, const unsigned char* r, bool words) {
    if (words) {
#pragma unroll
        for (int i = 0; i < C; ++i) reinterpret_cast<unsigned int*>(p)[i] = reinterpret_cast<const unsigned int*>(r)[i];
    } else {
#pragma unroll
        for (int i = 0; i < C * PIXELS; ++i) p[i] = r[i];
    }
}

// ORDER is a template argument so that channel indices are constants and the staged bytes
// stay in registers (with a run-time order they would be indexed dynamically, in local memory).
template <typename T, typename Io, int ORDER>
__device__ void postprocess_row4(const T* styled, int h, int w, const unsigned char* frame, long pitch, int H, int W,
                                 float strength, const unsigned char* previous, long previous_pitch,
                                 float temporal, unsigned char* out, long out_pitch) {
    constexpr int C = ORDER >= 2 ? 4 : 3;
    constexpr int order = ORDER;
    int x0 = (blockIdx.x * blockDim.x + threadIdx.x) * PIXELS;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x0 >= W || y >= H) return;
    const unsigned char* src = frame + (long)y * pitch + (long)x0 * C;
    const unsigned char* prev = previous ? previous + (long)y * previous_pitch + (long)x0 * C : nullptr;
    unsigned char* dst = out + (long)y * out_pitch + (long)x0 * C;
    if (x0 + PIXELS > W) {  // row tail: per pixel, straight from memory
        for (int x = x0; x < W; ++x)
            sk::postprocess_at<T, Io>(styled, h, w, H, W, order, strength, temporal, src + (x - x0) * C,
                                      prev ? prev + (x - x0) * C : nullptr, dst + (x - x0) * C, x, y);
        return;
    }
    bool words = ((reinterpret_cast<size_t>(src) | reinterpret_cast<size_t>(dst) |
                   reinterpret_cast<size_t>(prev)) & 3) == 0;
    alignas(4) unsigned char s[C * PIXELS], p[C * PIXELS], d[C * PIXELS];
    load_bytes<C>(src, s, words);
    if (prev) load_bytes<C>(prev, p, words);
#pragma unroll
    for (int i = 0; i < PIXELS; ++i)
        sk::postprocess_at<T, Io>(styled, h, w, H, W, order, strength, temporal, s + i * C,
                                  prev ? p + i * C : nullptr, d + i * C, x0 + i, y);
    store_bytes<C>(dst, d, words);
}

template <typename T, typename Io>
__device__ void postprocess(const T* styled, int h, int w, const unsigned char* frame, long pitch, int H, int W,
                            int order, float strength, const unsigned char* previous, long previous_pitch,
                            float temporal, unsigned char* out, long out_pitch) {
    switch (order) {
#define SK_POST(O) postprocess_row4<T, Io, O>(styled, h, w, frame, pitch, H, W, strength, previous, previous_pitch, \
                                              temporal, out, out_pitch)
        case 0: SK_POST(0); break;
        case 1: SK_POST(1); break;
        case 2: SK_POST(2); break;
        default: SK_POST(3); break;
#undef SK_POST
    }
}

// model output (NCHW RGB [-1, 1], h x w) -> H x W uint8 HWC in `order`, blended by strength and temporal.
// Launch with one thread per PIXELS pixels along x.
extern "C" __global__ void postprocess_f32(const float* styled, int h, int w, const unsigned char* frame, long pitch, int H, int W,
                                int order, float strength, const unsigned char* previous, long previous_pitch,
                                float temporal, unsigned char* out, long out_pitch) {
    postprocess<float, sk::FloatIo>(styled, h, w, frame, pitch, H, W, order, strength, previous, previous_pitch,
                                    temporal, out, out_pitch);
}
extern "C" __global__ void postprocess_f16(const __half* styled, int h, int w, const unsigned char* frame, long pitch, int H, int W,
                                int order, float strength, const unsigned char* previous, long previous_pitch,
                                float temporal, unsigned char* out, long out_pitch) {
    postprocess<__half, HalfIo>(styled, h, w, frame, pitch, H, W, order, strength, previous, previous_pitch,
                                temporal, out, out_pitch);
}
