"""What a build will cost, estimated from the recipe alone, before any work.

    from curate.budget import check_build_size
    check_build_size(recipe)        # raises past the machine's memory; warns about long generation

A build holds every produced row in memory until the write: a row of L tokens costs about
``L * BYTES_PER_TOKEN + BYTES_PER_ROW`` (Python ints of the ids, the decoded text, the dataclass,
then the arrow table of the write). Produced rows are each component's count (of ``pool_size``,
default ``n_samples``) times its producer's ``oversample``. Self-generated components also cost
time: their new tokens at :data:`GEN_TOKENS_PER_S`.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

from curate.errors import CurateError

# Measured (tracemalloc) on 2,000 rows of 256 tokens: 46 B/token for ids + text as Python objects;
# the rows and the arrow table of the write add ~16 B/token more at the peak.
BYTES_PER_TOKEN = 64
BYTES_PER_ROW = 1536  # Sample, its dicts and strings
# docs/NOTES / OFFLINE.md: SmolLM2-135M sampled generation, batch 8, 2 CPU cores: 40 x 510 new
# tokens in 321 s (~64 tok/s). A GPU is faster; the warning says so.
GEN_TOKENS_PER_S = 64
WARN_GENERATION_S = 1800


@dataclass
class BuildEstimate:
    rows: int  # rows produced before trimming to each count
    seq_len: int
    bytes: int  # peak memory of those rows
    gen_tokens: dict[str, int]  # component label -> new tokens it generates
    knob: str  # the setting that makes the rows many


def estimate_build(recipe) -> BuildEstimate:
    rows, gen, knob_val, knob = 0, {}, 1.0, "n_samples"
    for comp, count in zip(recipe.components, recipe.component_counts(), strict=True):
        producer = next(s for s in comp.steps if s.stage == "producer")
        over = float(getattr(producer, "oversample", 1.0) or 1.0)
        made = math.ceil(count * over)
        rows += made
        if over > knob_val:
            knob_val, knob = over, f"'oversample' of component '{comp.label}' ({over:g})"
        if comp.self_generated:
            gen[comp.label] = made * recipe.seq_len
    pool = recipe.pool_size or recipe.n_samples
    if knob == "n_samples" and pool > recipe.n_samples:
        knob = f"pool_size ({pool})"
    elif knob == "n_samples":
        knob = f"n_samples ({recipe.n_samples}) or seq_len ({recipe.seq_len})"
    return BuildEstimate(rows, recipe.seq_len, rows * (recipe.seq_len * BYTES_PER_TOKEN + BYTES_PER_ROW), gen, knob)


def available_memory() -> int:
    """Bytes this process can still allocate: MemAvailable (Linux), else physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: never refuse on a guess


def check_build_size(recipe, *, available: int | None = None, warn=None) -> BuildEstimate:
    """Refuse a recipe whose rows cannot fit in memory, warn about hours of generation."""
    est = estimate_build(recipe)
    avail = available_memory() if available is None else available
    if est.bytes > avail:
        raise CurateError(f"recipe '{recipe.name}' would hold about {est.rows:,} rows x {est.seq_len} tokens in "
                          f"memory, about {est.bytes / 1e9:,.1f} GB; {avail / 1e9:.1f} GB are available",
                          hint=f"lower {est.knob}")
    for label, tokens in est.gen_tokens.items():
        secs = tokens / GEN_TOKENS_PER_S
        if secs > WARN_GENERATION_S:
            (warn or _stderr)(f"warning: component '{label}' generates about {tokens:,} tokens: about {secs / 3600:.1f} h "
                              f"at the {GEN_TOKENS_PER_S} tokens/s measured for smollm2-135m on 2 CPU cores (a GPU "
                              f"is faster); lower {est.knob if 'oversample' in est.knob else 'n_samples'} to shorten it")
    return est


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)
