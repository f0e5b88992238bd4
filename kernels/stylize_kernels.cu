// Fused pre/post-processing kernels: one pass over the pixels each way, a few pixels a thread.
// Compiled at first use with NVRTC for the GPU present (sdk/cuda/compiler.py). The
// per-pixel math is in pixel_math.cuh, shared with the CPU build (cpu_reference.cpp); the
// kernels themselves also run on the CPU in tests (kernel_emulator.cpp), so they use no warp
// intrinsics, and the one kernel with shared memory and barriers is written as three phases.
#include <cuda_fp16.h>
#include "pixel_math.cuh"

// Element stores and loads; store4 writes four neighbours of a plane (fewer at a row's end, `room`) as
// one 8- or 16-byte store where p is aligned to it, else one by one.
struct HalfIo {
    static __device__ __forceinline__ void store(__half* p, float v) { *p = __float2half_rn(v); }
    static __device__ __forceinline__ void store4(__half* p, const float* v, int room) {
        if (room >= 4 && (reinterpret_cast<size_t>(p) & 7) == 0) {
            const __half2 lo = __floats2half2_rn(v[0], v[1]), hi = __floats2half2_rn(v[2], v[3]);
            *reinterpret_cast<uint2*>(p) =
                make_uint2(*reinterpret_cast<const unsigned int*>(&lo), *reinterpret_cast<const unsigned int*>(&hi));
            return;
        }
        for (int k = 0; k < 4 && k < room; ++k) store(p + k, v[k]);
    }
    static __device__ __forceinline__ float load(const __half* p) { return __half2float(*p); }
};
struct FloatQuadIo : sk::FloatIo {
    static __device__ __forceinline__ void store4(float* p, const float* v, int room) {
        if (room >= 4 && (reinterpret_cast<size_t>(p) & 15) == 0) {
            *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
            return;
        }
        for (int k = 0; k < 4 && k < room; ++k) p[k] = v[k];
    }
};

// Byte and float conversions in full-rate instructions (the GPU's int<->float converts run at a
// quarter of the rate), exact for the values they get. kernels/emulation/ has CPU versions of the
// intrinsics so that the CPU emulation runs this same code.
constexpr float MAGIC = 8388608.f;  // 2^23: in [2^23, 2^24) a float's low mantissa bits are its integer part

// Byte j of the words w placed in the mantissa of 2^23: 2^23 + the byte, exactly. The difference of two
// such values is the bytes' difference, exactly, with no 2^23 to subtract.
__device__ __forceinline__ float byte_above_magic(const unsigned int* words, int j) {
    return __uint_as_float(__byte_perm(words[j >> 2], 0x4B000000u, 0x7440u | (j & 3)));
}

// Byte j of the words w as a float (exact).
__device__ __forceinline__ float byte_as_float(const unsigned int* words, int j) { return byte_above_magic(words, j) - MAGIC; }

// floor(v) for 0 <= v < 256, in the low byte of the result: the add rounds down, so 2^23 + floor(v)
// is what remains. The result's float value minus 2^23 is floor(v) as a float.
__device__ __forceinline__ unsigned int floor_to_byte(float v) { return __float_as_uint(__fadd_rd(v, MAGIC)); }

// Temporal smoothing of one value: `rounded` (floor_to_byte's result: 2^23 + the blended byte n) moved toward
// byte j of the previous output's words by `weight`, rounded as the CPU path rounds (sk::temporal_to_u8,
// frames.temporal_blend): product, sum and half each rounded. A fused multiply-add, which the compiler
// makes of `n + d * w` by default, rounds once, and where the weight is a hair above a fraction (0.6 * 5/12
// is 0.25000003 in float) it lands one step below the CPU path's result for about 1 value in 1,000.
__device__ __forceinline__ unsigned int toward_previous(unsigned int rounded, const unsigned int* previous, int j,
                                                        float weight) {
    const float n = __uint_as_float(rounded);  // 2^23 + n
    const float step = byte_above_magic(previous, j) - n;  // previous - n, exact
    return floor_to_byte(__fadd_rn(__fadd_rn(n - MAGIC, __fmul_rn(step, weight)), 0.5f));
}

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

// Pixel k's smoothing weight (both post kernels): `temporal`, faded out by the largest change of its colour
// channels from the previous input (words q) to this one (words s), in uint8 steps. The changes are exact
// differences of bytes placed above 2^23, two instructions a channel.
template <int C>
__device__ __forceinline__ float temporal_weight_at(const unsigned int* s, const unsigned int* q, int k, float temporal) {
    float change = 0.f;
#pragma unroll
    for (int c = 0; c < 3; ++c)
        change = fmaxf(change, fabsf(byte_above_magic(s, k * C + c) - byte_above_magic(q, k * C + c)));
    return clamp01(1.f - div_by_fade(change)) * temporal;
}

// Pixel k's output fade (both post kernels): 1, down to 0 as its rounded output bytes (floor_to_byte's results,
// 2^23 + n, by RGB position) move away from the previous output's (words p) by SK_OUTPUT_FADE steps or more
// (the largest change over the channels). Exact: differences of values above 2^23, a product by a power of two.
template <int C, int ORDER>
__device__ __forceinline__ float output_fade_at(const unsigned int* rounded, const unsigned int* p, int k) {
    float change = 0.f;
#pragma unroll
    for (int c = 0; c < 3; ++c)
        change = fmaxf(change, fabsf(__uint_as_float(rounded[c]) -
                                     byte_above_magic(p, k * C + sk::channel_for_rgb(ORDER, c))));
    return clamp01(1.f - change * (1.f / SK_OUTPUT_FADE));
}

