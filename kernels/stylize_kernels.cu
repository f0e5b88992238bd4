// Fused pre/post-processing kernels: one pass over the pixels each way, a few pixels a thread.
// Compiled at first use with NVRTC for the GPU present (sdk/cuda/compiler.py). The
// per-pixel math is in pixel_math.cuh, shared with the CPU build (cpu_reference.cpp); the
// kernels themselves also run on the CPU in tests (kernel_emulator.cpp), so they use no warp
// intrinsics, and the one kernel with shared memory and a barrier is written as two phases.
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

// Byte and float conversions in full-rate instructions (the GPU's int<->float converts run at a
// quarter of the rate), exact for the values they get. kernels/emulation/ has CPU versions of the
// intrinsics so that the CPU emulation runs this same code.
constexpr float MAGIC = 8388608.f;  // 2^23: in [2^23, 2^24) a float's low mantissa bits are its integer part

// Byte j of the words w as a float: the byte placed in the mantissa of 2^23, minus 2^23 (exact).
__device__ __forceinline__ float byte_as_float(const unsigned int* words, int j) {
    return __uint_as_float(__byte_perm(words[j >> 2], 0x4B000000u, 0x7440u | (j & 3))) - MAGIC;
}

// floor(v) for 0 <= v < 256, in the low byte of the result: the add rounds down, so 2^23 + floor(v)
// is what remains. The result's float value minus 2^23 is floor(v) as a float.
__device__ __forceinline__ unsigned int floor_to_byte(float v) { return __float_as_uint(__fadd_rd(v, MAGIC)); }

// The low bytes of four words as one word.
__device__ __forceinline__ unsigned int pack_low_bytes(unsigned int a, unsigned int b, unsigned int c, unsigned int d) {
    return __byte_perm(__byte_perm(a, b, 0x0040u), __byte_perm(c, d, 0x0040u), 0x5410u);
}

// x / 24 for an integer x in [0, 255], bit-identical to the division (checked for every such x in
// tests/kernels/test_emulated_kernels.py): a product by the reciprocal and one FMA correction step,
// instead of the division's slow path on every pixel.
__device__ __forceinline__ float div_by_fade(float x) {
    const float reciprocal = 1.f / SK_TEMPORAL_FADE;
    float q = x * reciprocal;
    return fmaf(fmaf(-q, SK_TEMPORAL_FADE, x), reciprocal, q);
}

__device__ __forceinline__ float clamp01(float v) { return fminf(fmaxf(v, 0.f), 1.f); }

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
    sk::Tap tx[PRE_PIXELS];
#pragma unroll
    for (int k = 0; k < PRE_PIXELS; ++k) tx[k] = sk::linear_tap(pair ? x0 + k : x0, x_scale, W);
    float v[PRE_PIXELS][3];
#pragma unroll
    for (int k = 0; k < PRE_PIXELS; ++k)
#pragma unroll
        for (int c = 0; c < 3; ++c)
            v[k][c] = sk::normalize(sk::sample_u8(frame, pitch, C, sk::channel_for_rgb(ORDER, c), ty, tx[k]));
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

// Direct postprocess, for any sizes; sdk/cuda/kernels.postprocess_kernel picks it where the staged
// kernel below does not apply (the model output larger than the frame, or staged rows past the
// device's shared memory). Each thread writes a tile of PIXELS consecutive pixels by ROWS rows.
// - Bytes move as 32-bit words (C words hold 4 pixels of C channels) where the rows are 4-byte
//   aligned and the tile is whole; otherwise byte by byte, into the same words.
// - The horizontal taps, their weights and the scale division are computed once per thread.
// - A warp is one row of 32 threads (blockDim.x == 32), so every thread of a warp is on the same
//   output row and the vertical taps are warp-uniform. The horizontally sampled source rows
//   (top, bottom) are kept in registers and re-read only when the vertical tap moves: on a 3x
//   upscale a source row serves three output rows instead of being re-read for each.
// - Where the tile's taps lie in WINDOW neighbouring source pixels (every upscale of 1.5x or more),
//   a source row is read as those WINDOW values, each denormalized once, and every pixel is a
//   weighted sum of them: 4 loads a plane instead of 8, and no per-tap address arithmetic.
// ROWS (both post kernels) is set at compile time (benchmarks/gpu_check.py times several);
// sdk/cuda/kernels.py launches with the same value.
#ifndef SK_POST_ROWS
#define SK_POST_ROWS 8
#endif
constexpr int PIXELS = 4;
constexpr int ROWS = SK_POST_ROWS;
constexpr int WINDOW = 4;

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

