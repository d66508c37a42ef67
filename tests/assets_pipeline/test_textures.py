import io
import math
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageFile

from assets_pipeline import textures
from assets_pipeline.mesh import MeshError, Texture
from assets_pipeline.textures import (
    MAX_SOURCE_PIXELS,
    MAX_WEBP_QUALITY,
    WEBP_METHOD,
    EncodedTexture,
    decode,
    encode_texture,
    fit_size,
    probe,
    psnr_db,
)

# --- procedural sources ------------------------------------------------------------------------


def value_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> NDArray[np.float32]:
    """(h, w) smooth noise around [0, 1]: random values on a ``cell``-px grid, bicubic between."""
    grid = rng.random((h // cell + 2, w // cell + 2), dtype=np.float32)
    smooth = Image.fromarray(grid).resize(
        (w, h), Image.Resampling.BICUBIC, box=(0, 0, w / cell, h / cell)
    )  # mode F: Pillow interpolates float32 in C, ~20x faster than numpy here
    return np.asarray(smooth, dtype=np.float32)


def photo(h: int, w: int, seed: int = 7) -> NDArray[np.uint8]:
    """(h, w, 3) uint8 stand-in for a facade photo: lighting gradients, multi-scale value noise
    down to 2 px (plaster, grain), dark windows with thin light frames, a little sensor noise.
    Not flat colour, so codecs have to work about as hard as on a real photo."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    img = (
        np.array([0.55, 0.45, 0.35], np.float32)
        + x * np.array([0.3, 0.0, -0.1], np.float32)
        + y * np.array([-0.2, 0.25, 0.2], np.float32)
    )
    detail = np.zeros((h, w), np.float32)
    for cell, amplitude in ((256, 0.2), (64, 0.1), (16, 0.06), (4, 0.05), (2, 0.05)):
        detail += amplitude * (value_noise(rng, h, w, cell) - 0.5)
    img = img + detail[..., None] * np.array([1.0, 0.9, 0.8], np.float32)
    rows = np.arange(h)[:, None] % 256
    cols = np.arange(w)[None, :] % 192
    window = (rows > 96) & (rows < 200) & (cols > 40) & (cols < 150)
    glass = (rows > 98) & (rows < 198) & (cols > 42) & (cols < 148) & (cols != 95)
    dark = img * 0.45 + np.array([0.05, 0.08, 0.12], np.float32)
    frame = np.float32(0.85)  # 2 px frames and a 1 px mullion around/through the glass
    img = np.where(glass[..., None], dark, np.where(window[..., None], frame, img))
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(1.0 / 255)
    out: NDArray[np.uint8] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def with_alpha(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """(h, w, 4): a cut-out (alpha 0 outside a disc) with a soft, half-transparent rim."""
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - h / 2, xx - w / 2) / (min(h, w) / 2)
    alpha = np.clip((1.0 - r) * 4 * 255, 0, 255).astype(np.uint8)
    return np.dstack([rgb, alpha])


def encoded(pixels: NDArray[np.uint8], fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **params)
    return buffer.getvalue()


def png_texture(pixels: NDArray[np.uint8], name: str = "facade") -> Texture:
    return Texture(name, encoded(pixels, "PNG", compress_level=1), "image/png")


def jpeg_texture(pixels: NDArray[np.uint8], name: str = "facade") -> Texture:
    return Texture(name, encoded(pixels, "JPEG", quality=90), "image/jpeg")


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


@pytest.fixture(scope="module")
def photo_2048() -> NDArray[np.uint8]:
    return photo(2048, 2048)


@pytest.fixture(scope="module")
def photo_png(photo_2048: NDArray[np.uint8]) -> bytes:
    return encoded(photo_2048)  # Pillow's default zlib level: what a typical source PNG is


@pytest.fixture(scope="module")
def desktop(photo_png: bytes) -> EncodedTexture:
    return encode_texture(Texture("facade", photo_png, "image/png"), "desktop")


@pytest.fixture(scope="module")
def small_photo() -> NDArray[np.uint8]:
    return photo(256, 384, seed=3)


@pytest.fixture(scope="module")
def cutout() -> NDArray[np.uint8]:
    # Small on purpose: lossless alpha at WebP method 6 costs ~0.3 s even at this size.
    return with_alpha(photo(96, 128, seed=5))


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- sizes and quality -------------------------------------------------------------------------


def test_a_2048_px_photo_for_desktop_keeps_its_size_and_webp_is_far_smaller_than_the_png(
    photo_png: bytes, desktop: EncodedTexture
) -> None:
    assert (desktop.width_px, desktop.height_px) == (2048, 2048)
    assert (desktop.source_width_px, desktop.source_height_px) == (2048, 2048)
    assert len(desktop.webp) < 0.25 * len(photo_png)
    assert desktop.psnr_db >= 38.0
    assert not desktop.has_alpha
    assert desktop.fallback_mime_type == "image/jpeg"
    assert desktop.fallback_psnr_db >= 38.0
    assert len(desktop.fallback) < len(photo_png)


def test_a_non_square_photo_for_mobile_is_shrunk_to_1024_px_keeping_its_aspect(
    photo_2048: NDArray[np.uint8],
) -> None:
    texture = png_texture(photo_2048[:1024])  # 2048 wide, 1024 high

    result = encode_texture(texture, "mobile")

    assert (result.width_px, result.height_px) == (1024, 512)
    assert (result.source_width_px, result.source_height_px) == (2048, 1024)
    assert result.psnr_db >= 38.0


def test_a_portrait_photo_for_vr_is_shrunk_on_its_long_side(photo_2048: NDArray[np.uint8]) -> None:
    result = encode_texture(jpeg_texture(photo_2048[:, :1536]), "vr")  # 1536 wide, 2048 high

    assert (result.width_px, result.height_px) == (768, 1024)


@pytest.mark.parametrize("profile", ["desktop", "mobile", "vr"])
def test_small_images_are_never_upscaled(small_photo: NDArray[np.uint8], profile: str) -> None:
    result = encode_texture(png_texture(small_photo), profile)

    assert (result.width_px, result.height_px) == (384, 256)
    assert open_image(result.webp).size == (384, 256)


@pytest.mark.parametrize(
    ("size", "budget", "expected"),
    [
        ((2048, 1024), 1024, (1024, 512)),
        ((1000, 3000), 1024, (341, 1024)),  # 341.33 rounds down: never over budget
        ((40000, 1), 1024, (1024, 1)),  # the short side never collapses to 0 px
        ((1024, 1024), 1024, (1024, 1024)),
        ((7, 5), 2048, (7, 5)),
    ],
)
def test_fit_size_keeps_the_longest_side_within_budget_and_each_side_at_least_one_px(
    size: tuple[int, int], budget: int, expected: tuple[int, int]
) -> None:
    assert fit_size(*size, budget) == expected


def test_the_webp_and_the_fallback_decode_to_the_reported_size(desktop: EncodedTexture) -> None:
    webp = open_image(desktop.webp)
    fallback = open_image(desktop.fallback)

    assert (webp.format, webp.size, webp.mode) == ("WEBP", (2048, 2048), "RGB")
    # the fallback is a half-size stand-in for the rare client without WebP
    assert (fallback.format, fallback.size) == ("JPEG", (1024, 1024))
    assert (desktop.fallback_width_px, desktop.fallback_height_px) == (1024, 1024)
    assert fallback.info.get("progressive") is None  # baseline, as promised


def test_quality_rises_until_a_busy_texture_reaches_the_psnr_target(
    small_photo: NDArray[np.uint8],
) -> None:
    noisy = np.clip(
        small_photo.astype(np.int16)
        + np.random.default_rng(5).integers(-40, 40, small_photo.shape),
        0,
        255,
    ).astype(np.uint8)

    fixed = encode_texture(png_texture(noisy), "desktop", target_psnr_db=None)
    raised = encode_texture(png_texture(noisy), "desktop", target_psnr_db=38.0)

    assert fixed.webp_quality == 85
    assert raised.webp_quality > 85
    assert raised.psnr_db > fixed.psnr_db
    assert raised.psnr_db >= 38.0 or raised.webp_quality == 95


def lowest_quality_reaching(pixels: NDArray[np.uint8], target_db: float) -> int | None:
    """Brute force: the lowest WebP quality from 85 whose whole-image encode reaches target."""
    for quality in range(85, MAX_WEBP_QUALITY + 1):
        data = encoded(pixels, "WEBP", quality=quality, method=WEBP_METHOD, exact=True)
        if psnr_db(np.asarray(open_image(data).convert("RGB")), pixels) >= target_db:
            return quality
    return None


@pytest.fixture(scope="module")
def busy_photo() -> NDArray[np.uint8]:
    """1024 px (big enough for the search to probe a mosaic sample, not the whole image), with
    grain that needs a WebP quality between 85 and 95 for 38 dB."""
    grain = np.random.default_rng(8).standard_normal((1024, 1024, 3)) * 2.2  # needs q90
    return np.clip(photo(1024, 1024, seed=11) + grain + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def busy_photo_best_quality(busy_photo: NDArray[np.uint8]) -> int:
    best = lowest_quality_reaching(busy_photo, 38.0)
    assert best is not None
    assert 85 < best < MAX_WEBP_QUALITY
    return best


@pytest.mark.parametrize(
    "sample",
    [
        None,  # the real mosaic sample
        # stand-ins for a sample that misleads: one that reads far low (noise) and one that
        # reads far high (flat grey); the whole-image results must correct either
        lambda pixels: np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8),
        lambda pixels: np.full((256, 256, 3), 128, dtype=np.uint8),
    ],
    ids=["mosaic", "sample-reads-low", "sample-reads-high"],
)
def test_the_search_picks_the_lowest_quality_reaching_the_target_on_the_whole_image(
    busy_photo: NDArray[np.uint8],
    busy_photo_best_quality: int,
    sample: Callable[[NDArray[np.uint8]], NDArray[np.uint8]] | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if sample is not None:
        monkeypatch.setattr(textures, "_sample", sample)

    result = encode_texture(png_texture(busy_photo), "desktop", target_psnr_db=38.0)

    assert result.webp_quality == busy_photo_best_quality
    assert result.psnr_db >= 38.0


def test_a_large_image_is_sampled_by_8_tiles_at_evenly_spaced_ranks_of_detail() -> None:
    tile = textures.SAMPLE_TILE_PX
    ids = np.arange(256, dtype=np.uint8).reshape(16, 16)  # a 2048² image has 16 x 16 tiles
    pixels = np.zeros((2048, 2048, 3), np.uint8)
    pixels[..., 0] = np.kron(ids, np.ones((tile, tile), np.uint8))  # flat: the tile's id
    sample_tiles = textures._sample_tiles(pixels)
    assert sample_tiles is not None
    sampled = [int(t[0, 0, 0]) for t in sample_tiles]
    assert len(sampled) == 32
    rng = np.random.default_rng(4)
    # noise of a different amplitude in each sampled tile ranks them by detail
    amplitude = dict(zip(sampled, rng.permutation(np.arange(4, 100, 3)).tolist(), strict=True))
    for i in sampled:
        rows, columns = divmod(i, 16)
        noise = rng.uniform(-1.0, 1.0, (tile, tile, 2)) * amplitude[i]
        pixels[rows * tile : (rows + 1) * tile, columns * tile : (columns + 1) * tile, 1:] = (
            128 + noise
        )

    sample = textures._sample(pixels)

    assert sample.shape == (2 * tile, 4 * tile, 3)  # 8 tiles, 4 across
    slots = [(r, c) for r in (0, tile) for c in range(0, 4 * tile, tile)]
    picked = [int(sample[r, c, 0]) for r, c in slots]
    by_detail = sorted(sampled, key=amplitude.__getitem__)
    assert picked == [i for i in sampled if by_detail.index(i) in range(2, 32, 4)]
    for (r, c), i in zip(slots, picked, strict=True):
        rows, columns = divmod(i, 16)
        source = pixels[rows * tile : (rows + 1) * tile, columns * tile : (columns + 1) * tile]
        assert np.array_equal(sample[r : r + tile, c : c + tile], source)


def test_images_with_few_sample_tiles_are_sampled_by_all_of_them_or_whole() -> None:
    tile = textures.SAMPLE_TILE_PX
    pixels = np.random.default_rng(2).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    tiles = textures._sample_tiles(pixels)
    assert tiles is not None
    assert len(tiles) == 8  # of 64
    sample = textures._sample(pixels)
    assert sample.shape == (3 * tile, 3 * tile, 3)  # a 3 x 3 mosaic, the last slot repeated
    for slot, source in enumerate(tiles):
        r, c = divmod(slot, 3)
        assert np.array_equal(sample[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile], source)
    small = pixels[:300, :200]
    assert textures._sample(small) is small  # too few tiles to sample: the image itself


def test_the_reported_psnr_is_that_of_the_decoded_webp(small_photo: NDArray[np.uint8]) -> None:
    result = encode_texture(png_texture(small_photo), "desktop")

    decoded = np.asarray(open_image(result.webp).convert("RGB"))

    assert result.psnr_db == pytest.approx(psnr_db(decoded, small_photo))


# --- alpha -------------------------------------------------------------------------------------


def test_rgba_with_real_transparency_keeps_alpha_in_webp_and_gets_a_png_fallback(
    cutout: NDArray[np.uint8],
) -> None:
    result = encode_texture(png_texture(cutout), "desktop")

    assert result.has_alpha
    webp = open_image(result.webp)
    assert webp.mode == "RGBA"
    # Alpha is coded losslessly: cut-out edges and alpha-test thresholds must not move.
    assert np.array_equal(np.asarray(webp)[..., 3], cutout[..., 3])
    assert result.fallback_mime_type == "image/png"
    assert open_image(result.fallback).mode in ("RGBA", "P")
    assert result.fallback_psnr_db == math.inf  # PNG is lossless
    assert result.psnr_db >= 38.0


def test_rgba_whose_alpha_is_all_255_is_treated_as_opaque(small_photo: NDArray[np.uint8]) -> None:
    rgba = np.dstack([small_photo, np.full(small_photo.shape[:2], 255, np.uint8)])

    result = encode_texture(png_texture(rgba), "desktop")

    assert not result.has_alpha
    assert result.fallback_mime_type == "image/jpeg"
    assert open_image(result.webp).mode == "RGB"  # no alpha plane spent on nothing


def test_a_palette_png_with_a_transparent_index_keeps_its_alpha() -> None:
    image = Image.new("P", (64, 64), 1)
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.paste(0, (0, 0, 32, 64))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)

    decoded = decode(Texture("sign", buffer.getvalue(), "image/png"))

    assert decoded.mode == "RGBA"
    assert decoded.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert decoded.getpixel((40, 0)) == (0, 0, 255, 255)


def test_flat_art_is_kept_lossless_in_both_outputs() -> None:
    art = np.zeros((256, 256, 3), np.uint8)
    art[:, :128] = (200, 30, 30)
    art[64:192, 64:192] = (250, 250, 250)

    result = encode_texture(png_texture(art, "sign"), "desktop")

    assert result.psnr_db == math.inf
    assert result.fallback_mime_type == "image/png"
    assert result.fallback_psnr_db == math.inf


def test_a_16_bit_grey_png_is_scaled_to_8_bit_not_clipped_to_white() -> None:
    ramp = (np.arange(256, dtype=np.uint16) * 257).reshape(1, 256).repeat(4, axis=0)
    buffer = io.BytesIO()
    Image.frombytes("I;16", (256, 4), ramp.tobytes()).save(buffer, "PNG")

    decoded = decode(Texture("height", buffer.getvalue(), "image/png"))

    assert decoded.mode == "RGB"
    assert np.asarray(decoded)[0, :, 0].tolist() == list(range(256))


# --- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [False, True])
def test_encoding_the_same_texture_twice_gives_identical_bytes(
    small_photo: NDArray[np.uint8], cutout: NDArray[np.uint8], alpha: bool
) -> None:
    texture = png_texture(cutout if alpha else small_photo)

    assert encode_texture(texture, "mobile") == encode_texture(texture, "mobile")


def test_outputs_carry_no_source_metadata(small_photo: NDArray[np.uint8]) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90°; UVs address stored pixels, so it is ignored
    data = encoded(small_photo, "JPEG", exif=exif.tobytes(), icc_profile=b"\0" * 128)

    result = encode_texture(Texture("facade", data, "image/jpeg"), "desktop")

    for output, size in ((result.webp, (384, 256)), (result.fallback, (192, 128))):
        image = open_image(output)
        assert image.size == size
        assert "exif" not in image.info
        assert "icc_profile" not in image.info


# --- hostile and bad input ---------------------------------------------------------------------


def refused(texture: Texture, profile: str = "desktop") -> MeshError:
    with pytest.raises(MeshError) as caught:
        encode_texture(texture, profile)
    assert texture.name in caught.value.message
    return caught.value


def png_bomb(side: int) -> bytes:
    """A complete, valid 1-bit PNG of side x side zero pixels, deflated to a small file."""
    compressor = zlib.compressobj(9)
    rows = (b"\x00" * (1 + (side + 7) // 8)) * 1000  # filter byte + packed row, 1000 rows
    idat = b"".join(compressor.compress(rows) for _ in range(side // 1000))
    idat += compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def test_a_png_decompression_bomb_is_refused_from_its_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = png_bomb(30000)
    # Pillow's own guard is global state another module may have switched off.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert len(bomb) < 200_000  # 900 megapixels in ~110 kB
    assert Image.open(io.BytesIO(bomb)).size == (30000, 30000)  # valid: Pillow would decode it

    error = refused(Texture("bomb", bomb, "image/png"))

    assert error.code == "texture_too_large"
    assert "30000x30000" in error.message


def test_a_webp_canvas_over_the_pixel_limit_is_refused() -> None:
    side = 8193  # 8193² > 64 Mi px; VP8X stores (size - 1) in 24 bits
    vp8x = bytes([0x10, 0, 0, 0]) + (side - 1).to_bytes(3, "little") * 2
    data = b"RIFF" + struct.pack("<I", 4 + 8 + len(vp8x)) + b"WEBP" + b"VP8X"
    data += struct.pack("<I", len(vp8x)) + vp8x

    assert side * side > MAX_SOURCE_PIXELS
    assert refused(Texture("huge", data, "image/webp")).code == "texture_too_large"


def test_a_png_whose_decoder_would_see_different_dimensions_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = encoded(np.zeros((10, 10, 3), np.uint8))
    # A second IHDR before the pixel data: Pillow takes the last one, 20000², our header
    # reader the first, 10². Decoding must not start on either belief.
    sneaky = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)

    error = refused(Texture("sneaky", small[:33] + sneaky + small[33:], "image/png"))

    assert error.code == "bad_texture"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("keep", [0.5, 0.9, 30])
def test_truncated_bytes_are_a_bad_texture(
    small_photo: NDArray[np.uint8], fmt: str, keep: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With this global set Pillow would pad a cut-off image with grey instead of failing.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = encoded(small_photo, fmt)
    cut = int(len(data) * keep) if keep < 1 else int(keep)  # 30 bytes: inside the header
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[fmt]

    error = refused(Texture("cut", data[:cut], mime))

    assert error.code == "bad_texture"
    assert "truncated" in error.message


def test_a_png_with_a_corrupted_byte_is_a_bad_texture(small_photo: NDArray[np.uint8]) -> None:
    data = bytearray(encoded(small_photo))
    data[len(data) // 2] ^= 0x55

    error = refused(Texture("rotten", bytes(data), "image/png"))

    assert error.code == "bad_texture"
    assert "checksum" in error.message


def test_a_jpeg_with_garbage_scan_data_is_a_bad_texture(small_photo: NDArray[np.uint8]) -> None:
    data = encoded(small_photo, "JPEG")
    sos = data.index(b"\xff\xda")
    garbage = data[: sos + 2] + b"\x00\x01" + data[sos + 4 :]  # SOS length 1: invalid

    error = refused(Texture("garbled", garbage, "image/jpeg"))

    assert error.code == "bad_texture"


@pytest.mark.parametrize(
    ("fmt", "mime"), [("GIF", "image/gif"), ("BMP", "image/bmp"), ("TIFF", "image/tiff")]
)
def test_formats_other_than_png_jpeg_and_webp_are_refused(
    small_photo: NDArray[np.uint8], fmt: str, mime: str
) -> None:
    data = encoded(small_photo, fmt)

    for claimed in (mime, "image/png"):  # lying about the type does not help
        error = refused(Texture("legacy", data, claimed))
        assert error.code == "unsupported_texture_format"
        assert f"a {fmt} image" in error.message


def test_bytes_that_are_not_an_image_are_refused() -> None:
    error = refused(Texture("notes", b"hello, this is not a picture", "image/png"))

    assert error.code == "unsupported_texture_format"


def test_a_mime_type_that_disagrees_with_the_bytes_is_refused(
    small_photo: NDArray[np.uint8],
) -> None:
    error = refused(Texture("liar", encoded(small_photo, "JPEG"), "image/png"))

    assert error.code == "texture_mime_mismatch"
    assert "image/jpeg" in error.message


def test_mime_types_compare_case_insensitively(small_photo: NDArray[np.uint8]) -> None:
    assert probe(Texture("shout", encoded(small_photo), " Image/PNG")) == ("PNG", 384, 256)


def test_empty_bytes_are_refused() -> None:
    assert refused(Texture("void", b"", "image/png")).code == "empty_texture"


def test_an_unknown_profile_is_refused(small_photo: NDArray[np.uint8]) -> None:
    error = refused(png_texture(small_photo, "facade"), profile="watch")

    assert error.code == "bad_profile"
    assert "watch" in error.message


@pytest.mark.parametrize(("webp_quality", "jpeg_quality"), [(101, 88), (85, 0), (-1, 88)])
def test_qualities_out_of_range_are_refused(
    small_photo: NDArray[np.uint8], webp_quality: int, jpeg_quality: int
) -> None:
    with pytest.raises(MeshError) as caught:
        encode_texture(
            png_texture(small_photo),
            "desktop",
            webp_quality=webp_quality,
            jpeg_quality=jpeg_quality,
        )

    assert caught.value.code == "bad_quality"


def test_probe_reads_dimensions_of_every_accepted_format(small_photo: NDArray[np.uint8]) -> None:
    rgba = with_alpha(small_photo)
    cases = [
        (encoded(small_photo, "PNG"), "image/png", "PNG"),
        (encoded(small_photo, "JPEG", progressive=True), "image/jpeg", "JPEG"),
        (encoded(small_photo, "WEBP"), "image/webp", "WEBP"),  # VP8
        (encoded(small_photo, "WEBP", lossless=True), "image/webp", "WEBP"),  # VP8L
        (encoded(rgba, "WEBP"), "image/webp", "WEBP"),  # VP8X (alpha)
    ]
    for data, mime, fmt in cases:
        assert probe(Texture("t", data, mime)) == (fmt, 384, 256)


# --- psnr ----------------------------------------------------------------------------------------


def test_psnr_of_identical_arrays_is_infinite() -> None:
    a = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)

    assert psnr_db(a, a.copy()) == math.inf


def test_psnr_of_arrays_one_level_apart_everywhere_is_20_log10_255() -> None:
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[::2] += 1
    b[1::2] -= 1  # |a - b| == 1 everywhere, both signs

    assert psnr_db(a, b) == pytest.approx(20 * math.log10(255), abs=1e-9)
    assert psnr_db(a, b) == pytest.approx(48.13, abs=0.01)


def test_psnr_does_not_wrap_around_in_uint8() -> None:
    a = np.zeros((2, 2), np.uint8)
    b = np.full((2, 2), 255, np.uint8)

    assert psnr_db(a, b) == pytest.approx(0.0)


def test_psnr_refuses_arrays_of_different_shape_or_type() -> None:
    with pytest.raises(ValueError, match="shape"):
        psnr_db(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        psnr_db(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint16))


@pytest.mark.parametrize(
    "shape",
    [
        (2047, 2048, 3),  # an odd number of rows: the last chunk is partial
        (769, 1001, 4),
        (5,),
        (1, 1),
        (3, 300_000),  # rows wider than a chunk
        (70_001, 1),  # more rows than a chunk's uint32 column sums may hold
    ],
)
def test_psnr_equals_the_straightforward_formula_exactly(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape) * 1000 + shape[0])
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a + rng.integers(-30, 31, shape), 0, 255).astype(np.uint8)
    b.flat[::7] = 255 - a.flat[::7]  # some errors up to the full 255

    squared = int(((a.astype(np.int64) - b.astype(np.int64)) ** 2).sum())
    expected = 10.0 * math.log10(255.0 * 255.0 / (float(squared) / a.size))

    assert textures._squared_error_sum(a, b) == squared
    assert psnr_db(a, b) == expected  # bit for bit, not approximately


def test_psnr_column_sums_do_not_overflow_at_the_largest_error() -> None:
    a = np.zeros((70_001, 1), np.uint8)  # over 2**16 rows in one column, each 255 apart
    b = np.full((70_001, 1), 255, np.uint8)

    assert textures._squared_error_sum(a, b) == 70_001 * 255**2
    assert psnr_db(a, b) == 0.0
