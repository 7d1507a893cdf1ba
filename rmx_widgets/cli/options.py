"""The options several subcommands share, declared once, and what they build.

Each ``add_*`` function adds one group of flags to a subcommand's parser; the functions below
them turn the parsed flags into the keyword options of the engine's spec factories
(:mod:`rmx_widgets.core.specs`), so a flag means the same thing in every subcommand.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmx_widgets.core.errors import AttributeSpecError, OptionError, PerturberError
from rmx_widgets.core.specs import BACKENDS, embedder_from_spec

if TYPE_CHECKING:  # the CLI starts without pandas; metrics imports it
    from rmx_widgets.core.metrics import Embedder


def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=``: a whole number in ``[low, high]``; anything else is refused with
    one line naming the flag (argparse adds it) and the valid range."""
    valid = f"a whole number of at least {low}" + (f" and at most {high}" if high else "")

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {valid}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {valid}, got {value}")
        return value

    parse.__name__ = f"int >= {low}"
    return parse


#: The valid ranges of the numeric flags, shared by every subcommand (one object per range, so
#: a flag parses alike everywhere).
POSITIVE_INT = _int_in(1)
CONCURRENCY = _int_in(1, 1024)
PORT = _int_in(1, 65535)

RM_SPEC = (
    "[NAME=]transparent | transparent:feature=weight,... | hub name or local path of a "
    "sequence-classification RM, with :head=N for output N of several or :head=value_head "
    "(TRL / OpenRLHF value head) or :objectives=all|A,B|A=w,B=w (a multi-objective RM's "
    "outputs by id2label name) | dpo:policy=PATH,ref=PATH[,beta=0.1] (DPO implicit reward) "
    "| pairwise:MODULE:FUNCTION (fn(prompts, a, b) -> P(a > b)) | pairwise:bt:RM_SPEC "
    "(Bradley-Terry judge of a scalar RM) | vllm:NAME (the RM on vLLM; CUDA only) "
    "| llm-judge:MODEL[,mode=pairwise|score][,base_url=URL] (an LLM judge, OpenAI-compatible API)"
)
PERTURBER_SPEC = (
    "[NAME=]rules | random[:fraction] | paraphrase | polyjuice[:path] | llm | "
    "openai | hf (llm on that backend)"
)


def add_llm_options(p: argparse.ArgumentParser) -> None:
    """The LLM behind the ``llm`` and ``paraphrase`` perturbers (and ``openai`` / ``hf``)."""
    g = p.add_argument_group("LLM perturbers (llm, paraphrase, openai, hf)")
    g.add_argument(
        "--model",
        help="the LLM: a model name the OpenAI-compatible server serves "
        "(e.g. gpt-4o), or a hub name / local path with --backend hf or "
        "--perturber hf",
    )
    g.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="how --model is served: an OpenAI-compatible API (default) or local transformers",
    )
    g.add_argument(
        "--base-url",
        default=None,
        help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (vLLM, Ollama, "
        "TGI); the API key is read from OPENAI_API_KEY",
    )
    g.add_argument(
        "--concurrency",
        type=CONCURRENCY,
        default=16,
        help="parallel LLM requests, 1 to 1024 (default 16)",
    )
    g.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="send the API key over plain http:// to a host other than this machine (off by "
        "default: anyone on the network path can read it; prefer https://)",
    )
    g.add_argument(
        "--prompt",
        choices=("one-call", "two-step"),
        default="one-call",
        help="one-call: locate and edit in one LLM reply (default); two-step: the paper's two "
        "calls, locate then edit the located spans (2 requests per rewrite; OpenAI-compatible "
        "backend only)",
    )


def add_force_option(p: argparse.ArgumentParser) -> None:
    """``--force``: replace existing output files that rmx did not write."""
    p.add_argument(
        "--force",
        action="store_true",
        help="replace existing output files rmx did not write (files of an earlier rmx run "
        "are replaced without it; an output that is an input is always refused)",
    )


def add_null_options(p: argparse.ArgumentParser, choices: tuple[str, ...]) -> None:
    """``--null`` (the attribute-blind null perturber run beside the perturber; default
    ``random``) and ``--null-seed``."""
    g = p.add_argument_group("null perturber (what an attribute-blind edit does to the RM)")
    g.add_argument(
        "--null",
        choices=choices,
        default="random",
        help="random: offline random word edits (default, cheap); "
        + (
            "paraphrase: the attribute-free LLM paraphrase (uses --model ...); "
            if "paraphrase" in choices
            else ""
        )
        + "none: skip it. Written to null_table.parquet / null_table.jsonl",
    )
    g.add_argument("--null-seed", type=int, default=0, help="seed of --null random (default 0)")


def check_null(args: argparse.Namespace) -> None:
    """Fail on a ``--null`` that cannot be built before any model loads."""
    if args.null == "paraphrase" and not args.model:
        raise PerturberError(
            "--null paraphrase needs --model (the LLM that paraphrases); "
            "or use --null random (offline) or --null none."
        )


