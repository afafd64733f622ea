"""Experiment configuration: a YAML file validated before any work starts.

Every error is one line naming the bad field and the allowed values, and
raises ConfigError (exit status 2 on the command line); nothing is written.

Example (the quickstart, harness/configs/quickstart.yaml)::

    name: quickstart
    dataset: {source: sample}
    hashers: [ahash, phash, dhash, whash]
    transforms:
      - {family: jpeg, severities: [90, 70, 50, 30, 10]}
    seed: 0
    output: results/quickstart
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetConfig(_Strict):
    """Where the images come from.

    source:
      - ``sample``: the built-in sample (no download);
      - ``folder``: every image under ``path`` (recursive unless
        ``recursive: false``; ``extensions`` filter). ``path`` may be an
        fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``):
        files are read through fsspec and cached under ``cache``;
      - ``manifest``: a CSV at ``path`` with a ``file`` (or ``path``) column,
        optional ``sha256`` (checked) and ``group`` columns (MANIFEST.csv
        written by ``phash-harness fetch`` works as is);
      - ``catalog``: the catalogue dataset ``name`` fetched under ``dest``
        (default: $HARNESS_DATA or ~/.cache/phash-harness/datasets);
        read through its MANIFEST.csv.
    groups: optional groups.csv (columns image,group; image = name or sha256),
      e.g. written by ``phash-harness screen``.
    """

    source: Literal["sample", "folder", "manifest", "catalog"] = "sample"
    path: str | None = None
    name: str | None = None
    dest: str | None = None
    cache: str | None = None
    extensions: list[str] = Field(
        default_factory=lambda: [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"]
    )
    recursive: bool = True
    groups: str | None = None
    limit: int | None = Field(default=None, ge=1)
    #: read files whose symlink target lies outside `path` (default: refuse them)
    follow_symlinks: bool = False

    @model_validator(mode="after")
    def _check_path(self):
        if self.source == "folder":
            if not self.path:
                raise ValueError("dataset.path is required when source is 'folder'")
            if "://" in self.path:
                from .datasets.remote import check_url

                try:
                    check_url(self.path)
                except ConfigError as exc:
                    raise ValueError(exc.message) from None
            elif not os.path.isdir(self.path):
                raise ValueError(f"dataset.path: folder not found: {self.path}")
        elif self.source == "manifest":
            if not self.path:
                raise ValueError("dataset.path (a manifest CSV) is required when source is 'manifest'")
            if not os.path.isfile(self.path):
                raise ValueError(f"dataset.path: manifest file not found: {self.path}")
        elif self.source == "catalog":
            from .datasets.catalog import CATALOG, default_dest, list_catalog

            if not self.name:
                raise ValueError(
                    f"dataset.name is required when source is 'catalog'; one of: {', '.join(list_catalog())}"
                )
            dest = self.dest or default_dest()
            folder = os.path.join(os.path.expanduser(dest), self.name)
            if not os.path.isfile(os.path.join(folder, "MANIFEST.csv")):
                hint = (
                    f"phash-harness fetch {self.name}"
                    if self.name in CATALOG
                    else "phash-harness fetch --url ... --name " + self.name
                )
                raise ValueError(
                    f"dataset.name: {self.name!r} is not fetched under {dest} (run `{hint} --dest {dest}`)"
                )
        if self.source != "catalog" and (self.name or self.dest):
            raise ValueError("dataset.name/dest are only for source 'catalog'")
        return self


class HasherConfig(_Strict):
    """One hasher: ``name`` (a registered hasher), its ``params``, and
    ``dihedral: true`` for dihedral matching (the 8 dihedral versions of
    every query, see harness.hashers.dihedral; Hamming hashers only; a
    separate hasher, labelled e.g. ``phash[dihedral]``)."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    dihedral: bool = False

    def hasher_params(self) -> dict:
        """The keyword arguments of `harness.hashers.get_hasher`."""
        return {**self.params, "dihedral": True} if self.dihedral else dict(self.params)

    @field_validator("name")
    @classmethod
    def _known(cls, name):
        from .hashers import list_hashers

        if name not in list_hashers():
            raise ValueError(f"unknown hasher {name!r}; available: {', '.join(list_hashers())}")
        return name


