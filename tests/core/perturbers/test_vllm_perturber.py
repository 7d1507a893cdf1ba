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
