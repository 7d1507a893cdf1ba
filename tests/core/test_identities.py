"""Every setting that changes an RM's or a perturber's output is in its identity (cache key).

Issue 12, "stale caches": the HF RM's ``max_length``, a *named* transparent RM's weights and the
code of unnamed callables were not in the key, so a second run against the same store reused
the scores of another model. Each case below runs twice against one real ``Store`` and checks
that the second run scored (or rewrote) again; the default settings keep their old keys
(tests/core/test_store_compat.py).
"""

from __future__ import annotations

import functools
import threading
import warnings

import numpy as np
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.code_identity import callable_identity
from rmx_widgets.core.errors import PerturberError, RewardModelError
from rmx_widgets.core.perturbers.base import CallablePerturber
from rmx_widgets.core.reward_models.base import CallableRewardModel

COMPS = [
    {
        "id": "c1",
        "prompt": "Why is the sky blue?",
        "response_a": "Light scatters.",
        "response_b": "Rayleigh scattering of sunlight by air.",
    },
    {"id": "c2", "prompt": "Name a prime.", "response_a": "Seven is prime.", "response_b": "Nine."},
]


def _run(rm, pert, store, attributes=("verbosity",)):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rmx.Explainer(
            rm, pert, attributes=list(attributes), store=store, progress=False
        ).explain(COMPS)


def _weighted(w):
    """Two RMs made by one factory: same module and qualname, different weights."""
    return lambda prompts, responses: [w * len(r) for r in responses]


def _suffixer(tag):
    return lambda prompt, response, attribute, direction: f"{response} {tag}"


def _rm_id(fn):
    return CallableRewardModel(fn).identity


# --------------------------------------------------------------- callables: code and closure
def test_closures_and_lambdas_get_distinct_stable_identities():
    assert _rm_id(_weighted(1.0)) != _rm_id(_weighted(2.0))
    assert _rm_id(_weighted(1.0)) == _rm_id(_weighted(1.0))  # stable for equal functions
    a = lambda p, r: [1.0] * len(r)  # noqa: E731
    b = lambda p, r: [2.0] * len(r)  # noqa: E731
    assert _rm_id(a) != _rm_id(b) and _rm_id(a).startswith("callable:")
    assert "test_identities._weighted.<locals>.<lambda>:" in _rm_id(_weighted(1.0))
    # arrays, partials, bound methods and callable objects by their values
    mk = lambda arr: lambda p, r: [float(arr.sum())] * len(r)  # noqa: E731
    assert _rm_id(mk(np.ones(3))) != _rm_id(mk(np.zeros(3)))
    part = lambda p, r, k: [k] * len(r)  # noqa: E731
    assert _rm_id(functools.partial(part, k=1)) != _rm_id(functools.partial(part, k=2))

    class Scaled:
        def __init__(self, k):
            self.k = k

        def __call__(self, p, r):
            return [self.k] * len(r)

        def score(self, p, r):
            return [self.k] * len(r)

    assert _rm_id(Scaled(1)) != _rm_id(Scaled(2)) and _rm_id(Scaled(1)) == _rm_id(Scaled(1))
    assert _rm_id(Scaled(1).score) != _rm_id(Scaled(2).score)
    # a captured model with an identity is keyed by it
    t1, t2 = rmx.TransparentRewardModel(), rmx.TransparentRewardModel({"length": 3.0})
    wrap = lambda m: lambda p, r: m.score(p, r)  # noqa: E731
    assert _rm_id(wrap(t1)) != _rm_id(wrap(t2))


def test_the_identity_does_not_depend_on_the_hash_seed(tmp_path):
    import subprocess
    import sys

    code = (
        "from rmx_widgets.core.reward_models.base import CallableRewardModel as C\n"
        "S = frozenset({'alpha', 'beta', 'gamma'})\n"
        "def f(p, r, opts={'x', 'y', 'z'}):\n"
        "    return [float(w in S or w in {'q', 'r', 's'}) for w in r]\n"
        "print(C(f).identity)\n"
    )
    out = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": ":".join(sys.path)},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(out) == 1 and next(iter(out)).startswith("callable:__main__.f:")


