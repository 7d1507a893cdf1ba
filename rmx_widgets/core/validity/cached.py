"""``CachedJudge``: a rewrite judge through the store, as perturbations and scores are.

An LLM judge costs one call per rewrite, so its verdicts are computed once per store and kept,
with the guarantees ``core.cached.claim_or_wait`` gives perturbations and scores: nothing stored
is judged again, identical requests of one call are judged once, processes sharing a store
claim what they judge (and split the work), and each verdict is written in a transaction that
releases its claim.

The key covers everything a verdict depends on: the judge's ``identity`` (prompt version, model,
thresholds), the prompt, the original, the rewrite, the attribute's fingerprint (name,
definition, worse, better: the same one the perturbation keys use, so an edited attribute is
judged again) and the direction. The judge is not part of any rewrite or score key, so adding
or changing a judge never recomputes a rewrite or a score.

Two kinds of verdict are never stored:

- an *undecided* one (``valid`` None): the judge could not decide, most often because its own
  call failed (a timeout, a reply that did not parse; a judge that raises is recorded as
  undecided for its whole batch, with the error as the reason). Storing it would freeze a transient
  failure into the cache; a rerun asks again instead (its claim is released at once);
- an attribute the judge does not ``support``: it is answered "undecided" without asking the
  judge at all, and without touching the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rmx_widgets.core.cached import Cached, claim_or_wait
from rmx_widgets.core.data import prompt_key, safe_text
from rmx_widgets.core.errors import OptionError, RMXError
from rmx_widgets.core.store import Store, content_key
from rmx_widgets.core.validity.base import JudgeRequest, RewriteJudge, Verdict, as_judge

#: The longest reason kept from a judge (an LLM's reply may be long; a reason is one line).
MAX_REASON_CHARS = 500


@dataclass
class CachedVerdicts(Cached[Verdict]):
    """``Cached`` verdicts, with ``unsupported``: how many requests the judge has no test for
    (answered undecided without a judge call), and ``undecided``: how many of the verdicts this
    call computed were undecided (not stored: a rerun asks again)."""

    unsupported: int
    undecided: int


def unsupported_verdict(judge: RewriteJudge, attribute: str) -> Verdict:
    """The verdict for an attribute ``judge`` declares it cannot judge (no judge call)."""
    return Verdict(None, f"{judge.identity} has no test for {attribute!r}")


def _clean(verdict: object, judge: RewriteJudge) -> Verdict:
    """A judge's verdict as it is stored and shown: checked to be a ``Verdict`` with valid
    True/False/None, its reason one bounded line with control characters escaped (a reason
    may quote untrusted model output)."""
    if not isinstance(verdict, Verdict) or verdict.valid not in (True, False, None):
        raise OptionError(
            f"judge {judge.identity} returned {type(verdict).__name__}; a judge returns "
            "Verdict(valid=True/False/None, reason) per request."
        )
    reason = verdict.reason if isinstance(verdict.reason, str) else str(verdict.reason)
    reason = safe_text(" ".join(reason.split()))
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1] + "…"
    return Verdict(verdict.valid, reason)


class CachedJudge:
    """``judge`` (a ``RewriteJudge`` or a callable, see ``as_judge``) through ``store``."""

    def __init__(self, judge: object, store: Store) -> None:
        self.judge: RewriteJudge = as_judge(judge)
        self.store = store

    @property
    def identity(self) -> str:
        return self.judge.identity

    def key(self, request: JudgeRequest) -> str:
        return content_key(
            "verdict",
            self.judge.identity,
            prompt_key(request.prompt),
            request.original,
            request.rewrite,
            request.attribute.fingerprint,
            request.direction,
        )

    def judge_batch(self, requests: Sequence[JudgeRequest]) -> CachedVerdicts:
        """One verdict per request, in order; ``computed`` / ``cached`` count the supported
        requests only (the unsupported ones cost nothing)."""
        supported = [i for i, r in enumerate(requests) if self.judge.supports(r.attribute)]
        out: list[Verdict] = [unsupported_verdict(self.judge, r.attribute.name) for r in requests]
        keys = [self.key(requests[i]) for i in supported]
        first: dict[str, JudgeRequest] = {}
        for k, i in zip(keys, supported):
            first.setdefault(k, requests[i])
        undecided = 0

        def lookup(wanted: list[str]) -> dict[str, Verdict]:
            return {k: Verdict(v, r) for k, (v, r) in self.store.get_verdicts(wanted).items()}

        def compute(mine: list[str]) -> dict[str, Verdict]:
            nonlocal undecided
            try:
                got = self.judge.judge_batch([first[k] for k in mine])
            except RMXError:
                raise  # a judge that breaks its contract (e.g. a bad return type) is a bug
            except Exception as e:  # the judge's own call failed: undecided, asked again later
                reason = f"judge call failed ({type(e).__name__}: {e})"
                got = [Verdict(None, reason)] * len(mine)
            if len(got) != len(mine):
                raise OptionError(
                    f"judge {self.judge.identity} returned {len(got)} verdicts for "
                    f"{len(mine)} rewrites."
                )
            verdicts = dict(zip(mine, (_clean(v, self.judge) for v in got)))
            decided = [(k, v) for k, v in verdicts.items() if v.valid is not None]
            self.store.put_verdicts(
                [
                    (k, self.judge.identity, first[k].attribute.name, first[k].direction)
                    + (bool(v.valid), v.reason)
                    for k, v in decided
                ]
            )
            open_keys = [k for k, v in verdicts.items() if v.valid is None]
            self.store.release(open_keys)  # not stored: a rerun (or another process) asks again
            undecided += len(open_keys)
            return verdicts

        got = claim_or_wait(self.store, "verdicts", keys, lookup, compute)
        for i, verdict in zip(supported, got.values):
            out[i] = verdict
        return CachedVerdicts(
            values=out,
            computed=got.computed,
            cached=got.cached,
            elsewhere=got.elsewhere,
            unsupported=len(requests) - len(supported),
            undecided=undecided,
        )


__all__ = ["MAX_REASON_CHARS", "CachedJudge", "CachedVerdicts", "unsupported_verdict"]
