"""One small text vocabulary for reward models, perturbers and embedders.

A *spec* is a short string that names an object and how to build it, so that a command line, a
config file or a notebook cell can say ``"transparent:hedging=-1"`` or ``"random:0.2"`` instead
of importing and constructing classes. ``rmx explain`` and ``rmx evaluate`` both read their
``--rm`` / ``--perturber`` / ``--embedder`` values through this module, so the two subcommands
(and Python users) share one grammar and one set of error messages::

    RM         [NAME=]transparent                 the documented demo RM, default weights
               [NAME=]transparent:f=w,...         only those features, with those weights
               [NAME=][hf:]<hub name or path>     a sequence-classification RM (HFRewardModel)
               [NAME=][hf:]<name or path>:head=N  output N of a model with several outputs;
                                                  :head=value_head reads a TRL / OpenRLHF head
               [NAME=][hf:]<name or path>:objectives=all|A,B|A=w,B=w
                                                  a multi-objective RM: its outputs' names
                                                  (id2label); the combined reward is their
                                                  mean, weighted sum or the :head=N output
               [NAME=]dpo:policy=P,ref=R[,beta=B] DPO implicit reward of two causal LMs
               [NAME=]pairwise:MODULE:FUNCTION    a pairwise judge fn(prompts, a, b) -> P(a≻b)
               [NAME=]pairwise:bt:<RM spec>       the Bradley–Terry judge of a scalar RM
               [NAME=]vllm:<hub name or path>     the same kind of RM on vLLM (CUDA, optional
                                                  extra: VLLMRewardModel)
               [NAME=]llm-judge:MODEL[,mode=pairwise|score][,base_url=URL][,api_key_env=VAR]
                                                  an LLM judge over the OpenAI-compatible API
    perturber  [NAME=]rules                       the offline rule perturber
               [NAME=]random[:fraction]           random word edits (default 0.15)
               [NAME=]paraphrase                  attribute-free LLM paraphrases
               [NAME=]polyjuice[:name_or_path]    Polyjuice (default uw-hai/polyjuice)
               [NAME=]llm                         the attribute-targeted LLM perturber
               [NAME=]openai | hf                 ``llm`` with backend openai | hf
    embedder   hashing | <hub name or local path of a sentence encoder>

``NAME=`` labels the object in a study (the keys of ``evaluate``'s ``rms`` / ``perturbers``);
a name never holds ``:``, ``/``, ``=`` or ``\\``, so feature weights and hub paths are never
mistaken for one. The transparent RM also takes NAME as its identity (its cache key), as it
always has, followed by a digest of its weights when they are not the defaults (so changed
weights never reuse old scores); a hub RM keeps its own identity, so naming it does not
invalidate cached scores.

Keyword options carry what a spec does not: the LLM (``model``, ``backend``, ``base_url``, …)
and where models run (``device``, ``dtype``, …). Each applies only to the kinds that load such
a model and is ignored by the others, so one set of options can serve several specs.

>>> import rmx_widgets as rmx
>>> rm = rmx.reward_model_from_spec("planted=transparent:hedging=-1.5,length=0.4")
>>> rm.identity.startswith("planted:w")
True
>>> rmx.perturber_from_spec("random:0.2").identity.startswith("random")
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rmx_widgets.core.errors import PerturberError, RewardModelError, RMXError
from rmx_widgets.core.perturbers.base import BasePerturber
from rmx_widgets.core.perturbers.prompts import ATTRIBUTE_TEMPLATE, PromptTemplate
from rmx_widgets.core.reward_models.base import BaseRewardModel

if TYPE_CHECKING:  # the CLI starts without pandas; metrics imports it
    from rmx_widgets.core.metrics import Embedder

BACKENDS = ("openai", "hf")
_PERTURBER_KINDS = (
    "rules, random[:fraction], paraphrase, polyjuice[:name_or_path], llm, or "
    "openai / hf (llm with that backend)"
)
_NAMED = re.compile(r"^(?P<name>[^:/=\\]+)=(?P<spec>.+)$")
# A trailing ``:key=value`` option of a hub / path RM spec (hub names never hold ':').
_HF_OPTION = re.compile(r"^(?P<source>.+):(?P<key>[A-Za-z_]+)=(?P<value>[^:/\\]*)$")


def split_name(spec: str) -> tuple[str | None, str]:
    """``NAME=SPEC`` → (NAME, SPEC); a bare SPEC (``transparent:length=1`` included) →
    (None, SPEC). Also reads the ``NAME=PATH`` of ``rmx evaluate --data``."""
    if not isinstance(spec, str) or not spec.strip():
        raise RMXError(f"a spec must be a non-empty string, got {spec!r}.")
    m = _NAMED.match(spec.strip())
    return (m.group("name").strip(), m.group("spec").strip()) if m else (None, spec.strip())


# -- reward models ----------------------------------------------------------------------------


def reward_model_from_spec(
    spec: str,
    *,
    device: str | None = None,
    dtype: str | None = None,
    max_length: int | None = None,
    trust_remote_code: bool = False,
) -> BaseRewardModel:
    """Build the reward model a spec names (see the module docstring for the grammar).

    ``device``, ``dtype``, ``max_length`` and ``trust_remote_code`` go to
    :class:`~rmx_widgets.core.reward_models.hf.HFRewardModel`, which loads the model now, so a
    wrong name fails here rather than after the first rewrites. Mistakes in the spec raise
    :class:`~rmx_widgets.errors.RewardModelError` saying what is accepted.
    """
    name, body = split_name(spec)
    kind, colon, option = body.partition(":")
    if kind == "transparent":
        from rmx_widgets.core.reward_models.transparent import TransparentRewardModel

        weights = _feature_weights(body, option)
        if colon and not weights:
            raise RewardModelError(
                f"RM spec {body!r}: give feature=weight pairs after ':' "
                "(e.g. transparent:hedging=-1,length=0.4), or drop the ':'."
            )
        return TransparentRewardModel(weights or None, only=bool(weights), name=name)
    if kind == "pairwise":
        return _pairwise(
            body,
            option,
            name,
            device=device,
            dtype=dtype,
            max_length=max_length,
            trust_remote_code=trust_remote_code,
        )
    if kind == "dpo":
        from rmx_widgets.core.reward_models.dpo import DPORewardModel

        policy, reference, beta = _dpo_options(body, option)
        return DPORewardModel(
            policy,
            reference,
            beta=beta,
            device=device,
            dtype=dtype,
            max_length=max_length,
            trust_remote_code=trust_remote_code,
        )
    if kind == "llm-judge":
        from rmx_widgets.core.reward_models.llm_judge import LLMJudge

        model, judge = _llm_judge_options(body, option)
        return LLMJudge(
            model,
            base_url=judge.get("base_url"),
            mode=judge.get("mode", "pairwise"),
            api_key_env=judge.get("api_key_env", "OPENAI_API_KEY"),
        )
    if kind == "vllm":
        from rmx_widgets.core.reward_models.vllm import VLLMRewardModel

        if not option.strip():
            raise RewardModelError(
                f"RM spec {body!r}: give the model after 'vllm:' (e.g. vllm:org/reward-model)."
            )
        return VLLMRewardModel(
            option.strip(),
            dtype=dtype,
            max_length=max_length,
            trust_remote_code=trust_remote_code,
        )
    from rmx_widgets.core.reward_models.hf import HFRewardModel

    source, head, objectives = _hf_options(body)
    return HFRewardModel(
        source,
        device=device,
        dtype=dtype,
        max_length=max_length,
        trust_remote_code=trust_remote_code,
        head=head,
        objectives=objectives,
    )


def _hf_options(body: str) -> tuple[str, int | str | None, Any]:
    """``[hf:]SOURCE[:head=N|value_head][:objectives=all|a,b|a=w,b=w]`` → (SOURCE, head,
    objectives), the options in either order."""
    source = body.removeprefix("hf:")
    options: dict[str, str] = {}
    while (m := _HF_OPTION.match(source)) is not None:
        key, value = m.group("key"), m.group("value").strip()
        if key not in ("head", "objectives"):
            raise RewardModelError(
                f"RM spec {body!r}: unknown option {key!r}; a hub or path RM takes :head=N "
                "(output N of several), :head=value_head or :objectives=all|NAME,NAME."
            )
        if key in options:
            raise RewardModelError(f"RM spec {body!r}: option {key!r} is given twice.")
        options[key], source = value, m.group("source")
    return source, _head_option(body, options), _objectives_option(body, options)


def _head_option(body: str, options: dict[str, str]) -> int | str | None:
    if "head" not in options:
        return None
    value = options["head"]
    if not value:
        raise RewardModelError(
            f"RM spec {body!r}: head= needs an output index or value_head (e.g. ...:head=1)."
        )
    if value == "value_head":
        return value
    if not value.isdigit():
        raise RewardModelError(
            f"RM spec {body!r}: head={value!r} is not an output index (an integer >= 0) or "
            "value_head."
        )
    return int(value)


def _objectives_option(body: str, options: dict[str, str]) -> Any:
    """``all``, ``a,b`` (names: equal weights) or ``a=w,b=w`` (names and weights)."""
    if "objectives" not in options:
        return None
    value = options["objectives"]
    if value == "all":
        return value
    items = [p.strip() for p in value.split(",")]
    if not value or not all(items):
        raise RewardModelError(
            f"RM spec {body!r}: objectives= needs all or comma-separated output names "
            "(e.g. ...:objectives=helpfulness,verbosity or ...:objectives=helpfulness=1,"
            "verbosity=-0.5)."
        )
    if not any("=" in p for p in items):
        return items
    weights: dict[str, float] = {}
    for p in items:
        name, eq, w = p.partition("=")
        try:
            weights[name.strip()] = float(w)
        except ValueError:
            weights[name.strip()] = float("nan")
        if not eq or not name.strip() or not math.isfinite(weights[name.strip()]):
            raise RewardModelError(
                f"RM spec {body!r}: objectives item {p!r} is not NAME=WEIGHT with a finite "
                "number; give every objective a weight, or none."
            )
    return weights


_PAIRWISE_USAGE = (
    "pairwise:MODULE:FUNCTION (an importable fn(prompts, responses_a, responses_b) -> "
    "P(a beats b)) or pairwise:bt:RM_SPEC (the Bradley-Terry judge of a scalar RM)"
)


def _pairwise(body: str, option: str, name: str | None, **options: Any) -> BaseRewardModel:
    """``pairwise:bt:SPEC`` or ``pairwise:MODULE:FUNCTION`` (``core.reward_models.pairwise``);
    the function's identity is NAME, else the digest of its code."""
    import importlib

    from rmx_widgets.core.reward_models.pairwise import BradleyTerryJudge, PairwiseRewardModel

    head, _, rest = option.partition(":")
    if head == "bt" and rest.strip():
        return BradleyTerryJudge(reward_model_from_spec(rest.strip(), **options))
    module, function = head.strip(), rest.strip()
    if not module or not function or ":" in function or head == "bt":
        raise RewardModelError(f"RM spec {body!r}: use {_PAIRWISE_USAGE}.")
    try:
        fn = getattr(importlib.import_module(module), function)
    except ImportError as e:
        raise RewardModelError(f"RM spec {body!r}: cannot import {module!r} ({e}).") from None
    except AttributeError:
        raise RewardModelError(f"RM spec {body!r}: {module} has no {function!r}.") from None
    if not callable(fn):
        raise RewardModelError(f"RM spec {body!r}: {module}.{function} is not callable.")
    return PairwiseRewardModel(fn, name=name)