def null_perturber(args: argparse.Namespace, perturber: Any = None) -> Any:
    """The ``--null`` perturber (``None`` for ``--null none``). ``paraphrase`` reuses
    ``perturber`` when it is an LLM (its loaded weights, its server), else builds the LLM the
    flags name, as ``perturber_from_spec`` builds it."""
    from rmx_widgets.core.null_run import null_from_spec

    if args.null != "paraphrase":
        return null_from_spec(args.null, seed=args.null_seed)
    from rmx_widgets.core.perturbers.paraphrase import ParaphrasePerturber

    try:
        return ParaphrasePerturber(perturber)
    except PerturberError:  # not an LLM perturber: build the LLM the flags name
        return null_from_spec("paraphrase", **perturber_options(args))


#: ``rmx explain --judge`` choices: the offline text-feature judge, or an LLM judge.
JUDGE_CHOICES = ("features", "llm")


def add_judge_options(p: argparse.ArgumentParser) -> None:
    """``--judge`` (a rewrite judge: did each rewrite do what it was asked?) and
    ``--valid-only`` (figures on the rewrites it found valid)."""
    g = p.add_argument_group("rewrite validity (did each rewrite do what it was asked?)")
    g.add_argument(
        "--judge",
        choices=JUDGE_CHOICES,
        default=None,
        help="judge every successful rewrite and fill the table's valid / validity_reason "
        "columns: features = offline checks of the text features the rules perturber "
        "targets (undecided for other attributes); llm = an LLM asked whether the attribute "
        "moved the asked way and little else changed (the --model / --base-url / "
        "OPENAI_API_KEY of the LLM perturbers; one request per rewrite). Verdicts are cached "
        "in the store; the valid-rewrite rate is printed beside the failed rate",
    )
    g.add_argument(
        "--valid-only",
        action="store_true",
        help="compute sensitivity.csv, the printed summary and the report (rmx evaluate: also "
        "the judged perturbers' coverage, tau and examples) on the rewrites the judge found "
        "valid only (invalid and undecided ones are left out; needs --judge)",
    )


def check_judge(args: argparse.Namespace) -> None:
    """Fail on ``--judge`` / ``--valid-only`` flags that cannot work, before anything is read
    or written."""
    judge = getattr(args, "judge", None)
    if getattr(args, "valid_only", False) and judge is None:
        raise OptionError(
            "--valid-only needs --judge (features or llm): without a judge no rewrite has a "
            "verdict to keep."
        )
    if judge == "llm":
        if not args.model:
            raise OptionError(
                "--judge llm needs an LLM: give --model (and --base-url for a local "
                "OpenAI-compatible server; the key is read from OPENAI_API_KEY), or use "
                "--judge features (offline)."
            )
        if args.backend not in (None, "openai"):
            raise OptionError(
                f"--judge llm asks an OpenAI-compatible server; --backend {args.backend} is "
                "not one (use --backend openai, or --judge features)."
            )


def judge(args: argparse.Namespace) -> Any:
    """The ``--judge`` (``None`` without one): ``FeatureJudge()``, or ``LLMAttributeJudge``
    over an OpenAI-compatible LLM built from the LLM flags (its own client, so its requests
    are not counted as the perturber's)."""
    kind = getattr(args, "judge", None)
    if kind is None:
        return None
    if kind == "features":
        from rmx_widgets.core.validity.features import FeatureJudge

        return FeatureJudge()
    from rmx_widgets.core.specs import perturber_from_spec
    from rmx_widgets.core.validity.llm import LLMAttributeJudge

    llm_options = {**perturber_options(args), "backend": "openai", "template": "one-call"}
    return LLMAttributeJudge(perturber_from_spec("openai", **llm_options))


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Where and how local models (RMs, local LLMs, encoders) run."""
    g = p.add_argument_group("local models")
    g.add_argument("--device", default=None, help="cuda, cpu, cuda:1 … (default: cuda if any)")
    g.add_argument(
        "--dtype", default=None, help="RM dtype: bf16, fp16 or fp32 (default bf16 on GPU)"
    )
    g.add_argument(
        "--max-length",
        type=POSITIVE_INT,
        default=None,
        help="RM input limit in tokens, at least 1 (default: the model's)",
    )
    g.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run Python code shipped in model repositories (off by default)",
    )


def add_attribute_options(p: argparse.ArgumentParser, default: str) -> None:
    """``--attributes`` (``default`` says what is used without it) and ``--attributes-file``."""
    g = p.add_argument_group("attributes")
    g.add_argument("--attributes", default=None, help=f"comma-separated (default: {default})")
    g.add_argument(
        "--attributes-file",
        default=None,
        help='JSON list of custom attributes [{"name", "definition", '
        '"worse", "better"}], used with --attributes if both are given',
    )


def add_run_options(p: argparse.ArgumentParser, *, limit: str, no_report: str) -> None:
    """Data size, batching, cache, distance and outputs of an explanation run."""
    g = p.add_argument_group("run")
    g.add_argument("--limit", type=POSITIVE_INT, default=None, help=limit + ", N >= 1")
    add_batch_size(g)
    g.add_argument("--store", default=None, help="SQLite store (default OUT/store.sqlite)")
    g.add_argument(
        "--embedder",
        default="hashing",
        help="semantic distance: 'hashing' (offline, lexical; default) or a sentence "
        "encoder, e.g. sentence-transformers/all-MiniLM-L6-v2",
    )
    g.add_argument("--no-report", action="store_true", help=no_report)


def add_batch_size(g: Any) -> None:
    """``--batch-size`` (``rmx demo`` has it too)."""
    g.add_argument(
        "--batch-size",
        type=POSITIVE_INT,
        default=32,
        help="comparisons' rewrites per batch, at least 1 (default 32)",
    )


#: ``core.rows.RESTRICT_CHOICES`` (spelled out: the CLI starts without pandas; a test keeps the
#: two equal).
RESTRICT_CHOICES = ("all", "agree", "disagree")


def add_restrict_option(p: argparse.ArgumentParser) -> None:
    """``--restrict``: which comparisons are explained, by the RM's agreement with the human."""
    p.add_argument(
        "--restrict",
        choices=RESTRICT_CHOICES,
        default="all",
        help="explain every comparison (all, default) or only those where the RM agrees / "
        "disagrees with the human label (chosen/rejected columns); needs a label on each",
    )


