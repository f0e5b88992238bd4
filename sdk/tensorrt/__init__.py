"""TensorRT support: one builder module for full TensorRT (``tensorrt``, JetPack 6's 10.3 and
later, 11.x) and TensorRT for RTX (``tensorrt_rtx``), using only what both share."""