_DPO_USAGE = "dpo:policy=PATH,ref=PATH[,beta=0.1]"


def _dpo_options(body: str, option: str) -> tuple[str, str, float]:
    """``policy=P,ref=R[,beta=B]`` → (P, R, B); every mistake is one line naming the usage."""
    values: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in option.split(","))):
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not value:
            raise RewardModelError(
                f"RM spec {body!r}: {part!r} is not key=value; use {_DPO_USAGE}."
            )
        if key not in ("policy", "ref", "beta"):
            raise RewardModelError(
                f"RM spec {body!r}: unknown key {key!r} (policy, ref and beta are); use "
                f"{_DPO_USAGE}."
            )
        if key in values:
            raise RewardModelError(f"RM spec {body!r}: {key} is given twice; use {_DPO_USAGE}.")
        values[key] = value
    missing = [k for k in ("policy", "ref") if k not in values]
    if missing:
        raise RewardModelError(
            f"RM spec {body!r}: {' and '.join(missing)} missing; use {_DPO_USAGE}."
        )
    try:
        beta = float(values.get("beta", "0.1"))
    except ValueError:
        raise RewardModelError(
            f"RM spec {body!r}: beta={values['beta']!r} is not a number; use {_DPO_USAGE}."
        ) from None
    return values["policy"], values["ref"], beta


