"""Retention predicted before pruning: a results store, set-level features, a fitted model.

    curate predict add runs/val --sets out/default out/igsp     # put a validation's rows in the store
    curate predict fit --out predictor.json                      # fit + leave-one-recipe-out rho
    curate predict rank out/cola out/zipcal --model predictor.json

    from curate.validate.predict import append_results, fit_predictor, rank_sets
    append_results(table, sets={"default@v1.0.0": "out/default"})   # after curate.validate.validate
    pred = fit_predictor(read_store())
    pred.rank({"cola": "out/cola"})

**Store** (``~/.cache/curate/results`` or ``--store``): ``rows/<hash>.parquet``, the tidy rows of
one validation each (:data:`curate.validate.TABLE_COLUMNS`; the name is a hash of the content, so
appending the same run twice stores it once), and ``features/<fingerprint>.json``, the set-level
features of each calibration set seen.

**Features** (:func:`set_features`, all from :mod:`curate.scoring`): mean log-perplexity and
Min-K%++ (k = 50 %) under the dense model (when a model is given), word 4-gram aggregation
(Xu et al. 2026), distinct-2 and Zipf diversity, MinHash Jaccard (word 3-grams) of the set with
the held-out split of each bundled source (how close the set is to each evaluation domain),
and the mixture proportions per bundled source (self-generated rows count as their own kind).

**Target**: a draw's retention per capability dimension and Total
(:func:`curate.evaluate.dimensions.dimension_retention`), one row per (set, seed), for one
pruning configuration (method, sparsity, pattern) at a time.

**Model**: per dimension, scikit-learn ``StandardScaler`` + ``RidgeCV`` (alphas 1e-2..1e3) on the
features present for every training set. Evaluated by **leave-one-recipe-out**: every row of
one recipe (a set's name without its version) is held out, the model fit on the rest predicts
them; Spearman rho between predicted and measured retention is reported per dimension over
recipes (means per recipe) and over rows. **Prediction interval**: split-conformal on the
leave-one-recipe-out residuals: prediction +- their 95 % absolute quantile. With a handful
of recipes all of this is thin; :attr:`Predictor.n_rows` and ``n_recipes`` say how thin.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.files import atomic_write

FEATURE_VERSION = 1
ALPHAS = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


def default_store() -> Path:
    from curate.files import cache_dir

    return cache_dir() / "results"


def recipe_of(set_label: str) -> str:
    """Recipe name of a set label: ``default@v1.0.0`` -> ``default`` (``#2`` suffixes dropped)."""
    return set_label.split("@")[0].split("#")[0]


# ----------------------------------------------------------------------------- features


def set_features(texts: list[str], sources: list[str], *, model=None, input_ids=None,
                 domains: dict[str, list[str]] | None = None, batch_size: int = 8,
                 prefix: list[int] | None = None) -> dict[str, float]:
    """Set-level features of one calibration set (see the module docstring).

    ``texts``/``sources``: the rows' text and source label; ``input_ids`` (N, L) with ``model``
    adds the model scores (each row after ``prefix``, the model's <bos>); ``domains`` maps domain name -> reference texts (default: the
    held-out split of every bundled source).
    """
    import numpy as np

    from curate.scoring.functional import distinct_n, ngram_aggregation, words, zipf_diversity
    from curate.scoring.minhash import MinHasher, estimate_jaccard, union_signature
    from curate.sources import BUNDLED

    toks = [words(t) for t in texts]
    feats: dict[str, float] = {
        "ngram4_aggregation": float(ngram_aggregation(texts, n=4)["repeat_share"]),
        "distinct_2": float(distinct_n(toks, 2)),
        "zipf_diversity": float(zipf_diversity([w for t in toks for w in t])),
    }
    n = max(len(sources), 1)
    for s in BUNDLED:
        feats[f"mix:{s}"] = sum(1 for x in sources if x == s) / n
    feats["mix:self-gen"] = sum(1 for x in sources if x.startswith("self-gen")) / n
    hasher = MinHasher(n=3, num_perm=128)
    mine = union_signature(hasher.signatures(texts))[None, :]  # (1, P)
    for name, ref in (domains if domains is not None else _heldout_domains()).items():
        theirs = union_signature(hasher.signatures(ref))[None, :]
        feats[f"minhash:{name}"] = float(estimate_jaccard(mine, theirs)[0, 0])
    if model is not None and input_ids is not None:
        from curate.scoring import compute_model_scores

        sc = compute_model_scores(model, input_ids, scores=("ppl", "min_k_pp"), batch_size=batch_size, progress=False,
                                  prefix=prefix or ())
        feats["log_ppl"] = float(np.nanmean(np.log(sc["ppl"].numpy())))
        feats["min_k_pp"] = float(np.nanmean(sc["min_k_pp"].numpy()))
    return feats


def _heldout_domains() -> dict[str, list[str]]:
    from curate.sources import BUNDLED, iter_source

    return {s: [d.text for d in iter_source(s, split="heldout")] for s in BUNDLED}


def check_feature_tokenizer(cs, tokenizer) -> None:
    """The model features (log_ppl, min_k_pp) read a set's stored ids: they must come from the
    feature model's tokenizer, or the scores are of other tokens (a silent wrong number)."""
    from curate.models import tokenizer_fingerprint

    fp, ours = cs.tokenizer_fingerprint, tokenizer_fingerprint(tokenizer)
    if fp and fp != ours:
        raise CurateError(f"set {cs.name} was tokenized with tokenizer {fp[:12]}, the feature model's is "
                          f"{ours[:12]}", hint="pass sets built for smollm2-135m, the model the features are measured with")


def features_of_set(cs, *, model=None, tokenizer=None, domains=None) -> dict[str, float]:
    """:func:`set_features` of a :class:`curate.sets.read.CalibrationSet`."""
    texts = cs.texts()
    cols = cs.dataset.column_names
    sources = list(cs.dataset["source"]) if "source" in cols else [""] * len(texts)
    if model is not None and tokenizer is not None:  # the model scores read the stored ids: same tokenizer
        check_feature_tokenizer(cs, tokenizer)
    ids = cs.draw(tokenizer=tokenizer) if model is not None else None  # every row, (N, L)
    from curate.models import bos_prefix

    prefix = bos_prefix(tokenizer) if model is not None and tokenizer is not None else []
    return set_features(texts, sources, model=model, input_ids=ids, domains=domains, prefix=prefix)


# -------------------------------------------------------------------------------- store


def append_results(table, store: str | Path | None = None, *, sets: dict[str, Any] | None = None,
                   model=None, tokenizer=None) -> Path:
    """Add a validation's tidy rows to the store (idempotent) and the features of ``sets``
    ({set label: CalibrationSet or path}) not stored yet; returns the rows file.

    The integration point of ``curate validate``: ``append_results(table, cfg.store, sets={e.label:
    e.cs for e in entries}, model=model, tokenizer=tokenizer)`` once the dense weights are back.
    """
    import io

    import polars as pl

    from curate.validate.results import TABLE_COLUMNS, with_moe_columns

    store = Path(store) if store is not None else default_store()
    table = with_moe_columns(table)  # a table written before the MoE columns: null there
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise CurateError(f"results table lacks column(s) {', '.join(missing)}",
                          hint="pass the results.parquet of a curate validate run")
    table = table.select(TABLE_COLUMNS).sort(["set", "seed", "metric"])
    buf = io.BytesIO()
    table.write_csv(buf)
    path = store / "rows" / f"{hashlib.sha256(buf.getvalue()).hexdigest()[:16]}.parquet"
    if not path.exists():
        out = io.BytesIO()
        table.write_parquet(out)
        atomic_write(path, out.getvalue())
    table_fps = set(table["fingerprint"].to_list())
    fps_of = {label: fps for label, fps in table.group_by("set").agg(pl.col("fingerprint").unique()).iter_rows()}
    for label, cs in (sets or {}).items():
        if isinstance(cs, str | Path):
            from curate.sets.read import load_set

            cs = load_set(cs)
        # The set's own fingerprint when rows name it (rebuilt draws name each seed's set); else the
        # caller's label, when that label's rows name exactly one set (a set file, a re-hashed copy).
        fp = getattr(cs, "fingerprint", None)
        if fp not in table_fps:
            only = fps_of.get(label, [])
            fp = only[0] if len(only) == 1 else None
        if fp is None:
            continue
        fpath = store / "features" / f"{fp}.json"
        if fpath.exists():
            continue
        feats = features_of_set(cs, model=model, tokenizer=tokenizer)
        atomic_write(fpath, json.dumps({"fingerprint": fp, "set": label, "feature_version": FEATURE_VERSION,
                                         "features": feats}, indent=1).encode())
    return path


def read_store(store: str | Path | None = None):
    """(rows, features): every stored tidy row (deduplicated), and {fingerprint: features}."""
    import polars as pl

    from curate.validate.results import TABLE_COLUMNS, with_moe_columns

    store = Path(store) if store is not None else default_store()
    files = sorted((store / "rows").glob("*.parquet"))
    if not files:
        raise CurateError(f"the results store {store} has no validation rows",
                          hint="validate some sets, then: curate predict add <validate-out> --sets <set folders>")
    # rows stored before the MoE columns existed get them as nulls
    rows = pl.concat([with_moe_columns(read_rows(f)).select(TABLE_COLUMNS) for f in files]).unique(
        maintain_order=True)
    feats = {}
    for f in sorted((store / "features").glob("*.json")):
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
            fp, fx = d["fingerprint"], d["features"]
            if not (isinstance(fp, str) and isinstance(fx, dict)
                    and all(isinstance(v, int | float) for v in fx.values())):
                raise TypeError
        except (OSError, ValueError, KeyError, TypeError):
            raise CurateError(f"features file {f} of the results store is damaged (not the JSON curate writes)",
                              hint="delete it; 'curate predict add' computes it again") from None
        feats[fp] = fx
    return rows, feats


def read_rows(path: Path):
    """A tidy results table (parquet), or a one-line error naming it."""
    import polars as pl

    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        hint = ("delete it and add the validation again: curate predict add <validate-out> --sets ..."
                if path.parent.name == "rows" else "rerun the validation into a new --out")
        raise CurateError(f"results table {path} is unreadable ({first})", hint=hint) from None


# ------------------------------------------------------------------------------ fitting


def training_frame(rows, feats: dict[str, dict[str, float]], *, method: str | None = None,
                   sparsity: float | None = None, pattern: str | None = None):
    """One row per (set, fingerprint, seed): recipe, features, retention per dimension.

    Keeps one pruning configuration: the one given, else the one with the most rows."""
    import polars as pl

    from curate.evaluate.dimensions import dimension_retention

    if method is None or sparsity is None or pattern is None:
        top = rows.group_by(["method", "sparsity", "pattern"]).len().sort("len", descending=True).row(0, named=True)
        method, sparsity, pattern = method or top["method"], sparsity if sparsity is not None else top["sparsity"], \
            pattern or top["pattern"]
    sub = rows.filter((pl.col("method") == method) & ((pl.col("sparsity") - sparsity).abs() < 1e-9)
                      & (pl.col("pattern") == pattern))
    if sub.is_empty():
        raise CurateError(f"no stored rows for {method} at sparsity {sparsity} ({pattern})",
                          hint="check --method/--sparsity/--pattern against the stored runs")
    ret = dimension_retention(sub).pivot(on="dimension", index=["set", "fingerprint", "seed"], values="retention")
    have = [fp for fp in ret["fingerprint"].unique().to_list() if fp in feats]
    ret = ret.filter(pl.col("fingerprint").is_in(have))
    if ret.is_empty():
        raise CurateError("no stored set has features", hint="add them: curate predict add <validate-out> --sets <set folders>")
    names = sorted(set.intersection(*(set(feats[fp]) for fp in have)))
    fx = pl.DataFrame([{"fingerprint": fp, **{k: float(feats[fp][k]) for k in names}} for fp in have])
    frame = ret.join(fx, on="fingerprint").with_columns(
        pl.col("set").map_elements(recipe_of, return_dtype=pl.String).alias("recipe")).sort(["set", "seed"])
    return frame, names, {"method": method, "sparsity": sparsity, "pattern": pattern}


def _pipeline():
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS))


