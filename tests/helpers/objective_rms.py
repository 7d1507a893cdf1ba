"""A multi-objective RM in plain Python, for the tests of objective columns: its rewards are
counts a test can redo by hand (words, question marks), and it can be made to misbehave."""

from __future__ import annotations

import math

from rmx_widgets.core.reward_models.base import BaseRewardModel, ObjectiveScores


class TwoObjectives(BaseRewardModel):
    """A foreign multi-objective RM in plain Python: length and question marks."""

    identity = "two-objectives:v1"
    objectives = ("length", "questions")

    def __init__(self, bad: str | None = None) -> None:
        self.bad = bad

    def score_objectives(self, prompts, responses) -> ObjectiveScores:
        length = [float(len(r.split())) for r in responses]
        questions = [float(r.count("?")) for r in responses]
        if self.bad == "nan":
            questions = [math.nan for _ in responses]
        names = ("length", "other") if self.bad == "names" else self.objectives
        return ObjectiveScores(
            [a - 2 * b for a, b in zip(length, questions)], dict(zip(names, (length, questions)))
        )

    def score(self, prompts, responses) -> list[float]:
        return self.score_objectives(prompts, responses).combined