// Preprocess: each thread writes PRE_PIXELS neighbouring pixels of a row, so the vertical tap, the
// row addresses and the scale divisions are computed once for all four, and each plane gets one
// 8-byte (FP16) or 16-byte (FP32) store. Per pixel and channel it reads the two rows' two taps as bytes
// at constant offsets from one address per row: a tap at the last column or row is moved one left or
// up with its weight set to 1, which gives the same value (exactly, for the byte taps).
constexpr int PRE_PIXELS = 4;

// A byte (zero-extended) as a float: two full-rate instructions instead of a conversion, which runs at a
// fraction of their rate (sm_90: 16 a clock an SM against 64 and 128).
__device__ __forceinline__ float u8_to_float(unsigned int byte) { return __uint_as_float(0x4B000000u | byte) - MAGIC; }

// A tap whose second pixel is always the first's neighbour (size >= 2).
__device__ __forceinline__ sk::Tap inner_tap(int dst, float scale, int size) {
    sk::Tap t = sk::linear_tap(dst, scale, size);
    if (t.i0 == size - 1) t.i0 = size - 2, t.w1 = 1.f;
    return t;
}

template <typename T, typename Io, int ORDER>
__device__ void preprocess_quad(const unsigned char* frame, long pitch, int H, int W, T* out, int h, int w) {
    constexpr int C = ORDER >= 2 ? 4 : 3;
    const int x0 = (blockIdx.x * blockDim.x + threadIdx.x) * PRE_PIXELS;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x0 >= w || y >= h) return;
    const long plane = (long)h * w;
    if (W < 2 || H < 2) {  // a frame one pixel wide or high: no neighbour to read; the shared math as is
        for (int x = x0; x < x0 + PRE_PIXELS && x < w; ++x)
            sk::preprocess_pixel<T, Io>(frame, pitch, H, W, ORDER, out, h, w, x, y);
        return;
    }
    const sk::Tap ty = inner_tap(y, (float)H / h, H);
    const unsigned char* row0 = frame + (long)ty.i0 * pitch;
    const unsigned char* row1 = row0 + pitch;
    const float x_scale = (float)W / w;
    float v[3][PRE_PIXELS];
#pragma unroll
    for (int k = 0; k < PRE_PIXELS; ++k) {
        const sk::Tap tx = inner_tap(x0 + k < w ? x0 + k : w - 1, x_scale, W);
        const unsigned char* a = row0 + tx.i0 * C;
        const unsigned char* b = row1 + tx.i0 * C;
#pragma unroll
        for (int c = 0; c < 3; ++c) {
            const int ch = sk::channel_for_rgb(ORDER, c);
            const float a0 = u8_to_float(a[ch]), a1 = u8_to_float(a[ch + C]);
            const float b0 = u8_to_float(b[ch]), b1 = u8_to_float(b[ch + C]);
            const float top = fmaf(a1 - a0, tx.w1, a0), bottom = fmaf(b1 - b0, tx.w1, b0);
            v[c][k] = sk::normalize(fmaf(bottom - top, ty.w1, top));
        }
    }
#pragma unroll
    for (int c = 0; c < 3; ++c) Io::store4(out + c * plane + (long)y * w + x0, v[c], w - x0);
}

template <typename T, typename Io>
__device__ void preprocess(const unsigned char* frame, long pitch, int H, int W, int order, T* out, int h, int w) {
    switch (order) {
        case 0: preprocess_quad<T, Io, 0>(frame, pitch, H, W, out, h, w); break;
        case 1: preprocess_quad<T, Io, 1>(frame, pitch, H, W, out, h, w); break;
        case 2: preprocess_quad<T, Io, 2>(frame, pitch, H, W, out, h, w); break;
        default: preprocess_quad<T, Io, 3>(frame, pitch, H, W, out, h, w); break;
    }
}

