// CPU emulation of the CUDA kernels in stylize_kernels.cu: the kernel source itself, compiled
// by the host C++ compiler, run one thread after another over the grid the GPU would get
// (sdk/cuda/kernels.launch_shape). Tests use it on machines without a GPU to check what the
// shared per-pixel math does not cover: thread indexing, row tails, the word/byte paths,
// pitches, alignment and which elements get written. It is valid because the kernels share
// nothing between threads (no shared memory, no barriers, no warp intrinsics).
#include <functional>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

namespace {
struct EmulatedDim3 {
    unsigned x = 0, y = 0, z = 0;
};
EmulatedDim3 blockIdx, threadIdx, blockDim, gridDim;

void for_each_thread(unsigned gx, unsigned gy, unsigned bx, unsigned by, const std::function<void()>& kernel) {
    gridDim = {gx, gy, 1};
    blockDim = {bx, by, 1};
    for (unsigned y = 0; y < gy; ++y)
        for (unsigned x = 0; x < gx; ++x)
            for (unsigned ty = 0; ty < by; ++ty)
                for (unsigned tx = 0; tx < bx; ++tx) {
                    blockIdx = {x, y, 0};
                    threadIdx = {tx, ty, 0};
                    kernel();
                }
}
}  // namespace

#include "stylize_kernels.cu"

#define SK_GRID unsigned gx, unsigned gy, unsigned bx, unsigned by
#define SK_PRE_PARAMS(T) const unsigned char *frame, long pitch, int H, int W, int order, T *out, int h, int w

extern "C" {
void emulate_preprocess_f32(SK_GRID, SK_PRE_PARAMS(float)) {
    for_each_thread(gx, gy, bx, by, [&] { preprocess_f32(frame, pitch, H, W, order, out, h, w); });
}
void emulate_preprocess_f16(SK_GRID, SK_PRE_PARAMS(__half)) {
    for_each_thread(gx, gy, bx, by, [&] { preprocess_f16(frame, pitch, H, W, order, out, h, w); });
}
void emulate_postprocess_f32(SK_GRID, SK_POST_KERNEL_PARAMS(float)) {
    for_each_thread(gx, gy, bx, by, [&] { postprocess_f32(SK_POST_ARGS, params); });
}
void emulate_postprocess_f16(SK_GRID, SK_POST_KERNEL_PARAMS(__half)) {
    for_each_thread(gx, gy, bx, by, [&] { postprocess_f16(SK_POST_ARGS, params); });
}
}

// The kernels' division of an input change by the temporal fade, for tests/kernels/test_kernel_math.py.
extern "C" float emulate_div_by_fade(float x) { return div_by_fade(x); }
