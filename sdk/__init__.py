"""Real-time style filters for video frames.

    import sdk
    out = sdk.stylize_frame(frame, style="glow")        # HxWx3 uint8 BGR in and out

    with sdk.Stylizer(style="vintage", strength=0.8) as s:
        out = s(frame)

``import sdk`` loads neither onnxruntime, torch nor tensorrt; a backend imports its
runtime when it is loaded.
"""
from sdk.backends import BackendStatus, list_backends
from sdk.errors import (BackendUnavailableError, CudaFatalError, EngineBuildError, InvalidFrameError,
                        ModelLoadError, StylizerError, UnknownStyleError, VideoIOError)
from sdk.package import ModelPackage, load_package
from sdk.stylizer import Stylizer, list_styles, stylize_frame
from sdk.video import VideoResult, stylize_video

__version__ = "0.1.0"

__all__ = [
    "Stylizer", "stylize_frame", "stylize_video", "list_styles", "list_backends", "load_package",
    "ModelPackage", "BackendStatus", "VideoResult", "StylizerError", "InvalidFrameError", "UnknownStyleError",
    "ModelLoadError", "BackendUnavailableError", "EngineBuildError", "CudaFatalError", "VideoIOError",
    "__version__",
]
