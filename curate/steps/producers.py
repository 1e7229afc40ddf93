"""Producer steps: documents -> exactly-L-token samples.

``SampleStep`` cuts windows or packs blocks with a sampler of :data:`curate.sampling.SAMPLERS`;
``GenerateStep`` lets the model write its own calibration text with a backend of
:data:`curate.generation.GENERATION_BACKENDS` (Ji et al. 2024, "Beware of Calibration Data for
Pruning Large Language Models", §4: prefixes of 1-4 tokens from source documents, nucleus
sampling with top-p 0.95, top-k 50, temperature 0.6-0.8 and repetition penalty 1.2; Williams et
al. 2024, self-calibration: from the start token alone with a temperature schedule).

    components:
      - source: {type: bundled, name: wikipedia}
        steps:
          - {type: generate, prefix_tokens: [1, 4], temperature: 0.8, oversample: 1.25}
          - {type: perplexity_filter, drop_top: 0.2}
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from curate.errors import SourceError
from curate.records import Sample
from curate.sampling import SAMPLERS, make_tokenize
from curate.steps.base import Stage, Step, StepSpec


class SampleSpec(StepSpec):
    """Turn documents into L-token samples with a registered sampler (``random_windows``, the
    Wanda/SparseGPT convention, or ``packing``); other keys are the sampler's parameters."""

    model_config = ConfigDict(extra="allow")  # the sampler's parameters, checked by its class
    type: Literal["sample"]
    method: str = "random_windows"
    oversample: float = Field(default=1.0, ge=1.0)
    stage: ClassVar[Stage] = "producer"

    @field_validator("method")
    @classmethod
    def _known(cls, v: str) -> str:
        return SAMPLERS.check_name(v)

    @model_validator(mode="after")
    def _params(self):
        try:  # a misspelled sampler parameter fails here, at load, in one line
            self.sampler()
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            what = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
            raise ValueError(f"sampler '{self.method}': {what} '{where}'") from None
        return self

    def sampler(self):
        """The sampler with its parameters from this block."""
        return SAMPLERS.get(self.method).model_validate(self.model_extra or {})


class GenerateSpec(StepSpec):
    """Self-generation from k-token prefixes (Ji et al. 2024) or from the start token
    (self-calibration, Williams et al. 2024) with a registered generation backend."""

    type: Literal["generate"]
    prefix_tokens: int | list[int] = Field(default=4)  # k, or [k_min, k_max] drawn per sample
    temperature: float | None = Field(default=0.8, gt=0)
    # Linear temperature schedule over generated positions (Williams et al. 2024):
    # [t_start, t_end]; overrides ``temperature`` when given.
    temperature_schedule: tuple[float, float] | None = None
    schedule_tokens: int | None = Field(default=None, gt=0)  # n of the schedule; default: all
    top_p: float = Field(default=0.95, gt=0, le=1)
    top_k: int | None = Field(default=50, ge=0)
    repetition_penalty: float = Field(default=1.2, gt=0)
    oversample: float = Field(default=1.0, ge=1.0)
    backend: str = "transformers"  # a name of curate.generation.GENERATION_BACKENDS
    # rows per generate() batch; None = the model's batch_size; "auto" = the largest batch whose
    # static KV cache and sampling buffers fit in 80 % of free CUDA memory (8 on CPU). The tokens
    # do not depend on it (counter-based sampler), up to the model's float noise across batch shapes.
    batch_size: Annotated[int, Field(gt=0)] | Literal["auto"] | None = None
    # Prompt through the model's chat template (curate.steps.chat): the user turn is a question
    # of the document (``question``: its first ``prefix_tokens`` tokens, the whole ``document``,
    # a champ-math ``problem`` without its solution, or a documented Python ``function``'s
    # signature and docstring), put into ``template``; the sample is the prompt and the model's
    # answer, and its assistant_mask marks the answer.
    chat: bool = False
    question: Literal["prefix", "document", "problem", "function"] = "prefix"
    template: str = "{question}"
    system: str | None = None
    max_question_tokens: int | None = Field(default=None, gt=0)  # default: half of seq_len
    stage: ClassVar[Stage] = "producer"
    self_generated: ClassVar[bool] = True

    @model_validator(mode="after")
    def _chat_only(self):
        if not self.chat and (self.question != "prefix" or self.template != "{question}" or self.system):
            raise ValueError("question, template and system need chat: true")
        if "{question}" not in self.template:
            raise ValueError("template must contain {question}")
        return self

    @field_validator("prefix_tokens")
    @classmethod
    def _prefix(cls, v):
        vals = [v] if isinstance(v, int) else list(v)
        if len(vals) not in (1, 2) or any(k < 0 or k > 1024 for k in vals) or vals != sorted(vals):
            raise ValueError("prefix_tokens must be k or [k_min, k_max] with 0 <= k <= 1024")
        return v

    @field_validator("backend")
    @classmethod
    def _backend(cls, v: str) -> str:
        from curate.generation import GENERATION_BACKENDS

        return GENERATION_BACKENDS.check_name(v)


