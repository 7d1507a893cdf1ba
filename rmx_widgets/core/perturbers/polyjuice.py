"""Polyjuice counterfactuals: the general-purpose perturbation model as an evaluation baseline.

Polyjuice (Wu et al., 2021; the public GPT-2 model ``uw-hai/polyjuice``) rewrites *one
sentence* under a control code such as ``negation`` or ``lexical``. It knows nothing of reward
model attributes, which is the point of the baseline: it shows how often a fluent, minimal,
attribute-blind edit flips a reward model's preference.

For each request one sentence of the response (outside code blocks) and one control code are
drawn from a ``random.Random`` seeded with a SHA-256 of (seed, response, attribute name,
direction), so each (attribute, direction) slot gets a different but reproducible draw. The
model is prompted with ``"{sentence} <|perturb|> [{code}]"`` and continues in the Polyjuice
format, ``" {template} [SEP] {answer} [ANSWER] ... <|endoftext|>"`` or, without blanks,
``" {sentence} <|endoftext|>"``. ``parse_polyjuice`` turns that into the new sentence; an output
that does not follow the format is a recorded failure with its reason, never a guess.

The model loads on first use. Offline, a hub name that is not in the local cache cannot be
loaded: ``why_unavailable()`` says so before anything is run, so an
evaluation can leave this baseline out with one clear line instead of failing after a network
timeout.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from collections.abc import Sequence
from typing import Any

from rmx_widgets.core.devices import (
    halve_on_oom,
    looks_local,
    pretrained_kwargs,
    resolve_device,
)
from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import (
    BasePerturber,
    PerturbationRequest,
    PerturbationResult,
    ResultCallback,
    check_rewrite,
)

VERSION = "v1"
PERTURB_TOK = "<|perturb|>"
BLANK_TOK = "[BLANK]"
SEP_TOK = "[SEP]"
ANSWER_TOK = "[ANSWER]"
EMPTY_TOK = "[EMPTY]"
END_TOK = "<|endoftext|>"
CTRL_CODES: tuple[str, ...] = (
    "negation",
    "quantifier",
    "shuffle",
    "lexical",
    "resemantic",
    "insert",
    "delete",
    "restructure",
)
DEFAULT_MODEL = "uw-hai/polyjuice"

_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.DOTALL | re.MULTILINE)
_LINE = re.compile(r"[^\n]+")
_MARKER = re.compile(r"^\s*(?:[-*+]|\d+[.)]|#{1,6}|>)\s+")
_SENTENCE = re.compile(r"\S.*?(?:[.!?]+(?=\s|$)|$)")
_LETTER = re.compile(r"[^\W\d_]")


def parse_polyjuice(generated: str, code: str) -> str | None:
    """The perturbed sentence in a Polyjuice output, or ``None`` when it is malformed.

    ``generated`` is the prompt and its continuation (or the continuation alone); the part
    after ``[{code}]`` (the first one after ``<|perturb|>`` when that is present) up to
    ``<|endoftext|>`` is read. With ``[SEP]`` it is a template whose ``[BLANK]`` s are filled,
    in order, by the answers after ``[SEP]``, each closed by ``[ANSWER]`` (``[EMPTY]`` is an
    empty answer, which also drops the space before its blank); the number of answers must
    equal the number of blanks. Without ``[SEP]`` it is the sentence itself and may contain no
    ``[BLANK]`` or ``[ANSWER]``. Output cut off before ``<|endoftext|>`` is malformed, since a
    cut-off sentence is not a perturbation of the whole sentence.
    """
    if not isinstance(generated, str) or not isinstance(code, str) or not code:
        return None
    start = 0
    perturb_at = generated.find(PERTURB_TOK)
    if perturb_at >= 0:
        start = perturb_at + len(PERTURB_TOK)
    marker = f"[{code}]"
    at = generated.find(marker, start)
    if at < 0:
        return None
    body = generated[at + len(marker) :]
    end = body.find(END_TOK)
    if end < 0:
        return None
    body = body[:end]
    if PERTURB_TOK in body:
        return None
    if SEP_TOK in body:
        if body.count(SEP_TOK) != 1:
            return None
        template, answer_text = body.split(SEP_TOK)
        parts = answer_text.split(ANSWER_TOK)
        if parts[-1].strip():  # text after the last [ANSWER]: an unfinished answer
            return None
        answers = [a.strip() for a in parts[:-1]]
        if len(answers) != template.count(BLANK_TOK) or BLANK_TOK in answer_text:
            return None
        for answer in answers:
            if answer == EMPTY_TOK:
                template = re.sub(r" ?" + re.escape(BLANK_TOK), "", template, count=1)
            elif EMPTY_TOK in answer or not answer:
                return None
            else:
                template = template.replace(BLANK_TOK, answer, 1)
        body = template
    elif BLANK_TOK in body or ANSWER_TOK in body or EMPTY_TOK in body:
        return None
    sentence = " ".join(body.split())
    return sentence or None


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence with a letter, outside fenced code, without list markers."""
    spans = []
    code = [(m.start(), m.end()) for m in _FENCE.finditer(text)]
    for line in _LINE.finditer(text):
        if any(a <= line.start() < b for a, b in code):
            continue
        content = line.group(0)
        marker = _MARKER.match(content)
        offset = line.start() + (marker.end() if marker else 0)
        rest = content[marker.end() :] if marker else content
        for m in _SENTENCE.finditer(rest):
            sentence = m.group(0).rstrip()
            if _LETTER.search(sentence):
                spans.append((offset + m.start(), offset + m.start() + len(sentence)))
    return spans


