"""Producer steps: documents -> exactly-L-token samples.

``SampleStep`` cuts windows or packs blocks (curate.sampling); ``GenerateStep`` lets the model
write its own calibration text (Ji et al. 2024, "Beware of Calibration Data for Pruning Large
Language Models", §4: prefixes of 1-4 tokens from source documents, nucleus sampling with top-p
0.95, top-k 50, temperature 0.6-0.8 and repetition penalty 1.2; Williams et al. 2024,
self-calibration: from the start token alone with a temperature schedule).

    components:
      - source: {type: bundled, name: wikipedia}
        steps:
          - {type: generate, prefix_tokens: [1, 4], temperature: 0.8, oversample: 1.25}
          - {type: perplexity_filter, drop_top: 0.2}
"""

from __future__ import annotations

import math
import random
from typing import Any

from curate.errors import SourceError
from curate.records import Sample
from curate.sampling import make_tokenize, packing, random_windows
from curate.steps.base import Step


class Producer(Step):
    """A producer gets the target count and the documents of its component."""

    kind = "producer"

    def __init__(self, spec, target: int, seq_len: int, seed: int, source_name: str):
        super().__init__(name=f"{spec.type}:{source_name}")
        self.spec, self.target, self.seq_len, self.seed, self.source_name = spec, target, seq_len, seed, source_name

    @property
    def n_out(self) -> int:
        # Oversample so that the drops of later steps leave the target count (e.g. 1.25 x for a
        # 20 % perplexity filter).
        return math.ceil(self.target * self.spec.oversample - 1e-9)


class SampleStep(Producer):
    kind = "sampler"

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        tok = ctx.tokenizer
        rng = random.Random(f"{self.seed}:{self.source_name}:sample")
        decode = lambda ids: tok.decode(ids)  # noqa: E731
        if self.spec.method == "random_windows":
            return random_windows(samples, make_tokenize(tok), self.n_out, self.seq_len, rng, decode,
                                  self.source_name, ctx.progress)
        return packing(samples, make_tokenize(tok), self.n_out, self.seq_len, rng, tok.eos_token_id, decode,
                       self.source_name, ctx.progress)


def draw_prefixes(docs: list[Sample], tokenize, n: int, k_range: tuple[int, int], rng: random.Random,
                  start_id: int | None) -> list[tuple[Sample | None, list[int]]]:
    """n (document, prefix ids) pairs: k ~ U{k_min..k_max} first tokens of a random document.

    k = 0 means no source text: the prompt is the start token alone (BOS, or EOS for models
    without BOS), the self-calibration setting of Williams et al. 2024.
    """
    k_min, k_max = k_range
    if k_max == 0:
        if start_id is None:
            raise SourceError("prefix_tokens: 0 needs a BOS or EOS token in the tokenizer")
        return [(None, [start_id]) for _ in range(n)]
    order = list(range(len(docs)))
    rng.shuffle(order)
    out: list[tuple[Sample | None, list[int]]] = []
    pos = 0
    tried = 0
    while len(out) < n:
        if tried >= len(order) and not out:
            raise SourceError(f"no document has {k_max} tokens to use as a prefix", hint="lower prefix_tokens")
        doc = docs[order[pos % len(order)]]
        pos += 1
        tried += 1
        k = rng.randint(k_min, k_max)
        ids = tokenize(doc.text)[:k]
        if len(ids) < k or k == 0:
            if k == 0 and start_id is not None:
                out.append((doc, [start_id]))
            continue
        out.append((doc, ids))
    return out


class GenerateStep(Producer):
    kind = "generator"

    def process(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        from curate.generation import GENERATION_BACKENDS, SamplingConfig

        spec, tok = self.spec, ctx.tokenizer
        k = spec.prefix_tokens
        k_range = (k, k) if isinstance(k, int) else (k[0], k[-1])
        rng = random.Random(f"{self.seed}:{self.source_name}:prefix")
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        pairs = draw_prefixes(samples, make_tokenize(tok), self.n_out, k_range, rng, start)
        if max(len(p) for _, p in pairs) >= self.seq_len:
            raise SourceError(f"prefix_tokens {k} leaves nothing to generate with seq_len={self.seq_len}")
        cfg = SamplingConfig(temperature=spec.temperature or 1.0, top_p=spec.top_p, top_k=spec.top_k,
                             repetition_penalty=spec.repetition_penalty,
                             temperature_schedule=tuple(spec.temperature_schedule) if spec.temperature_schedule else None,
                             schedule_tokens=spec.schedule_tokens)
        bs = spec.batch_size or ctx.batch_size
        if spec.backend == "vllm":
            backend = GENERATION_BACKENDS.get("vllm")(ctx.model_info.path, tok, seed=self.seed)
        else:
            backend = GENERATION_BACKENDS.get("transformers")(ctx.model, tok, batch_size=bs)
        prompts = [p for _, p in pairs]
        cont = backend.generate(prompts, [self.seq_len - len(p) for p in prompts], cfg, seed=self.seed,
                                progress=ctx.progress)
        out = []
        for i, ((doc, prompt), gen) in enumerate(zip(pairs, cont, strict=True)):
            ids = list(prompt) + list(gen)  # exactly seq_len tokens
            out.append(Sample(
                text=tok.decode(ids, skip_special_tokens=False),
                source=f"self-gen:{self.source_name}",
                doc_id=f"{doc.doc_id if doc else 'start'}#gen{i}",
                input_ids=ids,
                meta={"prefix_len": len(prompt) if doc is not None else 0, "backend": spec.backend,
                      **{k2: (str(v) if isinstance(v, list) else v) for k2, v in cfg.to_dict().items() if v is not None}},
            ))
        self.stats.extra["sampling"] = cfg.to_dict()
        return out