// frame (uint8 HWC in `order`, `pitch` bytes a row, H x W) -> bilinear to h x w -> [-1, 1] NCHW RGB.
// Launch with one thread per PRE_PIXELS pixels of a row (sdk/cuda/kernels.launch_shape).
extern "C" __global__ void preprocess_f32(const unsigned char* frame, long pitch, int H, int W, int order, float* out, int h, int w) {
    preprocess<float, FloatQuadIo>(frame, pitch, H, W, order, out, h, w);
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

// One plane row (`line`) sampled horizontally for the tile's pixels (the direct kernel: source_columns'
// scale 1), into values[0], values[3], ... (pixel-major, R, G, B interleaved). In the window each source
// value is read and denormalized once; else each tap is read itself. The staged kernel has its own
// (stage_line).
template <typename T, typename Io>
__device__ __forceinline__ void sample_line(const T* line, const SourceColumns& cols, float* values) {
    if (cols.window) {
        float e[WINDOW];
#pragma unroll
        for (int i = 0; i < WINDOW; ++i) e[i] = sk::denormalize(Io::load(line + cols.first + i));
#pragma unroll
        for (int k = 0; k < PIXELS; ++k) {
            float v = 0.f;
#pragma unroll
            for (int i = 0; i < WINDOW; ++i) v = fmaf(cols.weights[k][i], e[i], v);
            values[k * 3] = v;
        }
    } else {
#pragma unroll
        for (int k = 0; k < PIXELS; ++k) values[k * 3] = sk::sample_row<T, Io>(line, cols.tx[k]);
    }
}

// Source row `row` of the three planes for the direct kernel: plain values.
template <typename T, typename Io>
__device__ __forceinline__ void sample_source_row(const T* styled, long plane, int w, int row,
                                                  const SourceColumns& cols, float (*values)[3]) {
#pragma unroll
    for (int c = 0; c < 3; ++c) sample_line<T, Io>(styled + c * plane + (long)row * w, cols, &values[0][c]);
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
            unsigned int rounded[3];  // by RGB position
#pragma unroll
            for (int c = 0; c < 3; ++c) {
                const int j = k * C + sk::channel_for_rgb(ORDER, c);
                const float original = byte_as_float(s, j);
                const float styled_value = top[k][c] * upper + bottom[k][c] * lower;
                rounded[c] = floor_to_byte(original + (styled_value - original) * strength + 0.5f);
            }
            if (smooth) {
                const float weight = temporal_weight_at<C>(s, q, k, temporal) * output_fade_at<C, ORDER>(rounded, p, k);
#pragma unroll
                for (int c = 0; c < 3; ++c)
                    rounded[c] = toward_previous(rounded[c], p, k * C + sk::channel_for_rgb(ORDER, c), weight);
            }
#pragma unroll
            for (int c = 0; c < 3; ++c) u[k * C + sk::channel_for_rgb(ORDER, c)] = rounded[c];
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
// A block's output tile is BLOCK_X * PIXELS columns by BLOCK_Y * ROWS rows. It reads at most
// stage_capacity() rows of the model output, over at most raw_capacity() columns. Three phases, with a
// barrier between each two:
// 0. Every thread requests its tile's frame bytes, all ROWS rows, into registers; the block copies the
//    model output rows and columns it reads into shared memory ("raw"), as asynchronous copies where the
//    GPU has them. Nothing waits between requests, so the whole tile costs about one trip to memory
//    instead of one a row (the previous versions were latency-bound: kernel_tuning.md).
// 1. The block samples each raw row horizontally for the tile's columns, once, into shared memory
//    ("stage"), as value * strength + 0.5.
// 2. Each thread blends its PIXELS x ROWS pixels from the two staged rows around each output row and
//    the frame bytes it already holds: two FMAs a value besides the byte conversions.
// The CPU emulation runs each phase for every thread of a block before the next, with the shared memory
// poisoned and each thread's registers kept in a StagedThread (kernels/kernel_emulator.cpp).
constexpr int BLOCK_X = 32, BLOCK_Y = 8;  // sdk/cuda/kernels.BLOCK
// Blocks an SM must hold at once (__launch_bounds__), which caps a thread's registers; 1: no cap.
// 2 gives 120 registers at 8 rows (sm_90) and no spill; 3 caps them at 80, with spills. On the H200, in three calls
// of 7 rounds of both in turn (benchmarks/post_build_rounds.py): 2 blocks take 9 to 13% less time at 1080p (where a
// block's shared memory allows only 2 anyway), and within 1.3% of 3 blocks either way at 2160p (kernel_tuning.md).
#ifndef SK_POST_MIN_BLOCKS
#define SK_POST_MIN_BLOCKS 2
#endif
constexpr int STAGE_VALUES = PIXELS * 3;  // per thread column and staged row: pixel-major, then R, G, B

// A block's output tile, in tiles (BLOCK_X * PIXELS columns, BLOCK_Y * ROWS rows): blockIdx where a block
// works on one tile; in the persistent build (SK_POST_PERSISTENT, below) each tile the block takes in turn.
struct Tile {
    int x, y;  // x < 0: no tile
};
__device__ __forceinline__ int thread_x0(Tile tile) { return (tile.x * BLOCK_X + threadIdx.x) * PIXELS; }
__device__ __forceinline__ int thread_y0(Tile tile) { return (tile.y * BLOCK_Y + threadIdx.y) * ROWS; }

// Source rows a block may stage: its BLOCK_Y * ROWS output rows span (BLOCK_Y * ROWS - 1) * h / H
// source rows, and each end adds at most two. The launch sizes the dynamic shared memory with the
// same float arithmetic (sdk/cuda/kernels.staged_shared_bytes), plus one row of margin.
__device__ __forceinline__ int stage_capacity(int h, int H) {
    return (int)ceilf((float)(BLOCK_Y * ROWS - 1) * ((float)h / H)) + 3;
}

// Source columns a block may copy, even: its BLOCK_X * PIXELS columns span (BLOCK_X * PIXELS - 1) * w / W
// source columns; the taps add two, the window's move at the row's end three, the even start and end two.
__device__ __forceinline__ int raw_capacity(int w, int W) {
    return ((int)ceilf((float)(BLOCK_X * PIXELS - 1) * ((float)w / W)) + 8) & ~1;
}

// The first source row the block's tile reads, and how many it reads (never more than the capacity).
__device__ __forceinline__ int2 stage_range(Tile tile, int H, int h) {
    const float y_scale = (float)h / H;
    const int y_first = tile.y * BLOCK_Y * ROWS;
    const int y_last = y_first + BLOCK_Y * ROWS - 1 < H - 1 ? y_first + BLOCK_Y * ROWS - 1 : H - 1;
    const int first = sk::linear_tap(y_first, y_scale, h).i0;
    const int count = sk::linear_tap(y_last, y_scale, h).i1 - first + 1;
    const int capacity = stage_capacity(h, H);
    return make_int2(first, count < capacity ? count : capacity);
}

// The first source column the block copies (even, and far enough left for every thread's window) and how
// many it copies (even, never more than the capacity).
__device__ __forceinline__ int2 raw_range(Tile tile, int W, int w) {
    const float x_scale = (float)w / W;
    const int x_first = tile.x * BLOCK_X * PIXELS;
    const int x_last = x_first + BLOCK_X * PIXELS - 1 < W - 1 ? x_first + BLOCK_X * PIXELS - 1 : W - 1;
    int first = sk::linear_tap(x_first, x_scale, w).i0;
    first = first < w - WINDOW ? first : w - WINDOW;
    first = (first > 0 ? first : 0) & ~1;
    const int count = (sk::linear_tap(x_last, x_scale, w).i1 - first + 2) & ~1;
    const int capacity = raw_capacity(w, W);
    return make_int2(first, count < capacity ? count : capacity);
}

// An output row's vertical tap, as phase 2 uses it: the two staged rows' offsets in bytes from a thread
// column's slot, and the bottom row's weight. Phase 1 computes one per output row of the block, so that
// each thread's row loop reads it (one 16-byte load, the same address across a warp) instead of
// computing the tap's float arithmetic and two slot addresses for every row.
struct alignas(16) RowTap {
    int top, bottom;
    float w1, unused;
};
constexpr int ROW_TAPS = BLOCK_Y * ROWS;
static_assert(ROW_TAPS <= BLOCK_X * BLOCK_Y, "phase 1 computes one row tap a thread");

// Bytes of the block's shared memory below (sdk/cuda/kernels.staged_shared_bytes computes the same).
__device__ __forceinline__ int staged_shared_bytes(int h, int w, int H, int W, int value_bytes) {
    return stage_capacity(h, H) * (BLOCK_X * STAGE_VALUES * 4 + 3 * raw_capacity(w, W) * value_bytes) +
           ROW_TAPS * (int)sizeof(RowTap);
}

// The block's shared memory: the staged rows (floats, first, so that their float4 slots are aligned),
// the row taps, then the raw copy, three planes of stage_capacity rows of raw_capacity values of T.
template <typename T>
struct StagedShared {
    float* stage;
    RowTap* row_taps;
    T* raw;
    int raw_rows, raw_columns;  // the raw copy's capacities, its plane and row strides
    __device__ __forceinline__ StagedShared(float* shared, int h, int w, int H, int W)
        : stage(shared),
          row_taps(reinterpret_cast<RowTap*>(shared + stage_capacity(h, H) * BLOCK_X * STAGE_VALUES)),
          raw(reinterpret_cast<T*>(row_taps + ROW_TAPS)),
          raw_rows(stage_capacity(h, H)),
          raw_columns(raw_capacity(w, W)) {}
    __device__ __forceinline__ T* raw_row(int plane, int row) const {
        return raw + (plane * raw_rows + row) * raw_columns;
    }
};

// A 4-byte copy from global to shared memory that does not hold the thread (cp.async, sm_80 and later);
// copy_wait() waits for this thread's copies. Elsewhere (older GPUs, the CPU emulation) a plain copy.
__device__ __forceinline__ void copy_async4(void* shared_dst, const void* global_src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"((unsigned int)__cvta_generic_to_shared(shared_dst)),
                 "l"(global_src)
                 : "memory");
#else
    *reinterpret_cast<unsigned int*>(shared_dst) = *reinterpret_cast<const unsigned int*>(global_src);
#endif
}
__device__ __forceinline__ void copy_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

// Phase 0, the block's part: rows range.x.. and columns columns.x.. of the three planes into the raw copy.
// Whole 4-byte words where every row starts on one (the SDK's working widths are multiples of 4); else
// value by value.
// In the word path a lane takes one word of a row (its column stays), a warp one row of a plane in BLOCK_Y, and the
// addresses step by a constant from row to row and plane to plane. Why: computed afresh for each row (two index
// products, the word/value branch), the copy took a fifth of the kernel's instructions at 2160p (ncu source
// counters, H200: 44 instructions a 4-byte copy; kernel_tuning.md).
template <typename T>
__device__ void copy_raw(const StagedShared<T>& shared, int2 range, int2 columns, const T* styled, int h, int w) {
    const long plane = (long)h * w;
    constexpr int per_word = 4 / sizeof(T);
    const bool words = (w % per_word) == 0 && (reinterpret_cast<size_t>(styled) & 3) == 0;
    const int count = columns.y < w - columns.x ? columns.y : w - columns.x;  // inside the row
    if (words) {
        const long row_step = (long)BLOCK_Y * w;  // in values
        const int shared_row_step = BLOCK_Y * shared.raw_columns, shared_plane_step = shared.raw_rows * shared.raw_columns;
        for (int i = threadIdx.x * per_word; i < count; i += BLOCK_X * per_word) {
            const T* plane_src = styled + (long)(range.x + threadIdx.y) * w + columns.x + i;
            T* plane_dst = shared.raw_row(0, threadIdx.y) + i;
            for (int c = 0; c < 3; ++c, plane_src += plane, plane_dst += shared_plane_step) {
                const T* src = plane_src;
                T* dst = plane_dst;
                for (int r = threadIdx.y; r < range.y; r += BLOCK_Y, src += row_step, dst += shared_row_step)
                    copy_async4(dst, src);
            }
        }
        return;
    }
    for (int c = 0; c < 3; ++c)
        for (int r = threadIdx.y; r < range.y; r += BLOCK_Y) {
            const T* src = styled + c * plane + (long)(range.x + r) * w + columns.x;
            T* dst = shared.raw_row(c, r);
            for (int i = threadIdx.x; i < count; i += BLOCK_X) dst[i] = src[i];
        }
}

// What a thread requests of a tile in phase 0 and blends from in phase 2: the tile's frame words, ROWS rows of
// C (at most 4) words, and whether every row of the tile moves as whole words.
struct TileWords {
    unsigned int frame[ROWS * 4];
    bool whole;
};
// What a thread holds across the barriers: the tile it blends next and, in the persistent build, the one after,
// requested while that one is blended.
struct StagedThread {
    TileWords tile, ahead;
};

// Phase 0, the thread's part: its tile's frame rows (the bytes of a tile past the frame's last row stay unread).
template <int ORDER, bool WORDS>
__device__ __forceinline__ void load_tile(unsigned int* words, int x0, int y0, int H, int W, const unsigned char* frame,
                                          long pitch) {
    constexpr int C = ORDER >= 2 ? 4 : 3;
    const int count = (W - x0 < PIXELS ? W - x0 : PIXELS) * C;
    const unsigned char* src = frame + (long)y0 * pitch + (long)x0 * C;
#pragma unroll
    for (int r = 0; r < ROWS; ++r)
        if (y0 + r < H) load_words<C>(src + r * pitch, words + r * C, WORDS, count);
}

// Every row of the thread's part of the tile moves as whole 32-bit words (its start, x0 * C bytes in, is a
// multiple of 4 already); each case is a separate instantiation, so that the common one carries no byte-path code.
__device__ __forceinline__ bool tile_in_words(int x0, int W, const unsigned char* frame, long pitch,
                                              const unsigned char* out, long out_pitch, const unsigned char* previous,
                                              long previous_pitch, const unsigned char* previous_input,
                                              long previous_input_pitch) {
    const bool smooth = previous != nullptr && previous_input != nullptr;
    return W - x0 >= PIXELS &&
           ((reinterpret_cast<size_t>(frame) | reinterpret_cast<size_t>(out) | (size_t)pitch | (size_t)out_pitch |
             (smooth ? reinterpret_cast<size_t>(previous) | reinterpret_cast<size_t>(previous_input) |
                           (size_t)previous_pitch | (size_t)previous_input_pitch
                     : 0)) &
            3) == 0;
}

// Phase 1, the first ROW_TAPS threads' part: the vertical tap of each output row of the block that is
// inside the frame, relative to the staged rows (first_row is the first of them).
template <typename T>
__device__ __forceinline__ void row_taps(const StagedShared<T>& shared, Tile tile, int first_row, int h, int H) {
    const int i = threadIdx.y * BLOCK_X + threadIdx.x;
    const int y = tile.y * BLOCK_Y * ROWS + i;
    if (i >= ROW_TAPS || y >= H) return;
    const sk::Tap ty = sk::linear_tap(y, (float)h / H, h);
    RowTap tap;
    tap.top = (ty.i0 - first_row) * BLOCK_X * STAGE_VALUES * (int)sizeof(float);
    tap.bottom = (ty.i1 - first_row) * BLOCK_X * STAGE_VALUES * (int)sizeof(float);
    tap.w1 = ty.w1;
    tap.unused = 0.f;
    shared.row_taps[i] = tap;
}

// sk::denormalize(v) / 255, that is clamp((v + 1) / 2, 0, 1): one FMA with saturation on the GPU (NaN gives
// 0, as there). For an FP16 v, (v + 1) / 2 is exact in float, so 255 times this is what denormalize gives.
__device__ __forceinline__ float unit_denormalize(float v) { return __saturatef(fmaf(v, 0.5f, 0.5f)); }

// A raw row sampled for the tile's columns as sample_line samples it, times strength, plus 0.5. In the window the
// weights carry the factor 255 (source_columns' scale), so that each source value takes one instruction
// besides its load: unit_denormalize.
template <typename T, typename Io>
__device__ __forceinline__ void stage_line(const T* line, const SourceColumns& cols, float strength, float* values) {
    if (cols.window) {
        float e[WINDOW];
#pragma unroll
        for (int i = 0; i < WINDOW; ++i) e[i] = unit_denormalize(Io::load(line + cols.first + i));
#pragma unroll
        for (int k = 0; k < PIXELS; ++k) {
            float v = 0.5f;
#pragma unroll
            for (int i = 0; i < WINDOW; ++i) v = fmaf(cols.weights[k][i], e[i], v);
            values[k * 3] = v;
        }
    } else {
#pragma unroll
        for (int k = 0; k < PIXELS; ++k) values[k * 3] = fmaf(sk::sample_row<T, Io>(line, cols.tx[k]), strength, 0.5f);
    }
}

// Phase 1: this thread's columns of staged rows threadIdx.y, threadIdx.y + BLOCK_Y, ..., from the raw copy.
template <typename T, typename Io>
__device__ void stage_source_rows(const StagedShared<T>& shared, Tile tile, int2 range, int2 columns, int w, int W,
                                  float strength) {
    const int x0 = thread_x0(tile);
    if (x0 >= W) return;  // columns past the frame: their threads write nothing in phase 2 either
    strength = clamp01(strength);
    SourceColumns cols;  // weights times 255 * strength; positions made relative to the raw copy's first column
    source_columns(x0, W, w, strength * 255.f, cols);
    cols.first -= columns.x;
#pragma unroll
    for (int k = 0; k < PIXELS; ++k) cols.tx[k].i0 -= columns.x, cols.tx[k].i1 -= columns.x;
    for (int t = threadIdx.y; t < range.y; t += BLOCK_Y) {
        float values[STAGE_VALUES];
#pragma unroll
        for (int c = 0; c < 3; ++c) stage_line<T, Io>(shared.raw_row(c, t), cols, strength, values + c);
        float4* slot = reinterpret_cast<float4*>(shared.stage + (t * BLOCK_X + threadIdx.x) * STAGE_VALUES);
#pragma unroll
        for (int i = 0; i < STAGE_VALUES / 4; ++i)
            slot[i] = make_float4(values[4 * i], values[4 * i + 1], values[4 * i + 2], values[4 * i + 3]);
    }
}

// Phase 2: this thread's PIXELS x ROWS pixels. Per value: original * (1 - strength) + the staged
// rows' vertical blend (already times strength, plus 0.5), rounded down: two FMAs besides the byte
// conversions. The CPU build's arithmetic up to float rounding (tests hold it to one uint8 step).
// SMOOTH (temporal smoothing) is a separate instantiation, so that the common case carries none of its
// loads, registers or instructions; with it the previous output and input are read one row ahead.
#define SK_BLEND_PARAMS                                                                                      \
    unsigned int *frame_words, int x0, int y0, const float *stage, const RowTap *taps, int H, int W,        \
        float strength, const unsigned char *previous, long previous_pitch, const unsigned char *previous_input, \
        long previous_input_pitch, float temporal, unsigned char *out, long out_pitch
#define SK_BLEND_ARGS                                                                                       \
    frame_words, x0, y0, stage, taps, H, W, strength, previous, previous_pitch, previous_input, previous_input_pitch, \
        temporal, out, out_pitch
template <int ORDER, bool WORDS, bool SMOOTH>
__device__ __forceinline__ void blend_staged_tile(SK_BLEND_PARAMS) {
    constexpr int C = ORDER >= 2 ? 4 : 3;
    constexpr bool whole_words = WORDS;
    const int pixels = W - x0 < PIXELS ? W - x0 : PIXELS;  // fewer in the last tile of a row
    // Both in [0, 1] (the SDK validates them), so every blend is a convex combination of values in
    // [0, 255] and stays there: rounding needs no clamp, and gives what the CPU build's clamped rounding gives.
    const float keep = 1.f - clamp01(strength);
    temporal = clamp01(temporal);
    const long offset = (long)x0 * C;
    const int count = pixels * C;
    const unsigned char* prev = SMOOTH ? previous + (long)y0 * previous_pitch + offset : nullptr;
    const unsigned char* prev_in = SMOOTH ? previous_input + (long)y0 * previous_input_pitch + offset : nullptr;
    unsigned char* dst = out + (long)y0 * out_pitch + offset;
    // This thread's column of the staged rows (a row tap's offsets are in bytes: one add an address).
    const char* slots = reinterpret_cast<const char*>(stage + threadIdx.x * STAGE_VALUES);
    taps += threadIdx.y * ROWS;
    unsigned int p[C], q[C];  // the previous output's and input's words of this row, loaded one row ahead
    if (SMOOTH) {
        load_words<C>(prev, p, whole_words, count);
        load_words<C>(prev_in, q, whole_words, count);
    }
    // Output row r from its frame words s.
    auto blend_row = [&](const unsigned int* s, int r) {
        unsigned int next_p[C], next_q[C];
        const bool next = SMOOTH && r + 1 < ROWS && y0 + r + 1 < H;
        if (next) {  // requested now, so that they arrive while this row is computed
            load_words<C>(prev + previous_pitch, next_p, whole_words, count);
            load_words<C>(prev_in + previous_input_pitch, next_q, whole_words, count);
        }
        const RowTap tap = taps[r];
        const float4* top_slot = reinterpret_cast<const float4*>(slots + tap.top);
        const float4* bottom_slot = reinterpret_cast<const float4*>(slots + tap.bottom);
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
            unsigned int rounded[3];  // by RGB position
#pragma unroll
            for (int c = 0; c < 3; ++c) {
                const int j = k * C + sk::channel_for_rgb(ORDER, c);
                const float styled = fmaf(bottom[k * 3 + c] - top[k * 3 + c], tap.w1, top[k * 3 + c]);
                rounded[c] = floor_to_byte(fmaf(byte_as_float(s, j), keep, styled));
            }
            if (SMOOTH) {
                const float weight = temporal_weight_at<C>(s, q, k, temporal) * output_fade_at<C, ORDER>(rounded, p, k);
#pragma unroll
                for (int c = 0; c < 3; ++c)
                    rounded[c] = toward_previous(rounded[c], p, k * C + sk::channel_for_rgb(ORDER, c), weight);
            }
#pragma unroll
            for (int c = 0; c < 3; ++c) u[k * C + sk::channel_for_rgb(ORDER, c)] = rounded[c];
            if (C == 4) u[k * C + 3] = byte_of(s, k * C + 3);  // alpha as is
        }
        unsigned int d[C];
#pragma unroll
        for (int i = 0; i < C; ++i) d[i] = pack_low_bytes(u[4 * i], u[4 * i + 1], u[4 * i + 2], u[4 * i + 3]);
        store_words<C>(dst, d, whole_words, count);
        dst += out_pitch;
        if (next) {
            prev += previous_pitch;
            prev_in += previous_input_pitch;
#pragma unroll
            for (int i = 0; i < C; ++i) p[i] = next_p[i], q[i] = next_q[i];
        }
    };
    // A loop, not ROWS copies of the row: unrolled, the body outgrew the instruction cache (most stalls
    // were instruction fetches on the H200, kernel_tuning.md). Two rows an iteration: the frame words stay
    // registers because every index into them is a constant, so after each pair the rest move up by 2C,
    // half the moves of one row an iteration.
#pragma unroll 1
    for (int r = 0; r < ROWS; r += 2) {
        if (y0 + r >= H) break;
        blend_row(frame_words, r);
        if (r + 1 >= ROWS || y0 + r + 1 >= H) break;
        blend_row(frame_words + C, r + 1);
#pragma unroll
        for (int i = 0; i < (ROWS - 2) * C; ++i) frame_words[i] = frame_words[i + 2 * C];
    }
}