def _clean(x):
    """NaN features (e.g. Zipf diversity of a tiny set) -> 0 after scaling is the column mean."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    col = np.nanmean(np.where(np.isfinite(x), x, np.nan), axis=0)
    col = np.where(np.isfinite(col), col, 0.0)
    return np.where(np.isfinite(x), x, col)


def spearman(a, b) -> float:
    """Spearman rho (average ranks for ties); NaN with fewer than 3 points or a constant side."""
    from scipy.stats import spearmanr

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return float("nan")
    return float(spearmanr(a, b).statistic)


@dataclass
class LinearModel:
    """A fitted ``StandardScaler`` + ridge as plain numbers: ``y = ((x - mean) / scale) . coef +
    intercept``. What the predictor file stores instead of pickled sklearn objects, so loading a
    file never runs code."""

    mean: list[float]  # (F,) the scaler's column means
    scale: list[float]  # (F,) its column scales (1 where a column was constant)
    coef: list[float]  # (F,) ridge coefficients on the scaled columns
    intercept: float
    alpha: float  # the ridge penalty RidgeCV chose (descriptive)

    @classmethod
    def from_pipeline(cls, pipe) -> LinearModel:
        scaler, ridge = pipe[0], pipe[-1]
        return cls(mean=[float(v) for v in scaler.mean_], scale=[float(v) for v in scaler.scale_],
                   coef=[float(v) for v in ridge.coef_], intercept=float(ridge.intercept_), alpha=float(ridge.alpha_))

    def predict(self, x):
        """(N, F) features -> (N,) predictions."""
        import numpy as np

        z = (np.asarray(x, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)  # (N, F)
        return z @ np.asarray(self.coef) + self.intercept


PREDICTOR_FORMAT = "curate-predictor"
PREDICTOR_FORMAT_VERSION = 2  # 1 was a joblib pickle, never loaded again
_FIT_HINT = "fit one: curate predict fit --out PATH.json"


@dataclass
class Predictor:
    """Fitted per-dimension models plus everything needed to trust (or not) their output."""

    features: list[str]
    dimensions: list[str]
    models: dict[str, LinearModel]
    halfwidth: dict[str, float]  # 95 % split-conformal half-width per dimension
    rho_recipe: dict[str, float]  # leave-one-recipe-out Spearman over recipe means
    rho_rows: dict[str, float]  # ... over (set, seed) rows
    n_rows: int
    n_recipes: int
    recipes: list[str]
    config: dict[str, Any]
    fingerprint: str  # sha256 of the training frame
    loro: list[dict[str, Any]] = field(default_factory=list)  # held-out predictions
    created: str = ""

    def predict(self, feats: dict[str, float]) -> dict[str, tuple[float, float, float]]:
        """{dimension: (prediction, low, high)} for one set's features."""
        import numpy as np

        missing = [f for f in self.features if f not in feats]
        if missing:
            raise CurateError(f"features missing for prediction: {', '.join(missing)}",
                              hint="compute them with the same options (a model for log_ppl/min_k_pp)")
        x = np.array([[float(feats[f]) for f in self.features]])
        x = np.where(np.isfinite(x), x, 0.0)
        out = {}
        for d in self.dimensions:
            p = float(self.models[d].predict(x)[0])
            out[d] = (p, p - self.halfwidth[d], p + self.halfwidth[d])
        return out

    def rank(self, sets: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
        """Sets ordered by predicted Total retention (highest first), with intervals."""
        rows = []
        for name, feats in sets.items():
            pr = self.predict(feats)
            rows.append({"set": name, **{d: pr[d] for d in self.dimensions}})
        key = "Total" if "Total" in self.dimensions else self.dimensions[-1]
        return sorted(rows, key=lambda r: -r[key][0])

    def summary(self) -> dict[str, Any]:
        return {"n_rows": self.n_rows, "n_recipes": self.n_recipes, "recipes": self.recipes,
                "config": self.config, "fingerprint": self.fingerprint, "features": self.features,
                "rho_leave_one_recipe_out": {"recipe_means": self.rho_recipe, "rows": self.rho_rows},
                "interval_halfwidth_95": self.halfwidth, "created": self.created}

    def to_dict(self) -> dict[str, Any]:
        """The predictor as JSON-able data: format, version, training fingerprint, the numbers."""
        body = {"format": PREDICTOR_FORMAT, "format_version": PREDICTOR_FORMAT_VERSION,
                "feature_version": FEATURE_VERSION, "features": self.features, "dimensions": self.dimensions,
                "models": {d: asdict(m) for d, m in self.models.items()}, "halfwidth": self.halfwidth,
                "rho_recipe": self.rho_recipe, "rho_rows": self.rho_rows, "n_rows": self.n_rows,
                "n_recipes": self.n_recipes, "recipes": self.recipes, "config": self.config,
                "fingerprint": self.fingerprint, "loro": self.loro, "created": self.created,
                "summary": self.summary()}
        return {**body, "digest": _digest(body)}

    def save(self, path: str | Path) -> Path:
        """Write the predictor as one JSON file (atomically); nothing in it can run code."""
        path = Path(path).expanduser()
        atomic_write(path, json.dumps(self.to_dict(), indent=1, allow_nan=True).encode())
        return path


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def load_predictor(path: str | Path) -> Predictor:
    """Read a predictor JSON file, checking format, version, digest and shapes before any use.
    Only JSON is parsed: a pickle (or anything else) is refused without being interpreted."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CurateError(f"predictor {path} does not exist" if not path.exists() else f"predictor {path} is not a file",
                          hint=_FIT_HINT)

    def bad(why: str) -> CurateError:
        return CurateError(f"{path} is not a curate predictor ({why})", hint=_FIT_HINT)

    try:
        d = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise bad("not JSON text; pickled predictors are never loaded") from None
    except (ValueError, RecursionError):
        raise bad("not valid JSON") from None
    if not isinstance(d, dict) or d.get("format") != PREDICTOR_FORMAT:
        raise bad("no 'format': 'curate-predictor'")
    if d.get("format_version") != PREDICTOR_FORMAT_VERSION:
        raise CurateError(f"predictor {path} has format version {d.get('format_version')!r}, this curate reads "
                          f"{PREDICTOR_FORMAT_VERSION}", hint="refit it with this curate: curate predict fit --out PATH.json")
    if d.get("feature_version") != FEATURE_VERSION:
        raise CurateError(f"predictor {path} was fitted on feature version {d.get('feature_version')!r}, this curate "
                          f"computes {FEATURE_VERSION}", hint="refit it: curate predict fit --out PATH.json")
    body = {k: v for k, v in d.items() if k != "digest"}
    if d.get("digest") != _digest(body):
        raise bad("its digest does not match its content: edited or truncated")
    try:
        fp = d["fingerprint"]
        if not (isinstance(fp, str) and len(fp) == 64 and all(c in "0123456789abcdef" for c in fp)):
            raise ValueError("fingerprint")
        feats = [str(f) for f in d["features"]]
        models = {}
        for dim in d["dimensions"]:
            m = LinearModel(**d["models"][dim])
            nums = [*m.mean, *m.scale, *m.coef, m.intercept]
            if not (len(m.mean) == len(m.scale) == len(m.coef) == len(feats)) or \
                    not all(isinstance(v, int | float) and math.isfinite(v) for v in nums) or 0 in m.scale:
                raise ValueError(dim)
            models[dim] = m
        pred = Predictor(features=feats, dimensions=list(d["dimensions"]), models=models,
                         halfwidth={k: float(d["halfwidth"][k]) for k in d["dimensions"]},
                         rho_recipe=dict(d["rho_recipe"]), rho_rows=dict(d["rho_rows"]), n_rows=int(d["n_rows"]),
                         n_recipes=int(d["n_recipes"]), recipes=list(d["recipes"]), config=dict(d["config"]),
                         fingerprint=fp, loro=list(d.get("loro") or []), created=str(d.get("created") or ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"field {str(exc) or type(exc).__name__} is missing or malformed") from None
    return pred


def fit_predictor(rows, feats: dict[str, dict[str, float]], *, method: str | None = None,
                  sparsity: float | None = None, pattern: str | None = None) -> Predictor:
    """Fit per-dimension ridge models and measure them leave-one-recipe-out."""
    import numpy as np
    import polars as pl

    from curate.evaluate.dimensions import DIMENSIONS, TOTAL

    frame, names, config = training_frame(rows, feats, method=method, sparsity=sparsity, pattern=pattern)
    dims = [d for d in (*DIMENSIONS, TOTAL) if d in frame.columns]
    recipes = sorted(set(frame["recipe"].to_list()))
    if len(recipes) < 3:
        raise CurateError(f"the store has {len(recipes)} recipe(s) for this configuration; "
                          "leave-one-recipe-out needs at least 3", hint="validate more sets into the store")
    x_all = _clean(frame.select(names).to_numpy())
    groups = np.array(frame["recipe"].to_list())
    models, half, rho_r, rho_rows, loro = {}, {}, {}, {}, []
    for d in dims:
        ok = np.isfinite(frame[d].fill_null(float("nan")).to_numpy())
        x, y, g = x_all[ok], frame[d].to_numpy()[ok], groups[ok]
        pred = np.full(y.shape, np.nan)
        for r in sorted(set(g)):
            test = g == r
            if test.all():
                continue
            pred[test] = _pipeline().fit(x[~test], y[~test]).predict(x[test])
        res = np.abs(y - pred)
        # split-conformal: the ceil((n+1) 0.95)-th smallest residual (the largest when n < 19)
        k = min(len(res), math.ceil((len(res) + 1) * 0.95))
        half[d] = float(np.sort(res)[k - 1])
        rho_rows[d] = spearman(pred.tolist(), y.tolist())
        means = {r: (float(y[g == r].mean()), float(pred[g == r].mean())) for r in sorted(set(g))}
        rho_r[d] = spearman([m[1] for m in means.values()], [m[0] for m in means.values()])
        loro += [{"recipe": r, "dimension": d, "measured": m[0], "predicted": m[1]} for r, m in means.items()]
        models[d] = LinearModel.from_pipeline(_pipeline().fit(x, y))
    fp = hashlib.sha256(frame.sort(["set", "seed"]).write_csv().encode()).hexdigest()
    del pl
    return Predictor(features=names, dimensions=dims, models=models, halfwidth=half, rho_recipe=rho_r,
                     rho_rows=rho_rows, n_rows=frame.height, n_recipes=len(recipes), recipes=recipes,
                     config=config, fingerprint=fp, loro=loro,
                     created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def rank_sets(predictor: Predictor, sets: dict[str, Any], *, model=None, tokenizer=None) -> list[dict[str, Any]]:
    """Rank set folders/objects ({name: path or CalibrationSet}) by predicted retention."""
    from curate.sets.read import load_set

    need_model = any(f in ("log_ppl", "min_k_pp") for f in predictor.features)
    loaded = {name: load_set(cs) if isinstance(cs, str | Path) else cs for name, cs in sets.items()}
    if need_model and model is None:
        from curate.models import load_model, load_tokenizer

        tokenizer = load_tokenizer("smollm2-135m")
        for cs in loaded.values():  # every set's tokenizer before the model's 0.5 GB of weights
            check_feature_tokenizer(cs, tokenizer)
        model, tokenizer, _ = load_model("smollm2-135m")
    feats = {}
    for name, cs in loaded.items():
        feats[name] = features_of_set(cs, model=model if need_model else None, tokenizer=tokenizer)
    return predictor.rank(feats)