_LLM_JUDGE_USAGE = "llm-judge:MODEL[,mode=pairwise|score][,base_url=URL][,api_key_env=VAR]"
_LLM_JUDGE_KEYS = ("mode", "base_url", "api_key_env")


def _llm_judge_options(body: str, option: str) -> tuple[str, dict[str, str]]:
    """``MODEL[,key=value...]`` → (MODEL, options); a model name may hold ':' and '/'
    (``llama3:8b``, ``org/model``), never ','."""
    model, *parts = (p.strip() for p in option.split(","))
    if not model or "=" in model:
        raise RewardModelError(
            f"RM spec {body!r}: give the model first (e.g. llm-judge:gpt-4o-mini,mode=score); "
            f"use {_LLM_JUDGE_USAGE}."
        )
    values: dict[str, str] = {}
    for part in parts:
        key, eq, value = (x.strip() for x in part.partition("="))
        if not eq or not value:
            raise RewardModelError(
                f"RM spec {body!r}: {part!r} is not key=value; use {_LLM_JUDGE_USAGE}."
            )
        if key not in _LLM_JUDGE_KEYS:
            raise RewardModelError(
                f"RM spec {body!r}: unknown key {key!r} (mode, base_url and api_key_env are); "
                f"use {_LLM_JUDGE_USAGE}."
            )
        if key in values:
            raise RewardModelError(
                f"RM spec {body!r}: {key} is given twice; use {_LLM_JUDGE_USAGE}."
            )
        values[key] = value
    if values.get("mode", "pairwise") not in ("pairwise", "score"):
        raise RewardModelError(
            f"RM spec {body!r}: mode={values['mode']!r} is not pairwise or score; use "
            f"{_LLM_JUDGE_USAGE}."
        )
    return model, values


