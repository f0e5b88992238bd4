"""CUDA layer on cuda-python (``cuda.bindings``): NVRTC compile with an on-disk cache,
module load, launches and buffers. Imported only by GPU backends, never by ``import sdk``."""