class TransformConfig(_Strict):
    family: str
    severities: list[float | int | str] | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("family")
    @classmethod
    def _known(cls, family):
        from .transforms import list_families

        if family not in list_families():
            raise ValueError(f"unknown transform {family!r}; available: {', '.join(list_families())}")
        return family

    @model_validator(mode="after")
    def _check_severities(self):
        from .transforms import get_family

        fam = get_family(self.family)
        if self.severities is not None and len(self.severities) == 0:
            raise ValueError(f"severities: give at least one, e.g. {list(fam.default_sweep)}")
        for i, s in enumerate(self.severities or fam.default_sweep):
            problem = fam.check(s)
            if problem:
                raise ValueError(f"severities[{i}]: {self.family} severity {s!r} invalid; allowed: {problem}")
        problem = fam.check_params(self.params)
        if problem:
            raise ValueError(f"params: {problem}")
        return self

    def specs(self):
        """One TransformSpec per severity; params equal to the family's
        default are dropped so equivalent specs share one key."""
        from .transforms import TransformSpec, get_family

        fam = get_family(self.family)
        sev = self.severities if self.severities is not None else list(fam.default_sweep)
        params = fam.canonical_params(self.params)
        return [TransformSpec.make(self.family, s, params) for s in sev]


class MetricsConfig(_Strict):
    """What the metrics stage computes (see harness/metrics/tables.py).

    - target_fpr: FPR the threshold recommendation must stay under.
    - fpr_points: FPRs at which TPR is reported (NaN = not measurable).
    - confidence: level of every interval (two-sided).
    - bootstrap_replicates, bootstrap_seed: image-level Poisson bootstrap.
    - keep_fpr, max_close_pairs: every negative pair at or under keep_below
      is kept (close_pairs.parquet), where keep_below is the largest t with
      FPR(t) <= max(keep_fpr, target_fpr), at least 0, lowered until at
      most max_close_pairs pairs are kept.
    - collision_k: closest orig-orig pairs per hasher in collisions.csv.
    - hasher_pairs: pairs of hashers (labels, as in the tables) whose joint
      histograms and two-hash rules are computed (joint_histograms.parquet,
      cascades.csv), e.g. ``[[phash, pdq]]``; ``all`` for every pair of the
      run's hashers; default none.
    """

    target_fpr: float = Field(default=1e-3, gt=0, lt=1)
    fpr_points: list[float] = Field(default_factory=lambda: [1e-2, 1e-3, 1e-4, 1e-5, 1e-6])
    orig_orig: bool = True
    variant_orig: bool = True
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    bootstrap_replicates: int = Field(default=1000, ge=0, le=100_000)
    bootstrap_seed: int = Field(default=0, ge=0, le=2**32 - 1)
    keep_fpr: float = Field(default=1e-4, gt=0, lt=1)
    max_close_pairs: int = Field(default=2_000_000, ge=0)
    collision_k: int = Field(default=25, ge=0)
    retrieval: bool = True
    diagnostics: bool = True
    hasher_pairs: list[list[str]] | Literal["all"] = Field(default_factory=list)

    @field_validator("hasher_pairs", mode="before")
    @classmethod
    def _pair_shape(cls, v):
        if v is None:
            return []
        if isinstance(v, str):
            if v != "all":
                raise ValueError(f"must be 'all' or a list of [hasher, hasher] pairs (got {v!r})")
            return v
        if not isinstance(v, list):
            raise ValueError("must be 'all' or a list of [hasher, hasher] pairs")
        for i, p in enumerate(v):
            if not (isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) for x in p)):
                raise ValueError(f"[{i}]: must be a pair of two hasher names, e.g. [phash, pdq] (got {p!r})")
        return [list(p) for p in v]

    @field_validator("fpr_points")
    @classmethod
    def _rates(cls, v):
        for x in v:
            if not 0 < x < 1:
                raise ValueError(f"fpr_points: {x} not in (0, 1)")
        return v


