"""VLLMPerturber: a clear message where vLLM is absent; on a CUDA machine with vLLM, a real run."""

import importlib.util

import pytest

import rmx_widgets as rmx
from rmx_widgets.core.perturbers.base import PerturbationRequest
from rmx_widgets.errors import PerturberError

HAVE_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAVE_VLLM, reason="vLLM is installed here")
def test_missing_vllm_gives_install_hint():
    with pytest.raises(PerturberError, match=r"pip install 'rmx-widgets\[vllm\]'"):
        rmx.VLLMPerturber("any/model")


@pytest.mark.skipif(not HAVE_VLLM, reason="vLLM not installed (optional extra, CUDA only)")
def test_vllm_rewrites_in_order(tiny_causal_lm):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vLLM needs a CUDA GPU")
    pert = rmx.VLLMPerturber(str(tiny_causal_lm), max_new_tokens=16, gpu_memory_utilization=0.2)
    attr = rmx.get_attribute("verbosity")
    reqs = [PerturbationRequest(f"q{i}", f"response {i}", attr, "worse") for i in range(8)]
    results = pert.perturb_batch(reqs)
    assert len(results) == 8  # random weights: every reply fails to parse, with a reason
    assert all(r.text is None and r.failure for r in results)


def _fake_vllm(monkeypatch, finish_reasons):
    """A stand-in ``vllm`` module: ``LLM.chat`` records each prompt's sampling params and
    answers a well-formed rewrite with the scripted ``finish_reason``."""
    import json
    from types import SimpleNamespace

    from rmx_widgets.core.perturbers import vllm as vllm_module

    seen = []

    class LLM:
        def __init__(self, **kw):
            pass

        def chat(self, messages, sampling, use_tqdm=False):
            seen.extend(sampling)
            text = json.dumps({"locate": ["S"], "rewritten": "A rewritten answer."})
            return [
                SimpleNamespace(outputs=[SimpleNamespace(text=text, finish_reason=f)])
                for f in finish_reasons[: len(messages)]
            ]

    fake = SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: kw)
    monkeypatch.setattr(vllm_module, "_import_vllm", lambda: fake)
    return seen


def test_vllm_budget_is_sized_per_request_and_a_cut_reply_fails(monkeypatch):
    seen = _fake_vllm(monkeypatch, ["stop", "length"])
    pert = rmx.VLLMPerturber("org/m")
    assert pert.identity == "vllm:org/m:prompt-v2"  # the old max_new_tokens=1024 key
    attr = rmx.get_attribute("verbosity")
    long = "S" + "x" * 3000  # 1001 estimated tokens: 1001 * 2 + 256
    reqs = [PerturbationRequest("q", r, attr, "worse") for r in ("Short.", long)]
    ok, cut = pert.perturb_batch(reqs)
    assert [s["max_tokens"] for s in seen] == [1024, 2258]
    assert ok.text == "A rewritten answer." and cut.text is None
    assert cut.failure.startswith("rewrite cut at max_tokens=2258")
    seen.clear()
    capped = rmx.VLLMPerturber("org/m", max_new_tokens_cap=1500)
    assert capped.identity == "vllm:org/m:max_new_tokens_cap=1500:prompt-v2"
    capped.perturb_batch(reqs)
    assert [s["max_tokens"] for s in seen] == [1024, 1500]
    with pytest.raises(PerturberError, match="max_new_tokens must be"):
        rmx.VLLMPerturber("org/m", max_new_tokens=0)
