"""Quantization for KHR_mesh_quantization, and the octahedral normal filter of
EXT_meshopt_compression (the PyPI meshoptimizer wrapper has no filter encoders).

Positions share one grid per scene (``PositionGrid``), so separately quantized
primitives that meet still meet: no cracks. The grid is uniform on all axes because a
non-uniform dequantization scale would also distort normals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

DEFAULT_POSITION_BITS = 14
DEFAULT_NORMAL_BITS = 8
DEFAULT_UV_BITS = 12


@dataclass(frozen=True)
class PositionGrid:
    """q = round((p - origin) / step) in uint16; p ≈ origin + q * step (glTF frame)."""

    origin: NDArray[np.float64]  # (3,)
    step_m: float
    bits: int

    @classmethod
    def covering(
        cls, points: NDArray[np.float64], bits: int = DEFAULT_POSITION_BITS
    ) -> PositionGrid:
        if not 1 <= bits <= 16:
            raise ValueError(f"position bits must be in 1..16, got {bits}")
        low = points.min(axis=0)
        extent = float((points.max(axis=0) - low).max())
        step = extent / ((1 << bits) - 1) if extent > 0 else 1.0
        return cls(low, step, bits)

    def quantize(self, points: NDArray[np.float64]) -> NDArray[np.uint16]:
        q = np.rint((points - self.origin) / self.step_m)
        return np.clip(q, 0, (1 << self.bits) - 1).astype(np.uint16)

    def dequantize(self, q: NDArray[np.uint16]) -> NDArray[np.float64]:
        return self.origin + q.astype(np.float64) * self.step_m

    def matrix(self) -> NDArray[np.float64]:
        """The node matrix that turns grid units back into metres."""
        m = np.eye(4)
        m[:3, :3] *= self.step_m
        m[:3, 3] = self.origin
        return m


def quantize_snorm(values: NDArray[np.float64], bits: int) -> NDArray[np.int32]:
    """meshopt_quantizeSnorm: round half away from zero onto ±(2^(bits-1) - 1)."""
    scale = (1 << (bits - 1)) - 1
    v = np.clip(values, -1.0, 1.0) * scale
    return (v + np.where(v >= 0, 0.5, -0.5)).astype(np.int32)


def encode_filter_oct(
    normals: NDArray[np.float32], bits: int = DEFAULT_NORMAL_BITS
) -> NDArray[np.int8]:
    """Unit vectors → (n, 4) int8 for the OCTAHEDRAL filter (byteStride 4), as
    meshopt_encodeFilterOct writes them: octahedral u, v in ``bits``, then the value of
    1.0 (the decoder's K), then w (unused for normals: 0)."""
    if not 2 <= bits <= 8:
        raise ValueError("8-bit octahedral storage holds 2..8 bits per component")
    n = normals.astype(np.float64)
    length = np.abs(n).sum(axis=1, keepdims=True)
    n = np.where(length > 0, n / np.maximum(length, 1e-30), 0.0)
    x, y, z = n[:, 0], n[:, 1], n[:, 2]
    sign_x = np.where(x >= 0, 1.0, -1.0)
    sign_y = np.where(y >= 0, 1.0, -1.0)
    u = np.where(z >= 0, x, (1.0 - np.abs(y)) * sign_x)
    v = np.where(z >= 0, y, (1.0 - np.abs(x)) * sign_y)
    out = np.zeros((len(n), 4), dtype=np.int8)
    out[:, 0] = quantize_snorm(u, bits)
    out[:, 1] = quantize_snorm(v, bits)
    out[:, 2] = quantize_snorm(np.ones(1), bits)[0]
    return out


def decode_filter_oct_int8(encoded: NDArray[np.int8]) -> NDArray[np.float64]:
    """The decoder's result as unit vectors (for measuring normal error in tests)."""
    e = encoded.astype(np.float64)
    x, y, one = e[:, 0], e[:, 1], e[:, 2]
    z = one - np.abs(x) - np.abs(y)
    t = np.maximum(-z, 0.0)
    x = x - np.where(x >= 0, t, -t)
    y = y - np.where(y >= 0, t, -t)
    v = np.stack([x, y, z], axis=1)
    unit: NDArray[np.float64] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return unit


@dataclass(frozen=True)
class UvRange:
    """q = round((uv - offset) / scale * (2^bits - 1)); KHR_texture_transform restores it."""

    offset: NDArray[np.float64]  # (2,)
    scale: NDArray[np.float64]  # (2,) range of the uvs
    bits: int

    @classmethod
    def covering(cls, uvs: NDArray[np.float32], bits: int = DEFAULT_UV_BITS) -> UvRange:
        """``bits`` per unit of texture: a range wider than one texture (tiling, or a few
        outlier UVs) gets extra bits, up to 16, so the precision per texel holds instead
        of the whole mesh losing it to the outliers."""
        low = uvs.min(axis=0).astype(np.float64)
        span = (uvs.max(axis=0) - low).astype(np.float64)
        widest = float(span.max()) if len(span) else 0.0
        extra = max(0, int(np.ceil(np.log2(widest)))) if widest > 1.0 else 0
        return cls(low, np.where(span > 0, span, 1.0), min(16, bits + extra))

    def quantize(self, uvs: NDArray[np.float32]) -> NDArray[np.uint16]:
        top = (1 << self.bits) - 1
        q = np.rint((uvs.astype(np.float64) - self.offset) / self.scale * top)
        return np.clip(q, 0, top).astype(np.uint16)

    def transform_scale(self) -> list[float]:
        """KHR_texture_transform scale for un-normalized integer uvs."""
        top = (1 << self.bits) - 1
        return [float(s / top) for s in self.scale]


def encode_filter_quat(quaternions: NDArray[np.float64], bits: int = 12) -> NDArray[np.int16]:
    """Unit quaternions (x, y, z, w) → (n, 4) int16 for the QUATERNION filter (byteStride
    8), as meshopt_encodeFilterQuat writes them: the three smallest components scaled by
    √2 (the largest is implied), and the largest one's index in the low bits of the 4th."""
    if not 4 <= bits <= 16:
        raise ValueError("quaternion filter bits must be in 4..16")
    q = quaternions.astype(np.float64)
    largest = np.abs(q).argmax(axis=1)
    rows = np.arange(len(q))
    sign = np.where(q[rows, largest] < 0, -1.0, 1.0)  # q and -q are the same rotation
    out = np.zeros((len(q), 4), dtype=np.int16)
    for k in range(3):
        component = q[rows, (largest + 1 + k) % 4] * np.sqrt(2.0) * sign
        out[:, k] = quantize_snorm(component, bits)
    one = int(quantize_snorm(np.ones(1), bits)[0])
    out[:, 3] = ((one & ~3) | largest).astype(np.int16)
    return out


def _exponent(values: NDArray[np.float32]) -> NDArray[np.int32]:
    """optlog2: the float's binary exponent + 1 (0 for zero)."""
    bits = values.astype(np.float32).view(np.uint32)
    e = ((bits >> 23) & 0xFF).astype(np.int32) - 127 + 1
    return np.where(values == 0, 0, e).astype(np.int32)


def encode_filter_exp(values: NDArray[np.float32], bits: int = 16) -> NDArray[np.uint32]:
    """(n, k) floats → (n, k) uint32 for the EXPONENTIAL filter in its shared-component
    mode (meshopt_encodeFilterExp, SharedComponent): each component gets the largest
    exponent it has across all rows, i.e. one fixed-point scale per component, which is
    what makes a stream of instance positions compress."""
    v = values.astype(np.float32)
    exponent = np.maximum(_exponent(v).max(axis=0), -100) - (bits - 1)  # (k,)
    scale = np.ldexp(np.float32(1.0), -exponent).astype(np.float32)
    mantissa = (v * scale + np.where(v >= 0, 0.5, -0.5)).astype(np.int64)
    packed = (mantissa & 0xFFFFFF) | ((exponent.astype(np.int64) & 0xFF) << 24)
    result: NDArray[np.uint32] = packed.astype(np.uint32)
    return result