class EngineConfig(_Strict):
    """How the work is split, stored and bounded (engine stage).

    chunk_size: images per chunk (a chunk = images x transform specs x
        hashers; the unit of work, of storage and of resume). Default (auto):
        enough chunks to keep every worker busy (about 4 per worker), at most
        64 images each. A worker holds one decoded image and one variant at
        a time, so its memory does not grow with the chunk size; the driver
        holds only hashes.
    store: folder of the Parquet hash store; default ``<output>/store``.
        Point several experiments at one store to share finished work.
    timeout_seconds: per-image budget (decode + every variant + every
        hasher); an image that exceeds it is recorded in errors.csv as
        ``timeout after N s`` and the run goes on.
    retries: how often a chunk whose worker died is run again.
    """

    chunk_size: int | None = Field(default=None, ge=1, le=100_000)
    store: str | None = None
    timeout_seconds: float = Field(default=60.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)


class ReportConfig(_Strict):
    """Assumptions of the report's first screen and the starting values of
    its interactive explorer (see docs/reference/reports.md).

    - database_size: M, hashes in the database every photo is compared with.
    - photos_per_year: n, photos one account uploads in a year.
    - match_threshold: k, false matches within a year that flag an account.
    - rho: within-account correlation of false matches (0 = independent
      photos; > 0 uses the beta-binomial model of harness.risk).
    """

    database_size: int = Field(default=5_000_000, ge=0)
    photos_per_year: int = Field(default=2000, ge=1)
    match_threshold: int = Field(default=30, ge=1)
    rho: float = Field(default=0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _k_at_most_n(self):
        if self.match_threshold > self.photos_per_year:
            raise ConfigError(
                "report.match_threshold",
                f"{self.match_threshold} exceeds report.photos_per_year "
                f"({self.photos_per_year}); allowed: 1 to photos_per_year",
            )
        return self


class ExperimentConfig(_Strict):
    name: str = "experiment"
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    hashers: list[HasherConfig] = Field(min_length=1)
    transforms: list[TransformConfig] = Field(default_factory=list)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    #: transform variants for only this many images (a seeded sample, see
    #: harness.engine.chunks.variant_sample); every image still gets its
    #: original hashed, so orig-orig stays exact over the whole dataset.
    #: None = variants for every image.
    variant_sample: int | None = Field(default=None, ge=1)
    output: str = "results/experiment"
    max_pixels: int = Field(default=(2 * 1024**3) // 3, ge=1)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)

    @field_validator("hashers", mode="before")
    @classmethod
    def _hasher_names(cls, v):
        if isinstance(v, list):
            return [{"name": x} if isinstance(x, str) else x for x in v]
        return v

    @model_validator(mode="after")
    def _something_to_measure(self):
        # transforms: [] is a pure false-positive study of the originals; it needs orig-orig pairs
        if not self.transforms and not self.metrics.orig_orig:
            raise ConfigError(
                "transforms",
                "empty, and metrics.orig_orig is false: nothing to measure; "
                "allowed: at least one transform, or [] with metrics.orig_orig: true",
            )
        return self

    @model_validator(mode="after")
    def _build_hashers(self):
        from .hashers import get_hasher

        seen = {}
        for i, h in enumerate(self.hashers):
            try:
                label = get_hasher(h.name, **h.hasher_params()).label
            except ConfigError as exc:
                if exc.field == "dihedral":
                    raise ConfigError(f"hashers[{i}].dihedral", exc.message) from None
                raise ValueError(f"hashers[{i}].params: {exc.message}") from None
            if label in seen:
                raise ValueError(
                    f"hashers[{i}]: same hasher and parameters as hashers[{seen[label]}] "
                    f"({label}); give each configuration once"
                )
            seen[label] = i
        return self

    @model_validator(mode="after")
    def _check_hasher_pairs(self):
        pairs = self.metrics.hasher_pairs
        if pairs == "all" or not pairs:
            return self
        labels = [h.label for h in self.build_hashers()]
        allowed = ", ".join(labels) + " (the run's hashers), or 'all'"
        for i, (x, y) in enumerate(pairs):
            for name in (x, y):
                if name not in labels:
                    raise ConfigError(f"metrics.hasher_pairs[{i}]", f"unknown hasher {name!r}; allowed: {allowed}")
            if x == y:
                raise ConfigError(
                    f"metrics.hasher_pairs[{i}]", f"two different hashers needed (got {x!r} twice); allowed: {allowed}"
                )
        return self

    def hasher_pairs(self) -> list:
        """The (hasher, hasher) pairs of metrics.hasher_pairs, built, in
        config order (``all``: every pair i < j of the hashers list);
        repeated pairs once."""
        hashers = self.build_hashers()
        by_label = {h.label: h for h in hashers}
        if self.metrics.hasher_pairs == "all":
            return [(hashers[i], hashers[j]) for i in range(len(hashers)) for j in range(i + 1, len(hashers))]
        seen, out = set(), []
        for x, y in self.metrics.hasher_pairs:
            if (x, y) not in seen:
                seen.add((x, y))
                out.append((by_label[x], by_label[y]))
        return out

    def transform_specs(self):
        specs = []
        for t in self.transforms:
            for s in t.specs():
                if s not in specs:
                    specs.append(s)
        return specs

    def build_hashers(self):
        from .hashers import get_hasher

        return [get_hasher(h.name, **h.hasher_params()) for h in self.hashers]


def _format_validation_error(exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    raised = (err.get("ctx") or {}).get("error")
    if isinstance(raised, ConfigError):  # a model validator that names its own field
        return ConfigError(raised.field, raised.message.replace("\n", " "))
    loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"]).replace(".[", "[")
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
        parent = err["loc"][:-1]
        model = ExperimentConfig
        try:
            for p in parent:
                if isinstance(p, int):
                    continue
                model = model.model_fields[p].annotation
                model = getattr(model, "__args__", [model])[0] if not hasattr(model, "model_fields") else model
            msg = f"unknown field; allowed: {', '.join(model.model_fields)}"
        except Exception:
            pass
    elif err["type"] == "literal_error":
        msg = msg.replace("Input should be", "must be one of")
    if "input" in err and err["type"] not in ("missing", "extra_forbidden") and "got" not in msg:
        text = repr(err["input"])
        if len(text) < 60:
            msg += f" (got {text})"
    return ConfigError(loc or "config", msg.replace("\n", " "))


#: most values a config may hold once YAML aliases are expanded
MAX_CONFIG_VALUES = 100_000


def _check_expanded_size(data, limit: int = MAX_CONFIG_VALUES) -> None:
    """Refuse a config that holds more than `limit` values once YAML aliases
    (&a / *a, shared references) are expanded: nine nested levels of nine
    aliases ("billion laughs") would otherwise take minutes to validate and
    print. Counts in O(limit) time."""
    stack, count = [data], 0
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            raise ConfigError("config", f"too large: more than {limit} values once YAML aliases are expanded")
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)


def load_config(source: str | os.PathLike | dict | ExperimentConfig | None = None) -> ExperimentConfig:
    """Validate a config given as a YAML path, a dict, or None (quickstart)."""
    if isinstance(source, ExperimentConfig):
        return source
    if source is None:
        text = resources.files("harness").joinpath("configs/quickstart.yaml").read_text()
        data = yaml.safe_load(text)
    elif isinstance(source, dict):
        data = source
    else:
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ConfigError("--config", f"file not found: {path}")
        try:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError("config", f"not valid YAML{where}") from None
        except UnicodeDecodeError:
            raise ConfigError("config", "not UTF-8 text") from None
    if not isinstance(data, dict):
        raise ConfigError("config", "must be a YAML mapping with keys: " + ", ".join(ExperimentConfig.model_fields))
    _check_expanded_size(data)
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise _format_validation_error(exc) from None
