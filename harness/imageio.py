"""Image I/O below every stage: read a file's identity (sha256 of its
bytes, `sha256_file`) and turn an image file (or bytes, or an array) into an
8-bit RGB numpy array (`load_rgb`). Datasets, hashers, the engine and the
report all read images through this module; it imports nothing of the
harness but `harness.errors`.

The same steps for every hasher, except the mode conversion of step 4,
which follows the hasher's reference tool (``convert``, see below):

1. Pillow opens the file; the declared size is checked against `max_pixels`
   before any pixel is decoded (decompression bombs are refused). Pillow's
   own bomb check is kept consistent with it: ``Image.MAX_IMAGE_PIXELS`` is
   set to `max_pixels` for the call, so Pillow (which warns above
   MAX_IMAGE_PIXELS and refuses above twice it) never refuses an image that
   `max_pixels` allows; its refusal reads as a `max_pixels` refusal too.
2. The first frame is used for animated formats (GIF, APNG, WebP).
3. EXIF orientation is applied once (`ImageOps.exif_transpose`), for every
   hasher: photos are hashed upright. ``cv2.imread`` does the same; imagehash
   and PDQ called on ``Image.open(path)`` do not, so for a file whose EXIF
   orientation is not 1 (none in Caltech-101 or Kodak24) the harness's
   imagehash and PDQ hashes are those of the upright photo, not the
   reference call's on the stored pixels.
4. Mode conversion to RGB, one of three ``convert`` modes:
   - ``"pillow"`` (the default; imagehash's and PDQ's reference): Pillow's
     own ``convert("RGB")`` of the opened image, as the reference tools do
     with ``Image.open(path)``: alpha is dropped (the colour under a
     transparent pixel is kept), a palette's transparent index keeps its
     palette colour, 16-bit and 32-bit greyscale (``I;16``, ``I``) are
     clipped to 0..255 (not scaled: Pillow's conversion), ``F`` clipped and
     truncated, ``CMYK``/``YCbCr``/``LAB`` by Pillow's formulas. imagehash
     calls ``convert("L")``/``convert("HSV")`` on the opened image; for
     every mode above that equals converting this RGB result (tests check
     it bit for bit on RGBA, LA, palette-with-transparency and 16-bit
     files);
   - ``"opencv"`` (the OpenCV img_hash hashers' reference, ``cv2.imread``
     with IMREAD_COLOR): alpha dropped as above; ``I;16``/``I`` keep their
     top 8 bits (value >> 8, as libpng's strip-16 in ``cv2.imread``); ``F``
     clipped; other modes as ``"pillow"`` (CMYK JPEGs: Pillow's formula,
     which differs from OpenCV's libjpeg conversion by at most 1 level);
   - ``"composite_white"`` (opt-in, the harness's conversion before
     reference decoding): any mode with transparency (``RGBA``, ``LA``,
     ``P`` with a transparent index, ``PA``) composited onto a white
     background; 16-bit greyscale by its top 8 bits as ``"opencv"``.
   For a file without transparency or 16/32-bit samples (every photo of
   Caltech-101 and Kodak24) the three modes give the same pixels;
   `load_rgb_modes` decodes such a file once for all of them.
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


#: the mode conversions of step 4 (module docstring)
CONVERSIONS = ("pillow", "opencv", "composite_white")
#: greyscale modes with more than 8 bits per sample
_DEEP_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)


def _check_convert(convert: str) -> None:
    if convert not in CONVERSIONS:
        raise ValueError(f"convert must be one of {', '.join(CONVERSIONS)} (got {convert!r})")


def conversion_of(img: Image.Image, convert: str) -> str:
    """The conversion `convert` actually applies to an image of this mode:
    ``"composite"`` (alpha composited on white), ``"top8"`` (16/32-bit grey
    by its top 8 bits), ``"clip"`` (Pillow's clipping conversion of deep
    greyscale) or ``"plain"`` (Pillow's ``convert("RGB")``, or the image as
    is when it is RGB). Two modes with the same value give the same pixels.

    >>> from PIL import Image
    >>> rgba = Image.new("RGBA", (2, 2))
    >>> [conversion_of(rgba, c) for c in CONVERSIONS]
    ['plain', 'plain', 'composite']
    >>> [conversion_of(Image.new("RGB", (2, 2)), c) for c in CONVERSIONS]
    ['plain', 'plain', 'plain']
    """
    _check_convert(convert)
    if convert == "composite_white" and _has_alpha(img):
        return "composite"
    if img.mode in _DEEP_MODES:
        return "clip" if convert == "pillow" else "top8"
    return "plain"


def _to_rgb(img: Image.Image, convert: str = "pillow") -> Image.Image:
    how = conversion_of(img, convert)
    if how == "composite":
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if how == "top8":
        arr = np.asarray(img)
        if img.mode == "F":
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        elif img.mode == "I":
            # 32-bit integer images from 16-bit PNGs hold 0..65535
            arr = (np.clip(arr, 0, 65535) >> 8).astype(np.uint8)
        else:
            arr = (arr.astype(np.uint32) >> 8).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if img.mode == "RGB":
        return img
    with warnings.catch_warnings():
        # "Palette images with Transparency expressed in bytes should be converted
        # to RGBA images": the reference tools convert such files to RGB too
        warnings.simplefilter("ignore", UserWarning)
        return img.convert("RGB")


def pil_to_rgb_array(img: Image.Image, convert: str = "pillow") -> np.ndarray:
    """Apply steps 3-5 of the module conversion to an open Pillow image."""
    img = ImageOps.exif_transpose(img)
    rgb = _to_rgb(img, convert)
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
    return (
        f"too many pixels: {declared} > max_pixels {max_pixels} (decompression bomb refused by Pillow before decoding)"
    )


def _opened_to_rgb(img: Image.Image, as_image: bool, converts=("pillow",)):
    """Steps 3-5 for an image `load_rgb` opened itself (so it may be changed in
    place: no full-size copy when there is no EXIF orientation). `as_image`
    returns the RGB Pillow image instead of the array (same pixels). With
    several `converts`, a dict {convert: result}, one object per distinct
    `conversion_of` (converting once where the modes agree)."""
    ImageOps.exif_transpose(img, in_place=True)
    done, out = {}, {}
    for convert in converts:
        how = conversion_of(img, convert)
        if how not in done:
            rgb = _to_rgb(img, convert)
            done[how] = rgb if as_image else np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
        out[convert] = done[how]
    return out


def load_rgb(
    source: ImageSource,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    fast_decode: int = 0,
    as_image: bool = False,
    convert: str = "pillow",
) -> np.ndarray:
    """Decode `source` to an (h, w, 3) uint8 RGB array, or raise DecodeError.

    `source` may be a path, raw bytes, a Pillow image or an array
    ((h, w), (h, w, 3) or (h, w, 4) uint8; RGBA goes through `convert`).
    `fast_decode`, `convert`: see the module docstring. `as_image=True`
    (files and bytes only) returns the converted ``RGB`` Pillow image
    instead of the array.
    """
    return load_rgb_modes(source, (convert,), max_pixels, fast_decode, as_image)[convert]


def load_rgb_modes(
    source: ImageSource,
    converts=("pillow",),
    max_pixels: int = DEFAULT_MAX_PIXELS,
    fast_decode: int = 0,
    as_image: bool = False,
) -> dict:
    """`load_rgb` for several `convert` modes at once: ``{convert: array}``.
    The file is read and decoded once; modes that give the same pixels for
    this image (`conversion_of`) share one array object, so a caller can
    make transform variants once per distinct array."""
    converts = tuple(dict.fromkeys(converts))
    for convert in converts:
        _check_convert(convert)
    if isinstance(source, np.ndarray):
        return {c: array_to_rgb(source, c) for c in converts}
    if isinstance(source, Image.Image):
        return {c: pil_to_rgb_array(source, c) for c in converts}
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
                        raise DecodeError(f"too many pixels: {w}x{h} = {w * h} > max_pixels {max_pixels}")
                    # Image.open leaves an animated image on its first frame;
                    # asking for n_frames would parse (and trust) every later frame
                    _apply_fast_decode(img, fast_decode)
                    img.load()
                    return _opened_to_rgb(img, as_image, converts)
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


def array_to_rgb(arr: np.ndarray, convert: str = "pillow") -> np.ndarray:
    """Validate and convert a numpy image to (h, w, 3) uint8 RGB (an (h, w, 4)
    array is RGBA: its alpha is dropped, or composited on white with
    ``convert="composite_white"``)."""
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        raise DecodeError(f"array dtype must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        return pil_to_rgb_array(Image.fromarray(arr, mode="RGBA"), convert)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise DecodeError(f"array must have shape (h, w), (h, w, 3) or (h, w, 4), got {arr.shape}")
    return np.ascontiguousarray(arr)
