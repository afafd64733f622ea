"""Chunks: the unit of work, of storage and of resume.

A chunk is a block of `chunk_size` images (in the run's image order) times
every transform spec times every hasher. Planning looks each (image, spec,
hasher) key up in the store and keeps only what is missing, so a re-run or
a new experiment sharing a store computes only the missing work.

`compute_chunk` runs in a worker (a process of the local pool or a Dask
worker): it decodes each image once, makes each needed variant in memory,
hashes it with each needed hasher, and returns store rows (see
`harness.engine.store`). Pixels never leave the worker; only hashes do.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field

import numpy as np

from ..errors import DecodeError, TransformError
from ..hashers.base import ImageBatch
from ..imageio import load_rgb_modes
from ..transforms import ORIGINAL, TransformSpec, apply_transform, variant_seed
from .store import STORE_COLUMNS  # noqa: F401  (row layout documented there)


# ------------------------------------------------------------------ hashers
@dataclass(frozen=True)
class HasherRef:
    """A hasher as shipped to workers: the pickled object when it pickles,
    else (name, params) and the worker rebuilds it from the registry."""

    key: str
    name: str
    params: tuple
    pickled: bytes | None

    @property
    def shippable(self) -> bool:
        """A worker can rebuild it (`resolve_hasher`): it pickles, or the
        registry knows its name (OpenCV's hashers do not pickle)."""
        if self.pickled is not None:
            return True
        from ..hashers import list_hashers

        return self.name in list_hashers()


def hasher_ref(hasher) -> HasherRef:
    try:
        blob = pickle.dumps(hasher)
    except Exception:
        blob = None
    return HasherRef(hasher.key, hasher.name, tuple(sorted(hasher.params.items())), blob)


_HASHERS: dict = {}


def resolve_hasher(ref: HasherRef):
    """The hasher object in this worker process (built once per process)."""
    h = _HASHERS.get(ref.key)
    if h is None:
        if ref.pickled is not None:
            h = pickle.loads(ref.pickled)
        else:
            from ..hashers import get_hasher

            h = get_hasher(ref.name, **dict(ref.params))
        _HASHERS[ref.key] = h
    return h


# -------------------------------------------------------------------- rows
def seed_of(spec: TransformSpec, seed: int) -> int:
    """Seed column of the store key: -1 for the original (seed-independent)."""
    return -1 if spec == ORIGINAL else int(seed)


def severity_text(spec: TransformSpec) -> str:
    return "" if spec.severity is None else str(spec.severity)


def image_error_row(image_id: str, stage: str, reason: str, condition: str) -> list:
    """A store row for an error that concerns the whole image."""
    return [image_id, "", "", -1, "", "", "", None, None, None, None, None, stage, reason, condition]


def timeout_row(image_id: str, seconds: float) -> list:
    return image_error_row(image_id, "timeout", f"timeout after {seconds:g} s", f"timeout={seconds:g}")


def _read_source(path: str):
    """A local path as is; an fsspec URL (s3://, gs://, http://...) as bytes."""
    if not isinstance(path, str):  # os.PathLike
        return path
    if "://" in path and not path.startswith("file://"):
        import fsspec

        with fsspec.open(path, "rb") as fh:
            return fh.read()
    return path[len("file://") :] if path.startswith("file://") else path


@dataclass
class Item:
    """One image of a chunk and the (spec, hasher indices) still missing."""

    image_id: str
    path: str
    needs: list  # [(TransformSpec, [hasher index, ...]), ...]


def peak_rss_kib() -> int:
    """Peak resident set size of this process so far, KiB (Linux units)."""
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    except (ImportError, OSError):
        return 0


def compute_chunk(items: list, hashers: list, seed: int, max_pixels: int) -> dict:
    """Store rows for every missing (image, spec, hasher) of `items`:
    ``{"rows": [...], "peak_rss_kib": peak RSS of this worker so far}``."""
    return {"rows": _compute_rows(items, hashers, seed, max_pixels), "peak_rss_kib": peak_rss_kib()}


def _decode_modes(objs) -> dict:
    """Hasher indices grouped by decode options: ``{open options: {convert:
    [hasher index, ...]}}``. A hasher with fast_decode needs its own
    reduced-size decode (a different hasher identity); hashers that differ
    only in their mode conversion (``convert``: the reference tool's, or
    composite_white) share one decode of the file."""
    modes: dict[tuple, dict] = {}
    for i, h in enumerate(objs):
        opts = dict(getattr(h, "decode_options", {}))
        convert = opts.pop("convert", "pillow")
        modes.setdefault(tuple(sorted(opts.items())), {}).setdefault(convert, []).append(i)
    return modes


def _compute_rows(items: list, hashers: list, seed: int, max_pixels: int) -> list:
    return compute_rows(items, [resolve_hasher(r) for r in hashers], seed, max_pixels)


def compute_rows(items: list, objs: list, seed: int, max_pixels: int) -> list:
    """Store rows (STORE_COLUMNS) for every (image, spec, hasher index) of
    `items`, with hasher objects `objs` (an Item's needs index into them).

    The one "decode -> variants -> hash" path: runs (through compute_chunk)
    and `harness.engine.work.hash_images` (verify, screen, tests) both come
    here. Per image: read the source once, decode once per decode mode
    (fast_decode hashers get their own reduced-size decode; the mode
    conversions of one decode share one array where they give the same
    pixels, see `harness.imageio.load_rgb_modes`), make each
    variant in memory, hash it. A decode or read failure is one error row
    for the image (stage "decode"); a transform failure one row per variant
    ("transform"); an exception from a hasher one row ("hash"). Nothing
    raises for a bad image."""
    modes = _decode_modes(objs)
    rows = []
    for it in items:
        source = None
        for opts, by_convert in modes.items():
            needed = {i for _, idx in it.needs for i in idx}
            converts = [c for c, idx in by_convert.items() if needed.intersection(idx)]
            if not converts:
                continue
            try:
                source = _read_source(it.path) if source is None else source
                arrays = load_rgb_modes(source, converts, max_pixels=max_pixels, **dict(opts))
            except DecodeError as exc:
                rows.append(image_error_row(it.image_id, "decode", exc.reason, f"max_pixels={max_pixels}"))
                break  # one error row per image
            except OSError as exc:  # fsspec / network read
                rows.append(image_error_row(it.image_id, "decode", f"cannot read: {exc}", f"max_pixels={max_pixels}"))
                break
            # conversions that gave the same pixels share one array: variants are made once for them
            groups: dict[int, tuple] = {}
            for c in converts:
                groups.setdefault(id(arrays[c]), (arrays[c], set()))[1].update(by_convert[c])
            del arrays
            for rgb, mode_idx in groups.values():
                wanted = [(spec, [i for i in idx if i in mode_idx]) for spec, idx in it.needs]
                wanted = [(spec, idx) for spec, idx in wanted if idx]
                _variant_rows(it, rgb, wanted, objs, seed, rows)
            del groups, rgb
    return rows


#: variants of one image hashed together hold at most this many pixel bytes
#: (beyond it the batch is split, so memory stays bounded for large photos)
BATCH_BYTES = 64 * 2**20


def _variant_rows(it, rgb, wanted, objs, seed, rows) -> None:
    """Rows for every (spec, hasher indices) of one decoded image. Variants
    are made in memory and hashed in batches (`Hasher.hash_batch`, sharing
    work between variants and between hashers) of at most BATCH_BYTES;
    rows come out in (spec, hasher) order."""
    pending, size = [], 0
    for spec, hasher_idx in wanted:
        sd = seed_of(spec, seed)
        try:
            pixels, applied = apply_transform(spec, rgb, variant_seed(it.image_id, spec, seed))
        except TransformError as exc:
            _flush(it, pending, objs, rows)
            pending, size = [], 0
            rows.append(
                [
                    it.image_id,
                    spec.key,
                    "",
                    sd,
                    spec.family,
                    severity_text(spec),
                    "",
                    None,
                    None,
                    None,
                    None,
                    None,
                    "transform",
                    exc.reason,
                    "",
                ]
            )
            continue
        if pending and size + pixels.nbytes > BATCH_BYTES:
            _flush(it, pending, objs, rows)
            pending, size = [], 0
        pending.append((spec, sd, hasher_idx, pixels, applied))
        size += pixels.nbytes
    _flush(it, pending, objs, rows)


def _flush(it, pending, objs, rows) -> None:
    """Hash a batch of variants with every hasher that needs them; append rows."""
    if not pending:
        return
    results, batches = {}, {}
    for i in sorted({i for p in pending for i in p[2]}):
        sel = tuple(k for k, p in enumerate(pending) if i in p[2])
        # hashers that need the same variants get the same batch, so they share its cache
        batch = batches.get(sel)
        if batch is None:
            batch = batches[sel] = ImageBatch([pending[k][3] for k in sel])
        try:
            out = objs[i].hash_batch(batch)
        except Exception as exc:  # a hasher whose batch call itself fails: one error per variant
            out = [exc] * len(sel)
        for k, o in zip(sel, out):
            results[(k, i)] = o
    # spec.key, severity_text and hasher.key are pure functions of frozen values
    # (json.dumps each time): computed once per variant / hasher, not per row
    hkeys = {i: objs[i].key for i in {i for p in pending for i in p[2]}}
    for k, (spec, sd, hasher_idx, pixels, applied) in enumerate(pending):
        h, w = pixels.shape[:2]
        skey, sev = spec.key, severity_text(spec)
        for i in hasher_idx:
            hasher, packed = objs[i], results[(k, i)]
            if isinstance(packed, Exception):  # one hasher failing on one image must not stop the run
                rows.append(
                    [
                        it.image_id,
                        skey,
                        hkeys[i],
                        sd,
                        spec.family,
                        sev,
                        hasher.name,
                        None,
                        None,
                        None,
                        None,
                        None,
                        "hash",
                        f"{type(packed).__name__}: {packed}",
                        "",
                    ]
                )
                continue
            packed = np.asarray(packed, dtype=np.uint8)
            rows.append(
                [
                    it.image_id,
                    skey,
                    hkeys[i],
                    sd,
                    spec.family,
                    sev,
                    hasher.name,
                    packed.tobytes(),
                    hasher.to_hex(packed),
                    int(w),
                    int(h),
                    applied,
                    "",
                    "",
                    "",
                ]
            )
    pending.clear()


def warm_up(seconds: float = 0.3) -> int:
    """A no-op task that makes a worker import this module (and the
    decoders and transforms) before timed work starts."""
    import os
    import time

    time.sleep(seconds)
    return os.getpid()


# ----------------------------------------------------------------- planning
@dataclass
class Chunk:
    index: int
    n_images: int  # distinct images in the block
    items: list = field(default_factory=list)  # images with missing work

    @property
    def done(self) -> bool:
        return not self.items


class DoneIndex:
    """What the store already holds for this run (see store conditions)."""

    def __init__(self, stored, max_pixels: int, timeout: float, compact=None):
        """stored: store rows (a DataFrame; with `compact`, only its error
        rows); compact: the stored hash rows as a
        `harness.engine.compact.CompactRows` (looked up by code)."""
        self.keys, self.variant_errors, self.image_errors = set(), set(), set()
        self.coded = compact.done_keys() if compact is not None else None
        if stored is None or not len(stored):
            return
        conditions = {"decode": f"max_pixels={max_pixels}", "timeout": f"timeout={timeout:g}"}
        for image_id, transform, hkey, sd, stage, cond in zip(
            stored["image_id"],
            stored["transform"],
            stored["hasher_key"],
            stored["seed"],
            stored["stage"],
            stored["condition"],
        ):
            sd = int(sd)
            if stage in ("", None):
                self.keys.add((image_id, transform, hkey, sd))
            elif stage in conditions:
                if cond == conditions[stage]:
                    self.image_errors.add(image_id)
            elif stage == "transform":
                self.variant_errors.add((image_id, transform, sd))
            else:  # "hash"
                self.keys.add((image_id, transform, hkey, sd))

    def missing(self, image_id, spec, hasher_keys, seed) -> list:
        """Indices (into hasher_keys: each hasher's `key`, computed once by
        the caller, as planning asks images x specs times) of the hashers
        with no stored result for (image, spec)."""
        if image_id in self.image_errors:
            return []
        sd = seed_of(spec, seed)
        skey = spec.key
        if (image_id, skey, sd) in self.variant_errors:
            return []
        return [
            i
            for i, hkey in enumerate(hasher_keys)
            if (image_id, skey, hkey, sd) not in self.keys
            and (self.coded is None or not self.coded.has(image_id, skey, hkey, sd))
        ]


def sample_key(seed: int, image_id: str) -> str:
    """Sort key of the variant sample: sha256 hex of "<seed>|<image_id>"."""
    return hashlib.sha256(f"{int(seed)}|{image_id}".encode()).hexdigest()


def variant_sample(image_ids, n: int | None, seed: int) -> set | None:
    """The image ids that receive transform variants: the `n` distinct ids
    with the smallest sample_key(seed, id) (None = all images). Independent
    of listing order; the sample for n is contained in the sample for any
    larger n, so a later run with a larger n (or None) extends a stored
    run instead of replacing it."""
    if n is None:
        return None
    return set(sorted(set(image_ids), key=lambda i: (sample_key(seed, i), i))[:n])


def plan_chunks(
    records, specs, hashers, seed: int, chunk_size: int, done: DoneIndex, variant_ids: set | None = None
) -> list[Chunk]:
    """Fixed blocks of `chunk_size` distinct images (first-listed order),
    each with only its missing work. Blocks do not depend on the store, so
    the chunk count of a resumed run equals the uninterrupted run's.
    variant_ids: images that get the transform specs (None = all); the
    others get only their original."""
    seen, unique = set(), []
    for r in records:
        if r.image_id not in seen:
            seen.add(r.image_id)
            unique.append(r)
    chunks = []
    hasher_keys = [h.key for h in hashers]
    for start in range(0, len(unique), chunk_size):
        block = unique[start : start + chunk_size]
        chunk = Chunk(len(chunks), len(block))
        for r in block:
            needs = []
            wanted = [ORIGINAL, *specs] if variant_ids is None or r.image_id in variant_ids else [ORIGINAL]
            for spec in wanted:
                idx = done.missing(r.image_id, spec, hasher_keys, seed)
                if idx:
                    needs.append((spec, idx))
            if needs:
                chunk.items.append(Item(r.image_id, r.path, needs))
        chunks.append(chunk)
    return chunks
