// Fused pre/post-processing kernels: one pass over the pixels each way, a few pixels a thread.
// Compiled at first use with NVRTC for the GPU present (sdk/cuda/compiler.py). The
// per-pixel math is in pixel_math.cuh, shared with the CPU build (cpu_reference.cpp); the
// kernels themselves also run on the CPU in tests (kernel_emulator.cpp), so they use no
// shared memory, barriers or warp intrinsics.
#include <cuda_fp16.h>
#include "pixel_math.cuh"

// Element stores and loads; store2 writes two neighbours of a plane as one 4- or 8-byte store.
struct HalfIo {
    static __device__ __forceinline__ void store(__half* p, float v) { *p = __float2half_rn(v); }
    static __device__ __forceinline__ void store2(__half* p, float a, float b) {
        *reinterpret_cast<__half2*>(p) = __floats2half2_rn(a, b);
    }
    static __device__ __forceinline__ float load(const __half* p) { return __half2float(*p); }
};
struct FloatPairIo : sk::FloatIo {
    static __device__ __forceinline__ void store2(float* p, float a, float b) {
        *reinterpret_cast<float2*>(p) = make_float2(a, b);
    }
};

// Preprocess: each thread writes PRE_PIXELS neighbouring pixels of a row, so the vertical tap and
// the scale division are computed once for both and each plane gets one paired store.
constexpr int PRE_PIXELS = 2;

template <typename T, typename Io, int ORDER>
__device__ void preprocess_pair(const unsigned char* frame, long pitch, int H, int W, T* out, int h, int w) {
    constexpr int C = ORDER >= 2 ? 4 : 3;
    int x0 = (blockIdx.x * blockDim.x + threadIdx.x) * PRE_PIXELS;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x0 >= w || y >= h) return;
    bool pair = x0 + 1 < w;  // false for the last pixel of an odd-width row
    sk::Tap ty = sk::linear_tap(y, (float)H / h, H);
    const float x_scale = (float)W / w;
    float v[PRE_PIXELS][3];
#pragma unroll
    for (int k = 0; k < PRE_PIXELS; ++k) {
        sk::Tap tx = sk::linear_tap(pair ? x0 + k : x0, x_scale, W);
#pragma unroll
        for (int c = 0; c < 3; ++c)
            v[k][c] = sk::normalize(sk::sample_u8(frame, pitch, C, sk::channel_for_rgb(ORDER, c), ty, tx));
    }
    const long plane = (long)h * w;
#pragma unroll
    for (int c = 0; c < 3; ++c) {
        T* p = out + c * plane + (long)y * w + x0;
        if (pair && (reinterpret_cast<size_t>(p) & (2 * sizeof(T) - 1)) == 0) {
            Io::store2(p, v[0][c], v[1][c]);
        } else {  // odd plane or row offsets, or a row's last odd pixel
            Io::store(p, v[0][c]);
            if (pair) Io::store(p + 1, v[1][c]);
        }
    }
}

template <typename T, typename Io>
__device__ void preprocess(const unsigned char* frame, long pitch, int H, int W, int order, T* out, int h, int w) {
    switch (order) {
        case 0: preprocess_pair<T, Io, 0>(frame, pitch, H, W, out, h, w); break;
        case 1: preprocess_pair<T, Io, 1>(frame, pitch, H, W, out, h, w); break;
        case 2: preprocess_pair<T, Io, 2>(frame, pitch, H, W, out, h, w); break;
        default: preprocess_pair<T, Io, 3>(frame, pitch, H, W, out, h, w); break;
    }
}

// frame (uint8 HWC in `order`, `pitch` bytes a row, H x W) -> bilinear to h x w -> [-1, 1] NCHW RGB.
// Launch with one thread per PRE_PIXELS pixels of a row (sdk/cuda/kernels.launch_shape).
extern "C" __global__ void preprocess_f32(const unsigned char* frame, long pitch, int H, int W, int order, float* out, int h, int w) {
    preprocess<float, FloatPairIo>(frame, pitch, H, W, order, out, h, w);
}
extern "C" __global__ void preprocess_f16(const unsigned char* frame, long pitch, int H, int W, int order, __half* out, int h, int w) {
    preprocess<__half, HalfIo>(frame, pitch, H, W, order, out, h, w);
}