// Phase 0's frame words for ORDER, with the words or the bytes instantiation for the thread's part of the tile.
template <int ORDER>
__device__ __forceinline__ void load_tile(bool whole, unsigned int* words, int x0, int y0, int H, int W,
                                          const unsigned char* frame, long pitch) {
    if (whole)
        load_tile<ORDER, true>(words, x0, y0, H, W, frame, pitch);
    else
        load_tile<ORDER, false>(words, x0, y0, H, W, frame, pitch);
}

// Phase 2's blend for ORDER, with the words or the bytes instantiation and with temporal smoothing or without.
template <int ORDER>
__device__ __forceinline__ void blend_tile(bool whole, SK_BLEND_PARAMS) {
    const bool smooth = previous != nullptr && previous_input != nullptr;  // the same for every thread
    if (smooth) {
        if (whole)
            blend_staged_tile<ORDER, true, true>(SK_BLEND_ARGS);
        else
            blend_staged_tile<ORDER, false, true>(SK_BLEND_ARGS);
    } else if (whole) {
        blend_staged_tile<ORDER, true, false>(SK_BLEND_ARGS);
    } else {
        blend_staged_tile<ORDER, false, false>(SK_BLEND_ARGS);
    }
}

// The next wave's frame rows into L2, a compile option (SK_POST_PREFETCH_NEXT=1) that gpu_check's sweep times.
// Why: a wave of blocks starts together and waits on DRAM together (H200, v6: 2160p cold 0.0425 ms against 0.0337
// with the data in L2). Blocks start in about the order of their index, so block b + (SMs x blocks an SM) is likely
// to follow this one; each thread requests its rows of that block's tile into L2 while this tile is blended.
#ifndef SK_POST_PREFETCH_NEXT
#define SK_POST_PREFETCH_NEXT 0
#endif
__device__ __forceinline__ void prefetch_l2(const void* p) {
#if defined(__CUDA_ARCH__)
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#else
    (void)*static_cast<const volatile unsigned char*>(p);  // the emulation reads the byte: a wild address shows
#endif
}
__device__ __forceinline__ unsigned int resident_blocks() {
#if defined(__CUDA_ARCH__)
    unsigned int sms;
    asm("mov.u32 %0, %%nsmid;" : "=r"(sms));  // one past the highest SM id: about the SM count
    return sms * SK_POST_MIN_BLOCKS;
#else
    return 3;  // the emulation: any stride exercises the addressing
#endif
}
__device__ __forceinline__ void prefetch_next_tile(int H, int W, const unsigned char* frame, long pitch, int channels) {
    const unsigned int next = blockIdx.y * gridDim.x + blockIdx.x + resident_blocks();
    if (next >= gridDim.x * gridDim.y) return;
    const Tile tile{(int)(next % gridDim.x), (int)(next / gridDim.x)};
    const int x0 = thread_x0(tile), y0 = thread_y0(tile);
    if (x0 >= W) return;
    for (int r = 0; r < ROWS && y0 + r < H; ++r) prefetch_l2(frame + (long)(y0 + r) * pitch + (long)x0 * channels);
}

