"""Where the SDK caches build outputs (compiled kernels, TensorRT engines), and atomic writes.

``$STYLIZER_CACHE`` overrides the root; otherwise ``$XDG_CACHE_HOME/stylizer`` (``~/.cache/stylizer``).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_root() -> Path:
    root = os.environ.get("STYLIZER_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stylizer"


def write_atomic(path: Path, blob: bytes, mode: int = 0o644) -> Path:
    """Write ``blob`` to a temp file beside ``path``, then rename it over ``path``: readers (and
    other processes filling the same cache) see the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.chmod(tmp, mode)  # mkstemp creates 0600; packages and caches are read by other users too
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