// Postprocess: each thread writes a tile of PIXELS consecutive pixels by ROWS consecutive rows.
// - Bytes move as 32-bit words (C words hold 4 pixels of C channels) where the row's pointers are
//   4-byte aligned and the tile is whole; otherwise byte by byte, into the same words.
// - The horizontal taps and the scale division are computed once per thread, not per pixel.
// - A warp is one row of 32 threads (blockDim.x == 32), so every thread of a warp is on the same
//   output row and the vertical taps are warp-uniform. The horizontally sampled source rows
//   (top, bottom) are kept in registers and re-read only when the vertical tap moves: on a 3x
//   upscale a source row serves three output rows instead of being re-read and re-denormalized
//   for each.
// ROWS is set at compile time (benchmarks/gpu_check.py times several); sdk/cuda/kernels.py launches
// with the same value.
#ifndef SK_POST_ROWS
#define SK_POST_ROWS 4
#endif
constexpr int PIXELS = 4;
constexpr int ROWS = SK_POST_ROWS;

// Byte j of the words w (little-endian, as the GPU stores them); j is a compile-time constant
// after unrolling, so the words stay in registers.
__device__ __forceinline__ unsigned int byte_of(const unsigned int* words, int j) {
    return (words[j >> 2] >> ((j & 3) * 8)) & 0xffu;
}

// The first `count` bytes at p into words (the rest zero), as C words or byte by byte.
template <int C>
__device__ __forceinline__ void load_words(const unsigned char* p, unsigned int* words, bool whole_words, int count) {
    if (whole_words) {
#pragma unroll
        for (int i = 0; i < C; ++i) words[i] = reinterpret_cast<const unsigned int*>(p)[i];
        return;
    }
#pragma unroll
    for (int i = 0; i < C; ++i) words[i] = 0;
#pragma unroll
    for (int j = 0; j < C * PIXELS; ++j)
        if (j < count) words[j >> 2] |= (unsigned int)p[j] << ((j & 3) * 8);
}

template <int C>
__device__ __forceinline__ void store_words(unsigned char* p, const unsigned int* words, bool whole_words, int count) {
    if (whole_words) {
#pragma unroll
        for (int i = 0; i < C; ++i) reinterpret_cast<unsigned int*>(p)[i] = words[i];
        return;
    }
#pragma unroll
    for (int j = 0; j < C * PIXELS; ++j)
        if (j < count) p[j] = (unsigned char)byte_of(words, j);
}

// Horizontally sampled values of source row `row` for the tile's pixels and the three planes.
template <typename T, typename Io>
__device__ __forceinline__ void sample_source_row(const T* styled, long plane, int w, int row, const sk::Tap* tx,
                                                  float (*values)[3]) {
#pragma unroll
    for (int c = 0; c < 3; ++c) {
        const T* line = styled + c * plane + (long)row * w;
#pragma unroll
        for (int k = 0; k < PIXELS; ++k) values[k][c] = sk::sample_row<T, Io>(line, tx[k]);
    }
}

// The post kernels' parameters (the CPU emulation uses them too). `previous` and `previous_input`
// are the previous frame's output and input; temporal smoothing runs where both are given.
#define SK_POST_PARAMS(T)                                                                                       \
    const T *styled, int h, int w, const unsigned char *frame, long pitch, int H, int W, int order,              \
        float strength, const unsigned char *previous, long previous_pitch, const unsigned char *previous_input, \
        long previous_input_pitch, float temporal, unsigned char *out, long out_pitch
#define SK_POST_ARGS                                                                                               \
    styled, h, w, frame, pitch, H, W, order, strength, previous, previous_pitch, previous_input, previous_input_pitch, \
        temporal, out, out_pitch
// The kernels take one more: `params`, when not null, holds strength and temporal in device memory and
// overrides the two values. A CUDA graph captures the pointer, so a strength slider changes a value
// before each replay instead of capturing a new graph.
#define SK_POST_KERNEL_PARAMS(T) SK_POST_PARAMS(T), const float *params