def test_a_capture_that_cannot_be_fingerprinted_asks_for_a_name():
    lock = threading.Lock()  # C state: cannot be read, so no key can be derived from it
    fn = (lambda m: lambda p, r: [1.0] * len(r) if m else [])(lock)
    with pytest.raises(RewardModelError, match=r"captured variable 'm'.*pass name=|Pass name="):
        CallableRewardModel(fn)
    with pytest.raises(RewardModelError, match="Pass name='...' with a version"):
        rmx.Explainer(fn, rmx.RulePerturber(), attributes=["verbosity"], progress=False)
    assert CallableRewardModel(fn, name="mine:v1").identity == "mine:v1"  # a name is kept
    pert = (lambda m: lambda p, r, a, d: r + "!" if m else r)(lock)
    with pytest.raises(PerturberError, match="perturber function .* Pass name="):
        CallablePerturber(pert)
    assert CallablePerturber(pert, name="p:v1").identity == "p:v1"
    big = (lambda a: lambda p, r: [float(a[0])] * len(r))(np.zeros(20_000_000))
    with pytest.raises(RewardModelError, match="too large"):
        CallableRewardModel(big)


def test_two_unnamed_callable_rms_never_share_scores(tmp_path):
    store = tmp_path / "store.sqlite"
    first = _run(_weighted(1.0), rmx.RulePerturber(), store)
    second = _run(_weighted(-1.0), rmx.RulePerturber(), store)
    assert first.stats.scores_computed > 0
    assert second.stats.scores_computed > 0  # before: 0, the first RM's scores were reused
    assert first.rm != second.rm
    again = _run(_weighted(1.0), rmx.RulePerturber(), store)
    assert again.stats.scores_computed == 0 and again.rm == first.rm  # and stays cached


def test_two_unnamed_callable_perturbers_never_share_rewrites(tmp_path):
    store = tmp_path / "store.sqlite"
    rm = rmx.TransparentRewardModel()
    first = _run(rm, _suffixer("Indeed."), store)
    second = _run(rm, _suffixer("Perhaps."), store)
    assert second.stats.perturbations_computed > 0  # before: 0, the old rewrites came back
    done = second.table.dropna(subset=["perturbed"])
    assert done["perturbed"].str.endswith("Perhaps.").all() and len(done)
    assert first.perturber != second.perturber


# --------------------------------------------------------------- named transparent RM
def test_a_named_transparent_rm_with_other_weights_is_rescored(tmp_path):
    assert rmx.TransparentRewardModel(name="mine").identity == "mine"  # the old key
    store = tmp_path / "store.sqlite"
    first = _run(rmx.TransparentRewardModel(name="mine"), rmx.RulePerturber(), store)
    changed = rmx.TransparentRewardModel({"length": 5.0}, name="mine")
    assert changed.identity.startswith("mine:w") and changed.identity != first.rm
    second = _run(changed, rmx.RulePerturber(), store)
    assert second.stats.scores_computed > 0  # before: 0, scores of the old weights reused
    before = first.table.set_index(["comparison_id", "attribute", "direction", "side"])
    after = second.table.set_index(["comparison_id", "attribute", "direction", "side"])
    assert not np.allclose(before["reward_original"], after["reward_original"])
    changed.weights = rmx.TransparentRewardModel().weights  # back to the defaults
    assert changed.identity == "mine"