class Producer(Step):
    """A producer gets the target count and the documents of its component."""

    kind = "producer"

    def __init__(self, spec, target: int, seq_len: int, seed: int, source_name: str, **_):
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
        rng = random.Random(f"{self.seed}:{self.source_name}:sample")
        return self.spec.sampler().draw(samples, n=self.n_out, seq_len=self.seq_len, rng=rng,
                                        tokenizer=ctx.tokenizer, source_name=self.source_name,
                                        progress=ctx.progress)


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
        spec, tok = self.spec, ctx.tokenizer
        if spec.chat:
            return self._chat(samples, ctx)
        k = spec.prefix_tokens
        k_range = (k, k) if isinstance(k, int) else (k[0], k[-1])
        rng = random.Random(f"{self.seed}:{self.source_name}:prefix")
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        pairs = draw_prefixes(samples, make_tokenize(tok), self.n_out, k_range, rng, start)
        if max(len(p) for _, p in pairs) >= self.seq_len:
            raise SourceError(f"prefix_tokens {k} leaves nothing to generate with seq_len={self.seq_len}")
        cfg = self._sampling()
        prompts = [p for _, p in pairs]
        cont = self._generate(prompts, cfg, ctx)
        return self._samples(pairs, cont, cfg, tok, tag="gen", chat=False,
                             meta=lambda doc, prompt: {"prefix_len": len(prompt) if doc is not None else 0,
                                                       "backend": spec.backend})

    def _samples(self, pairs: Sequence[tuple[Sample | None, list[int]]], cont: list[list[int]], cfg, tok, *, tag: str,
                 chat: bool, meta: Callable[[Sample | None, list[int]], dict[str, Any]]) -> list[Sample]:
        """One sample per (document, prompt) and its continuation: prompt + generation, exactly
        seq_len tokens; ``doc_id`` ``<doc>#<tag><i>``; the sampling parameters in every ``meta``
        (and once in the step's stats); with ``chat`` an assistant mask over the generated part."""
        sampling = {k: (str(v) if isinstance(v, list) else v) for k, v in cfg.to_dict().items() if v is not None}
        out = []
        for i, ((doc, prompt), gen) in enumerate(zip(pairs, cont, strict=True)):
            ids = list(prompt) + list(gen)  # exactly seq_len tokens
            out.append(Sample(
                text=tok.decode(ids, skip_special_tokens=False),
                source=f"self-gen:{self.source_name}",
                doc_id=f"{doc.doc_id if doc else 'start'}#{tag}{i}",
                input_ids=ids,
                assistant_mask=[0] * len(prompt) + [1] * len(gen) if chat else None,
                meta={**meta(doc, prompt), **sampling},
            ))
        self.stats.extra["sampling"] = cfg.to_dict()
        return out

    def _sampling(self):
        from curate.generation import SamplingConfig

        spec = self.spec
        return SamplingConfig(temperature=spec.temperature or 1.0, top_p=spec.top_p, top_k=spec.top_k,
                              repetition_penalty=spec.repetition_penalty,
                              temperature_schedule=tuple(spec.temperature_schedule) if spec.temperature_schedule else None,
                              schedule_tokens=spec.schedule_tokens)

    def _generate(self, prompts: list[list[int]], cfg, ctx: Any) -> list[list[int]]:
        """Continuations that make every prompt exactly seq_len tokens long."""
        from curate.generation import GENERATION_BACKENDS
        from curate.models import bos_prefix

        backend = GENERATION_BACKENDS.get(self.spec.backend).from_context(
            ctx, seed=self.seed, batch_size=self.spec.batch_size or ctx.batch_size)
        # The model continues its <bos> + the prefix (Gemma generates poorly without <bos>); the
        # sample keeps prefix + continuation, as every row: the <bos> is put back at each forward.
        bos = bos_prefix(ctx.tokenizer) if ctx.tokenizer is not None else []
        fed = [p if not bos or p[:len(bos)] == bos else [*bos, *p] for p in prompts]
        return backend.generate(fed, [self.seq_len - len(p) for p in prompts], cfg, seed=self.seed,
                                progress=ctx.progress)

    def _chat(self, samples: list[Sample], ctx: Any) -> list[Sample]:
        """Questions of the documents through the chat template; the model's answers (EOS, the
        template's end of turn, is suppressed until L tokens, as in every self-generation)."""
        from curate.steps.chat import QUESTIONS, chat_prompt, check_chat_template

        spec, tok = self.spec, ctx.tokenizer
        check_chat_template(tok)
        tokenize = make_tokenize(tok)
        extract = QUESTIONS.get(spec.question)
        k = spec.prefix_tokens
        k_range = (k, k) if isinstance(k, int) else (k[0], k[-1])
        max_q = spec.max_question_tokens or self.seq_len // 2
        rng = random.Random(f"{self.seed}:{self.source_name}:question")
        order = list(range(len(samples)))
        rng.shuffle(order)
        pairs: list[tuple[Sample, list[int]]] = []
        pos = 0
        while len(pairs) < self.n_out and pos < len(order) * 4:  # every document up to four times
            doc = samples[order[pos % len(order)]]
            pos += 1
            if extract is None:  # "prefix": the first k tokens of the document
                ids = tokenize(doc.text)[:max(rng.randint(*k_range), 1)]
                q = tok.decode(ids, skip_special_tokens=True).strip()
            else:
                q = extract(doc.text, rng)
            if not q:
                self.stats.drop(f"no_{spec.question}")
                continue
            q_ids = tokenize(q)
            if len(q_ids) > max_q:  # keep room for the answer: cut the question
                q = tok.decode(q_ids[:max_q], skip_special_tokens=True)
            prompt = chat_prompt(tok, spec.template.format(question=q), spec.system)
            if len(prompt) >= self.seq_len:
                self.stats.drop("prompt_too_long")
                continue
            pairs.append((doc, prompt))
        if len(pairs) < self.n_out:
            raise SourceError(f"source '{self.source_name}' gave {len(pairs)} {spec.question} questions, "
                              f"{self.n_out} are needed", hint="use another question kind or a larger source")
        cfg = self._sampling()
        cont = self._generate([p for _, p in pairs], cfg, ctx)
        return self._samples(pairs, cont, cfg, tok, tag="chat", chat=True,
                             meta=lambda doc, prompt: {"prompt_len": len(prompt), "chat": True,
                                                       "question": spec.question, "backend": spec.backend})
