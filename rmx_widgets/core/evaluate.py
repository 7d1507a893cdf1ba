"""The old home of the study, kept so that ``from rmx_widgets.core.evaluate import evaluate``
(the CLI, tests) keeps working; the study lives in :mod:`rmx_widgets.core.study`."""

from __future__ import annotations

from rmx_widgets.core.study.run import evaluate

__all__ = ["evaluate"]
