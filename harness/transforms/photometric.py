"""Photometric families (pixel values change, geometry kept): blur,
motion-blur, noise, salt-pepper, brightness, contrast, gamma, saturation,
hue, greyscale, colour-jitter, sharpen, median.

All are albumentations 2.0.8 transforms built with ``strict=True, p=1``;
randomness (noise, motion direction, jitter factors) comes from the
variant seed through ``A.Compose(seed=...)``.
"""

from __future__ import annotations

import albumentations as A

from .base import Family, alb, int_range, no_shape, num_range, one_of, register_family

GREY_METHODS = ("weighted_average", "from_lab", "desaturation", "average", "max", "pca")


def _blur(sigma, params, shape):
    """Gaussian blur, standard deviation `sigma` in pixels; kernel size
    chosen by albumentations from sigma (blur_limit=0)."""
    s = float(sigma)
    return alb(A.GaussianBlur, sigma_limit=(s, s), blur_limit=0)


def _motion_blur(length, params, shape):
    """Linear motion blur over `length` pixels (odd), centred kernel, at a
    direction drawn from the variant seed."""
    k = int(length)
    return alb(A.MotionBlur, blur_limit=(k, k), allow_shifted=False, angle_range=(0, 360), direction_range=(0.0, 0.0))


def _noise(sigma, params, shape):
    """Additive gaussian noise, per channel, standard deviation `sigma` in
    8-bit grey levels, clipped to 0..255."""
    s = float(sigma) / 255.0
    return alb(A.GaussNoise, std_range=(s, s), mean_range=(0.0, 0.0), per_channel=True)


def _salt_pepper(amount, params, shape):
    """Fraction `amount` of the pixels set to white or black (half each)."""
    a = float(amount)
    return alb(A.SaltAndPepper, amount=(a, a), salt_vs_pepper=(0.5, 0.5))


def _brightness(b, params, shape):
    """Add b*255 to every channel (clipped)."""
    b = float(b)
    return alb(A.RandomBrightnessContrast, brightness_limit=(b, b), contrast_limit=(0.0, 0.0), brightness_by_max=True)


def _jitter(brightness=1.0, contrast=1.0, saturation=1.0, hue=0.0):
    return alb(
        A.ColorJitter,
        brightness=(brightness, brightness),
        contrast=(contrast, contrast),
        saturation=(saturation, saturation),
        hue=(hue, hue),
    )


def _contrast(c, params, shape):
    """Blend with the mean grey level: out = mean + c*(in - mean)
    (torchvision convention, albumentations ColorJitter)."""
    return _jitter(contrast=float(c))


def _gamma(g, params, shape):
    """out = 255*(in/255)**g (g > 1 darkens the mid-tones)."""
    g = float(g) * 100
    return alb(A.RandomGamma, gamma_limit=(g, g))


def _saturation(s, params, shape):
    """Blend with the greyscale image: s = 0 grey, 1 unchanged, > 1 more vivid."""
    return _jitter(saturation=float(s))


def _hue(deg, params, shape):
    """Rotate the hue by `deg` degrees (8-bit images use OpenCV's hue in
    2-degree steps, so the shift is rounded down to a multiple of 2)."""
    return _jitter(hue=float(deg) / 360.0)


def _greyscale(method, params, shape):
    """Convert to grey (three equal channels) with albumentations ToGray
    `method` (weighted_average = ITU-R BT.601 luma)."""
    return alb(A.ToGray, method=method, num_output_channels=3)


def _colour_jitter(s, params, shape):
    """Brightness, contrast and saturation factors each 1+s or 1-s and a hue
    shift of +36*s or -36*s degrees: the 16 sign patterns are an
    albumentations OneOf, so the pattern (and ColorJitter's random order
    of the four operations) comes from the variant seed while the strength
    is exactly s."""
    s = float(s)
    options = [
        _jitter(1 + a * s, 1 + b * s, 1 + c * s, d * s / 10)
        for a in (1, -1)
        for b in (1, -1)
        for c in (1, -1)
        for d in (1, -1)
    ]
    return A.OneOf(options, p=1)