// The persistent build, a compile option (SK_POST_PERSISTENT=1) that gpu_check's sweep times: a grid of only as
// many blocks as the GPU holds at once (sdk/cuda/kernels.launch_shape), each taking tiles blockIdx.x,
// blockIdx.x + gridDim.x, ... in turn, and requesting its next tile's model output and frame bytes before it blends
// the current one (phase 2 reads only the staged rows and row taps, so the raw copy is free for the next tile
// then). Why: a block of the one-tile build waits on DRAM in phase 0 with nothing else to do (H200, v6: 2160p
// 0.0425 ms cold against 0.0337 with its data in L2), and the grid ends in a partial wave (1,020 tiles in 2.6
// waves at 2160p); here a block's wait overlaps its own blend, and the tiles are dealt out evenly.
// The frame words of two tiles live in registers at once: 8 rows need the 2-blocks-an-SM register budget.
#ifndef SK_POST_PERSISTENT
#define SK_POST_PERSISTENT 0
#endif
static_assert(!(SK_POST_PERSISTENT && SK_POST_PREFETCH_NEXT), "the persistent build requests its next tile itself");

__device__ __forceinline__ Tile no_tile() { return Tile{-1, -1}; }
__device__ __forceinline__ int tiles_across(int W) { return (W + BLOCK_X * PIXELS - 1) / (BLOCK_X * PIXELS); }
__device__ __forceinline__ int staged_tiles(int H, int W) {
    return tiles_across(W) * ((H + BLOCK_Y * ROWS - 1) / (BLOCK_Y * ROWS));
}
// Tile t in row-major order (neighbouring blocks take neighbouring tiles, which share model output rows in L2).
__device__ __forceinline__ Tile nth_tile(int t, int H, int W) {
    return t < staged_tiles(H, W) ? Tile{t % tiles_across(W), t / tiles_across(W)} : no_tile();
}

