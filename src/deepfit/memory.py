"""Give memory that was freed back to the system, so that a long streamed run stays bounded.

Example:
    >>> release_free_memory()
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import pyarrow


def release_free_memory() -> None:
    """Hand freed memory back to the system: pyarrow's pool's, and the heap's (glibc's
    ``malloc_trim``; elsewhere nothing).

    Reading a piece allocates and frees hundreds of MB, in pyarrow's pool and in arrays
    below glibc's adaptive mmap threshold (in the reading thread's own arena); both kept
    them, and a streamed run's resident memory grew with the pieces read.
    """
    pyarrow.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()