// A tile's PIXELS columns: their horizontal taps and, where all the taps lie in WINDOW neighbouring
// source pixels (every upscale of 1.5x or more), each pixel's weight for each of those pixels times
// `scale` (zero for all but its two taps). Both post kernels compute this once per thread.
struct SourceColumns {
    sk::Tap tx[PIXELS];
    int first;    // the window's first pixel: the first tap, moved left at the row's end to stay inside
    bool window;  // every tap lies in the window
    float weights[PIXELS][WINDOW];
};

__device__ __forceinline__ void source_columns(int x0, int W, int w, float scale, SourceColumns& cols) {
    const float x_scale = (float)w / W;
#pragma unroll
    for (int k = 0; k < PIXELS; ++k) cols.tx[k] = sk::linear_tap(x0 + k < W ? x0 + k : W - 1, x_scale, w);
    int first = cols.tx[0].i0 < w - WINDOW ? cols.tx[0].i0 : w - WINDOW;
    cols.first = first = first > 0 ? first : 0;
    cols.window = w >= WINDOW && cols.tx[PIXELS - 1].i1 - first < WINDOW;
#pragma unroll
    for (int k = 0; k < PIXELS; ++k)
#pragma unroll
        for (int i = 0; i < WINDOW; ++i)
            cols.weights[k][i] = ((first + i == cols.tx[k].i0 ? 1.f - cols.tx[k].w1 : 0.f) +
                                  (first + i == cols.tx[k].i1 ? cols.tx[k].w1 : 0.f)) *
                                 scale;
}

// One plane row (`line`) sampled horizontally for the tile's pixels, times `scale` (already in the
// window weights), plus `bias`, into values[0], values[3], ... (pixel-major, R, G, B interleaved).
// In the window each source value is read and denormalized once; else each tap is read itself.
template <typename T, typename Io>
__device__ __forceinline__ void sample_line(const T* line, const SourceColumns& cols, float scale, float bias,
                                            float* values) {
    if (cols.window) {
        float e[WINDOW];
#pragma unroll
        for (int i = 0; i < WINDOW; ++i) e[i] = sk::denormalize(Io::load(line + cols.first + i));
#pragma unroll
        for (int k = 0; k < PIXELS; ++k) {
            float v = bias;
#pragma unroll
            for (int i = 0; i < WINDOW; ++i) v = fmaf(cols.weights[k][i], e[i], v);
            values[k * 3] = v;
        }
    } else {
#pragma unroll
        for (int k = 0; k < PIXELS; ++k) values[k * 3] = fmaf(sk::sample_row<T, Io>(line, cols.tx[k]), scale, bias);
    }
}

