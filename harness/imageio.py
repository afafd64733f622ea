"""Image I/O below every stage: read a file's identity (sha256 of its
bytes, `sha256_file`) and turn an image file (or bytes, or an array) into an
8-bit RGB numpy array (`load_rgb`). Datasets, hashers, the engine and the
report all read images through this module; it imports nothing of the
harness but `harness.errors`.

One documented conversion, identical for every hasher:

1. Pillow opens the file; the declared size is checked against `max_pixels`
   before any pixel is decoded (decompression bombs are refused). Pillow's
   own bomb check is kept consistent with it: ``Image.MAX_IMAGE_PIXELS`` is
   set to `max_pixels` for the call, so Pillow (which warns above
   MAX_IMAGE_PIXELS and refuses above twice it) never refuses an image that
   `max_pixels` allows; its refusal reads as a `max_pixels` refusal too.
2. The first frame is used for animated formats (GIF, APNG, WebP).
3. EXIF orientation is applied once (`ImageOps.exif_transpose`).
4. Mode conversion to RGB:
   - ``RGB`` as is; ``L``/``1``/``P`` without transparency -> ``RGB`` by
     Pillow's ``convert("RGB")``;
   - ``I;16``/``I``/``F`` (16-bit or float greyscale) -> scaled to 8 bits by
     taking the top 8 bits of 16-bit data (value >> 8), then grey -> RGB;
   - any mode with transparency (``RGBA``, ``LA``, ``P`` with a transparent
     index, ``PA``) -> composited onto a white background;
   - ``CMYK``/``YCbCr``/``LAB`` -> Pillow's ``convert("RGB")``.
5. The result is a C-contiguous ``uint8`` array of shape (height, width, 3).

Opt-in reduced-size decoding (``fast_decode=N``, N >= 1; default 0 = off):
for JPEG files only, Pillow's ``draft`` asks libjpeg to decode at the
largest DCT scale 1/2, 1/4 or 1/8 that keeps both sides >= N pixels (N = 1:
up to 1/8). Much faster for large photos, but the pixels (hence hashes)
differ from the exact decode: a different hasher identity, see
harness.hashers. Other formats decode exactly.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DecodeError


def sha256_file(path: str, chunk: int = 1 << 20) -> tuple[str, int]:
    """sha256 hex digest and size in bytes of a file (the image identity).

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as fh:
    ...     _ = fh.write(b"abc")
    >>> sha256_file(fh.name)
    ('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 3)
    >>> os.remove(fh.name)
    """
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


#: default limit: 2 GB of decoded RGB (3 bytes per pixel)
DEFAULT_MAX_PIXELS = (2 * 1024**3) // 3

ImageSource = str | os.PathLike | bytes | np.ndarray | Image.Image


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img)
        if mode == "F":
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        elif mode == "I":
            # 32-bit integer images from 16-bit PNGs hold 0..65535
            arr = (np.clip(arr, 0, 65535) >> 8).astype(np.uint8)
        else:
            arr = (arr.astype(np.uint32) >> 8).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if mode == "RGB":
        return img
    return img.convert("RGB")


def pil_to_rgb_array(img: Image.Image) -> np.ndarray:
    """Apply steps 3-5 of the module conversion to an open Pillow image."""
    img = ImageOps.exif_transpose(img)
    rgb = _to_rgb(img)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _apply_fast_decode(img: Image.Image, fast_decode: int) -> None:
    """Reduced-size JPEG decoding (see module docstring); no-op otherwise."""
    if fast_decode and img.format == "JPEG":
        img.draft(None, (int(fast_decode), int(fast_decode)))


def _sync_pillow_limit(max_pixels: int) -> None:
    """Set Pillow's process-wide bomb limit to `max_pixels` (see step 1).

    Pillow's check also runs inside plugins this module cannot see (GIF
    frames, TIFF tiles), so it stays on rather than being disabled."""
    if Image.MAX_IMAGE_PIXELS != max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _bomb_reason(exc: Exception, max_pixels: int) -> str:
    found = re.search(r"\((\d+) pixels\)", str(exc))
    declared = f"declared {found.group(1)} pixels" if found else "declared size"
    return (f"too many pixels: {declared} > max_pixels {max_pixels} "
            "(decompression bomb refused by Pillow before decoding)")


def _opened_to_rgb(img: Image.Image, as_image: bool):
    """Steps 3-5 for an image `load_rgb` opened itself (so it may be changed in
    place: no full-size copy when there is no EXIF orientation). `as_image`
    returns the RGB Pillow image instead of the array (same pixels)."""
    ImageOps.exif_transpose(img, in_place=True)
    rgb = _to_rgb(img)
    return rgb if as_image else np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def load_rgb(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS, fast_decode: int = 0,
             as_image: bool = False) -> np.ndarray:
    """Decode `source` to an (h, w, 3) uint8 RGB array, or raise DecodeError.

    `source` may be a path, raw bytes, a Pillow image or an array
    ((h, w), (h, w, 3) or (h, w, 4) uint8; RGBA is composited on white).
    `fast_decode`: see the module docstring. `as_image=True` (files and bytes
    only) returns the converted ``RGB`` Pillow image instead of the array.
    """
    if isinstance(source, np.ndarray):
        return array_to_rgb(source)
    if isinstance(source, Image.Image):
        return pil_to_rgb_array(source)
    try:
        if isinstance(source, (bytes, bytearray)):
            fh = io.BytesIO(source)
        else:
            fh = _open_regular_file(os.fspath(source))
    except FileNotFoundError:
        raise DecodeError("file not found (it may have been removed after listing)") from None
    except PermissionError:
        raise DecodeError("permission denied") from None
    except IsADirectoryError:
        raise DecodeError("is a directory, not an image file") from None
    _sync_pillow_limit(max_pixels)
    try:
        with fh, warnings.catch_warnings():
            # Pillow warns about sizes above max_pixels: those are refused below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                with Image.open(fh) as img:
                    w, h = img.size
                    if w < 1 or h < 1:
                        raise DecodeError(f"empty image ({w}x{h})")
                    if w * h > max_pixels:
                        raise DecodeError(
                            f"too many pixels: {w}x{h} = {w * h} > max_pixels {max_pixels}"
                        )
                    # Image.open leaves an animated image on its first frame;
                    # asking for n_frames would parse (and trust) every later frame
                    _apply_fast_decode(img, fast_decode)
                    img.load()
                    return _opened_to_rgb(img, as_image)
            except Image.DecompressionBombError as exc:
                raise DecodeError(_bomb_reason(exc, max_pixels)) from None
            except UnidentifiedImageError:
                size = _size_of(fh)
                if size == 0:
                    raise DecodeError("empty file (0 bytes)") from None
                raise DecodeError("not a recognised image format") from None
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise DecodeError(f"corrupt or truncated image: {exc}") from None
            except MemoryError:
                raise
            except Exception as exc:  # Pillow plugins also raise IndexError, struct.error, ...
                raise DecodeError(f"corrupt image ({type(exc).__name__}: {exc})") from None
    except DecodeError:
        raise
    except MemoryError:
        raise DecodeError("out of memory while decoding") from None


def _open_regular_file(path) -> io.BufferedReader:
    """Open a regular file for reading. O_NONBLOCK so that a FIFO named like
    an image cannot block the reader; anything but a regular file is refused."""
    if os.path.isdir(path):
        raise DecodeError("is a directory, not an image file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DecodeError("not a regular file (FIFO, socket or device)")
    return os.fdopen(fd, "rb")


def _size_of(fh) -> int:
    try:
        return fh.seek(0, io.SEEK_END)
    except Exception:
        return -1


def array_to_rgb(arr: np.ndarray) -> np.ndarray:
    """Validate and convert a numpy image to (h, w, 3) uint8 RGB."""
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        raise DecodeError(f"array dtype must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        return pil_to_rgb_array(Image.fromarray(arr, mode="RGBA"))
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise DecodeError(f"array must have shape (h, w), (h, w, 3) or (h, w, 4), got {arr.shape}")
    return np.ascontiguousarray(arr)
