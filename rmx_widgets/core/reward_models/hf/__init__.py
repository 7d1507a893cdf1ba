"""Reward models loaded with transformers (``AutoModelForSequenceClassification``, one output
or the ``head=`` chosen of several, or a TRL / OpenRLHF value head).

The package splits :class:`HFRewardModel` along its seams: ``loading`` (model, tokenizer,
config checks, identity), ``heads`` (which output is the reward), ``architecture`` (decoder
vs encoder, chosen once at load),
``encoding`` (chat template / plain format / text pair, tokenisation, left truncation),
``batching`` (token-budget packing, out-of-memory recovery), ``prefix`` (KV-cache prefix
sharing) and ``model`` (the class that ties them together). Import from here; inside the
package each module imports the one that defines a name.
"""

from rmx_widgets.core.reward_models.hf.batching import ACCELERATOR_TOKEN_BUDGET, CPU_TOKEN_BUDGET
from rmx_widgets.core.reward_models.hf.encoding import EncodedInput
from rmx_widgets.core.reward_models.hf.model import HFRewardModel
from rmx_widgets.core.reward_models.hf.prefix import MIN_PREFIX_TOKENS

__all__ = [
    "ACCELERATOR_TOKEN_BUDGET",
    "CPU_TOKEN_BUDGET",
    "MIN_PREFIX_TOKENS",
    "EncodedInput",
    "HFRewardModel",
]