def reward_models_from_specs(specs: Iterable[str], **options: Any) -> dict[str, BaseRewardModel]:
    """``{name: RM}`` for several specs, as ``evaluate`` takes them; each is named by its
    ``NAME=`` or, without one, by the spec itself (``transparent``, the hub name or path).
    ``options`` are :func:`reward_model_from_spec`'s. Two RMs with one name are an error,
    found before any model loads."""
    specs = list(specs)
    labels = _unique([split_name(s)[0] or split_name(s)[1] for s in specs], "RM")
    return {label: reward_model_from_spec(s, **options) for label, s in zip(labels, specs)}


def _feature_weights(body: str, option: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in option.split(","))):
        feature, eq, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            raise RewardModelError(
                f"RM spec {body!r}: {part!r} is not feature=weight (e.g. "
                "transparent:hedging=-1,length=0.4)."
            ) from None
        if not eq:
            raise RewardModelError(f"RM spec {body!r}: {part!r} is not feature=weight.")
        weights[feature.strip()] = weight
    return weights


# -- perturbers -------------------------------------------------------------------------------


def perturber_from_spec(
    spec: str,
    *,
    model: str | None = None,
    backend: str | None = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    concurrency: int = 16,
    temperature: float = 0.0,
    device: str | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
    template: Any = "one-call",
    allow_insecure_http: bool = False,
) -> BasePerturber:
    """Build the perturber a spec names (see the module docstring for the grammar).

    ``llm`` and ``paraphrase`` need ``model``: the name an OpenAI-compatible server serves
    (``backend="openai"``, the default; ``base_url``, ``api_key_env``, ``concurrency`` and
    ``temperature`` go to :class:`~rmx_widgets.core.perturbers.openai.OpenAIPerturber`) or a
    hub name / folder run by local transformers (``backend="hf"``; ``device``, ``dtype`` and
    ``trust_remote_code`` go to :class:`~rmx_widgets.core.perturbers.hf.HFPerturber`).
    ``openai`` and ``hf`` are ``llm`` with that backend. ``template`` is the prompt of
    ``llm``: ``"one-call"`` (default; locate and edit in one reply) or ``"two-step"`` (the
    paper's two calls, OpenAI-compatible backend only), or a ``PromptTemplate``.
    ``allow_insecure_http`` lets the API key go over plain http:// to a non-loopback host
    (off: a key on the wire unencrypted is readable by anyone on the path). Mistakes raise
    :class:`~rmx_widgets.errors.PerturberError` saying what is accepted.
    """
    body = split_name(spec)[1]
    kind, colon, option = body.partition(":")
    if kind in ("rules", "paraphrase", "llm", *BACKENDS) and colon:
        given = " (the LLM is given with --model, model=... in Python)" if kind != "rules" else ""
        raise PerturberError(f"perturber spec {body!r}: {kind} takes no option after ':'{given}.")
    if kind in ("rules", "random", "polyjuice"):
        return _non_llm(kind, body, option, device=device, trust_remote_code=trust_remote_code)
    if kind not in ("paraphrase", "llm", *BACKENDS):
        raise PerturberError(
            f"perturber spec {body!r}: unknown kind {kind!r}; use {_PERTURBER_KINDS}."
        )
    from rmx_widgets.core.perturbers.two_step import template_named

    llm = _llm(
        kind,
        model,
        backend=backend,
        base_url=base_url,
        api_key_env=api_key_env,
        concurrency=concurrency,
        temperature=temperature,
        device=device,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
        template=template_named(template) if kind != "paraphrase" else ATTRIBUTE_TEMPLATE,
        allow_insecure_http=allow_insecure_http,
    )
    if kind == "paraphrase":
        from rmx_widgets.core.perturbers.paraphrase import ParaphrasePerturber

        return ParaphrasePerturber(llm)
    return llm