def rm_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword options of ``reward_model_from_spec`` the flags set."""
    return {
        "device": args.device,
        "dtype": args.dtype,
        "max_length": args.max_length,
        "trust_remote_code": args.trust_remote_code,
    }


def perturber_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword options of ``perturber_from_spec`` the flags set."""
    return {
        "model": args.model,
        "backend": args.backend,
        "base_url": args.base_url,
        "concurrency": args.concurrency,
        "template": getattr(args, "prompt", "one-call"),
        "allow_insecure_http": getattr(args, "allow_insecure_http", False),
        "device": args.device,
        "trust_remote_code": args.trust_remote_code,
    }


def embedder(args: argparse.Namespace) -> Embedder:
    """The ``--embedder`` (an empty value means the default, hashing), loaded now."""
    return embedder_from_spec(
        args.embedder or "hashing", device=args.device, trust_remote_code=args.trust_remote_code
    )


def attributes(args: argparse.Namespace) -> Any:
    """``--attributes`` names, plus custom attributes from ``--attributes-file``."""
    names = args.attributes
    if not args.attributes_file:
        return names
    from rmx_widgets.core.attributes import resolve_attributes

    p = Path(args.attributes_file)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise AttributeSpecError(f"{p}: cannot read the attributes file ({e.strerror}).") from None
    except UnicodeDecodeError as e:
        raise AttributeSpecError(f"{p}: is not valid UTF-8 (byte {e.start}).") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as e:
        raise AttributeSpecError(
            f"{p}: is not valid JSON ({e.msg} at line {e.lineno} column "
            f'{e.colno}); give a list of {{"name", "definition"}} '
            "objects."
        ) from None
    if not isinstance(spec, list) or not all(isinstance(a, dict) for a in spec):
        raise AttributeSpecError(
            f'{p}: must hold a JSON list of objects with "name" and '
            '"definition" (optionally "worse" and "better").'
        )
    custom = []
    for i, item in enumerate(spec):
        try:
            custom.extend(resolve_attributes([item]))
        except AttributeSpecError as e:
            raise AttributeSpecError(f"{p}, attribute {i}: {e}") from None
    return resolve_attributes(([*names.split(",")] if names else []) + custom)


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """``--engine`` (local or ray), ``--address`` and ``--workers`` (Ray only)."""
    g = p.add_argument_group("engine")
    g.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process (default); ray: RM scoring and rewrites on Ray actors, one "
        "per GPU (needs pip install 'rmx-widgets[ray]')",
    )
    g.add_argument(
        "--address",
        default=None,
        help="with --engine ray: the cluster, 'auto' (this node's) or ray://HOST:10001 "
        "(default: a new local Ray instance)",
    )
    g.add_argument(
        "--workers",
        type=POSITIVE_INT,
        default=None,
        help="with --engine ray and no GPUs: CPU actors (default: the cluster's CPUs, at most 8)",
    )


def engine(args: argparse.Namespace) -> Any:
    """The ``engine=`` of the Explainer the flags ask for: ``"local"`` or a ``RayEngine`` whose
    actors build the RM and the perturber from the same specs and options as this process
    (Ray missing: one line saying how to install it, before any model loads)."""
    if args.engine != "ray":
        for flag, value in (("--address", args.address), ("--workers", args.workers)):
            if value is not None:
                raise OptionError(f"{flag} needs --engine ray.")
        return "local"
    from rmx_widgets.core.engines.ray_engine import RayEngine

    return RayEngine(
        args.address,
        workers=args.workers,
        rm_spec=args.rm,
        rm_options=rm_options(args),
        perturber_spec=args.perturber,
        perturber_options=perturber_options(args),
    )
