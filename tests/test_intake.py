"""Image intake: any upload becomes RGB uint8 at processing size, or a TryOnError that says what to do."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import EVAL_DIR
from PIL import Image

from tryon.errors import TryOnError
from tryon.stages.intake import load_image

# Words that tell the user what to do; every error message must contain one.
FIX_WORDS = ("upload", "use a photo", "resize", "save it again", "check the path", "pass a")
EXIF_ORIENTATION = 0x0112
ROTATE_90_CW = 6  # EXIF orientation: the stored image must be turned 90 degrees clockwise to view


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` RGB pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(
        b"IEND", b""
    )


def refused(source: object, match: str, **options: object) -> str:
    with pytest.raises(TryOnError, match=match) as info:
        load_image(source, **options)
    message = str(info.value)
    assert any(word in message for word in FIX_WORDS), f"no advice in: {message}"
    return message


def assert_rgb(array: np.ndarray, size: tuple[int, int]) -> None:
    assert array.dtype == np.uint8 and array.shape == (size[1], size[0], 3)
    assert array.flags.c_contiguous and array.flags.writeable


# --- bad inputs -----------------------------------------------------------------------------


def test_text_bytes_are_not_an_image() -> None:
    refused(b"name,price\nshirt,20\n", "not an image")


def test_empty_upload_is_not_an_image() -> None:
    refused(b"", "not an image")


def test_nothing_given_asks_for_an_upload() -> None:
    refused(None, "No person photo", what="person photo")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    message = refused(tmp_path / "nope.jpg", "does not exist")
    assert "nope.jpg" in message


def test_truncated_jpeg_is_reported_as_damaged() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "JPEG", quality=90)
    refused(data[: len(data) // 2], "truncated or damaged")


def test_decompression_bomb_header_is_refused_before_decoding() -> None:
    # 10000 x 5000 = 50 MP: above the app's 40 MP limit, below Pillow's own bomb limit.
    message = refused(png_declaring(10_000, 5_000), "more than the 40 MP")
    assert "10000x5000" in message
    # 100000 x 100000: far beyond Pillow's limit, refused too.
    refused(png_declaring(100_000, 100_000), "too large|more than")


def test_max_pixels_option_lowers_the_limit() -> None:
    data = encode(Image.new("RGB", (400, 300)), "PNG")
    refused(data, "more than the 0.1 MP", max_pixels=100_000)
    assert load_image(data, max_pixels=120_000).shape == (300, 400, 3)


@pytest.mark.parametrize("size", [(100, 300), (300, 127), (64, 64)])
def test_tiny_images_are_refused(size: tuple[int, int]) -> None:
    message = refused(encode(Image.new("RGB", size), "PNG"), "only")
    assert f"{size[0]}x{size[1]}" in message


def test_array_with_two_channels_is_refused() -> None:
    refused(np.zeros((200, 300, 2), np.uint8), "shape")


# --- colour modes ---------------------------------------------------------------------------


def test_transparent_rgba_becomes_white_and_opaque_pixels_stay() -> None:
    rgba = np.zeros((200, 200, 4), np.uint8)
    rgba[:, :100] = (200, 30, 30, 255)  # opaque red on the left, fully transparent on the right
    rgb = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert_rgb(rgb, (200, 200))
    assert (rgb[:, :100] == (200, 30, 30)).all()
    assert (rgb[:, 100:] == 255).all()


def test_half_transparent_pixels_blend_with_white() -> None:
    rgba = Image.new("RGBA", (200, 200), (0, 0, 0, 128))
    rgb = load_image(encode(rgba, "PNG"))
    assert np.all(np.abs(rgb.astype(int) - 127) <= 2)


def test_palette_image_with_transparency() -> None:
    palette = Image.new("RGB", (200, 200), (0, 0, 255)).convert("P")
    assert_rgb(load_image(encode(palette, "PNG")), (200, 200))
    assert (load_image(encode(palette, "PNG")) == (0, 0, 255)).all()
    transparent = Image.new("RGBA", (200, 200), (0, 0, 255, 0)).convert("P")
    assert (load_image(encode(transparent, "PNG")) == 255).all()


def test_grey_with_alpha_and_plain_grey() -> None:
    la = Image.new("LA", (200, 200), (50, 255))
    assert (load_image(encode(la, "PNG")) == 50).all()
    assert (load_image(encode(Image.new("LA", (200, 200), (50, 0)), "PNG")) == 255).all()
    grey = load_image(encode(Image.new("L", (200, 200), 77), "PNG"))
    assert_rgb(grey, (200, 200))
    assert (grey == 77).all()


def test_cmyk_jpeg_becomes_rgb() -> None:
    cyan = Image.new("CMYK", (200, 200), (255, 0, 0, 0))
    rgb = load_image(encode(cyan, "JPEG", quality=95)).astype(int)
    assert_rgb(rgb.astype(np.uint8), (200, 200))
    red, green, blue = rgb.reshape(-1, 3).mean(axis=0)
    assert red < 40 and green > 200 and blue > 200


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (200, 1))
    image = Image.fromarray(ramp)
    assert image.mode.startswith("I")
    rgb = load_image(encode(image, "PNG"))
    assert_rgb(rgb, (256, 200))
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255
    assert 120 <= rgb[0, 128, 0] <= 135  # mid-grey stays mid-grey


# --- orientation and size -------------------------------------------------------------------


def test_exif_rotated_jpeg_is_turned_upright() -> None:
    # Stored 300 wide x 200 tall: red top half, blue bottom half; EXIF says "turn 90 degrees clockwise".
    stored = np.zeros((200, 300, 3), np.uint8)
    stored[:100] = (220, 0, 0)
    stored[100:] = (0, 0, 220)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90_CW
    data = encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())
    rgb = load_image(data).astype(int)
    assert rgb.shape == (300, 200, 3)  # transposed size
    # Turned clockwise, the stored top (red) is now on the right, the bottom (blue) on the left.
    assert rgb[:, 120:, 0].mean() > 180 and rgb[:, 120:, 2].mean() < 40
    assert rgb[:, :80, 2].mean() > 180 and rgb[:, :80, 0].mean() < 40


def test_huge_image_is_downscaled_to_the_processing_size() -> None:
    image = Image.new("RGB", (3000, 2000), (10, 120, 230))
    rgb = load_image(encode(image, "PNG"))
    assert_rgb(rgb, (1024, 683))
    assert (rgb == (10, 120, 230)).all()
    assert max(load_image(encode(image, "PNG"), max_side=512).shape) == 512


def test_processing_size_photo_is_untouched() -> None:
    path = EVAL_DIR / "person" / "vitonhd_00034_00.jpg"
    rgb = load_image(path)
    assert_rgb(rgb, (768, 1024))
    assert np.array_equal(rgb, np.asarray(Image.open(path).convert("RGB")))


def test_paths_bytes_files_and_pil_images_agree() -> None:
    path = EVAL_DIR / "person" / "vitonhd_00034_00.jpg"
    reference = load_image(path)
    data = path.read_bytes()
    for source in (str(path), data, io.BytesIO(data), Image.open(io.BytesIO(data))):
        assert np.array_equal(load_image(source), reference)


# --- numpy inputs ---------------------------------------------------------------------------


def test_float_arrays_in_unit_range_and_in_byte_range() -> None:
    unit = np.full((200, 300, 3), 0.5)
    assert (load_image(unit) == 128).all()
    bytes_scale = np.full((200, 300, 3), 200.0, np.float32)
    assert (load_image(bytes_scale) == 200).all()
    with_nan = unit.copy()
    with_nan[0, 0] = np.nan
    assert load_image(with_nan)[0, 0].tolist() == [0, 0, 0]


def test_uint16_array_keeps_its_high_byte() -> None:
    array = np.full((200, 300, 3), 0x80FF, np.uint16)
    assert (load_image(array) == 0x80).all()


def test_grey_and_single_channel_arrays_become_rgb() -> None:
    for array in (np.full((200, 300), 9, np.uint8), np.full((200, 300, 1), 9, np.uint8)):
        rgb = load_image(array)
        assert_rgb(rgb, (300, 200))
        assert (rgb == 9).all()


def test_rgba_array_is_composited_on_white() -> None:
    array = np.zeros((200, 300, 4), np.uint8)
    array[..., 0] = 255
    array[:, :150, 3] = 255
    rgb = load_image(array)
    assert (rgb[:, :150] == (255, 0, 0)).all() and (rgb[:, 150:] == 255).all()


def test_loaded_array_is_a_copy() -> None:
    array = np.full((200, 300, 3), 40, np.uint8)
    rgb = load_image(array)
    rgb[:] = 0
    assert (array == 40).all()