def _non_llm(
    kind: str, body: str, option: str, *, device: str | None, trust_remote_code: bool
) -> BasePerturber:
    """The perturbers that need no ``model``: ``rules``, ``random[:FRACTION]`` (the share of
    words edited, 0.15 by default) and ``polyjuice[:HUB_NAME]``."""
    if kind == "rules":
        from rmx_widgets.core.perturbers.rules import RulePerturber

        return RulePerturber()
    if kind == "random":
        from rmx_widgets.core.perturbers.random_words import RandomWordPerturber

        try:
            fraction = float(option) if option else 0.15
        except ValueError:
            raise PerturberError(
                f"perturber spec {body!r}: the fraction must be a number, e.g. random:0.2."
            ) from None
        return RandomWordPerturber(fraction=fraction)
    from rmx_widgets.core.perturbers.polyjuice import PolyjuicePerturber

    return PolyjuicePerturber(
        option or "uw-hai/polyjuice", device=device, trust_remote_code=trust_remote_code
    )


def _llm(
    kind: str,
    model: str | None,
    *,
    backend: str | None,
    base_url: str | None,
    api_key_env: str,
    concurrency: int,
    temperature: float,
    device: str | None,
    dtype: str | None,
    trust_remote_code: bool,
    template: PromptTemplate,
    allow_insecure_http: bool = False,
) -> BasePerturber:
    """The LLM an ``llm``/``openai``/``hf``/``paraphrase`` spec runs, on its backend."""
    served = _backend(kind, backend)
    if not model:
        hint = (
            "a hub name or local folder of a chat LM"
            if served == "hf"
            else "the name the OpenAI-compatible server serves, e.g. gpt-4o, or a local model "
            "path with backend hf"
        )
        raise PerturberError(f"perturber {kind!r} needs --model (model=... in Python): {hint}.")
    if served == "hf":
        from rmx_widgets.core.perturbers.hf import HFPerturber

        return HFPerturber(
            model,
            device=device,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            template=template,
        )
    from rmx_widgets.core.perturbers.openai import OpenAIPerturber

    return OpenAIPerturber(
        model=model,
        base_url=base_url,
        api_key_env=api_key_env,
        concurrency=concurrency,
        temperature=temperature,
        template=template,
        allow_insecure_http=allow_insecure_http,
    )