// ORDER is a template argument so that channel indices are constants and the staged bytes
// stay in registers (with a run-time order they would be indexed dynamically, in local memory).
template <typename T, typename Io, int ORDER>
__device__ void postprocess_tile(SK_POST_PARAMS(T)) {
    constexpr int C = ORDER >= 2 ? 4 : 3;
    int x0 = (blockIdx.x * blockDim.x + threadIdx.x) * PIXELS;
    int y0 = (blockIdx.y * blockDim.y + threadIdx.y) * ROWS;
    if (x0 >= W || y0 >= H) return;
    int pixels = W - x0 < PIXELS ? W - x0 : PIXELS;  // fewer in the last tile of a row
    const float x_scale = (float)w / W, y_scale = (float)h / H;
    sk::Tap tx[PIXELS];
#pragma unroll
    for (int k = 0; k < PIXELS; ++k) tx[k] = sk::linear_tap(x0 + k < W ? x0 + k : W - 1, x_scale, w);
    const long plane = (long)h * w;
    float top[PIXELS][3], bottom[PIXELS][3];
    int top_row = -1, bottom_row = -1;
    const bool smooth = previous != nullptr && previous_input != nullptr;  // the same for every thread
#pragma unroll 1  // a loop, not four copies of a long body: the instruction cache holds it
    for (int r = 0; r < ROWS; ++r) {
        int y = y0 + r;
        if (y >= H) break;
        sk::Tap ty = sk::linear_tap(y, y_scale, h);
        if (ty.i0 != top_row) {
            if (ty.i0 == bottom_row) {
#pragma unroll
                for (int k = 0; k < PIXELS; ++k)
#pragma unroll
                    for (int c = 0; c < 3; ++c) top[k][c] = bottom[k][c];
            } else {
                sample_source_row<T, Io>(styled, plane, w, ty.i0, tx, top);
            }
            top_row = ty.i0;
        }
        if (ty.i1 != bottom_row) {
            sample_source_row<T, Io>(styled, plane, w, ty.i1, tx, bottom);
            bottom_row = ty.i1;
        }
        const unsigned char* src = frame + (long)y * pitch + (long)x0 * C;
        const unsigned char* prev = smooth ? previous + (long)y * previous_pitch + (long)x0 * C : nullptr;
        const unsigned char* prev_in = smooth ? previous_input + (long)y * previous_input_pitch + (long)x0 * C : nullptr;
        unsigned char* dst = out + (long)y * out_pitch + (long)x0 * C;
        bool whole_words = pixels == PIXELS && ((reinterpret_cast<size_t>(src) | reinterpret_cast<size_t>(dst) |
                                                 reinterpret_cast<size_t>(prev) | reinterpret_cast<size_t>(prev_in)) &
                                                3) == 0;
        unsigned int s[C], p[C], q[C], d[C];
        load_words<C>(src, s, whole_words, pixels * C);
        if (smooth) {
            load_words<C>(prev, p, whole_words, pixels * C);
            load_words<C>(prev_in, q, whole_words, pixels * C);
        }
#pragma unroll
        for (int i = 0; i < C; ++i) d[i] = 0;
#pragma unroll
        for (int k = 0; k < PIXELS; ++k) {
            float weight = 0.f;
            if (smooth) {
                float change = 0.f;
#pragma unroll
                for (int c = 0; c < 3; ++c)
                    change = fmaxf(change, fabsf((float)byte_of(s, k * C + c) - (float)byte_of(q, k * C + c)));
                weight = sk::temporal_weight(change, temporal);
            }
#pragma unroll
            for (int c = 0; c < 3; ++c) {
                int j = k * C + sk::channel_for_rgb(ORDER, c);
                unsigned char u = sk::blend_to_u8(sk::lerp_rows(top[k][c], bottom[k][c], ty), (float)byte_of(s, j),
                                                  strength);
                if (smooth) u = sk::temporal_to_u8(u, (float)byte_of(p, j), weight);
                d[j >> 2] |= (unsigned int)u << ((j & 3) * 8);
            }
            if (C == 4) d[(k * C + 3) >> 2] |= byte_of(s, k * C + 3) << (((k * C + 3) & 3) * 8);  // alpha as is
        }
        store_words<C>(dst, d, whole_words, pixels * C);
    }
}

template <typename T, typename Io>
__device__ void postprocess(SK_POST_PARAMS(T)) {
    switch (order) {
        case 0: postprocess_tile<T, Io, 0>(SK_POST_ARGS); break;
        case 1: postprocess_tile<T, Io, 1>(SK_POST_ARGS); break;
        case 2: postprocess_tile<T, Io, 2>(SK_POST_ARGS); break;
        default: postprocess_tile<T, Io, 3>(SK_POST_ARGS); break;
    }
}

// model output (NCHW RGB [-1, 1], h x w) -> H x W uint8 HWC in `order`, blended by strength, then
// smoothed toward the previous output where the input did not change (temporal > 0 and both
// previous frames given). Launch with one thread per PIXELS x ROWS tile (sdk/cuda/kernels.launch_shape).
extern "C" __global__ void postprocess_f32(SK_POST_KERNEL_PARAMS(float)) {
    if (params) strength = params[0], temporal = params[1];
    postprocess<float, sk::FloatIo>(SK_POST_ARGS);
}
extern "C" __global__ void postprocess_f16(SK_POST_KERNEL_PARAMS(__half)) {
    if (params) strength = params[0], temporal = params[1];
    postprocess<__half, HalfIo>(SK_POST_ARGS);
}
