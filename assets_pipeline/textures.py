"""Texture transcoding: untrusted PNG/JPEG/WebP bytes in, client-sized WebP plus a fallback out.

The primary image is WebP (for glTF's ``EXT_texture_webp``); the fallback is what core glTF 2.0
allows (PNG or JPEG) for clients without WebP. Source bytes come from uploads and third-party
scenes, so everything here treats them as hostile: the format is sniffed from the bytes, the
dimensions are read from the header by this module (not by Pillow) and checked against fixed
limits before any pixel is decoded, and every decoder failure becomes a ``MeshError``.

Pixels are handled as stored: no EXIF rotation, no ICC conversion. glTF says colour-space
metadata in images must be ignored, and UVs address the stored pixel order, so applying EXIF
orientation would move the texture on the mesh. The outputs carry no metadata at all, which also
keeps them deterministic (same input → same bytes) and therefore content addressable.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from assets_pipeline.mesh import MeshError, Texture

PROFILE_MAX_SIZE_PX = {"desktop": 2048, "mobile": 1024, "vr": 1024}  # longest side budget
MAX_SOURCE_PIXELS = 64 * 1024 * 1024  # refuse bigger images before decoding (decompression bombs)
MAX_SOURCE_BYTES = 64 * 1024 * 1024
TARGET_PSNR_DB = 38.0  # WebP quality is raised until the texture reaches this
MAX_WEBP_QUALITY = 95
# libwebp's effort (0-6). Method 6 is 3x slower than 4 for 1-5 % fewer bytes at the same
# quality; searching quality in steps of 1 at method 4 saves more than that (a 2048² photo:
# 1.35 MB at q92/m4 against 1.36 MB at q93/m6 when the search stepped by 4; both >= 38 dB).
WEBP_METHOD = 4
# The quality search encodes a mosaic of tiles spread over the image, not the whole image:
# 128 px tiles (macroblock aligned), every 8th of the image's, and of those, on a large image,
# 8 at evenly spaced ranks of detail (1/32 of a 2048² image). A probe then costs ≈0.02 s, and
# the 8 tiles' answer matched the lowest quality reaching the target on the whole image more
# often than a 36-tile sample's did (8 against 6 of 10 synthetic 2048² photos, the misses one
# quality high), for a third of its probing time; tiles picked by position, not by detail,
# missed by up to 6 qualities.
SAMPLE_TILE_PX = 128
SAMPLE_EVERY_NTH_TILE = 8
SAMPLE_TILES = 8
# Bounds the whole-image encodes when the sample misleads: the first, one corrected guess,
# then interpolation (or bisection) between whole-image results settles the 11 qualities
# 85-95 in at most 4 more.
MAX_WHOLE_IMAGE_ENCODES = 6

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MIME_BY_FORMAT = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}

# Formats recognised only to name them in the refusal (the message then says "a GIF image"
# instead of "unrecognised bytes"). Ordered: the first matching signature wins.
_REFUSED_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "BigTIFF"),
    (b"MM\x00+", "BigTIFF"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"DDS ", "DDS"),
    (b"\xabKTX", "KTX"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"qoif", "QOI"),
)

# JPEG start-of-frame markers carry the dimensions. C4 (DHT), C8 (JPG extension) and
# CC (DAC) sit in the same range but are not frames.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length
_JPEG_SOS = 0xDA
_JPEG_EOI = 0xD9

# Pillow's exception zoo for broken input: UnidentifiedImageError/"truncated" are OSError,
# the PNG chunk reader raises SyntaxError, header unpacking struct.error/EOFError/IndexError.
_DECODER_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    struct.error,
    zlib.error,
)


@dataclass(frozen=True)
class EncodedTexture:
    """One source texture transcoded for one client profile.

    Sizes are in pixels. ``psnr_db`` / ``fallback_psnr_db`` compare the decoded output with the
    resized source over all encoded channels (RGB, or RGBA when ``has_alpha``); inf = lossless.
    """

    webp: bytes  # primary image (EXT_texture_webp)
    fallback: bytes  # PNG if the source has alpha or is PNG-lossless-worthy, else JPEG
    fallback_mime_type: str  # "image/png" | "image/jpeg"
    width_px: int
    height_px: int
    source_width_px: int
    source_height_px: int
    has_alpha: bool
    psnr_db: float
    fallback_psnr_db: float  # against the source resized to the fallback's size
    fallback_width_px: int = 0
    fallback_height_px: int = 0
    webp_quality: int = 0  # the quality that reached the PSNR target

    @property
    def webp_file(self) -> str:
        """Content-addressed file name: the same pixels always get the same URL."""
        return content_name(self.webp, "webp")

    @property
    def fallback_file(self) -> str:
        return content_name(
            self.fallback, "png" if self.fallback_mime_type == "image/png" else "jpg"
        )

    def files(self) -> dict[str, bytes]:
        return {self.webp_file: self.webp, self.fallback_file: self.fallback}


def content_name(data: bytes, extension: str) -> str:
    return f"{hashlib.sha256(data).hexdigest()}.{extension}"


def probe(texture: Texture) -> tuple[str, int, int]:
    """Sniff the format and read ``(format, width_px, height_px)`` from the header only.

    ``format`` is Pillow's name: "PNG", "JPEG" or "WEBP". No pixel data is decoded, so this is
    cheap and safe on hostile input.

    Raises MeshError with code:
      - ``empty_texture``: no bytes;
      - ``texture_too_large``: more than MAX_SOURCE_BYTES bytes or MAX_SOURCE_PIXELS pixels;
      - ``unsupported_texture_format``: anything that is not PNG, JPEG or WebP (GIF, BMP, ...);
      - ``texture_mime_mismatch``: ``texture.mime_type`` is not the type the bytes hold;
      - ``bad_texture``: a PNG/JPEG/WebP whose header is truncated or invalid.
    """
    data = texture.data
    if not data:
        raise MeshError("empty_texture", f"texture {texture.name!r}: has no bytes")
    if len(data) > MAX_SOURCE_BYTES:
        raise MeshError(
            "texture_too_large",
            f"texture {texture.name!r}: {len(data)} bytes is over the "
            f"{MAX_SOURCE_BYTES} byte limit",
        )
    fmt = _sniff(texture)
    claimed = texture.mime_type.strip().lower()
    if claimed != _MIME_BY_FORMAT[fmt]:
        raise MeshError(
            "texture_mime_mismatch",
            f"texture {texture.name!r}: mime type {texture.mime_type!r} but the bytes are "
            f"{_MIME_BY_FORMAT[fmt]}",
        )
    try:
        if fmt == "PNG":
            width, height = _png_size(data)
        elif fmt == "JPEG":
            width, height, _ = _jpeg_size(data)
        else:
            width, height = _webp_size(data)
    except (struct.error, IndexError) as exc:  # a read ran off the end of the bytes
        raise MeshError("bad_texture", f"texture {texture.name!r}: truncated {fmt} header") from exc
    except _HeaderError as exc:
        raise MeshError("bad_texture", f"texture {texture.name!r}: {exc}") from exc
    if width <= 0 or height <= 0:
        raise MeshError(
            "bad_texture", f"texture {texture.name!r}: {fmt} header says {width}x{height} px"
        )
    if width * height > MAX_SOURCE_PIXELS:
        raise MeshError(
            "texture_too_large",
            f"texture {texture.name!r}: {width}x{height} px is over the "
            f"{MAX_SOURCE_PIXELS} pixel limit",
        )
    return fmt, width, height


def from_content(name: str, data: bytes) -> Texture:
    """A Texture of ``data`` typed by what its bytes are (not by a label or an extension),
    checked like ``probe``: so an image inside a model is refused by content, before any
    pixel is decoded. Raises the ``probe`` errors."""
    texture = Texture(name=name, data=data, mime_type="")
    typed = Texture(name=name, data=data, mime_type=_MIME_BY_FORMAT[_sniff(texture)])
    probe(typed)
    return typed


def decode(texture: Texture) -> Image.Image:
    """Decode untrusted bytes into a loaded RGB or RGBA image (alpha only if some pixel < 255).

    Size checks happen on the header (``probe``) and again on Pillow's parse before any pixel
    is decoded, so protection does not depend on ``Image.MAX_IMAGE_PIXELS`` or other Pillow
    globals. Truncated data is detected structurally as well, because
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` (global) would otherwise make Pillow pad it with grey.

    Raises the ``probe`` errors, and MeshError("bad_texture") naming the texture and the reason
    for truncated or corrupt data.
    """
    fmt, width, height = probe(texture)
    name = texture.name
    try:
        _check_complete(fmt, texture.data)
    except (struct.error, IndexError) as exc:
        raise MeshError("bad_texture", f"texture {name!r}: truncated {fmt} data") from exc
    except _HeaderError as exc:
        raise MeshError("bad_texture", f"texture {name!r}: {exc}") from exc
    try:
        # Only the sniffed format's plugin may parse the bytes: nothing else gets a look.
        with Image.open(io.BytesIO(texture.data), formats=[fmt]) as image:
            # Camera multi-picture JPEGs open as MPO; the first picture is the image.
            seen = "JPEG" if image.format == "MPO" else image.format
            if seen != fmt or image.size != (width, height):
                # Our header reader and Pillow's disagree (e.g. a second IHDR): trust neither.
                raise MeshError(
                    "bad_texture",
                    f"texture {name!r}: header says {fmt} {width}x{height} px but the decoder "
                    f"sees {image.format} {image.size[0]}x{image.size[1]} px",
                )
            # Animated PNG/WebP: only the first frame is decoded, a texture is a still.
            image.load()
            return _to_rgb_or_rgba(image)
    except MeshError:
        raise
    except Image.DecompressionBombError as exc:  # only if a caller lowered Pillow's global limit
        raise MeshError("texture_too_large", f"texture {name!r}: {exc}") from exc
    except _DECODER_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        raise MeshError("bad_texture", f"texture {name!r}: cannot decode {fmt}: {reason}") from exc


def encode_texture(
    texture: Texture,
    profile: str,
    *,
    webp_quality: int = 85,
    jpeg_quality: int = 88,
    target_psnr_db: float | None = TARGET_PSNR_DB,
) -> EncodedTexture:
    """Transcode ``texture`` for a client ``profile`` ("desktop", "mobile" or "vr").

    The image is shrunk (never enlarged) with Lanczos so its longest side is at most
    ``PROFILE_MAX_SIZE_PX[profile]`` pixels, keeping the aspect ratio (the short side is rounded
    down, and kept >= 1 px). Outputs:
      - WebP: lossy at ``webp_quality`` (0-100), method WEBP_METHOD, alpha lossless with
        colour under transparent pixels kept exact; lossless instead when the image has at
        most 256 colours and lossless is not bigger (flat art, where 4:2:0 chroma smears edges);
      - fallback: PNG (optimized) when there is alpha, JPEG (``jpeg_quality`` 1-95, optimized,
        baseline, 4:2:0) otherwise, or a palette PNG when the image has at most 256 colours
        and that PNG is not bigger than the JPEG.
    Opaque images are encoded without an alpha channel. Same input → same bytes.

    With ``target_psnr_db``, the quality is the lowest from ``webp_quality`` up to WebP 95 at
    which the WebP reaches it against the resized source: a busy photo needs more bits than a
    smooth facade. The
    fallback is stored at half the WebP's resolution: every current browser and headset
    decodes WebP, so the fallback only has to be a recognisable stand-in, and at full size
    it would weigh more than the WebP it backs up.

    Raises MeshError("bad_profile") for an unknown profile, ("bad_quality") for qualities out
    of range, and the ``decode`` errors.
    """
    if profile not in PROFILE_MAX_SIZE_PX:
        raise MeshError(
            "bad_profile",
            f"texture {texture.name!r}: unknown profile {profile!r}, expected one of "
            f"{sorted(PROFILE_MAX_SIZE_PX)}",
        )
    if not 0 <= webp_quality <= 100:
        raise MeshError("bad_quality", f"webp_quality must be in [0, 100], got {webp_quality}")
    # libjpeg above 95 mostly disables quantisation and bloats files for no visible gain.
    if not 1 <= jpeg_quality <= 95:
        raise MeshError("bad_quality", f"jpeg_quality must be in [1, 95], got {jpeg_quality}")

    image = decode(texture)
    source_width, source_height = image.size
    size = fit_size(source_width, source_height, PROFILE_MAX_SIZE_PX[profile])
    if size != image.size:
        # Pillow resizes RGBA premultiplied, so transparent texels do not bleed colour into
        # edges. Values are filtered as stored (sRGB-encoded for colour): this module cannot
        # tell colour maps from data maps (normals, ORM), which must not be linearised.
        image = image.resize(size, Image.Resampling.LANCZOS)
        if image.mode == "RGBA" and _alpha_is_opaque(image):
            image = image.convert("RGB")  # the only translucency was filtered away
    has_alpha = image.mode == "RGBA"
    pixels = np.asarray(image)
    palette = _palette_image(image)

    # The fallback does not depend on the WebP: encode it on a second thread (Pillow releases
    # the GIL inside its codecs) once the quality search, which probes on two, is done.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fallback") as pool:
        fallback_args = (image, size, palette is not None, jpeg_quality)
        fallback_jobs: list[Future[tuple[bytes, str, float, tuple[int, int]]]] = []
        webp, webp_psnr_db, quality = _webp(
            image,
            pixels,
            webp_quality,
            target_psnr_db,
            searched=lambda: fallback_jobs.append(pool.submit(_fallback, *fallback_args)),
        )
        if not fallback_jobs:
            fallback_jobs.append(pool.submit(_fallback, *fallback_args))
        if palette is not None:
            lossless = _save(image, "WEBP", lossless=True, quality=100, method=6, exact=True)
            if len(lossless) <= len(webp):
                webp, webp_psnr_db = lossless, float("inf")
        fallback, fallback_mime, fallback_psnr_db, fallback_size = fallback_jobs[0].result()

    return EncodedTexture(
        webp=webp,
        fallback=fallback,
        fallback_mime_type=fallback_mime,
        width_px=size[0],
        height_px=size[1],
        source_width_px=source_width,
        source_height_px=source_height,
        has_alpha=has_alpha,
        psnr_db=webp_psnr_db,
        fallback_psnr_db=fallback_psnr_db,
        fallback_width_px=fallback_size[0],
        fallback_height_px=fallback_size[1],
        webp_quality=quality,
    )


def fit_size(width_px: int, height_px: int, max_side_px: int) -> tuple[int, int]:
    """(width, height) in px scaled so the longest side is <= ``max_side_px``, never enlarged.

    The longest side becomes exactly ``max_side_px``; the other is rounded down (so the result
    never exceeds the budget) and kept at least 1 px.
    """
    longest = max(width_px, height_px)
    if longest <= max_side_px:
        return width_px, height_px
    # Integer arithmetic: float scale factors could round 2048 * (1024 / 2048) the wrong way.
    return (
        max(1, width_px * max_side_px // longest),
        max(1, height_px * max_side_px // longest),
    )


def psnr_db(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    """PSNR in dB between two uint8 arrays of equal shape (any shape, e.g. (h, w, 3)).

    Peak is 255; the mean squared error runs over every element. Returns inf when equal.
    """
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"psnr_db needs uint8 arrays, got {a.dtype} and {b.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"psnr_db needs equal shapes, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("psnr_db needs non-empty arrays")
    mse = float(_squared_error_sum(a, b)) / a.size
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0 * 255.0 / mse)


# Scratch per chunk of ``_squared_error_sum``: 4 bytes an element, 512 KiB, stays in L2.
_PSNR_CHUNK_ELEMENTS = 1 << 17


def _squared_error_sum(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> int:
    """Sum of (a - b)² over two uint8 arrays of equal shape, in exact integer arithmetic.

    Runs over chunks of rows that fit in cache, in small integer types: |a - b| fits uint8,
    its square uint16 (255² < 2¹⁶), column sums of at most 2¹⁶ rows uint32. On a 2048² RGB
    texture that is ~4x faster than int16/int32 temporaries of the whole image, which also
    page-fault 75 MB of fresh memory on every call.
    """
    a2 = a.reshape(a.shape[0] if a.ndim > 1 else 1, -1)
    b2 = b.reshape(a2.shape)
    rows, width = a2.shape
    step = min(max(1, _PSNR_CHUNK_ELEMENTS // width), 1 << 16, rows)
    high = np.empty((step, width), dtype=np.uint8)
    low = np.empty_like(high)
    squares = np.empty((step, width), dtype=np.uint16)
    total = np.zeros(width, dtype=np.int64)
    for start in range(0, rows, step):
        count = min(step, rows - start)
        a_rows, b_rows = a2[start : start + count], b2[start : start + count]
        hi, lo, sq = high[:count], low[:count], squares[:count]
        np.maximum(a_rows, b_rows, out=hi)
        np.minimum(a_rows, b_rows, out=lo)
        np.subtract(hi, lo, out=hi)
        np.square(hi, out=sq, dtype=np.uint16)
        total += sq.sum(axis=0, dtype=np.uint32)
    return int(total.sum())


# --- header readers --------------------------------------------------------------------------


class _HeaderError(Exception):
    """A structural problem in the bytes; the message is the reason, without the name."""


def _sniff(texture: Texture) -> str:
    data = texture.data
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    kind = next((name for sig, name in _REFUSED_SIGNATURES if data.startswith(sig)), None)
    if kind is None and data[4:8] == b"ftyp":
        kind = "HEIF/AVIF"
    what = f"a {kind} image" if kind else "not a recognised image"
    raise MeshError(
        "unsupported_texture_format",
        f"texture {texture.name!r}: {what}; only PNG, JPEG and WebP are accepted",
    )


def _png_size(data: bytes) -> tuple[int, int]:
    # The PNG spec requires IHDR to be the first chunk, always 13 bytes long.
    length, kind = struct.unpack_from(">I4s", data, 8)
    if kind != b"IHDR" or length != 13:
        raise _HeaderError("PNG does not start with an IHDR chunk")
    width, height = struct.unpack_from(">II", data, 16)
    if len(data) < 33:  # signature + IHDR chunk with its CRC
        raise _HeaderError("truncated PNG header")
    if zlib.crc32(data[12:29]) != struct.unpack_from(">I", data, 29)[0]:
        raise _HeaderError("PNG IHDR checksum mismatch")
    # Pillow reads width/height as unsigned; PNG caps them at 2**31 - 1.
    if width > 0x7FFFFFFF or height > 0x7FFFFFFF:
        raise _HeaderError(f"PNG header says {width}x{height} px")
    return int(width), int(height)


def _jpeg_size(data: bytes) -> tuple[int, int, int]:
    """(width, height, offset of the first SOS marker) by walking the marker segments."""
    pos = 2  # after SOI
    width_height: tuple[int, int] | None = None
    while True:
        if data[pos] != 0xFF:
            raise _HeaderError(f"JPEG marker expected at byte {pos}")
        while data[pos] == 0xFF:  # fill bytes may pad any marker
            pos += 1
        marker = data[pos]
        pos += 1
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker == _JPEG_EOI:
            raise _HeaderError("JPEG ends before its image data")
        if marker == _JPEG_SOS:
            if width_height is None:
                raise _HeaderError("JPEG image data comes before its frame header")
            return width_height[0], width_height[1], pos - 2
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise _HeaderError(f"JPEG segment length {length} at byte {pos}")
        if marker in _JPEG_SOF_MARKERS and width_height is None:
            height, width = struct.unpack_from(">HH", data, pos + 3)
            width_height = (int(width), int(height))
        pos += length


def _webp_size(data: bytes) -> tuple[int, int]:
    kind = data[12:16]
    payload = 20
    if kind == b"VP8 ":  # lossy: frame tag (3), start code (3), 14-bit sizes + 2-bit scale
        if data[payload + 3 : payload + 6] != b"\x9d\x01\x2a":
            raise _HeaderError("WebP VP8 frame has no start code")
        width, height = struct.unpack_from("<HH", data, payload + 6)
        return int(width & 0x3FFF), int(height & 0x3FFF)
    if kind == b"VP8L":  # lossless: signature byte, then 14-bit (size - 1) fields
        if data[payload] != 0x2F:
            raise _HeaderError("WebP VP8L stream has no signature")
        (bits,) = struct.unpack_from("<I", data, payload + 1)
        return int((bits & 0x3FFF) + 1), int(((bits >> 14) & 0x3FFF) + 1)
    if kind == b"VP8X":  # extended: flags (1), reserved (3), 24-bit (canvas size - 1) fields
        fields = data[payload + 4 : payload + 10]
        if len(fields) < 6:
            raise _HeaderError("truncated WebP VP8X header")
        width = int.from_bytes(fields[0:3], "little") + 1
        height = int.from_bytes(fields[3:6], "little") + 1
        return width, height
    raise _HeaderError(f"WebP with unknown first chunk {kind!r}")


def _check_complete(fmt: str, data: bytes) -> None:
    """Raise _HeaderError when the container is cut short or its framing is corrupt."""
    if fmt == "PNG":
        # Walk every chunk to IEND checking CRCs: cheap (zlib.crc32 runs at GB/s) and it makes
        # truncation and bit rot errors regardless of Pillow's LOAD_TRUNCATED_IMAGES.
        pos = len(PNG_SIGNATURE)
        while True:
            if pos + 12 > len(data):
                raise _HeaderError("truncated PNG (no IEND chunk)")
            length, kind = struct.unpack_from(">I4s", data, pos)
            end = pos + 8 + length
            if end + 4 > len(data):
                raise _HeaderError(f"truncated PNG (chunk {kind!r} runs past the end)")
            if zlib.crc32(data[pos + 4 : end]) != struct.unpack_from(">I", data, end)[0]:
                raise _HeaderError(f"corrupt PNG (chunk {kind!r} checksum mismatch)")
            if kind == b"IEND":
                return
            pos = end + 4
    elif fmt == "JPEG":
        _, _, sos = _jpeg_size(data)
        # 0xFFD9 cannot occur inside entropy-coded data (0xFF there is stuffed as 0xFF00), so
        # a JPEG without EOI after its first scan has lost its tail.
        if data.find(b"\xff\xd9", sos) < 0:
            raise _HeaderError("truncated JPEG (no end-of-image marker)")
    else:
        (riff_size,) = struct.unpack_from("<I", data, 4)
        if len(data) < riff_size + 8:
            raise _HeaderError(
                f"truncated WebP ({len(data)} bytes, RIFF header says {riff_size + 8})"
            )


# --- pixels ----------------------------------------------------------------------------------


def _to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """A metadata-free RGB or RGBA copy of a loaded image; RGBA only if some alpha < 255."""
    if image.mode.startswith("I"):
        image = _sixteen_bit_grey(image)
    transparent = image.mode in ("LA", "La", "PA", "RGBA", "RGBa") or (
        "transparency" in image.info  # tRNS colour key (L, RGB) or palette alpha (P)
    )
    result = image.convert("RGBA" if transparent else "RGB")
    if result.mode == "RGBA" and _alpha_is_opaque(result):
        # An alpha channel that is all 255 only costs bytes and forces alpha blending.
        result = result.convert("RGB")
    # No ICC, EXIF, gamma or tRNS info may leak into the encoders (PNG copies iCCP from info).
    result.info = {}
    return result


def _sixteen_bit_grey(image: Image.Image) -> Image.Image:
    # Pillow's I;16 → L/RGB conversion clamps at 255 instead of scaling, which would turn
    # a 16-bit greyscale PNG white; scale 0..65535 to 0..255 with rounding instead.
    raw = np.asarray(image).astype(np.uint32)
    grey = ((raw * 255 + 32767) // 65535).clip(0, 255).astype(np.uint8)
    key = image.info.get("transparency")
    if isinstance(key, int):  # tRNS grey key, in 16-bit sample values
        alpha = np.where(raw == key, 0, 255).astype(np.uint8)
        return Image.fromarray(np.dstack([grey, alpha]))  # (h, w, 2) uint8 → LA
    return Image.fromarray(grey)


def _alpha_is_opaque(image: Image.Image) -> bool:
    low, _ = image.getchannel("A").getextrema()
    return bool(low == 255)


def _palette_image(image: Image.Image) -> Image.Image | None:
    """The image as an exact 8-bit palette image, or None when it has more than 256 colours.

    Palette PNGs of flat art are several times smaller than RGB(A) PNGs and lossless; an
    RGBA palette becomes PLTE + tRNS.
    """
    if image.getcolors(256) is None:  # stops counting past 256 colours: cheap for photos
        return None
    pixels = np.asarray(image)
    channels = pixels.shape[2]
    packed = np.zeros(pixels.shape[:2], dtype=np.uint32)
    for channel in range(channels):
        packed = (packed << 8) | pixels[:, :, channel]
    # np.unique sorts, so the palette order (and the PNG bytes) depend only on the pixels.
    colours, indices = np.unique(packed.ravel(), return_inverse=True)
    shifts = [8 * (channels - 1 - c) for c in range(channels)]
    entries = np.stack([(colours >> s) & 0xFF for s in shifts], axis=1).astype(np.uint8)
    palette = Image.frombytes("P", image.size, indices.astype(np.uint8).tobytes())
    palette.putpalette(entries.tobytes(), rawmode=image.mode)
    return palette


def _fallback(
    image: Image.Image, size: tuple[int, int], few_colours: bool, jpeg_quality: int
) -> tuple[bytes, str, float, tuple[int, int]]:
    """(bytes, MIME type, PSNR dB, (width, height) px) of the half-resolution fallback."""

    def scored(data: bytes, mime: str) -> tuple[bytes, str, float, tuple[int, int]]:
        return data, mime, psnr_db(_decoded_pixels(data, small.mode), np.asarray(small)), small.size

    fallback_size = fit_size(size[0], size[1], max(1, max(size) // 2))
    # a copy even at the same size: the WebP thread saves ``image``, and Image.save keeps its
    # options on the object
    if fallback_size == size:
        small = image.copy()
    elif image.mode != "RGBA" and (2 * fallback_size[0], 2 * fallback_size[1]) == size:
        # exactly half: the 2x2 box filter of a mipmap, 14x faster than Lanczos on 4 Mpx
        # (0.003 s against 0.042 s). Not for RGBA: it averages straight, not premultiplied,
        # alpha, so transparent texels would bleed their colour into edges.
        small = image.reduce(2)
    else:
        small = image.resize(fallback_size, Image.Resampling.LANCZOS)
    small_palette = _palette_image(small) if few_colours else None
    if image.mode == "RGBA":
        png = _save(small_palette if small_palette is not None else small, "PNG", optimize=True)
        return scored(png, "image/png")
    jpeg = _save(
        small.convert("RGB"),
        "JPEG",
        quality=jpeg_quality,
        optimize=True,
        progressive=False,  # baseline decodes incrementally with less memory on mobile
        subsampling="4:2:0",
    )
    if small_palette is not None:
        png = _save(small_palette, "PNG", optimize=True)
        if len(png) <= len(jpeg):
            return scored(png, "image/png")
    return scored(jpeg, "image/jpeg")


def _webp(
    image: Image.Image,
    pixels: NDArray[np.uint8],
    start_quality: int,
    target_psnr_db: float | None,
    searched: Callable[[], object] | None = None,
) -> tuple[bytes, float, int]:
    """(bytes, PSNR dB, quality) of the lossy WebP: at ``start_quality`` without a target,
    else at the lowest quality from ``start_quality`` up to MAX_WEBP_QUALITY reaching it.

    The search runs on a mosaic sample (``_sample``), whose PSNR tracks the whole image's
    within about ±0.7 dB (photos read a little high, hard-edged art a little low). The whole
    image is then encoded at the sample's answer and measured; the gap between the two at
    that quality corrects the target on the sample, and whole-image results bracket the
    answer until it settles. ``searched`` is called once the sample search is done, when the
    whole-image encodes start (one core is then spare)."""

    def encode(quality: int) -> bytes:
        return _save(
            image, "WEBP", quality=quality, method=WEBP_METHOD, exact=True, alpha_quality=100
        )

    def measured(data: bytes) -> float:
        return psnr_db(_decoded_pixels(data, image.mode), pixels)

    if target_psnr_db is None:
        webp = encode(start_quality)
        return webp, measured(webp), start_quality
    search = _SampleSearch(image.mode, _sample(pixels))
    quality = search.lowest_reaching(target_psnr_db, start_quality)
    if searched is not None:
        searched()
    whole: dict[int, tuple[bytes, float]] = {}  # quality -> (bytes, PSNR) of the whole image
    for _ in range(MAX_WHOLE_IMAGE_ENCODES):
        if quality not in whole:
            whole[quality] = (webp := encode(quality), measured(webp))
        passing = {q: db for q, (_, db) in whole.items() if db >= target_psnr_db}
        failing = {q: db for q, (_, db) in whole.items() if db < target_psnr_db}
        low = max(failing, default=start_quality - 1) + 1  # the answer lies in [low, high]
        high = min(passing, default=MAX_WEBP_QUALITY + 1)
        if low >= high or low > MAX_WEBP_QUALITY:
            break
        if failing and passing:
            # PSNR is close to linear in quality over a few steps: interpolate between the
            # nearest failing and passing results, kept strictly inside the bracket
            q0, q1 = low - 1, high
            db0, db1 = failing[q0], passing[q1]
            step = (target_psnr_db - db0) / (db1 - db0) * (q1 - q0) if db1 > db0 else 1.0
            quality = min(max(q0 + math.ceil(step), low), high - 1)
            continue
        # One side only: shift the target on the sample by the gap seen at the result
        # nearest the answer, and take the sample's answer above the failing side
        nearest = high if passing else low - 1
        gap_db = search.psnr_db(nearest) - whole[nearest][1]
        if not math.isfinite(gap_db):
            quality = (low + min(high, MAX_WEBP_QUALITY + 1) - 1) // 2
            continue
        quality = search.lowest_reaching(target_psnr_db + gap_db, low)
        if quality >= high:  # the corrected sample agrees with the lowest passing quality
            break
    passing_qualities = [q for q, (_, db) in whole.items() if db >= target_psnr_db]
    chosen = min(passing_qualities) if passing_qualities else max(whole)  # best effort
    webp, webp_psnr_db = whole[chosen]
    return webp, webp_psnr_db, chosen


class _SampleSearch:
    """PSNR of WebP encodes of a sample, by quality, probed two at a time (libwebp releases
    the GIL, so the two probes take the two cores of a small machine)."""

    def __init__(self, mode: str, sample: NDArray[np.uint8]) -> None:
        self.mode = mode
        self.sample = sample
        self.known: dict[int, float] = {}

    def psnr_db(self, quality: int) -> float:
        if quality not in self.known:
            self._probe([quality])
        return self.known[quality]

    def lowest_reaching(self, target_db: float, low: int) -> int:
        """The lowest quality in [low, MAX_WEBP_QUALITY] whose sample reaches ``target_db``
        (PSNR rises with quality), or MAX_WEBP_QUALITY when none does."""
        high = MAX_WEBP_QUALITY  # the answer lies in [low, high]
        while True:
            for quality, db in self.known.items():
                if db >= target_db and low <= quality < high:
                    high = quality
                elif db < target_db and low <= quality:
                    low = max(low, quality + 1)
            if low >= high:
                return high
            self._probe(self._next_probes(target_db, low, high))

    def crossing(self, target_db: float, low: int, high: int) -> int | None:
        """The quality in [low, high] where the line through the two known qualities nearest
        the target crosses it (interpolated across the target, or extrapolated from one
        side), rounded up; None while that line is unknown."""
        below = sorted(q for q, db in self.known.items() if db < target_db)
        above = sorted(q for q, db in self.known.items() if db >= target_db)
        if below and above:
            q0, q1 = below[-1], above[0]
        elif len(below) >= 2:
            q0, q1 = below[-2], below[-1]
        elif len(above) >= 2:
            q0, q1 = above[0], above[1]
        else:
            return None
        db0, db1 = self.known[q0], self.known[q1]
        slope = (db1 - db0) / (q1 - q0)
        guess = math.ceil(q0 + (target_db - db0) / slope) if slope > 1e-6 else high
        return min(max(guess, low), high)

    def _next_probes(self, target_db: float, low: int, high: int) -> list[int]:
        """Up to two untried qualities in [low, high - 1]: the ``crossing`` and the quality
        under it, or the thirds of the range while there is no crossing."""
        guess = self.crossing(target_db, low, high - 1)
        if guess is None:
            span = high - low
            return self._untried([low + span // 3, low + (2 * span) // 3], low, high)
        # The answer is settled once `guess` passes and the quality under it fails
        return self._untried([guess, guess - 1], low, high)

    def _untried(self, picks: list[int], low: int, high: int) -> list[int]:
        chosen = sorted({min(max(q, low), high - 1) for q in picks} - set(self.known))
        return chosen or [low]

    def _probe(self, qualities: list[int]) -> None:
        def one(quality: int) -> float:
            # an Image per probe: Image.save keeps its options on the object, so two threads
            # saving one Image would encode with each other's quality
            data = _save(
                Image.fromarray(self.sample, mode=self.mode),
                "WEBP",
                quality=quality,
                method=WEBP_METHOD,
                exact=True,
                alpha_quality=100,
            )
            return psnr_db(_decoded_pixels(data, self.mode), self.sample)

        if len(qualities) == 1:
            self.known.update((quality, one(quality)) for quality in qualities)
            return
        with ThreadPoolExecutor(max_workers=len(qualities), thread_name_prefix="probe") as pool:
            self.known.update(zip(qualities, pool.map(one, qualities), strict=True))


def _sample(pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The search's sample: SAMPLE_TILES of ``_sample_tiles`` at evenly spaced ranks of
    detail (gradient energy) in two rows, when there are at least twice as many; else a
    mosaic of all of them; else (an image too small to sample) the pixels themselves.

    Tiles differ too much for 8 picked by position to read like the image (they missed its
    answer by up to 6 qualities), while a pick stratified by detail keeps its mix of flat and
    busy tiles.
    """
    tiles = _sample_tiles(pixels)
    if tiles is None:
        return pixels
    if len(tiles) < 2 * SAMPLE_TILES:
        return _mosaic(tiles)
    detail = [_gradient_energy(tile) for tile in tiles]
    ranked = sorted(range(len(tiles)), key=detail.__getitem__)  # stable: ties keep their order
    picks = sorted(
        ranked[(2 * k + 1) * len(tiles) // (2 * SAMPLE_TILES)] for k in range(SAMPLE_TILES)
    )
    return _mosaic([tiles[pick] for pick in picks], across=SAMPLE_TILES // 2)


def _gradient_energy(tile: NDArray[np.uint8]) -> int:
    """Sum of squared differences between neighbouring pixels, down and across."""
    values = tile.astype(np.int32)
    down = np.square(np.diff(values, axis=0)).sum(dtype=np.int64)
    across = np.square(np.diff(values, axis=1)).sum(dtype=np.int64)
    return int(down + across)


def _sample_tiles(pixels: NDArray[np.uint8]) -> list[NDArray[np.uint8]] | None:
    """Every SAMPLE_EVERY_NTH_TILE-th SAMPLE_TILE_PX tile of ``pixels`` in reading order (the
    pick rotating within each run of tiles, so columns are not favoured), or None when the
    image is too small to sample."""
    tile = SAMPLE_TILE_PX
    rows, columns = pixels.shape[0] // tile, pixels.shape[1] // tile
    count = rows * columns
    if count < 4 * SAMPLE_EVERY_NTH_TILE:
        return None
    picks = [
        min(first + (first // SAMPLE_EVERY_NTH_TILE) % SAMPLE_EVERY_NTH_TILE, count - 1)
        for first in range(0, count, SAMPLE_EVERY_NTH_TILE)
    ]
    return [
        pixels[row * tile : (row + 1) * tile, column * tile : (column + 1) * tile]
        for row, column in (divmod(pick, columns) for pick in picks)
    ]


def _mosaic(tiles: list[NDArray[np.uint8]], across: int | None = None) -> NDArray[np.uint8]:
    """Equal square tiles, ``across`` to a row (default: as square a grid as fits)."""
    tile = tiles[0].shape[0]
    across = across or math.ceil(math.sqrt(len(tiles)))
    down = math.ceil(len(tiles) / across)
    mosaic = np.zeros((down * tile, across * tile, *tiles[0].shape[2:]), dtype=np.uint8)
    for slot, pixels in enumerate(tiles):
        to_row, to_column = divmod(slot, across)
        mosaic[to_row * tile : (to_row + 1) * tile, to_column * tile : (to_column + 1) * tile] = (
            pixels
        )
    # empty slots of the last row repeat the first tile rather than score as flat black
    for slot in range(len(tiles), down * across):
        to_row, to_column = divmod(slot, across)
        mosaic[to_row * tile : (to_row + 1) * tile, to_column * tile : (to_column + 1) * tile] = (
            mosaic[:tile, :tile]
        )
    return mosaic


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _decoded_pixels(data: bytes, mode: str) -> NDArray[np.uint8]:
    with Image.open(io.BytesIO(data)) as decoded:
        decoded.load()
        if decoded.mode == mode:  # convert would copy even when the mode already matches
            return np.asarray(decoded, dtype=np.uint8)
        return np.asarray(decoded.convert(mode), dtype=np.uint8)
