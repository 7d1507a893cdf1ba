"""Small, deterministic inputs for the widget tests: twelve comparisons, four attributes.

The toy RM prefers short responses (and "please"); the toy perturber gives every outcome the
widgets render: flips (verbosity), semifactuals (clarity), mixed (manner) and failed rewrites
with a reason and null rewards (assertiveness leaves the response unchanged). Every third
prompt is a chat turn, so the multi-turn path is covered too.
"""

from __future__ import annotations

COMPS = [
    {
        "id": f"c{i}",
        "prompt": f"question {i}" if i % 3 else [{"role": "user", "content": f"hi {i}"}],
        "response_a": f"short answer {i}",
        "response_b": f"a much longer answer number {i} with details",
    }
    for i in range(12)
]
ATTRS = ["verbosity", "manner", "assertiveness", "clarity"]


def rm(prompts, responses):
    return [-len(r) / 10 + (0.5 if "please" in r else 0.0) for r in responses]


def perturb(prompt, response, attribute, direction):
    if attribute.name == "assertiveness":
        return response  # unchanged → failed rows
    if attribute.name == "clarity":
        return response.replace("answer", "reply") + "."
    if attribute.name == "manner":
        return response + " please" if direction == "better" else "ok " + response
    return " ".join([response] * 4) if direction == "worse" else response[:8]
