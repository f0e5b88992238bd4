"""StylizeKernels' teardown, against a stand-in for the CUDA driver (the real one needs a GPU)."""
import enum
import types

import pytest

from sdk.cuda import kernels as kernels_module


class FakeDriver:
    """Records the driver calls StylizeKernels makes; every call succeeds."""

    class CUresult(enum.Enum):
        CUDA_SUCCESS = 0

    CUdevice_attribute = types.SimpleNamespace(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR="major",
                                               CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR="minor",
                                               CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN="optin",
                                               CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT="sms")
    CUfunction_attribute = types.SimpleNamespace(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES="dynamic")
    CUevent_flags = types.SimpleNamespace(CU_EVENT_DISABLE_TIMING="no timing")

    def __init__(self, current_context: int = 0):
        self.calls, self.current_context = [], current_context
        self.launches = []  # (kernel, grid, block, shared bytes) of each cuLaunchKernel

    def __getattr__(self, name):
        results = {"cuCtxGetCurrent": self.current_context, "cuDeviceGet": 3, "cuDevicePrimaryCtxRetain": 77,
                   "cuModuleLoadData": "module", "cuModuleGetFunction": "function",
                   "cuEventCreate": "event", "cuOccupancyMaxActiveBlocksPerMultiprocessor": 2}

        def call(*args):
            self.calls.append(name)
            if name == "cuDeviceGetAttribute":  # an sm_99 with 9 SMs and a Hopper's shared memory
                return self.CUresult.CUDA_SUCCESS, {"optin": 227 * 1024, "sms": 9}.get(args[0], 9)
            if name == "cuLaunchKernel":
                self.launches.append((args[0], args[1:4], args[4:7], args[7]))
            return (self.CUresult.CUDA_SUCCESS, results[name]) if name in results else (self.CUresult.CUDA_SUCCESS,)
        return call


@pytest.fixture
def fake(monkeypatch):
    def install(current_context=0):
        driver = FakeDriver(current_context)
        monkeypatch.setattr(kernels_module, "_driver", lambda: driver)
        monkeypatch.setattr(kernels_module, "compile_cubin", lambda arch, post_rows=8, defines=(): b"\x7fELF" + bytes(60))
        return driver
    return install


def test_close_unloads_the_module_and_releases_the_context_it_retained_once(fake):
    driver = fake()
    k = kernels_module.StylizeKernels()
    assert k.arch == "sm_99" and driver.calls.count("cuDevicePrimaryCtxRetain") == 1
    k.close()
    k.close()  # a second close does nothing
    assert driver.calls.count("cuModuleUnload") == 1 and driver.calls.count("cuDevicePrimaryCtxRelease") == 1
    with pytest.raises(RuntimeError, match="launch preprocess_f16: these kernels were closed"):
        k.preprocess(1, 3, 2, 2, "bgr", 2, 2, 2, True)
    assert "cuLaunchKernel" not in driver.calls


def test_a_context_someone_else_made_current_is_left_alone(fake):
    driver = fake(current_context=5)  # torch or CuPy initialized CUDA first
    with kernels_module.StylizeKernels() as k:
        k.postprocess(1, 2, 2, 3, 6, 2, 2, "bgr", 0.5, 4, 6, False)
    assert driver.calls.count("cuLaunchKernel") == 1
    assert "cuDevicePrimaryCtxRetain" not in driver.calls and "cuDevicePrimaryCtxRelease" not in driver.calls
    assert driver.calls.count("cuModuleUnload") == 1


def test_stream_waits_share_one_event_that_close_destroys(fake):
    """A device frame's producer stream is waited for through the driver every frame: one event, made once."""
    driver = fake()
    k = kernels_module.StylizeKernels()
    k.wait_for_stream(11, 1)  # 1: the legacy default stream, as CuPy names it
    k.wait_for_stream(11, 2)
    assert driver.calls.count("cuEventCreate") == 1
    assert driver.calls.count("cuEventRecord") == 2 and driver.calls.count("cuStreamWaitEvent") == 2
    k.close()
    k.close()
    assert driver.calls.count("cuEventDestroy") == 1


def test_the_persistent_build_launches_as_many_staged_blocks_as_the_gpu_holds(fake):
    """With SK_POST_PERSISTENT=1 the staged post kernel gets a one-dimensional grid: the occupancy calculator's
    blocks an SM (2 here) times the SMs (9), or the tiles where fewer."""
    driver = fake()
    with kernels_module.StylizeKernels(defines=("SK_POST_PERSISTENT=1",)) as k:
        k.postprocess(1, 720, 1280, 2, 3840 * 3, 2160, 3840, "bgr", 0.7, 3, 3840 * 3, True)  # 30 x 34 tiles
        k.postprocess(1, 64, 64, 2, 200 * 3, 100, 200, "bgr", 0.7, 3, 200 * 3, True)  # 2 x 2 tiles
        k.postprocess(1, 64, 64, 2, 200 * 3, 100, 200, "bgr", 0.7, 3, 200 * 3, True)
    grids = [grid for _, grid, _, _ in driver.launches]
    assert grids == [(18, 1, 1), (4, 1, 1), (4, 1, 1)]
    assert driver.calls.count("cuOccupancyMaxActiveBlocksPerMultiprocessor") == 2  # once a shared memory size
    assert [block for _, _, block, _ in driver.launches] == [(32, 8, 1)] * 3


def test_the_default_build_launches_a_staged_block_a_tile(fake):
    driver = fake()
    with kernels_module.StylizeKernels() as k:
        k.postprocess(1, 720, 1280, 2, 3840 * 3, 2160, 3840, "bgr", 0.7, 3, 3840 * 3, True)
    assert [grid for _, grid, _, _ in driver.launches] == [(30, 34, 1)]
    assert "cuOccupancyMaxActiveBlocksPerMultiprocessor" not in driver.calls
