"""rmx-widgets: contrastive explanations for language reward models.

``import rmx_widgets as rmx`` gives the public API of DESIGN.md §3. Heavy backends (torch,
transformers, httpx) load on first use, so the CLI and the transparent demo start fast.

The objects can also be named by the specs the ``rmx`` command takes (see ``core.specs``)::

    rm = rmx.reward_model_from_spec("transparent:hedging=-1,length=0.4")
    llm = rmx.perturber_from_spec("llm", model="gpt-4o-mini")  # or backend="hf", a local LM
"""

from __future__ import annotations

import importlib
from typing import Any

from rmx_widgets import errors
from rmx_widgets.core.attributes import DEFAULT_ATTRIBUTES, Attribute, get_attribute
from rmx_widgets.core.data import Comparison, load_comparisons, sample_comparisons

__version__ = "0.1.0"

_LAZY = {
    "Explainer": "rmx_widgets.core.explain",
    "ExplanationResult": "rmx_widgets.core.explain",
    "compare": "rmx_widgets.core.compare",
    "Store": "rmx_widgets.core.store",
    "RulePerturber": "rmx_widgets.core.perturbers.rules",
    "CallablePerturber": "rmx_widgets.core.perturbers.base",
    "PerturbationRequest": "rmx_widgets.core.perturbers.base",
    "CallableRewardModel": "rmx_widgets.core.reward_models.base",
    "MultiObjectiveRewardModel": "rmx_widgets.core.reward_models.base",
    "ObjectiveScores": "rmx_widgets.core.reward_models.base",
    "OpenAIPerturber": "rmx_widgets.core.perturbers.openai",
    "HFPerturber": "rmx_widgets.core.perturbers.hf",
    "VLLMPerturber": "rmx_widgets.core.perturbers.vllm",
    "RandomWordPerturber": "rmx_widgets.core.perturbers.random_words",
    "ParaphrasePerturber": "rmx_widgets.core.perturbers.paraphrase",
    "PolyjuicePerturber": "rmx_widgets.core.perturbers.polyjuice",
    "HFRewardModel": "rmx_widgets.core.reward_models.hf",
    "DPORewardModel": "rmx_widgets.core.reward_models.dpo",
    "PairwiseRewardModel": "rmx_widgets.core.reward_models.pairwise",
    "VLLMRewardModel": "rmx_widgets.core.reward_models.vllm",
    "LLMJudge": "rmx_widgets.core.reward_models.llm_judge",
    "TransparentRewardModel": "rmx_widgets.core.reward_models.transparent",
    "sensitivity": "rmx_widgets.core.sensitivity",
    "evaluate": "rmx_widgets.core.study.run",
    "TransformersEmbedder": "rmx_widgets.core.embedders",
    "HashingEmbedder": "rmx_widgets.core.metrics",
    "StudyResult": "rmx_widgets.core.study.result",
    "reward_model_from_spec": "rmx_widgets.core.specs",
    "perturber_from_spec": "rmx_widgets.core.specs",
    # the Jupyter face (imports anywidget/ipywidgets on first use only)
    "Explorer": "rmx_widgets.widgets",
    "ComparisonView": "rmx_widgets.widgets",
    "AttributePicker": "rmx_widgets.widgets",
    "SensitivityChart": "rmx_widgets.widgets",
    "Annotator": "rmx_widgets.widgets",
    "RMCompare": "rmx_widgets.widgets",
    "StudyView": "rmx_widgets.widgets",
    "RewriteTable": "rmx_widgets.widgets",
    "write_report": "rmx_widgets.core.report",
    "load_hh_rlhf": "rmx_widgets.core.public_data",
    "load_helpsteer2": "rmx_widgets.core.public_data",
    "LoadedComparisons": "rmx_widgets.core.public_data",
    "discover_attributes": "rmx_widgets.core.discovery",
    "DiscoveryResult": "rmx_widgets.core.discovery",
    "effects": "rmx_widgets.core.effects",
    "EFFECTS_COLUMNS": "rmx_widgets.core.effects",
    "Expectation": "rmx_widgets.core.expectations",
    "check_expectations": "rmx_widgets.core.expectations",
    "failing_examples": "rmx_widgets.core.expectations",
    # rewrite judges: did a rewrite do what it was asked?
    "FeatureJudge": "rmx_widgets.core.validity",
    "LLMAttributeJudge": "rmx_widgets.core.validity",
    "RewriteJudge": "rmx_widgets.core.validity",
    "Verdict": "rmx_widgets.core.validity",
    "JudgeRequest": "rmx_widgets.core.validity",
}

__all__ = [
    "DEFAULT_ATTRIBUTES",
    "Attribute",
    "Comparison",
    "errors",
    "get_attribute",
    "load_comparisons",
    "sample_comparisons",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rmx_widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
