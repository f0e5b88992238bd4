// CPU build of the kernels' per-pixel math (pixel_math.cuh): the same functions the CUDA
// kernels call, looped over the image, exported with C linkage for ctypes. Tests compare
// it with NumPy/OpenCV; benchmarks/gpu_check.py compares the GPU kernels with it.
#include "pixel_math.cuh"

extern "C" {

void preprocess_cpu(const unsigned char* frame, long pitch, int H, int W, int order, float* out, int h, int w) {
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            sk::preprocess_pixel<float, sk::FloatIo>(frame, pitch, H, W, order, out, h, w, x, y);
}

void postprocess_cpu(const float* styled, int h, int w, const unsigned char* frame, long pitch, int H, int W, int order,
                     float strength, const unsigned char* previous, long previous_pitch,
                     const unsigned char* previous_input, long previous_input_pitch, float temporal,
                     unsigned char* out, long out_pitch) {
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
            sk::postprocess_pixel<float, sk::FloatIo>(styled, h, w, frame, pitch, H, W, order, strength, previous,
                                                      previous_pitch, previous_input, previous_input_pitch, temporal,
                                                      out, out_pitch, x, y);
}
}
