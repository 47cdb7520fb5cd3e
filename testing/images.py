"""Small real files for tests and bench/: images Pillow makes, an SVG with a script, junk."""

from __future__ import annotations

import io

from PIL import Image

SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert('svg')</script><rect width='10' height='10'/></svg>"
)


def image_bytes(
    width: int = 32,
    height: int = 24,
    color: tuple[int, int, int] = (200, 30, 30),
    kind: str = "PNG",
    **save: object,
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, kind, **save)
    return out.getvalue()


def png(width: int = 32, height: int = 24, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    return image_bytes(width, height, color, "PNG")


def jpeg(width: int = 32, height: int = 24, quality: int = 90) -> bytes:
    return image_bytes(width, height, (30, 120, 200), "JPEG", quality=quality)


def photo(width: int = 4000, height: int = 3000, quality: int = 95) -> bytes:
    """A photo-like JPEG (noise compresses badly, as photos do): about 1 byte a pixel."""
    noise = Image.effect_noise((width, height), 80).convert("RGB")
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=quality)
    return out.getvalue()


def animated_gif(width: int = 20, height: int = 20) -> bytes:
    frames = [Image.new("RGB", (width, height), c) for c in ((0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size


def color_of(data: bytes) -> tuple[int, ...]:
    with Image.open(io.BytesIO(data)) as im:
        pixel = im.convert("RGB").getpixel((0, 0))
        assert isinstance(pixel, tuple)
        return pixel