def perturbers_from_specs(specs: Iterable[str], **options: Any) -> dict[str, BasePerturber]:
    """``{name: perturber}`` for several specs, as ``evaluate`` takes them; without ``NAME=``
    each is named by its kind (``rules``, ``random``, ``paraphrase``, ``polyjuice``) or, for
    the LLM perturber, ``llm:MODEL``. ``options`` are :func:`perturber_from_spec`'s. Two
    perturbers with one name are an error, found before any model loads."""
    specs = list(specs)
    labels = _unique([_perturber_label(s, options.get("model")) for s in specs], "perturber")
    return {label: perturber_from_spec(s, **options) for label, s in zip(labels, specs)}


def _perturber_label(spec: str, model: str | None) -> str:
    name, body = split_name(spec)
    kind = body.partition(":")[0]
    return name or (f"llm:{model}" if kind in ("llm", *BACKENDS) else kind)


def _backend(kind: str, backend: str | None) -> str:
    """The backend an LLM kind runs on: ``openai``/``hf`` fix theirs, the others follow
    ``backend`` (default openai); a contradiction is a mistake, not a silent choice."""
    if backend is not None and backend not in BACKENDS:
        raise PerturberError(f"backend {backend!r} is not supported; use {' or '.join(BACKENDS)}.")
    if kind in BACKENDS:
        if backend is not None and backend != kind:
            raise PerturberError(
                f"perturber {kind!r} runs on the {kind} backend, but backend "
                f"{backend!r} was asked for; use llm with --backend {backend}."
            )
        return kind
    return backend or "openai"


# -- embedders --------------------------------------------------------------------------------


def embedder_from_spec(
    spec: str = "hashing", *, device: str | None = None, trust_remote_code: bool = False
) -> Embedder:
    """``hashing`` (offline, lexical; the default) or the hub name / folder of a sentence
    encoder (:class:`~rmx_widgets.core.embedders.TransformersEmbedder`), loaded now so that a
    wrong name fails before any rewrite is asked for."""
    if not isinstance(spec, str) or not spec.strip():
        raise RMXError(f"an embedder spec must be 'hashing' or a model name, got {spec!r}.")
    if spec.strip() == "hashing":
        from rmx_widgets.core.metrics import HashingEmbedder

        return HashingEmbedder()
    from rmx_widgets.core.embedders import TransformersEmbedder

    embedder = TransformersEmbedder(
        spec.strip(), device=device, trust_remote_code=trust_remote_code
    )
    embedder.load()
    return embedder


def _unique(labels: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise RMXError(
                f"two {what} specs are both named {label!r}; name them, e.g. a=SPEC and b=SPEC."
            )
        seen.add(label)
    return labels
