// Per-pixel math of the pre/post-processing kernels, shared by the CUDA kernels
// (stylize_kernels.cu, compiled with NVRTC) and a CPU build (cpu_reference.cpp) that
// tests check against NumPy/OpenCV on machines without a GPU. No CUDA headers here.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define SK_HD __host__ __device__ __forceinline__
#else
#include <math.h>
#define SK_HD inline
#endif

namespace sk {

// Channel orders of the caller's frame: which input channel holds R, G and B.
// BGR (OpenCV) = 0, RGB = 1, BGRA = 2, RGBA = 3.
SK_HD int channels_of(int order) { return order >= 2 ? 4 : 3; }
SK_HD int red_index(int order) { return (order == 0 || order == 2) ? 2 : 0; }
SK_HD int channel_for_rgb(int order, int rgb) {  // rgb: 0 = R, 1 = G, 2 = B
    int r = red_index(order);
    return rgb == 1 ? 1 : (rgb == 0 ? r : 2 - r);
}

// fminf/fmaxf (one min/max instruction each on the GPU) return the number when one side is NaN,
// so a NaN model output (FP16 overflow) clamps to `lo` instead of reaching a float-to-int cast.
SK_HD float clampf(float v, float lo, float hi) { return fminf(fmaxf(v, lo), hi); }
SK_HD int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Source coordinate of a destination pixel centre, OpenCV INTER_LINEAR convention
// (half-pixel centres, clamped at the low edge; the high edge replicates).
struct Tap {
    int i0, i1;
    float w1;  // weight of i1; i0 gets 1 - w1
};

SK_HD Tap linear_tap(int dst, float scale, int src_size) {
    float s = (dst + 0.5f) * scale - 0.5f;
    if (s < 0.f) s = 0.f;
    int i0 = (int)s;
    float w1 = s - (float)i0;
    if (i0 >= src_size - 1) { i0 = src_size - 1; w1 = 0.f; }
    Tap t;
    t.i0 = i0;
    t.i1 = clampi(i0 + 1, 0, src_size - 1);
    t.w1 = w1;
    return t;
}

// Bilinear sample of channel `c` of a uint8 HWC image with `pitch` bytes per row.
SK_HD float sample_u8(const unsigned char* image, long pitch, int channels, int c, Tap ty, Tap tx) {
    const unsigned char* r0 = image + (long)ty.i0 * pitch;
    const unsigned char* r1 = image + (long)ty.i1 * pitch;
    float top = r0[tx.i0 * channels + c] * (1.f - tx.w1) + r0[tx.i1 * channels + c] * tx.w1;
    float bot = r1[tx.i0 * channels + c] * (1.f - tx.w1) + r1[tx.i1 * channels + c] * tx.w1;
    return top * (1.f - ty.w1) + bot * ty.w1;
}

// Bilinear sample of one float plane (h x w, dense).
SK_HD float sample_plane(const float* plane, int w, Tap ty, Tap tx) {
    float top = plane[ty.i0 * w + tx.i0] * (1.f - tx.w1) + plane[ty.i0 * w + tx.i1] * tx.w1;
    float bot = plane[ty.i1 * w + tx.i0] * (1.f - tx.w1) + plane[ty.i1 * w + tx.i1] * tx.w1;
    return top * (1.f - ty.w1) + bot * ty.w1;
}

// uint8 [0, 255] -> model range [-1, 1], and back (clamped).
SK_HD float normalize(float pixel) { return pixel * (1.f / 127.5f) - 1.f; }
SK_HD float denormalize(float value) { return clampf((value + 1.f) * 127.5f, 0.f, 255.f); }

// Rounded to uint8 as the SDK does (NumPy: clip(v + 0.5, 0, 255) then truncate).
SK_HD unsigned char to_u8(float v) { return (unsigned char)(clampf(v, 0.f, 255.f) + 0.5f); }

// The stylized value blended over the original by strength, rounded.
SK_HD unsigned char blend_to_u8(float styled, float original, float strength) {
    return to_u8(original + (styled - original) * strength);
}

// Temporal smoothing, exactly as the SDK's frames.temporal_blend does it per pixel: the rounded
// output moves toward the previous output by `temporal`, faded out as the input changes and as the
// rounded output itself changes from the previous output (each the largest change over the colour
// channels, in uint8 steps): static regions keep what they showed, moving ones and lines that appear
// or vanish follow the new frame.
#define SK_TEMPORAL_FADE 24.f  // frames.TEMPORAL_FADE
#define SK_OUTPUT_FADE 64.f    // frames.OUTPUT_FADE (a power of two: the division is exact)
SK_HD float temporal_weight(float max_input_change, float max_output_change, float temporal) {
    return clampf(1.f - max_input_change / SK_TEMPORAL_FADE, 0.f, 1.f) * temporal *
           clampf(1.f - max_output_change / SK_OUTPUT_FADE, 0.f, 1.f);
}
SK_HD unsigned char temporal_to_u8(unsigned char current, float previous_out, float weight) {
    float c = (float)current;
    return to_u8(c + (previous_out - c) * weight);
}

// One output element of preprocess: pixel (x, y) of the h x w NCHW result.
// `Io` supplies store(T*, float) (float, or half on the GPU).
template <typename T, typename Io>
SK_HD void preprocess_pixel(const unsigned char* frame, long pitch, int H, int W, int order, T* out, int h, int w,
                            int x, int y) {
    Tap tx = linear_tap(x, (float)W / w, W);
    Tap ty = linear_tap(y, (float)H / h, H);
    int channels = channels_of(order);
    long plane = (long)h * w;
    for (int c = 0; c < 3; ++c)
        Io::store(out + c * plane + (long)y * w + x,
                  normalize(sample_u8(frame, pitch, channels, channel_for_rgb(order, c), ty, tx)));
}

// Horizontal bilinear sample of one row of a model output plane, each tap denormalized and
// clamped before it is weighted. The post kernel keeps these per source row and reuses them
// for every output row that reads that source row.
template <typename T, typename Io>
SK_HD float sample_row(const T* row, Tap tx) {
    return denormalize(Io::load(row + tx.i0)) * (1.f - tx.w1) + denormalize(Io::load(row + tx.i1)) * tx.w1;
}

// Vertical step of the bilinear sample: between the samples of rows ty.i0 (top) and ty.i1 (bottom).
SK_HD float lerp_rows(float top, float bottom, Tap ty) { return top * (1.f - ty.w1) + bottom * ty.w1; }

// One output pixel of postprocess, given pointers to its own bytes: `src` (the frame's pixel),
// `prev` and `prev_in` (the previous output's and the previous input's pixel; both null when
// temporal smoothing is off) and `dst`. Bilinear over the denormalized, clamped model output, then
// the strength blend and rounding, then the temporal blend and rounding.
// `Io` supplies load(const T*) -> float.
template <typename T, typename Io>
SK_HD void postprocess_at(const T* styled, int h, int w, int H, int W, int order, float strength, float temporal,
                          const unsigned char* src, const unsigned char* prev, const unsigned char* prev_in,
                          unsigned char* dst, int x, int y) {
    Tap tx = linear_tap(x, (float)w / W, w);
    Tap ty = linear_tap(y, (float)h / H, h);
    long plane = (long)h * w;
    unsigned char u[3];  // the blended bytes, by position in the pixel
    for (int c = 0; c < 3; ++c) {
        const T* p = styled + c * plane;
        float v = lerp_rows(sample_row<T, Io>(p + (long)ty.i0 * w, tx), sample_row<T, Io>(p + (long)ty.i1 * w, tx), ty);
        int ch = channel_for_rgb(order, c);
        u[ch] = blend_to_u8(v, src[ch], strength);
    }
    if (prev && prev_in) {
        float change = 0.f, output_change = 0.f;
        for (int c = 0; c < 3; ++c) {
            float d = (float)src[c] - (float)prev_in[c];
            change = fmaxf(change, d < 0.f ? -d : d);
            float e = (float)u[c] - (float)prev[c];
            output_change = fmaxf(output_change, e < 0.f ? -e : e);
        }
        float weight = temporal_weight(change, output_change, temporal);
        for (int c = 0; c < 3; ++c) dst[c] = temporal_to_u8(u[c], prev[c], weight);
    } else {
        for (int c = 0; c < 3; ++c) dst[c] = u[c];
    }
    if (channels_of(order) == 4) dst[3] = src[3];
}

// One output pixel of postprocess: pixel (x, y) of the H x W uint8 frame (rows `pitch` bytes apart).
template <typename T, typename Io>
SK_HD void postprocess_pixel(const T* styled, int h, int w, const unsigned char* frame, long pitch, int H, int W,
                             int order, float strength, const unsigned char* previous, long previous_pitch,
                             const unsigned char* previous_input, long previous_input_pitch, float temporal,
                             unsigned char* out, long out_pitch, int x, int y) {
    int channels = channels_of(order);
    const unsigned char* prev = previous ? previous + (long)y * previous_pitch + (long)x * channels : 0;
    const unsigned char* prev_in =
        previous_input ? previous_input + (long)y * previous_input_pitch + (long)x * channels : 0;
    postprocess_at<T, Io>(styled, h, w, H, W, order, strength, temporal, frame + (long)y * pitch + (long)x * channels,
                          prev, prev_in, out + (long)y * out_pitch + (long)x * channels, x, y);
}

struct FloatIo {
    static SK_HD void store(float* p, float v) { *p = v; }
    static SK_HD float load(const float* p) { return *p; }
};

}  // namespace sk
