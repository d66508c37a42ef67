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
WEBP_QUALITY_STEP = 4

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
      - WebP: lossy at ``webp_quality`` (0-100), method 6, alpha lossless with colour under
        transparent pixels kept exact; lossless instead when the image has at most 256 colours
        and lossless is not bigger (flat art, where 4:2:0 chroma smears edges);
      - fallback: PNG (optimized) when there is alpha, JPEG (``jpeg_quality`` 1-95, optimized,
        baseline, 4:2:0) otherwise, or a palette PNG when the image has at most 256 colours
        and that PNG is not bigger than the JPEG.
    Opaque images are encoded without an alpha channel. Same input → same bytes.

    Quality is raised in steps (up to WebP 95) until the WebP reaches ``target_psnr_db``
    against the resized source: a busy photo needs more bits than a smooth facade. The
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

    quality = webp_quality
    if target_psnr_db is not None:
        quality = _quality_for(image, pixels, webp_quality, target_psnr_db)
    webp = _save(image, "WEBP", quality=quality, method=6, exact=True, alpha_quality=100)
    webp_psnr_db = psnr_db(_decoded_pixels(webp, image.mode), pixels)
    while (
        target_psnr_db is not None and quality < MAX_WEBP_QUALITY and webp_psnr_db < target_psnr_db
    ):
        # the fast probe said yes but the final encode fell short: step up at full effort
        quality = min(MAX_WEBP_QUALITY, quality + WEBP_QUALITY_STEP)
        webp = _save(image, "WEBP", quality=quality, method=6, exact=True, alpha_quality=100)
        webp_psnr_db = psnr_db(_decoded_pixels(webp, image.mode), pixels)
    if palette is not None:
        lossless = _save(image, "WEBP", lossless=True, quality=100, method=6, exact=True)
        if len(lossless) <= len(webp):
            webp, webp_psnr_db = lossless, float("inf")

    fallback_size = fit_size(size[0], size[1], max(1, max(size) // 2))
    small = (
        image if fallback_size == size else image.resize(fallback_size, Image.Resampling.LANCZOS)
    )
    small_palette = _palette_image(small) if palette is not None else None
    if has_alpha:
        fallback = _save(
            small_palette if small_palette is not None else small, "PNG", optimize=True
        )
        fallback_mime = "image/png"
    else:
        fallback = _save(
            small.convert("RGB"),
            "JPEG",
            quality=jpeg_quality,
            optimize=True,
            progressive=False,  # baseline decodes incrementally with less memory on mobile
            subsampling="4:2:0",
        )
        fallback_mime = "image/jpeg"
        if small_palette is not None:
            png = _save(small_palette, "PNG", optimize=True)
            if len(png) <= len(fallback):
                fallback, fallback_mime = png, "image/png"

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
        fallback_psnr_db=psnr_db(_decoded_pixels(fallback, small.mode), np.asarray(small)),
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
    diff = a.astype(np.float64) - b.astype(np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0 * 255.0 / mse)


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


def _quality_for(
    image: Image.Image, pixels: NDArray[np.uint8], start: int, target_psnr_db: float
) -> int:
    """The lowest quality (from ``start``, in WEBP_QUALITY_STEP steps) whose fast encode
    reaches the target. Method 0 is ~8x faster than method 6 on a 2048² photo and scores
    ~0.2 dB lower at the same quality, so its answer is a safe one for the final method-6
    encode (measured in docs/asset-pipeline.md)."""
    quality = start
    while quality < MAX_WEBP_QUALITY:
        probe = _save(image, "WEBP", quality=quality, method=0, exact=True, alpha_quality=100)
        if psnr_db(_decoded_pixels(probe, image.mode), pixels) >= target_psnr_db:
            break
        quality = min(MAX_WEBP_QUALITY, quality + WEBP_QUALITY_STEP)
    return quality


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _decoded_pixels(data: bytes, mode: str) -> NDArray[np.uint8]:
    with Image.open(io.BytesIO(data)) as decoded:
        return np.asarray(decoded.convert(mode), dtype=np.uint8)