def _sharpen(alpha, params, shape):
    """Unsharp 3x3 kernel blended with the photo: alpha 0 = unchanged, 1 =
    fully sharpened (lightness 1)."""
    a = float(alpha)
    return alb(A.Sharpen, alpha=(a, a), lightness=(1.0, 1.0), method="kernel")


def _median(k, params, shape):
    """Median filter over a k x k window (k odd)."""
    k = int(k)
    return alb(A.MedianBlur, blur_limit=(k, k))


for _family in (
    Family(
        "blur",
        "gaussian blur sigma in pixels",
        (0.5, 1, 2, 4),
        num_range(0, 50, what="a sigma in pixels"),
        _blur,
        group="photometric",
        shape_key=no_shape,
    ),
    Family(
        "motion-blur",
        "motion blur length in pixels (odd), random direction",
        (5, 9, 15, 25),
        int_range(3, 101, odd=True),
        _motion_blur,
        group="photometric",
        shape_key=no_shape,
    ),
    Family(
        "noise",
        "gaussian noise standard deviation in grey levels (0-255 scale)",
        (2, 5, 10, 20),
        num_range(0, 255, what="a standard deviation"),
        _noise,
        group="photometric",
        shape_key=no_shape,
    ),
    Family(
        "salt-pepper",
        "fraction of pixels set to black or white",
        (0.001, 0.005, 0.02, 0.05),
        num_range(0, 1, what="a fraction"),
        _salt_pepper,
        group="photometric",
        shape_key=no_shape,
    ),
    Family(
        "brightness",
        "brightness shift as a fraction of 255 (negative darkens)",
        (0.05, 0.1, 0.2, 0.3),
        num_range(-1, 1, True, True, "a fraction"),
        _brightness,
        group="photometric",
        shape_key=no_shape,
    ),
    Family(
        "contrast",
        "contrast factor around the mean grey (1 = unchanged)",
        (1.25, 1.5, 2, 3),
        num_range(0, 10, True, True, "a factor"),
        _contrast,
        group="photometric",
        shape_key=no_shape,
    ),
    Family(
        "gamma",
        "gamma exponent (1 = unchanged, > 1 darker mid-tones)",
        (1.25, 1.5, 2, 3),
        num_range(0, 10, what="an exponent"),
        _gamma,
        group="photometric",
        shape_key=no_shape,
    ),
    Family(
        "saturation",
        "saturation factor (0 = grey, 1 = unchanged)",
        (1.25, 1.5, 2, 3),
        num_range(0, 10, True, True, "a factor"),
        _saturation,
        group="photometric",
        shape_key=no_shape,
    ),
    Family(
        "hue",
        "hue rotation in degrees (2-degree steps)",
        (10, 20, 45, 90),
        num_range(-180, 180, True, True, "degrees"),
        _hue,
        group="photometric",
        shape_key=no_shape,
    ),
    Family(
        "greyscale",
        "conversion method (albumentations ToGray)",
        ("weighted_average",),
        one_of(*GREY_METHODS),
        _greyscale,
        group="photometric",
        shape_key=no_shape,
    ),
    Family(
        "colour-jitter",
        "colour jitter strength s: brightness, contrast, saturation x(1+-s), hue +-36*s deg, random signs",
        (0.1, 0.2, 0.3, 0.5),
        num_range(0, 1, what="a strength", hi_inclusive=False),
        _colour_jitter,
        group="photometric",
        shape_key=no_shape,
    ),
    Family(
        "sharpen",
        "sharpening strength alpha (0 = unchanged, 1 = full kernel)",
        (0.25, 0.5, 1),
        num_range(0, 1, what="an alpha"),
        _sharpen,
        group="photometric",
        shape_key=no_shape,
    ),
    Family(
        "median",
        "median filter window size in pixels (odd)",
        (3, 5, 7, 9),
        int_range(3, 99, odd=True),
        _median,
        group="photometric",
        shape_key=no_shape,
    ),
):
    register_family(_family)
