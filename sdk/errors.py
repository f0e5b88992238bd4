"""Typed errors. Each message says what was given, what was expected and what to do."""
from __future__ import annotations


class StylizerError(Exception):
    """Base class of every error this SDK raises on purpose."""


class InvalidFrameError(StylizerError, ValueError):
    """A frame the SDK cannot stylize: wrong type, dtype, rank, channels, size or values."""


class InvalidArgumentError(StylizerError, ValueError):
    """An argument other than the frame that is out of range or of the wrong type (strength, color_order, ...)."""


class StylizerClosedError(StylizerError, RuntimeError):
    """A call on a Stylizer after ``close()``."""


class UnknownStyleError(StylizerError, ValueError):
    """A style name, index or mix that the model does not have."""


class ModelLoadError(StylizerError):
    """A model package that is missing, corrupt (checksum), tampered or of another format version."""


class BackendUnavailableError(StylizerError, RuntimeError):
    """A backend that was asked for by name but cannot run here (says what is missing and how to install it)."""


class EngineBuildError(StylizerError, RuntimeError):
    """A TensorRT engine build that failed; carries every parser/builder error."""


class CudaFatalError(StylizerError, RuntimeError):
    """A sticky CUDA error (e.g. illegal memory access): the process's CUDA context is unusable.

    Retrying in the same process cannot succeed; restart the worker process.
    """


class VideoIOError(StylizerError, OSError):
    """A video file or camera that cannot be opened, read or written."""
