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

extern "C" {
// frame (uint8 HWC in `order`, `pitch` bytes a row, H x W) -> bilinear to h x w -> [-1, 1] NCHW RGB.
__global__ void preprocess_f32(const unsigned char* frame, long pitch, int H, int W, int order, float* out, int h, int w) {
    PIXEL_XY
    if (x < w && y < h) sk::preprocess_pixel<float, sk::FloatIo>(frame, pitch, H, W, order, out, h, w, x, y);
}
__global__ void preprocess_f16(const unsigned char* frame, long pitch, int H, int W, int order, __half* out, int h, int w) {
    PIXEL_XY
    if (x < w && y < h) sk::preprocess_pixel<__half, HalfIo>(frame, pitch, H, W, order, out, h, w, x, y);
}
// model output (NCHW RGB [-1, 1], h x w) -> H x W uint8 HWC in `order`, blended by strength and temporal.
__global__ void postprocess_f32(const float* styled, int h, int w, const unsigned char* frame, long pitch, int H, int W,
                                int order, float strength, const unsigned char* previous, long previous_pitch,
                                float temporal, unsigned char* out, long out_pitch) {
    PIXEL_XY
    if (x < W && y < H)
        sk::postprocess_pixel<float, sk::FloatIo>(styled, h, w, frame, pitch, H, W, order, strength, previous,
                                                  previous_pitch, temporal, out, out_pitch, x, y);
}
__global__ void postprocess_f16(const __half* styled, int h, int w, const unsigned char* frame, long pitch, int H, int W,
                                int order, float strength, const unsigned char* previous, long previous_pitch,
                                float temporal, unsigned char* out, long out_pitch) {
    PIXEL_XY
    if (x < W && y < H)
        sk::postprocess_pixel<__half, HalfIo>(styled, h, w, frame, pitch, H, W, order, strength, previous,
                                              previous_pitch, temporal, out, out_pitch, x, y);
}
}
