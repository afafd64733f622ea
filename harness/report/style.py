"""Figure style shared by every report figure: one fixed colour per hasher,
print-friendly matplotlib settings, and reproducible PNG (and SVG) output.

Colours come from a fixed table keyed by hasher name (Okabe-Ito palette, safe
for colour-blind readers and distinguishable in greyscale print by line
style); a hasher not in the table gets a colour from a second palette chosen
by a stable digest of its name, so the same hasher has the same colour in
every figure and every run.
"""

from __future__ import annotations

import hashlib

import matplotlib
from matplotlib.figure import Figure

#: fixed colours for the hashers the harness ships
HASHER_COLOURS = {
    "ahash": "#E69F00",  # orange
    "phash": "#0072B2",  # blue
    "dhash": "#009E73",  # bluish green
    "whash": "#CC79A7",  # reddish purple
    "pdq": "#D55E00",  # vermillion
    "neuralhash": "#000000",  # black
    "colormoment": "#56B4E9",  # sky blue
    "marrhildreth": "#8C564B",  # brown
    "radialvariance": "#7F7F7F",  # grey
    "blockmean": "#BCBD22",  # olive
    "crop_resistant": "#17BECF",  # cyan
}
_FALLBACK = [
    "#1F77B4",
    "#FF7F0E",
    "#2CA02C",
    "#D62728",
    "#9467BD",
    "#8C564B",
    "#E377C2",
    "#7F7F7F",
    "#BCBD22",
    "#17BECF",
    "#393B79",
    "#637939",
    "#8C6D31",
    "#843C39",
]
_FALLBACK = [c for c in _FALLBACK if c.upper() not in {v.upper() for v in HASHER_COLOURS.values()}]
LINESTYLES = ["-", "--", "-.", ":"]

#: rcParams applied to every report figure (readable when printed at A4 width)
RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "phash-harness",  # fixed ids in SVG output
    "svg.fonttype": "none",  # text stays text: smaller, faster, searchable
    "path.simplify": False,
}
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
#: resolution of PNG figures (dots per inch)...
DPI = 100
#: ... lowered for figures wider than this many pixels, down to MIN_DPI: the
#: page is at most 68rem (about 1100 px) wide, so more pixels only add bytes
MAX_PNG_WIDTH = 1100
MIN_DPI = 72
#: PNG figures are stored with an adaptive palette of at most this many
#: colours (plots have few colours; anti-aliased edges map to the nearest)
PNG_COLOURS = 256


def hasher_colour(name: str) -> str:
    """Fixed colour of a hasher (by name, case-insensitive). Names not in
    HASHER_COLOURS (including parameterised variants such as
    ``phash-16``) get a fallback colour picked by a sha256 of the name, so
    they are stable across runs and never silently share a listed colour."""
    key = str(name).lower()
    if key in HASHER_COLOURS:
        return HASHER_COLOURS[key]
    digest = int(hashlib.sha256(key.encode()).hexdigest(), 16)
    return _FALLBACK[digest % len(_FALLBACK)]


def hasher_linestyle(name: str, hashers: list[str]) -> str:
    """A line style per hasher (position in the sorted list), so curves stay
    distinguishable in greyscale print."""
    order = sorted(hashers)
    return LINESTYLES[order.index(name) % len(LINESTYLES)] if name in order else "-"


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    width: float = 6.2,
    height: float = 3.6,
    left: float = 0.65,
    right: float = 0.15,
    bottom: float = 0.6,
    top: float = 0.4,
    wspace: float = 0.6,
    hspace: float = 0.75,
    suptitle: bool = False,
):
    """A figure of nrows x ncols panels, each `width` x `height` inches
    including its margins; margins and gaps in inches (a fixed layout is
    much faster than tight_layout and identical on every run). A plain
    matplotlib Figure, not pyplot: no backend is selected or changed, so
    the report can be drawn inside a notebook without touching its inline
    backend. Returns (fig, axes 2-d array)."""
    W, H = width * ncols, height * nrows + (0.3 if suptitle else 0.0)
    fig = Figure(figsize=(W, H))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    fig.subplots_adjust(
        left=left / W,
        right=1 - right / W,
        bottom=bottom / H,
        top=1 - (top + (0.3 if suptitle else 0.0)) / H,
        wspace=wspace / max(0.1, width - wspace),
        hspace=hspace / max(0.1, height - hspace),
    )
    return fig, axes


def report_style():
    """Context manager applying RC; draw and save report figures inside it."""
    return matplotlib.rc_context(RC)


def png_dpi(width_inches: float) -> float:
    """DPI of a PNG figure `width_inches` wide: DPI, or less for a figure
    wider than MAX_PNG_WIDTH pixels, never below MIN_DPI.

    >>> png_dpi(6.2), round(13.2 * png_dpi(13.2)), png_dpi(40.0)  # dpi, pixels wide, dpi
    (100, 1100, 72)
    """
    return max(MIN_DPI, min(DPI, MAX_PNG_WIDTH / float(width_inches))) if width_inches > 0 else DPI


def _palette_png(fig, path: str) -> None:
    """`fig` as a palette PNG (at most PNG_COLOURS colours, median cut,
    no dithering; exact when the figure has no more colours than that),
    about three times smaller than matplotlib's RGBA PNG."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=png_dpi(fig.get_figwidth()), metadata=PNG_METADATA, format="png")
    buf.seek(0)
    with Image.open(buf) as im:
        rgb = im.convert("RGB")  # report figures have an opaque white background
    colours = rgb.getcolors(PNG_COLOURS)
    if colours is not None:  # few colours: an exact palette
        pal = rgb.quantize(len(colours), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    else:
        pal = rgb.quantize(PNG_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    pal.save(path, format="PNG", optimize=True)


def save_figure(fig, base_path: str, formats=("png",)) -> dict[str, str]:
    """Save `fig` as base_path.<format> for each of `formats` ("png",
    "svg") with fixed metadata (so two runs write identical files); returns
    {format: path}. PNGs get `png_dpi` and an adaptive palette
    (`_palette_png`)."""
    out = {}
    with report_style():
        for fmt in formats:
            path = f"{base_path}.{fmt}"
            if fmt == "png":
                _palette_png(fig, path)
            else:
                fig.savefig(path, dpi=DPI, metadata=SVG_METADATA, format=fmt)
            out[fmt] = path
    return out