def _check_arguments(name_or_path: str, seed: int, max_new_tokens: int, batch_size: int) -> None:
    """Refuse the constructor arguments no generation could work with, before a model loads."""
    if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
        raise PerturberError(
            "PolyjuicePerturber needs a model name or folder, e.g. "
            f"PolyjuicePerturber({DEFAULT_MODEL!r})."
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise PerturberError(f"seed must be an integer, got {seed!r}.")
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or max_new_tokens < 1
    ):
        raise PerturberError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise PerturberError(f"batch_size must be a positive integer, got {batch_size!r}.")


def _ctrl_codes(ctrl_codes: Sequence[str] | str) -> tuple[str, ...]:
    """The control codes asked for, deduplicated in order; each must be one of Polyjuice's."""
    if isinstance(ctrl_codes, str):
        ctrl_codes = (ctrl_codes,)
    codes = tuple(dict.fromkeys(ctrl_codes))
    unknown = [c for c in codes if c not in CTRL_CODES]
    if not codes or unknown:
        raise PerturberError(
            f"ctrl_codes must be a non-empty subset of Polyjuice's codes "
            f"{CTRL_CODES}; got {tuple(ctrl_codes)!r}."
        )
    return codes


class PolyjuicePerturber(BasePerturber):
    """Rewrite one seeded-random sentence of each response with Polyjuice.

    ``name_or_path`` is the hub name (default ``uw-hai/polyjuice``) or a local folder of a
    Polyjuice-format causal LM; it loads on first use. ``ctrl_codes`` are the control codes to
    draw from. Generation is greedy and batched (``batch_size``) unless ``do_sample=True``,
    which samples (top-p 0.9) one request at a time from a per-slot seed, reproducibly.
    ``device`` defaults to CUDA, then MPS, then CPU.
    """

    attribute_aware = False
    streams_results = True  # each request is reported as soon as its batch is generated

    def __init__(
        self,
        name_or_path: str = DEFAULT_MODEL,
        device: str | None = None,
        seed: int = 0,
        max_new_tokens: int = 64,
        ctrl_codes: Sequence[str] = CTRL_CODES,
        trust_remote_code: bool = False,
        *,
        batch_size: int = 16,
        do_sample: bool = False,
    ) -> None:
        _check_arguments(name_or_path, seed, max_new_tokens, batch_size)
        codes = _ctrl_codes(ctrl_codes)
        self.name_or_path = str(name_or_path)
        self.device = str(
            resolve_device(
                device,
                owner=f"PolyjuicePerturber({self.name_or_path!r})",
                error=PerturberError,
                use_mps=True,
            )
        )
        self.seed = seed
        self.max_new_tokens = max_new_tokens
        self.ctrl_codes = codes
        self.trust_remote_code = trust_remote_code
        self.batch_size = batch_size
        self.do_sample = bool(do_sample)
        mode = "sample" if self.do_sample else "greedy"
        self.identity = (
            f"polyjuice:{self.name_or_path}:{VERSION}:s{seed}:t{max_new_tokens}:"
            f"{mode}:{','.join(codes)}"
        )
        self.tokenizer: Any = None
        self.model: Any = None
        self.stats: dict[str, int] = {"requests": 0, "batches": 0, "failures": 0}

    def __repr__(self) -> str:
        return (
            f"PolyjuicePerturber({self.name_or_path!r}, device={self.device!r}, "
            f"seed={self.seed}, max_new_tokens={self.max_new_tokens}, "
            f"ctrl_codes={self.ctrl_codes!r})"
        )

    # -- availability and loading ----------------------------------------------------------

    @staticmethod
    def unavailable_reason(name_or_path: str = DEFAULT_MODEL) -> str | None:
        """``None`` when the model can be loaded here (a local folder, the local cache or a
        reachable hub), else why not. Fast offline: no download is attempted."""
        src = os.path.expanduser(str(name_or_path))
        if os.path.isdir(src):
            if not os.path.isfile(os.path.join(src, "config.json")):
                return f"the folder {str(name_or_path)!r} has no config.json"
            return None
        if looks_local(str(name_or_path)):
            return f"the folder {str(name_or_path)!r} does not exist"
        from rmx_widgets.core.availability import why_not_hub

        return why_not_hub(str(name_or_path))

    def why_unavailable(self) -> str | None:
        """Why this perturber's model cannot be loaded here, or ``None``: the check the study
        (``core.study``) makes before running any perturber that has it."""
        return self.unavailable_reason(self.name_or_path)

    def _cannot_load(self, reason: str) -> PerturberError:
        return PerturberError(
            f"Polyjuice model {self.name_or_path!r} cannot be loaded: "
            f"{reason}; the study runs without it"
        )

    def load(self) -> None:
        """Load tokenizer and model now (otherwise the first batch does)."""
        if self.model is not None:
            return
        reason = self.unavailable_reason(self.name_or_path)
        if reason is not None:
            raise self._cannot_load(reason)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        src = os.path.expanduser(self.name_or_path)
        common = pretrained_kwargs(self.trust_remote_code)
        try:
            tok = AutoTokenizer.from_pretrained(src, **common)
            model: Any = AutoModelForCausalLM.from_pretrained(src, **common)
        except Exception as e:  # OSError, ValueError, hub errors: all mean "cannot load"
            text = str(e).strip()
            raise self._cannot_load(
                f"{type(e).__name__}: {text.splitlines()[0] if text else 'no details'}"
            ) from e
        # No check that the tokenizer has <|perturb|> as one token: the public model's
        # markers may be plain BPE text. A model that is not Polyjuice shows itself instead
        # through outputs that fail to parse, recorded per request.
        tok.padding_side = "left"  # decoder-only: rows must end where generation starts
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token if tok.eos_token is not None else END_TOK
        model.to(self.device)
        model.eval()
        self.tokenizer, self.model = tok, model

    # -- perturbation ----------------------------------------------------------------------

    def perturb(self, request: PerturbationRequest) -> PerturbationResult:
        return self.perturb_batch([request])[0]

    def plan(
        self, request: PerturbationRequest
    ) -> tuple[tuple[int, int], str] | PerturbationResult:
        """The sentence span and control code drawn for a request, or the failure that says
        why there is none."""
        text = request.response
        if not isinstance(text, str) or not text.strip():
            return PerturbationResult.failed(
                "empty response: there is no sentence to perturb", FailureKind.EMPTY
            )
        spans = _sentence_spans(text)
        if not spans:
            return PerturbationResult.failed(
                "no sentence outside code blocks to perturb in this response",
                FailureKind.NOT_APPLICABLE,
            )
        key = "\x1f".join((str(self.seed), text, request.attribute.name, request.direction))
        rng = random.Random(int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big"))
        return rng.choice(spans), rng.choice(self.ctrl_codes)

    def perturb_batch(
        self, requests: Sequence[PerturbationRequest], on_result: ResultCallback | None = None
    ) -> list[PerturbationResult]:
        """Perturb every request; results in input order, failures recorded with a reason."""
        requests = list(requests)
        if not requests:
            return []
        results: dict[int, PerturbationResult] = {}
        todo: list[tuple[int, tuple[int, int], str, str]] = []
        for i, req in enumerate(requests):
            plan = self.plan(req)
            if isinstance(plan, PerturbationResult):
                results[i] = plan
                if on_result is not None:
                    on_result(i, plan)
                continue
            (a, b), code = plan
            todo.append((i, (a, b), code, f"{req.response[a:b]} {PERTURB_TOK} [{code}]"))
        if todo:
            self.load()
        step = 1 if self.do_sample else self.batch_size
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            outputs = self._generate_safely(
                [p for *_, p in chunk], [requests[i] for i, *_ in chunk]
            )
            for (i, (a, b), code, _), out in zip(chunk, outputs, strict=True):
                results[i] = self._result(requests[i].response, (a, b), code, out)
                if on_result is not None:
                    on_result(i, results[i])
        final = [results[i] for i in range(len(requests))]
        self.stats["requests"] += len(final)
        self.stats["failures"] += sum(r.text is None for r in final)
        return final

    @staticmethod
    def _result(
        response: str, span: tuple[int, int], code: str, output: str | PerturbationResult
    ) -> PerturbationResult:
        if isinstance(output, PerturbationResult):
            return output
        sentence = parse_polyjuice(output, code)
        if sentence is None:
            tail = output.split(PERTURB_TOK, 1)[-1]
            flat = " ".join(tail.split())
            excerpt = flat if len(flat) <= 80 else flat[:80] + "…"
            cut = "" if END_TOK in tail else " (no <|endoftext|>: cut off at max_new_tokens?)"
            return PerturbationResult.failed(
                f"Polyjuice output could not be parsed for code [{code}]{cut}: {excerpt!r}",
                FailureKind.UNPARSEABLE,
            )
        a, b = span
        return check_rewrite(response, response[:a] + sentence + response[b:])

    def _generate_safely(
        self, prompts: list[str], requests: list[PerturbationRequest]
    ) -> list[str | PerturbationResult]:
        """``generate_batch``, with over-long prompts recorded as failures and out-of-memory
        batches split (a single sentence that does not fit is a recorded failure)."""
        too_long = self._too_long(prompts)
        keep = [k for k in range(len(prompts)) if k not in too_long]
        too_big = PerturbationResult.failed(
            f"out of memory generating on {self.device} for a single sentence", FailureKind.OTHER
        )
        generated: list[str | PerturbationResult] = []
        if keep:
            generated = halve_on_oom(
                keep,
                lambda ks: self.generate_batch([prompts[k] for k in ks], [requests[k] for k in ks]),
                self.device,
                too_big,
            )
        done = iter(generated)
        return [too_long[k] if k in too_long else next(done) for k in range(len(prompts))]

    def _too_long(self, prompts: list[str]) -> dict[int, PerturbationResult]:
        """The prompts that leave no room for ``max_new_tokens`` in the model's positions."""
        limit = getattr(self.model.config, "n_positions", None) or getattr(
            self.model.config, "max_position_embeddings", None
        )
        if not limit:
            return {}
        lengths = [len(ids) for ids in self.tokenizer(prompts)["input_ids"]]
        return {
            k: PerturbationResult.failed(
                f"the sentence is too long for Polyjuice ({n} tokens + "
                f"max_new_tokens={self.max_new_tokens} > {limit})",
                FailureKind.OTHER,
            )
            for k, n in enumerate(lengths)
            if n + self.max_new_tokens > limit
        }

    def generate_batch(
        self, prompts: list[str], requests: Sequence[PerturbationRequest] = ()
    ) -> list[str]:
        """Each prompt followed by the model's continuation, special tokens kept (the
        Polyjuice format is written in them). Sampling (one prompt at a time) is seeded by
        the request's slot, so it is reproducible."""
        import torch

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "do_sample": self.do_sample,
        }
        if self.do_sample:
            kwargs["top_p"] = 0.9
        with (
            torch.inference_mode(),
            torch.random.fork_rng(
                devices=[self.device] if str(self.device).startswith("cuda") else []
            ),
        ):
            if self.do_sample:
                req = requests[0] if requests else None
                key = f"{self.seed}\x1f{prompts[0]}\x1f" + (
                    f"{req.response}\x1f{req.attribute.name}\x1f{req.direction}" if req else ""
                )
                torch.manual_seed(
                    int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % (2**63)
                )
            out = self.model.generate(**enc, **kwargs)
        self.stats["batches"] += 1
        new = out[:, enc["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(
            new, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )
        return [p + t for p, t in zip(prompts, texts)]
