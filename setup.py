from setuptools import find_packages, setup

# Runtime stays light enough to embed: numpy, OpenCV, ONNX Runtime, PyAV (FFmpeg with libx264 in its
# wheels: H.264 video with the audio kept) and tqdm (the progress bar).
# torch is left unpinned here; the Makefile pins the CPU build it installs (see README).
TORCH = ["torch>=2.6", "onnx>=1.16"]
# colour-science reads creators' .cube LUTs (add-style --lut).
TRAIN = TORCH + ["onnxscript>=0.3", "scikit-image>=0.22", "tqdm>=4.60", "torch-pruning>=1.5",
                 "onnxconverter-common>=1.14", "colour-science>=0.4.4"]
TEST = ["pytest>=8", "pytest-benchmark>=4", "hypothesis>=6.100", "scikit-image>=0.22"]
# NVRTC compiles the kernels on any machine (no GPU needed); cuda_fp16.h comes from the runtime wheel.
# JetPack 6 (CUDA 12.6) needs cuda-bindings<13: install `cuda-bindings<13 nvidia-cuda-nvrtc-cu12` there.
CUDA = ["cuda-bindings>=13", "nvidia-cuda-nvrtc>=13", "nvidia-cuda-runtime>=13"]

setup(
    name="stylizer-sdk",
    version="0.1.0",
    license="MIT",
    description="Real-time influencer-style video filters: GAN trainer, model packages, CPU/GPU runtime",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["sdk", "sdk.*", "trainer", "trainer.*", "kernels"]),
    package_data={"sdk": ["models/*/*.json", "models/*/*.onnx"], "trainer": ["configs/*.toml"],
                  "kernels": ["*.cu", "*.cuh", "*.cpp", "emulation/*.h"]},
    install_requires=["numpy>=1.24", "opencv-python-headless>=4.8", "onnxruntime>=1.17", "av>=12", "tqdm>=4.60"],
    extras_require={
        "torch": TORCH,
        "train": TRAIN,
        "demo": ["scikit-image>=0.22"],
        "cuda": CUDA,
        "tensorrt": ["tensorrt>=10.3"],
        # TensorRT for RTX builds engines on a machine without a GPU: the tests prove every
        # shipped ONNX parses and builds under NVIDIA's builder.
        "dev": sorted(set(TRAIN + TEST + CUDA + ["tensorrt-rtx-cu13"])),
    },
    entry_points={"console_scripts": ["stylizer=sdk.cli:main"]},
)