// Phase 0 for a tile, not waited for: the block's raw copy of the model output it reads, and this thread's frame
// words of it into `request`.
template <typename T>
__device__ __forceinline__ void request_tile(const StagedShared<T>& shared, Tile tile, TileWords& request,
                                             SK_POST_PARAMS(T)) {
    copy_raw<T>(shared, stage_range(tile, H, h), raw_range(tile, W, w), styled, h, w);
    const int x0 = thread_x0(tile), y0 = thread_y0(tile);
    if (x0 >= W || y0 >= H) return;
    request.whole = tile_in_words(x0, W, frame, pitch, out, out_pitch, previous, previous_pitch, previous_input,
                                  previous_input_pitch);
    switch (order) {
        case 0: load_tile<0>(request.whole, request.frame, x0, y0, H, W, frame, pitch); break;
        case 1: load_tile<1>(request.whole, request.frame, x0, y0, H, W, frame, pitch); break;
        case 2: load_tile<2>(request.whole, request.frame, x0, y0, H, W, frame, pitch); break;
        default: load_tile<3>(request.whole, request.frame, x0, y0, H, W, frame, pitch); break;
    }
}

// One phase of the staged kernel for this thread and `tile`. In phase 2, `next` (the persistent build's next tile
// for this block, else none) is requested before the blend.
template <typename T, typename Io>
__device__ __forceinline__ void postprocess_staged(int phase, Tile tile, Tile next, StagedThread& state,
                                                   float* shared_memory, SK_POST_PARAMS(T)) {
    const StagedShared<T> shared(shared_memory, h, w, H, W);
    if (phase == 0) {
        request_tile<T>(shared, tile, state.tile, SK_POST_ARGS);
        copy_wait();
        return;
    }
    if (phase == 1) {
        const int2 range = stage_range(tile, H, h);
        row_taps<T>(shared, tile, range.x, h, H);
        stage_source_rows<T, Io>(shared, tile, range, raw_range(tile, W, w), w, W, strength);
        return;
    }
    const bool ahead = next.x >= 0;
    if (ahead) request_tile<T>(shared, next, state.ahead, SK_POST_ARGS);
    if (SK_POST_PREFETCH_NEXT) prefetch_next_tile(H, W, frame, pitch, order >= 2 ? 4 : 3);
    const int x0 = thread_x0(tile), y0 = thread_y0(tile);
    if (x0 < W && y0 < H) {
        unsigned int* frame_words = state.tile.frame;
        const float* stage = shared.stage;
        const RowTap* taps = shared.row_taps;
        switch (order) {
            case 0: blend_tile<0>(state.tile.whole, SK_BLEND_ARGS); break;
            case 1: blend_tile<1>(state.tile.whole, SK_BLEND_ARGS); break;
            case 2: blend_tile<2>(state.tile.whole, SK_BLEND_ARGS); break;
            default: blend_tile<3>(state.tile.whole, SK_BLEND_ARGS); break;
        }
    }
    if (ahead) {
        state.tile = state.ahead;
        copy_wait();
    }
}

