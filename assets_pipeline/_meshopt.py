"""Direct ctypes binding for meshoptimizer entry points the PyPI wrapper (0.2.30a0)
calls without argument types: without them ctypes passes size_t as 32-bit ints and
floats not at all, and the call crashes. We declare the C signature ourselves."""

from __future__ import annotations

import ctypes

import numpy as np
from meshoptimizer._loader import lib
from numpy.typing import NDArray

_uint_p = ctypes.POINTER(ctypes.c_uint)
_float_p = ctypes.POINTER(ctypes.c_float)
_size = ctypes.c_size_t

lib.meshopt_simplifyWithAttributes.argtypes = [
    _uint_p,  # destination
    _uint_p,  # indices
    _size,  # index_count
    _float_p,  # vertex_positions
    _size,  # vertex_count
    _size,  # vertex_positions_stride
    _float_p,  # vertex_attributes
    _size,  # vertex_attributes_stride
    _float_p,  # attribute_weights
    _size,  # attribute_count
    ctypes.POINTER(ctypes.c_ubyte),  # vertex_lock (may be NULL)
    _size,  # target_index_count
    ctypes.c_float,  # target_error
    ctypes.c_uint,  # options
    _float_p,  # result_error
]
lib.meshopt_simplifyWithAttributes.restype = _size


def simplify_with_attributes(
    indices: NDArray[np.uint32],
    positions: NDArray[np.float32],
    attributes: NDArray[np.float32],
    weights: NDArray[np.float32],
    target_index_count: int,
    target_error: float,
    options: int = 0,
) -> tuple[NDArray[np.uint32], float]:
    """meshopt_simplifyWithAttributes: (new index list, relative error it reached)."""
    idx = np.ascontiguousarray(indices.reshape(-1), dtype=np.uint32)
    pos = np.ascontiguousarray(positions, dtype=np.float32)
    att = np.ascontiguousarray(attributes, dtype=np.float32)
    wts = np.ascontiguousarray(weights, dtype=np.float32)
    destination = np.zeros_like(idx)
    error = ctypes.c_float(0.0)
    count = lib.meshopt_simplifyWithAttributes(
        destination.ctypes.data_as(_uint_p),
        idx.ctypes.data_as(_uint_p),
        len(idx),
        pos.ctypes.data_as(_float_p),
        len(pos),
        pos.shape[1] * 4,
        att.ctypes.data_as(_float_p),
        att.shape[1] * 4,
        wts.ctypes.data_as(_float_p),
        len(wts),
        ctypes.POINTER(ctypes.c_ubyte)(),
        target_index_count,
        target_error,
        options,
        ctypes.byref(error),
    )
    return destination[: int(count)], float(error.value)
