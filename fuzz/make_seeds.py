"""Write a seed corpus for fuzz_load_rgb.py: small real photos (the built-in
sample, from scikit-image) re-encoded in every format the loader meets, plus
odd modes (16-bit, palette with transparency, LA, CMYK, animated GIF, EXIF
orientation).

    python fuzz/make_seeds.py fuzz/corpus
"""

from __future__ import annotations

import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def seeds() -> dict[str, bytes]:
    import numpy as np
    from PIL import Image

    from harness.datasets import sample_records

    out = {}
    for rec in sample_records()[:4]:
        with Image.open(rec.path) as im:
            small = im.convert("RGB").resize((48, 32))
        for fmt, kw in [
            ("JPEG", {"quality": 80}),
            ("PNG", {}),
            ("GIF", {}),
            ("WEBP", {}),
            ("BMP", {}),
            ("TIFF", {}),
            ("TIFF", {"compression": "tiff_lzw"}),
        ]:
            buf = io.BytesIO()
            small.save(buf, fmt, **kw)
            out[f"{rec.name}-{fmt.lower()}-{len(kw)}"] = buf.getvalue()
        exif = Image.Exif()
        exif[0x0112] = 6
        for mode, fmt, kw in [
            ("I;16", "PNG", {}),
            ("LA", "PNG", {}),
            ("CMYK", "JPEG", {}),
            ("RGB", "JPEG", {"exif": exif.tobytes()}),
            ("RGBA", "WEBP", {}),
        ]:
            buf = io.BytesIO()
            img = (
                Image.fromarray(np.asarray(small.convert("L"), dtype=np.uint16) * 257)
                if mode == "I;16"
                else small.convert(mode)
            )
            img.save(buf, fmt, **kw)
            out[f"{rec.name}-{mode.replace(';', '')}-{fmt.lower()}"] = buf.getvalue()
        p = small.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        buf = io.BytesIO()
        p.save(buf, "PNG", transparency=0)
        out[f"{rec.name}-palette-trns"] = buf.getvalue()
        buf = io.BytesIO()
        p.save(buf, "GIF", save_all=True, append_images=[p.rotate(90), p.rotate(180)], duration=50)
        out[f"{rec.name}-animated-gif"] = buf.getvalue()
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    dest = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(dest, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(dest, name), "wb") as fh:
            fh.write(data)
    print(f"wrote {len(seeds())} seeds to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