// A block's phases in order: step(phase, tile, next) for each, with a barrier before every phase but the first.
// The kernels' glue and the CPU emulation (kernels/kernel_emulator.cpp) both run this schedule.
template <typename Step>
__device__ __forceinline__ void staged_block_schedule(int H, int W, Step step) {
#if SK_POST_PERSISTENT
    int t = blockIdx.x;
    if (t >= staged_tiles(H, W)) return;  // the same for the whole block
    step(0, nth_tile(t, H, W), no_tile());
    for (; t < staged_tiles(H, W); t += gridDim.x) {
        step(1, nth_tile(t, H, W), no_tile());
        step(2, nth_tile(t, H, W), nth_tile(t + gridDim.x, H, W));
    }
#else
    const Tile tile{(int)blockIdx.x, (int)blockIdx.y};
    step(0, tile, no_tile());
    step(1, tile, no_tile());
    step(2, tile, no_tile());
#endif
}

// As postprocess_f32/f16 below, for h <= H and w <= W (sdk/cuda/kernels.py picks it then), with
// sdk/cuda/kernels.staged_shared_bytes() of dynamic shared memory.
// Launch with BLOCK_X x BLOCK_Y threads, one per PIXELS x ROWS tile (sdk/cuda/kernels.launch_shape).
// The step is forced inline: in the persistent build NVRTC otherwise made phase 2 a called function, which put the
// frame words on the stack (752 bytes) and every load and store through generic addresses.
#define SK_STAGED_KERNEL(NAME, T, IO)                                                                         \
    extern "C" __global__ void __launch_bounds__(BLOCK_X * BLOCK_Y, SK_POST_MIN_BLOCKS) NAME(SK_POST_KERNEL_PARAMS(T)) { \
        extern __shared__ float4 shared_memory[];                                                              \
        if (params) strength = params[0], temporal = params[1];                                                \
        StagedThread state;                                                                                    \
        float* shared = reinterpret_cast<float*>(shared_memory);                                               \
        staged_block_schedule(H, W, [&](int phase, Tile tile, Tile next) __attribute__((always_inline)) {      \
            if (phase > 0) __syncthreads();                                                                    \
            postprocess_staged<T, IO>(phase, tile, next, state, shared, SK_POST_ARGS);                         \
        });                                                                                                    \
    }
SK_STAGED_KERNEL(postprocess_staged_f32, float, sk::FloatIo)
SK_STAGED_KERNEL(postprocess_staged_f16, __half, HalfIo)

// model output (NCHW RGB [-1, 1], h x w) -> H x W uint8 HWC in `order`, blended by strength, then
// smoothed toward the previous output where neither the input nor the output changed much (temporal > 0 and
// both previous frames given). Launch with one thread per PIXELS x ROWS tile (sdk/cuda/kernels.launch_shape).
extern "C" __global__ void postprocess_f32(SK_POST_KERNEL_PARAMS(float)) {
    if (params) strength = params[0], temporal = params[1];
    postprocess<float, sk::FloatIo>(SK_POST_ARGS);
}
extern "C" __global__ void postprocess_f16(SK_POST_KERNEL_PARAMS(__half)) {
    if (params) strength = params[0], temporal = params[1];
    postprocess<__half, HalfIo>(SK_POST_ARGS);
}