// Source row `row` of the three planes for the direct kernel: plain values.
template <typename T, typename Io>
__device__ __forceinline__ void sample_source_row(const T* styled, long plane, int w, int row,
                                                  const SourceColumns& cols, float (*values)[3]) {
#pragma unroll
    for (int c = 0; c < 3; ++c) sample_line<T, Io>(styled + c * plane + (long)row * w, cols, 1.f, 0.f, &values[0][c]);
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
    // Both in [0, 1] (the SDK validates them), so every blend below is a convex combination of values in
    // [0, 255] and stays there: rounding needs no clamp, and gives what the CPU build's clamped rounding gives.
    strength = clamp01(strength);
    temporal = clamp01(temporal);
    const float y_scale = (float)h / H;
    SourceColumns cols;
    source_columns(x0, W, w, 1.f, cols);
    const long plane = (long)h * w;
    float top[PIXELS][3], bottom[PIXELS][3];
    int top_row = -1, bottom_row = -1;
    const bool smooth = previous != nullptr && previous_input != nullptr;  // the same for every thread
    // Row pointers advance by their pitch; the word path needs every row 4-byte aligned.
    const unsigned char* src = frame + (long)y0 * pitch + (long)x0 * C;
    const unsigned char* prev = smooth ? previous + (long)y0 * previous_pitch + (long)x0 * C : nullptr;
    const unsigned char* prev_in = smooth ? previous_input + (long)y0 * previous_input_pitch + (long)x0 * C : nullptr;
    unsigned char* dst = out + (long)y0 * out_pitch + (long)x0 * C;
    const bool whole_words =
        pixels == PIXELS &&
        ((reinterpret_cast<size_t>(src) | reinterpret_cast<size_t>(dst) | (size_t)pitch | (size_t)out_pitch |
          (smooth ? reinterpret_cast<size_t>(prev) | reinterpret_cast<size_t>(prev_in) | (size_t)previous_pitch |
                        (size_t)previous_input_pitch
                  : 0)) &
         3) == 0;
#pragma unroll 1  // a loop, not ROWS copies of a long body: the instruction cache holds it
    for (int r = 0; r < ROWS; ++r) {
        int y = y0 + r;
        if (y >= H) break;
        unsigned int s[C], p[C], q[C], d[C];
        load_words<C>(src, s, whole_words, pixels * C);  // issued before the source rows' loads
        if (smooth) {
            load_words<C>(prev, p, whole_words, pixels * C);
            load_words<C>(prev_in, q, whole_words, pixels * C);
        }
        sk::Tap ty = sk::linear_tap(y, y_scale, h);
        if (ty.i0 != top_row) {
            if (ty.i0 == bottom_row) {
#pragma unroll
                for (int k = 0; k < PIXELS; ++k)
#pragma unroll
                    for (int c = 0; c < 3; ++c) top[k][c] = bottom[k][c];
            } else {
                sample_source_row<T, Io>(styled, plane, w, ty.i0, cols, top);
            }
            top_row = ty.i0;
        }
        if (ty.i1 != bottom_row) {
            sample_source_row<T, Io>(styled, plane, w, ty.i1, cols, bottom);
            bottom_row = ty.i1;
        }
        const float lower = ty.w1, upper = 1.f - ty.w1;
        unsigned int u[C * PIXELS];  // output bytes, each in the low byte of a word
#pragma unroll
        for (int k = 0; k < PIXELS; ++k) {
            float weight = 0.f;
            if (smooth) {  // the largest input change over the colour channels, in uint8 steps
                unsigned int change = 0;
#pragma unroll
                for (int c = 0; c < 3; ++c) {
                    const int j = k * C + c;
                    unsigned int a = byte_of(s, j), b = byte_of(q, j);
                    unsigned int diff = a > b ? a - b : b - a;
                    change = change > diff ? change : diff;
                }
                weight = clamp01(1.f - div_by_fade((float)change)) * temporal;
            }
#pragma unroll
            for (int c = 0; c < 3; ++c) {
                const int j = k * C + sk::channel_for_rgb(ORDER, c);
                const float original = byte_as_float(s, j);
                const float styled_value = top[k][c] * upper + bottom[k][c] * lower;
                unsigned int rounded = floor_to_byte(original + (styled_value - original) * strength + 0.5f);
                if (smooth) {
                    const float current = __uint_as_float(rounded) - MAGIC;
                    rounded = floor_to_byte(current + (byte_as_float(p, j) - current) * weight + 0.5f);
                }
                u[j] = rounded;
            }
            if (C == 4) u[k * C + 3] = byte_of(s, k * C + 3);  // alpha as is
        }
#pragma unroll
        for (int i = 0; i < C; ++i) d[i] = pack_low_bytes(u[4 * i], u[4 * i + 1], u[4 * i + 2], u[4 * i + 3]);
        store_words<C>(dst, d, whole_words, pixels * C);
        src += pitch;
        dst += out_pitch;
        if (smooth) {
            prev += previous_pitch;
            prev_in += previous_input_pitch;
        }
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

// ---- Staged postprocess: every upscale and 1:1 (the working size never exceeds the frame) ----
// A block's output tile is blockDim.x * PIXELS columns by BLOCK_Y * ROWS rows, and it reads at most
// stage_capacity() source rows. Phase 1: the block samples each of those source rows horizontally
// for the tile's columns, once, into shared memory, as value * strength + 0.5. Phase 2: each thread
// blends its PIXELS x ROWS pixels from the two staged rows around each output row. No sampled row
// stays in registers across rows, so a thread needs fewer of them (80 against the direct kernel's
// 127 on sm_90: 3 blocks an SM instead of 2), and a source row is sampled once per block instead of
// once per thread row. On an H200 it is 1.4x faster than the direct kernel at 2160p
// (benchmarks/results/kernel_tuning.md).
// The kernel runs as two phase functions around one barrier; the CPU emulation runs phase 1 for
// every thread of a block, then phase 2 (kernels/kernel_emulator.cpp).
constexpr int BLOCK_X = 32, BLOCK_Y = 8;  // sdk/cuda/kernels.BLOCK
// Blocks an SM must hold at once (__launch_bounds__), which caps a thread's registers; 1: no cap.
#ifndef SK_POST_MIN_BLOCKS
#define SK_POST_MIN_BLOCKS 3
#endif
constexpr int STAGE_VALUES = PIXELS * 3;  // per thread column and staged row: pixel-major, then R, G, B

// Source rows a block may stage: its BLOCK_Y * ROWS output rows span (BLOCK_Y * ROWS - 1) * h / H
// source rows, and each end adds at most two. The launch sizes the dynamic shared memory with the
// same float arithmetic (sdk/cuda/kernels.staged_shared_bytes), plus one row of margin.
__device__ __forceinline__ int stage_capacity(int h, int H) {
    return (int)ceilf((float)(BLOCK_Y * ROWS - 1) * ((float)h / H)) + 3;
}

// The first source row the block's tile reads, and how many it reads (never more than the capacity).
__device__ __forceinline__ int2 stage_range(int H, int h) {
    const float y_scale = (float)h / H;
    const int y_first = blockIdx.y * BLOCK_Y * ROWS;
    const int y_last = y_first + BLOCK_Y * ROWS - 1 < H - 1 ? y_first + BLOCK_Y * ROWS - 1 : H - 1;
    const int first = sk::linear_tap(y_first, y_scale, h).i0;
    const int count = sk::linear_tap(y_last, y_scale, h).i1 - first + 1;
    const int capacity = stage_capacity(h, H);
    return make_int2(first, count < capacity ? count : capacity);
}

// Phase 1: this thread's columns of staged rows threadIdx.y, threadIdx.y + BLOCK_Y, ...
template <typename T, typename Io>
__device__ void stage_source_rows(float* stage, int2 range, const T* styled, int h, int w, int W, float strength) {
    const int x0 = (blockIdx.x * blockDim.x + threadIdx.x) * PIXELS;
    if (x0 >= W) return;  // columns past the frame: their threads write nothing in phase 2 either
    strength = clamp01(strength);
    SourceColumns cols;  // weights times strength
    source_columns(x0, W, w, strength, cols);
    const long plane = (long)h * w;
    for (int t = threadIdx.y; t < range.y; t += BLOCK_Y) {
        float values[STAGE_VALUES];
#pragma unroll
        for (int c = 0; c < 3; ++c)
            sample_line<T, Io>(styled + c * plane + (long)(range.x + t) * w, cols, strength, 0.5f, values + c);
        float4* slot = reinterpret_cast<float4*>(stage + (t * BLOCK_X + threadIdx.x) * STAGE_VALUES);
#pragma unroll
        for (int i = 0; i < STAGE_VALUES / 4; ++i)
            slot[i] = make_float4(values[4 * i], values[4 * i + 1], values[4 * i + 2], values[4 * i + 3]);
    }
}

// Phase 2: this thread's PIXELS x ROWS pixels. Per value: original * (1 - strength) + the staged
// rows' vertical blend (already times strength, plus 0.5), rounded down: two FMAs besides the byte
// conversions. The CPU build's arithmetic up to float rounding (tests hold it to one uint8 step).
// WORDS: every row of the tile moves as whole 32-bit words (a separate instantiation, so that the
// common case carries no byte-path code).
#define SK_BLEND_PARAMS                                                                                       \
    const float *stage, int first_row, int h, int H, int W, const unsigned char *frame, long pitch, float strength, \
        const unsigned char *previous, long previous_pitch, const unsigned char *previous_input,                   \
        long previous_input_pitch, float temporal, unsigned char *out, long out_pitch
#define SK_BLEND_ARGS                                                                                      \
    stage, first_row, h, H, W, frame, pitch, strength, previous, previous_pitch, previous_input, previous_input_pitch, \
        temporal, out, out_pitch
template <int ORDER, bool WORDS>
__device__ void blend_staged_tile(SK_BLEND_PARAMS) {
    constexpr int C = ORDER >= 2 ? 4 : 3;
    constexpr bool whole_words = WORDS;
    const int x0 = (blockIdx.x * blockDim.x + threadIdx.x) * PIXELS;
    const int y0 = (blockIdx.y * blockDim.y + threadIdx.y) * ROWS;
    const int pixels = W - x0 < PIXELS ? W - x0 : PIXELS;  // fewer in the last tile of a row
    const int rows = H - y0 < ROWS ? H - y0 : ROWS;
    // Both in [0, 1] (the SDK validates them), so every blend is a convex combination of values in
    // [0, 255] and stays there: rounding needs no clamp, and gives what the CPU build's clamped rounding gives.
    const float keep = 1.f - clamp01(strength);
    temporal = clamp01(temporal);
    const float y_scale = (float)h / H;
    const bool smooth = previous != nullptr && previous_input != nullptr;  // the same for every thread
    const long offset = (long)x0 * C;
    const int count = pixels * C;
    const unsigned char* src = frame + (long)y0 * pitch + offset;
    const unsigned char* prev = smooth ? previous + (long)y0 * previous_pitch + offset : nullptr;
    const unsigned char* prev_in = smooth ? previous_input + (long)y0 * previous_input_pitch + offset : nullptr;
    unsigned char* dst = out + (long)y0 * out_pitch + offset;
    unsigned int s[C], p[C], q[C];  // this row's words, loaded one row ahead
    load_words<C>(src, s, whole_words, count);
    if (smooth) {
        load_words<C>(prev, p, whole_words, count);
        load_words<C>(prev_in, q, whole_words, count);
    }
#pragma unroll 1  // a loop, not ROWS copies of its body: the instruction cache holds it
    for (int r = 0; r < rows; ++r) {
        unsigned int next_s[C], next_p[C], next_q[C];
        const bool next = r + 1 < rows;
        if (next) {  // requested now, so that they arrive while this row is computed
            load_words<C>(src + pitch, next_s, whole_words, count);
            if (smooth) {
                load_words<C>(prev + previous_pitch, next_p, whole_words, count);
                load_words<C>(prev_in + previous_input_pitch, next_q, whole_words, count);
            }
        }
        const sk::Tap ty = sk::linear_tap(y0 + r, y_scale, h);
        const float4* top_slot = reinterpret_cast<const float4*>(stage + ((ty.i0 - first_row) * BLOCK_X + threadIdx.x) * STAGE_VALUES);
        const float4* bottom_slot = reinterpret_cast<const float4*>(stage + ((ty.i1 - first_row) * BLOCK_X + threadIdx.x) * STAGE_VALUES);
        float top[STAGE_VALUES], bottom[STAGE_VALUES];
#pragma unroll
        for (int i = 0; i < STAGE_VALUES / 4; ++i) {
            const float4 a = top_slot[i], b = bottom_slot[i];
            top[4 * i] = a.x, top[4 * i + 1] = a.y, top[4 * i + 2] = a.z, top[4 * i + 3] = a.w;
            bottom[4 * i] = b.x, bottom[4 * i + 1] = b.y, bottom[4 * i + 2] = b.z, bottom[4 * i + 3] = b.w;
        }
        unsigned int u[C * PIXELS];  // output bytes, each in the low byte of a word
#pragma unroll
        for (int k = 0; k < PIXELS; ++k) {
            float weight = 0.f;
            if (smooth) {  // the largest input change over the colour channels, in uint8 steps
                unsigned int change = 0;
#pragma unroll
                for (int c = 0; c < 3; ++c) {
                    const unsigned int a = byte_of(s, k * C + c), b = byte_of(q, k * C + c);
                    const unsigned int diff = a > b ? a - b : b - a;
                    change = change > diff ? change : diff;
                }
                weight = clamp01(1.f - div_by_fade((float)change)) * temporal;
            }
#pragma unroll
            for (int c = 0; c < 3; ++c) {
                const int j = k * C + sk::channel_for_rgb(ORDER, c);
                const float styled = fmaf(bottom[k * 3 + c] - top[k * 3 + c], ty.w1, top[k * 3 + c]);
                unsigned int rounded = floor_to_byte(fmaf(byte_as_float(s, j), keep, styled));
                if (smooth) {
                    const float current = __uint_as_float(rounded) - MAGIC;
                    rounded = floor_to_byte(current + (byte_as_float(p, j) - current) * weight + 0.5f);
                }
                u[j] = rounded;
            }
            if (C == 4) u[k * C + 3] = byte_of(s, k * C + 3);  // alpha as is
        }
        unsigned int d[C];
#pragma unroll
        for (int i = 0; i < C; ++i) d[i] = pack_low_bytes(u[4 * i], u[4 * i + 1], u[4 * i + 2], u[4 * i + 3]);
        store_words<C>(dst, d, whole_words, count);
        src += pitch;
        dst += out_pitch;
        if (smooth) {
            prev += previous_pitch;
            prev_in += previous_input_pitch;
        }
        if (next) {
#pragma unroll
            for (int i = 0; i < C; ++i) {
                s[i] = next_s[i];
                if (smooth) p[i] = next_p[i], q[i] = next_q[i];
            }
        }
    }
}

// Phase 2 for this thread: the word or the byte instantiation.
template <int ORDER>
__device__ void blend_staged(SK_BLEND_PARAMS) {
    const int x0 = (blockIdx.x * blockDim.x + threadIdx.x) * PIXELS;
    const int y0 = (blockIdx.y * blockDim.y + threadIdx.y) * ROWS;
    if (x0 >= W || y0 >= H) return;
    const bool smooth = previous != nullptr && previous_input != nullptr;
    const bool words = W - x0 >= PIXELS &&  // the tile's start, x0 * C bytes in, is a multiple of 4 already
                       ((reinterpret_cast<size_t>(frame) | reinterpret_cast<size_t>(out) | (size_t)pitch |
                         (size_t)out_pitch |
                         (smooth ? reinterpret_cast<size_t>(previous) | reinterpret_cast<size_t>(previous_input) |
                                       (size_t)previous_pitch | (size_t)previous_input_pitch
                                 : 0)) &
                        3) == 0;
    if (words)
        blend_staged_tile<ORDER, true>(SK_BLEND_ARGS);
    else
        blend_staged_tile<ORDER, false>(SK_BLEND_ARGS);
}

// SK_POST_PREFETCH_L2 (0 by default; benchmarks/gpu_check.py times 1): before phase 1, each thread
// asks L2 for its tile's rows of the frame (and of the previous frames when smoothing), so that their
// trip from memory overlaps the staging and phase 2's loads find them in L2.
#ifndef SK_POST_PREFETCH_L2
#define SK_POST_PREFETCH_L2 0
#endif
__device__ __forceinline__ void prefetch_l2(const unsigned char* p) {
#if defined(__CUDA_ARCH__)
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#else  // the CPU emulation reads the byte instead, so that a prefetch outside the frame faults there
    volatile unsigned char byte = *p;
    (void)byte;
#endif
}

__device__ __forceinline__ void prefetch_tile_rows(int H, int W, int order, const unsigned char* frame, long pitch,
                                                   const unsigned char* previous, long previous_pitch,
                                                   const unsigned char* previous_input, long previous_input_pitch) {
    const int x0 = (blockIdx.x * blockDim.x + threadIdx.x) * PIXELS;
    const int y0 = (blockIdx.y * blockDim.y + threadIdx.y) * ROWS;
    if (x0 >= W || y0 >= H) return;
    const long offset = (long)x0 * sk::channels_of(order);
    const bool smooth = previous != nullptr && previous_input != nullptr;
    for (int y = y0; y < y0 + ROWS && y < H; ++y) {
        prefetch_l2(frame + y * pitch + offset);
        if (smooth) {
            prefetch_l2(previous + y * previous_pitch + offset);
            prefetch_l2(previous_input + y * previous_input_pitch + offset);
        }
    }
}

// One phase of the staged kernel for this thread (0: stage the source rows, 1: blend the tile).
template <typename T, typename Io>
__device__ void postprocess_staged(int phase, float* stage, int2 range, SK_POST_PARAMS(T)) {
    if (phase == 0) {
        if (SK_POST_PREFETCH_L2)
            prefetch_tile_rows(H, W, order, frame, pitch, previous, previous_pitch, previous_input,
                               previous_input_pitch);
        stage_source_rows<T, Io>(stage, range, styled, h, w, W, strength);
        return;
    }
    const int first_row = range.x;
    switch (order) {
        case 0: blend_staged<0>(SK_BLEND_ARGS); break;
        case 1: blend_staged<1>(SK_BLEND_ARGS); break;
        case 2: blend_staged<2>(SK_BLEND_ARGS); break;
        default: blend_staged<3>(SK_BLEND_ARGS); break;
    }
}

// As postprocess_f32/f16 below, for h <= H and w <= W (sdk/cuda/kernels.py picks it then), with
// stage_capacity(h, H) * BLOCK_X * STAGE_VALUES floats of dynamic shared memory.
// Launch with BLOCK_X x BLOCK_Y threads, one per PIXELS x ROWS tile (sdk/cuda/kernels.launch_shape).
#define SK_STAGED_KERNEL(NAME, T, IO)                                                                         \
    extern "C" __global__ void __launch_bounds__(BLOCK_X * BLOCK_Y, SK_POST_MIN_BLOCKS) NAME(SK_POST_KERNEL_PARAMS(T)) { \
        extern __shared__ float4 stage[];                                                                      \
        if (params) strength = params[0], temporal = params[1];                                                \
        const int2 range = stage_range(H, h);                                                                  \
        postprocess_staged<T, IO>(0, reinterpret_cast<float*>(stage), range, SK_POST_ARGS);                    \
        __syncthreads();                                                                                       \
        postprocess_staged<T, IO>(1, reinterpret_cast<float*>(stage), range, SK_POST_ARGS);                    \
    }
SK_STAGED_KERNEL(postprocess_staged_f32, float, sk::FloatIo)
SK_STAGED_KERNEL(postprocess_staged_f16, __half, HalfIo)

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
