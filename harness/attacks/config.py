"""Attack study configuration (``phash-harness attack --config attack.yaml``).

Validated before anything is written; every error is one line naming the
field and the allowed values (ConfigError, exit status 2).

Example::

    name: attacks-demo
    dataset: {source: folder, path: /data/caltech101_tiny/images}
    images: 10                 # seeded sample of the dataset (omit: all)
    hashers: [phash, dhash, pdq]
    goals: [evasion, framing]
    algorithms: [cma, random]  # or greedy (block sign search, see harness.attacks.search)
    budget: 2000               # queries per attack (one image x hasher x goal x algorithm)
    linf_cap: 32               # grey levels; never exceeded
    thresholds:
      benign: results/caltech101   # its thresholds.csv, recommended threshold at target_fpr
      target_fpr: 1.0e-4           # or a list, e.g. [1.0e-4, 1.0e-3, 1.0e-2]: one cell per threshold
      # values: {phash: 9}         # or explicit thresholds, an integer or a list (override the benign ones)
    psnr_budgets: [40, 35]
    save_images: 3             # images whose originals and attacks are saved as PNG
    seed: 0
    workers: 2                 # processes (results do not depend on it)
    output: results/attacks-demo
"""

from __future__ import annotations

import math
import os
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..config import DatasetConfig, HasherConfig
from ..errors import ConfigError
from .search import GOALS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdConfig(_Strict):
    """Where each hasher's thresholds t come from (integers: bits, or bins for non-Hamming hashers).

    benign: a benign results folder; t = its thresholds.csv ``recommended_threshold``
        for the hasher at ``target_fpr`` and ``negatives`` (the run records the
        benign ``fpr`` and ``fpr_upper`` at t);
    target_fpr: one FPR, or a list: each hasher is then attacked at each of the
        thresholds (one cell per threshold; equal thresholds are attacked once);
    values: explicit thresholds by hasher label, an integer or a list; they
        override `benign` for that hasher.
    The first threshold of a hasher (first FPR, first value) is its primary one
    (the other hashers' transfer check uses the threshold at the same FPR, else
    the primary one).
    """

    benign: str | None = None
    target_fpr: float | list[float] = 1e-4
    negatives: Literal["orig-orig", "variant-orig"] = "orig-orig"
    values: dict[str, int | list[int]] = Field(default_factory=dict)

    @field_validator("target_fpr")
    @classmethod
    def _fprs(cls, v):
        items = v if isinstance(v, list) else [v]
        if not items:
            raise ValueError("give at least one FPR")
        for x in items:
            if not (0 < x < 1):
                raise ValueError(f"each FPR in (0, 1) (got {x:g})")
        if len(set(items)) != len(items):
            raise ValueError(f"each FPR once (got {v})")
        return v

    @field_validator("values")
    @classmethod
    def _nonneg(cls, v):
        for k, ts in v.items():
            items = ts if isinstance(ts, list) else [ts]
            if not items:
                raise ValueError(f"values.{k}: give at least one threshold")
            for t in items:
                if t < 0:
                    raise ValueError(f"values.{k}: each threshold an integer >= 0 (got {t})")
        return v

    @property
    def fprs(self) -> list[float]:
        return list(self.target_fpr) if isinstance(self.target_fpr, list) else [self.target_fpr]

    @model_validator(mode="after")
    def _folder(self):
        if self.benign is not None and not os.path.isfile(os.path.join(self.benign, "thresholds.csv")):
            raise ConfigError("thresholds.benign", f"not a benign results folder (no thresholds.csv): {self.benign}")
        return self


