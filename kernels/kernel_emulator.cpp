// CPU emulation of the CUDA kernels in stylize_kernels.cu: the kernel source itself, compiled
// by the host C++ compiler, run one thread after another over the grid the GPU would get
// (sdk/cuda/kernels.launch_shape). Tests use it on machines without a GPU to check what the
// shared per-pixel math does not cover: thread indexing, row tails, the word/byte paths,
// pitches, alignment and which elements get written. It is valid because the kernels share
// nothing between threads (no warp intrinsics), except the staged post kernel, which shares its
// block's rows through shared memory across barriers: it is written as phase functions in one schedule
// (staged_block_schedule), and the emulation runs each phase for every thread of a block before the next.
#include <cmath>
#include <functional>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__
inline void __syncthreads() {}  // only in the kernels' glue, which the emulation does not call

namespace {
struct EmulatedDim3 {
    unsigned x = 0, y = 0, z = 0;
};
EmulatedDim3 blockIdx, threadIdx, blockDim, gridDim;

// Each block: `block()`, with `shared` poisoned (NaN) before it so that a read of anything an earlier phase did
// not write shows in the output.
void for_each_block(unsigned gx, unsigned gy, unsigned bx, unsigned by, std::vector<float>& shared,
                    const std::function<void()>& block) {
    gridDim = {gx, gy, 1};
    blockDim = {bx, by, 1};
    for (unsigned y = 0; y < gy; ++y)
        for (unsigned x = 0; x < gx; ++x) {
            blockIdx = {x, y, 0};
            std::fill(shared.begin(), shared.end(), NAN);
            block();
        }
}

// `code(thread)` for every thread of the current block, one after another: the code between two barriers.
// `thread` is the thread's index in the block, for what it keeps across barriers.
void for_each_thread_of_block(const std::function<void(unsigned)>& code) {
    for (unsigned ty = 0; ty < blockDim.y; ++ty)
        for (unsigned tx = 0; tx < blockDim.x; ++tx) {
            threadIdx = {tx, ty, 0};
            code(ty * blockDim.x + tx);
        }
}

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

// A thread's registers before the kernel writes them: 0xDEADBEEF in every frame word, so that a tile blended from
// words it never loaded shows in the output.
void poison(StagedThread& thread) {
    for (TileWords* words : {&thread.tile, &thread.ahead}) {
        std::fill(std::begin(words->frame), std::end(words->frame), 0xDEADBEEFu);
        words->whole = false;
    }
}

// The staged kernels' dynamic shared memory, as their glue names it; the emulation never calls the
// glue (it runs the phases itself, with a buffer of its own per launch).
float4 shared_memory[1];

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
// As the kernels' glue (SK_STAGED_KERNEL) does it: params, then the block's schedule of phases, each phase run
// for every thread before the next (the barriers), each thread's registers in a StagedThread of its own,
// poisoned with the shared memory at each block's start.
#define SK_EMULATE_STAGED(T, IO)                                                                        \
    std::vector<float> shared(staged_shared_bytes(h, w, H, W, sizeof(T)) / sizeof(float));            \
    std::vector<StagedThread> threads(bx * by);                                                        \
    if (params) strength = params[0], temporal = params[1];                                            \
    for_each_block(gx, gy, bx, by, shared, [&] {                                                       \
        for (StagedThread& thread : threads) poison(thread);                                           \
        staged_block_schedule(H, W, [&](int phase, Tile tile, Tile next) {                             \
            for_each_thread_of_block([&](unsigned thread) {                                            \
                postprocess_staged<T, IO>(phase, tile, next, threads[thread], shared.data(), SK_POST_ARGS); \
            });                                                                                        \
        });                                                                                            \
    });
void emulate_postprocess_staged_f32(SK_GRID, SK_POST_KERNEL_PARAMS(float)) { SK_EMULATE_STAGED(float, sk::FloatIo) }
void emulate_postprocess_staged_f16(SK_GRID, SK_POST_KERNEL_PARAMS(__half)) { SK_EMULATE_STAGED(__half, HalfIo) }
}

// The kernels' division of an input change by the temporal fade, for tests/kernels/test_kernel_math.py.
extern "C" float emulate_div_by_fade(float x) { return div_by_fade(x); }

// The staged kernel's shared memory for an h x w model output, an H x W frame and values of value_bytes.
extern "C" int emulate_staged_shared_bytes(int h, int w, int H, int W, int value_bytes) {
    return staged_shared_bytes(h, w, H, W, value_bytes);
}