# --------------------------------------------------------------- HF RM max_length
def test_hf_max_length_is_in_the_identity_and_rescored(tiny_decoder_rm, tmp_path):
    from rmx_widgets.core.reward_models.hf import HFRewardModel

    full = HFRewardModel(tiny_decoder_rm)
    assert full.identity == f"hf:{tiny_decoder_rm}:float32"  # the default key is unchanged
    assert HFRewardModel(tiny_decoder_rm, max_length=full.max_length).identity == full.identity
    short = HFRewardModel(tiny_decoder_rm, max_length=8)
    assert short.identity == f"hf:{tiny_decoder_rm}:float32:max_length=8"
    named = HFRewardModel(tiny_decoder_rm, name="my-rm:v1", max_length=8)
    assert named.identity == "my-rm:v1:max_length=8"
    assert HFRewardModel(tiny_decoder_rm, name="my-rm:v1", dtype="fp32").identity == "my-rm:v1"
    half = HFRewardModel(tiny_decoder_rm, name="my-rm:v1", dtype="bf16")
    assert half.identity == "my-rm:v1:bfloat16"  # not the CPU default: other scores
    store = tmp_path / "store.sqlite"
    first = _run(full, rmx.RulePerturber(), store)
    second = _run(short, rmx.RulePerturber(), store)
    assert second.stats.scores_computed > 0  # before: 0, the untruncated scores were reused
    assert second.table["truncated"].all() and not first.table["truncated"].any()
    short.max_length = full.max_length  # setting it back gives back the default key
    assert short.identity == full.identity
    with pytest.raises(RewardModelError, match="max_length"):
        short.max_length = 1


# --------------------------------------------------------------- LLM perturber settings
def test_llm_perturber_settings_are_in_the_identity():
    from rmx_widgets.core.perturbers.openai import OpenAIPerturber

    base = OpenAIPerturber("m", base_url="http://127.0.0.1:9/v1")
    assert base.identity == "openai:m@127.0.0.1:9:prompt-v2"  # defaults: the old key
    hot = OpenAIPerturber("m", base_url="http://127.0.0.1:9/v1", temperature=0.7)
    short = OpenAIPerturber("m", base_url="http://127.0.0.1:9/v1", max_tokens=64, name="lab")
    assert hot.identity == "openai:m@127.0.0.1:9:temperature=0.7:prompt-v2"
    assert short.identity == "lab:max_tokens=64:prompt-v2"
    para = rmx.ParaphrasePerturber(hot)
    assert para.identity == "openai:m@127.0.0.1:9:temperature=0.7:paraphrase-v2"


def test_hf_perturber_max_new_tokens_is_in_the_identity(tiny_causal_lm):
    from rmx_widgets.core.perturbers.hf import HFPerturber

    assert HFPerturber(tiny_causal_lm, device="cpu").identity == f"hf:{tiny_causal_lm}:prompt-v2"
    short = HFPerturber(tiny_causal_lm, device="cpu", max_new_tokens=16)
    assert short.identity == f"hf:{tiny_causal_lm}:max_new_tokens=16:prompt-v2"
    wide = HFPerturber(tiny_causal_lm, device="cpu", dtype="fp16")
    assert wide.identity == f"hf:{tiny_causal_lm}:dtype=float16:prompt-v2"


def test_callable_identity_names_the_role():
    with pytest.raises(PerturberError, match="my-perturber:v1"):
        callable_identity(
            (lambda m: lambda *a: m)(threading.Lock()), kind="perturber", error=PerturberError
        )


def test_vllm_output_settings_are_in_the_identity(monkeypatch):
    from types import SimpleNamespace

    from rmx_widgets.core.perturbers import vllm as vllm_module

    fake = SimpleNamespace(LLM=lambda **kw: object(), SamplingParams=lambda **kw: kw)
    monkeypatch.setattr(vllm_module, "_import_vllm", lambda: fake)
    assert rmx.VLLMPerturber("org/m").identity == "vllm:org/m:prompt-v2"  # the old key
    placed = rmx.VLLMPerturber("org/m", tensor_parallel_size=2, gpu_memory_utilization=0.5)
    assert placed.identity == "vllm:org/m:prompt-v2"  # where it runs changes no rewrite
    other = rmx.VLLMPerturber("org/m", max_new_tokens=64, dtype="half", quantization="awq")
    assert other.identity == "vllm:org/m:max_new_tokens=64,dtype=half,quantization=awq:prompt-v2"