class AttackConfig(_Strict):
    name: str = "attacks"
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    #: attack a seeded sample of this many images (None = all)
    images: int | None = Field(default=None, ge=1)
    hashers: list[HasherConfig] = Field(min_length=1)
    goals: list[Literal["evasion", "framing"]] = Field(default_factory=lambda: list(GOALS), min_length=1)
    #: default: cma and random (greedy, added later, is opt-in so older configs keep their cells)
    algorithms: list[Literal["cma", "random", "greedy"]] = Field(
        default_factory=lambda: ["cma", "random"], min_length=1
    )
    #: queries per attack (one image x hasher x goal x algorithm); 0 = no query (never succeeds)
    budget: int = Field(default=2000, ge=0, le=1_000_000)
    #: largest L-infinity perturbation, grey levels
    linf_cap: int = Field(default=32, ge=0, le=255)
    basis: Literal["dct", "grid"] = "dct"
    basis_size: int = Field(default=8, ge=1, le=32)
    batch: int = Field(default=16, ge=1, le=1024)
    #: finest block grid (g x g) of the greedy algorithm
    greedy_grid: int = Field(default=8, ge=1, le=256)
    thresholds: ThresholdConfig = Field(default_factory=ThresholdConfig)
    psnr_budgets: list[float] = Field(default_factory=lambda: [40.0, 35.0], min_length=1)
    save_images: int = Field(default=3, ge=0)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    #: processes attacking images in parallel (results do not depend on it)
    workers: int = Field(default=1, ge=1, le=256)
    output: str = "results/attacks"
    max_pixels: int = Field(default=(2 * 1024**3) // 3, ge=1)

    @field_validator("hashers", mode="before")
    @classmethod
    def _hasher_names(cls, v):
        if isinstance(v, list):
            return [{"name": x} if isinstance(x, str) else x for x in v]
        return v

    @field_validator("goals", "algorithms")
    @classmethod
    def _unique(cls, v):
        if len(set(v)) != len(v):
            raise ValueError(f"each value once (got {v})")
        return v

    @field_validator("psnr_budgets")
    @classmethod
    def _psnr(cls, v):
        for x in v:
            if not (math.isfinite(x) and 0 < x <= 100):
                raise ValueError(f"each budget in (0, 100] dB (got {x})")
        return v

    @model_validator(mode="after")
    def _hashers_and_thresholds(self):
        labels = []
        for i, h in enumerate(self.build_hashers_checked()):
            if h.label in labels:
                raise ConfigError(f"hashers[{i}]", f"same hasher and parameters twice ({h.label})")
            labels.append(h.label)
        unknown = sorted(set(self.thresholds.values) - set(labels))
        if unknown:
            raise ConfigError(
                "thresholds.values", f"{unknown[0]!r} is not an attacked hasher; allowed: {', '.join(labels)}"
            )
        self.resolve_thresholds()
        return self

    def build_hashers_checked(self):
        from ..hashers import get_hasher

        out = []
        for i, h in enumerate(self.hashers):
            try:
                out.append(get_hasher(h.name, **h.params))
            except ConfigError as exc:
                raise ConfigError(f"hashers[{i}].params", exc.message) from None
        return out

    def build_hashers(self):
        return self.build_hashers_checked()

    def resolve_thresholds(self) -> dict:
        """{hasher label: its primary threshold entry} (see `resolve_threshold_lists`)."""
        return {k: v[0] for k, v in self.resolve_threshold_lists().items()}

    def resolve_threshold_lists(self) -> dict:
        """{hasher label: [{threshold, threshold_source, benign_fpr, benign_fpr_upper,
        target_fpr}, ...]}, primary first, one entry per FPR or value (equal
        thresholds included; target_fpr NaN for explicit values). Raises
        ConfigError for a hasher without a usable threshold."""
        import pandas as pd

        labels = [h.label for h in self.build_hashers()]
        out = {}
        table = None
        cfg = self.thresholds
        if cfg.benign is not None:
            table = pd.read_csv(os.path.join(cfg.benign, "thresholds.csv"))
            need = {"hasher", "target_fpr", "negatives", "recommended_threshold", "fpr", "fpr_upper"}
            if not need <= set(table.columns):
                missing = sorted(need - set(table.columns))
                raise ConfigError("thresholds.benign", f"thresholds.csv lacks columns {missing}")
        for label in labels:
            entries = []
            if label in cfg.values:
                given = cfg.values[label]
                for t in given if isinstance(given, list) else [given]:
                    entries.append(
                        {
                            "threshold": int(t),
                            "threshold_source": "explicit",
                            "benign_fpr": float("nan"),
                            "benign_fpr_upper": float("nan"),
                            "target_fpr": float("nan"),
                        }
                    )
            elif table is None:
                raise ConfigError(
                    "thresholds",
                    f"no threshold for {label}; give thresholds.values.{label} or thresholds.benign (a results folder)",
                )
            else:
                entries = [self._benign_entry(table, label, fpr) for fpr in cfg.fprs]
            out[label] = entries
        return out

    def _benign_entry(self, table, label: str, target_fpr: float) -> dict:
        cfg = self.thresholds
        rows = table[(table["hasher"] == label) & (table["negatives"] == cfg.negatives)]
        if rows.empty:
            present = ", ".join(sorted(table["hasher"].unique()))
            raise ConfigError("thresholds.benign", f"hasher {label} absent from {cfg.benign}; present: {present}")
        rows = rows[abs(rows["target_fpr"] / target_fpr - 1) < 1e-6]
        if rows.empty:
            fprs = ", ".join(f"{x:g}" for x in sorted(table["target_fpr"].unique()))
            raise ConfigError("thresholds.target_fpr", f"{target_fpr:g} not in {cfg.benign}; allowed: {fprs}")
        r = rows.iloc[0]
        t = int(r["recommended_threshold"])
        if t < 0:
            raise ConfigError(
                "thresholds.target_fpr",
                f"{label} has no threshold with FPR <= "
                f"{target_fpr:g} in the benign study "
                f"(recommended -1); give thresholds.values.{label}",
            )
        return {
            "threshold": t,
            "threshold_source": f"benign {cfg.negatives} FPR<={target_fpr:g}",
            "benign_fpr": float(r["fpr"]),
            "benign_fpr_upper": float(r["fpr_upper"]),
            "target_fpr": float(target_fpr),
        }


def _format(exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    raised = (err.get("ctx") or {}).get("error")
    if isinstance(raised, ConfigError):
        return ConfigError(raised.field, raised.message)
    loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"]).replace(".[", "[")
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        model = AttackConfig
        for p in err["loc"][:-1]:
            if isinstance(p, str):
                ann = model.model_fields[p].annotation
                model = next((a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")), ann)
        allowed = ", ".join(getattr(model, "model_fields", {}))
        msg = f"unknown field; allowed: {allowed}"
    elif err["type"] == "literal_error":
        msg = msg.replace("Input should be", "must be one of")
    if "input" in err and err["type"] not in ("missing", "extra_forbidden") and "got" not in msg:
        text = repr(err["input"])
        if len(text) < 60:
            msg += f" (got {text})"
    return ConfigError(loc or "config", msg.replace("\n", " "))


def load_attack_config(source) -> AttackConfig:
    """Validate an attack config given as a YAML path, a dict or an AttackConfig."""
    if isinstance(source, AttackConfig):
        return source
    if isinstance(source, dict):
        data = source
    else:
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ConfigError("--config", f"file not found: {path}")
        try:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        except yaml.YAMLError:
            raise ConfigError("config", "not valid YAML") from None
        except UnicodeDecodeError:
            raise ConfigError("config", "not UTF-8 text") from None
    if not isinstance(data, dict):
        raise ConfigError("config", "must be a YAML mapping with keys: " + ", ".join(AttackConfig.model_fields))
    try:
        return AttackConfig.model_validate(data)
    except ValidationError as exc:
        raise _format(exc) from None
    except ConfigError:
        raise
