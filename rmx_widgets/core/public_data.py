"""The public preference data sets of the paper, loaded into comparisons.

``load_hh_rlhf`` reads Anthropic's HH-RLHF (each row two whole transcripts, ``"\\n\\nHuman: …
\\n\\nAssistant: …"``, that differ only in the last assistant turn) and ``load_helpsteer2``
reads NVIDIA's HelpSteer2 (one rated response per row, two consecutive rows per prompt). Both go
through ``datasets.load_dataset``: a hub name when online, a local copy of the hub folder or
``data_files=`` offline, so a test of local files runs the code a real download runs.

Public data is not ours to fix, so a row that does not fit the format is skipped, never
guessed at: every skip is counted by its reason, the result says "loaded N, skipped M: …"
(``result.summary()``, also a warning), and the first rows of each reason are kept to look at.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rmx_widgets.core.data import Comparison, Message, safe_text, text_problem
from rmx_widgets.core.errors import DataError, OptionError, RMXError

HH_RLHF = "Anthropic/hh-rlhf"
HELPSTEER2 = "nvidia/HelpSteer2"
#: The HH-RLHF folders that hold chosen/rejected pairs (``red-team-attempts`` holds none).
HH_RLHF_SUBSETS = ("helpful-base", "harmless-base", "helpful-online", "helpful-rejection-sampled")
#: The 0–4 ratings of a HelpSteer2 row, kept in the comparison's metadata.
HELPSTEER2_SCORES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
#: How many row numbers per skip reason are kept for a user to look at.
KEEP_ROWS = 20

_TURN = re.compile(r"\n\n(Human|Assistant):")
_ROLE = {"Human": "user", "Assistant": "assistant"}

# Skip reasons (the keys of ``LoadedComparisons.skipped``).
NOT_TEXT = "chosen or rejected is missing or not text"
NO_HUMAN_START = "a transcript does not start with '\\n\\nHuman:'"
NOT_ALTERNATING = "a transcript's Human and Assistant turns do not alternate"
NO_ASSISTANT_END = "a transcript does not end with an Assistant turn"
EMPTY_TURN = "a transcript has an empty turn"
DIFFER_EARLY = "the transcripts differ before their final Assistant turn"
IDENTICAL = "the two responses are identical"
UNSAFE_TEXT = "a text holds a control character or a lone surrogate"
BAD_ROW = "a row's prompt, response or helpfulness is missing or invalid"
NOT_TWO = "the prompt does not have exactly two responses"
TIE = "the two responses tie on helpfulness"


class LoadedComparisons(list[Comparison]):
    """The comparisons of a public data set (a plain list of :class:`Comparison`), with the
    account of what was left out: ``rows_read``, ``skipped`` (reason → count) and
    ``skipped_rows`` (reason → the first row numbers, 0-based in the split)."""

    def __init__(
        self,
        comparisons: Iterable[Comparison],
        *,
        source: str,
        rows_read: int,
        skipped: Mapping[str, int],
        skipped_rows: Mapping[str, Sequence[int]],
        unit: str = "rows",
    ) -> None:
        super().__init__(comparisons)
        self.source = source
        self.rows_read = rows_read
        self.skipped = dict(skipped)
        self.skipped_rows = {k: list(v) for k, v in skipped_rows.items()}
        self.unit = unit

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        """``"<source>: loaded N comparisons from R rows; skipped M <unit>: k × reason, …"``."""
        head = (
            f"{self.source}: loaded {_count(len(self), 'comparison')} "
            f"from {_count(self.rows_read, 'row')}"
        )
        if not self.skipped:
            return f"{head}; skipped none."
        reasons = "; ".join(f"{n} × {why}" for why, n in self.skipped.items())
        return f"{head}; skipped {self.n_skipped} {self.unit}: {reasons}."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class _Skips:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.rows: dict[str, list[int]] = {}

    def add(self, reason: str, row: int) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        kept = self.rows.setdefault(reason, [])
        if len(kept) < KEEP_ROWS:
            kept.append(row)


# --- HH-RLHF ---------------------------------------------------------------------------------


def parse_hh_transcript(text: Any) -> list[Message] | str:
    """A ``"\\n\\nHuman: …\\n\\nAssistant: …"`` transcript as chat messages (contents stripped),
    or the reason it is not one: it must start with a Human turn, alternate, end with an
    Assistant turn and have no empty turn."""
    if not isinstance(text, str):
        return NOT_TEXT
    if not text.startswith("\n\nHuman:"):
        return NO_HUMAN_START
    parts = _TURN.split(text)  # ["", "Human", " hi", "Assistant", " hello", ...]
    messages: list[Message] = []
    for name, content in zip(parts[1::2], parts[2::2]):
        role = _ROLE[name]
        if messages and messages[-1]["role"] == role:
            return NOT_ALTERNATING
        messages.append({"role": role, "content": content.strip()})
    if messages[-1]["role"] != "assistant":
        return NO_ASSISTANT_END
    if any(not m["content"] for m in messages):
        return EMPTY_TURN
    return messages


def hh_rlhf_pair(chosen: Any, rejected: Any) -> tuple[list[Message], str, str] | str:
    """(prompt messages, chosen response, rejected response) of one HH-RLHF row, or the reason
    it is skipped. The prompt is the longest shared message prefix of the two transcripts; each
    transcript must go on from it by exactly one Assistant turn."""
    c = parse_hh_transcript(chosen)
    if isinstance(c, str):
        return c
    r = parse_hh_transcript(rejected)
    if isinstance(r, str):
        return r
    k = 0
    while k < min(len(c), len(r)) and c[k] == r[k]:
        k += 1
    if c == r:
        return IDENTICAL
    if len(c) != k + 1 or len(r) != k + 1:
        return DIFFER_EARLY
    # alternation and the Assistant endings make c[k] and r[k] Assistant turns, so the
    # prefix c[:k] ends with a Human turn and is a valid chat prompt
    return c[:k], c[k]["content"], r[k]["content"]


def load_hh_rlhf(
    subset: str = "helpful-base",
    split: str = "train",
    *,
    path: str | Path | None = None,
    data_files: Any = None,
    limit: int | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    warn: bool = True,
) -> LoadedComparisons:
    """Anthropic HH-RLHF as comparisons: the shared dialogue as the prompt (chat messages), the
    final Assistant turns as the two responses, the ``chosen`` one as ``response_a`` and
    ``human_preferred="a"``. Ids are ``hh-rlhf/<subset>/<split>/<row>``.

    Reads ``Anthropic/hh-rlhf`` (folder ``subset``) from the hub by default; ``path=`` a local
    copy (the hub's folder layout, or one subset's folder, or one file) or ``data_files=``
    (one file, a list, or ``{split: files}``) read local ``.jsonl``/``.jsonl.gz`` files through
    the same ``datasets`` loader. ``limit`` stops after that many comparisons. Rows that do not
    parse are skipped and counted (see :class:`LoadedComparisons`; ``warn`` reports them).
    """
    if subset not in HH_RLHF_SUBSETS:
        raise OptionError(
            f"HH-RLHF subset {subset!r} is not one with chosen/rejected pairs; use one of "
            f"{', '.join(HH_RLHF_SUBSETS)}."
        )
    _check_limit(limit)
    rows, where = _open(
        HH_RLHF, path, data_files, split, subset=subset, revision=revision, cache_dir=cache_dir
    )
    skips = _Skips()
    out: list[Comparison] = []
    read = 0
    for i, row in enumerate(rows):
        if limit is not None and len(out) >= limit:
            break
        read += 1
        got = hh_rlhf_pair(row.get("chosen"), row.get("rejected"))
        if isinstance(got, str):
            skips.add(got, i)
            continue
        prompt, chosen, rejected = got
        if _unsafe([m["content"] for m in prompt] + [chosen, rejected]):
            skips.add(UNSAFE_TEXT, i)
            continue
        out.append(
            Comparison(
                id=f"hh-rlhf/{subset}/{split}/{i}",
                prompt=prompt,
                response_a=chosen,
                response_b=rejected,
                human_preferred="a",
                metadata={"dataset": HH_RLHF, "subset": subset, "split": split, "row": i},
            )
        )
    return _finish(out, f"hh-rlhf {subset}/{split} ({where})", read, skips, "rows", warn)


# --- HelpSteer2 ------------------------------------------------------------------------------


def _score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def _valid_helpsteer_row(row: Mapping[str, Any]) -> bool:
    return (
        all(isinstance(row.get(k), str) and row[k].strip() for k in ("prompt", "response"))
        and _score(row.get("helpfulness")) is not None
    )


def _prompt_groups(rows: Iterable[Mapping[str, Any]]) -> Iterator[list[tuple[int, Any]]]:
    """Runs of consecutive rows with the same prompt text, as (row number, row) lists; a row
    without a text prompt is a run of its own."""
    run: list[tuple[int, Any]] = []
    for i, row in enumerate(rows):
        prompt = row.get("prompt") if isinstance(row, Mapping) else None
        if run and isinstance(prompt, str) and run[-1][1].get("prompt") == prompt:
            run.append((i, row))
            continue
        if run:
            yield run
        run = [(i, row if isinstance(row, Mapping) else {})]
    if run:
        yield run


def load_helpsteer2(
    split: str = "train",
    *,
    path: str | Path | None = None,
    data_files: Any = None,
    limit: int | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    warn: bool = True,
) -> LoadedComparisons:
    """NVIDIA HelpSteer2 as comparisons: the two responses of one prompt (consecutive rows), in
    file order as ``response_a``/``response_b``, the one rated more helpful as
    ``human_preferred``. Ids are ``helpsteer2/<split>/<row of the first response>``; both rows'
    ratings are in ``metadata``.

    A prompt whose responses tie on helpfulness, a prompt without exactly two responses and a
    prompt with an invalid row are skipped and counted per prompt. ``path=``, ``data_files=``,
    ``limit`` and ``warn`` work as in :func:`load_hh_rlhf`.
    """
    _check_limit(limit)
    rows, where = _open(
        HELPSTEER2, path, data_files, split, subset=None, revision=revision, cache_dir=cache_dir
    )
    skips = _Skips()
    out: list[Comparison] = []
    read = 0
    for group in _prompt_groups(rows):
        if limit is not None and len(out) >= limit:
            break
        read += len(group)
        first = group[0][0]
        if not all(_valid_helpsteer_row(row) for _, row in group):
            skips.add(BAD_ROW, first)
            continue
        if len(group) != 2:
            skips.add(NOT_TWO, first)
            continue
        (ia, a), (ib, b) = group
        ha, hb = _score(a["helpfulness"]), _score(b["helpfulness"])
        if a["response"] == b["response"]:
            skips.add(IDENTICAL, first)
            continue
        if ha == hb:
            skips.add(TIE, first)
            continue
        if _unsafe([a["prompt"], a["response"], b["response"]]):
            skips.add(UNSAFE_TEXT, first)
            continue
        out.append(
            Comparison(
                id=f"helpsteer2/{split}/{ia}",
                prompt=a["prompt"],
                response_a=a["response"],
                response_b=b["response"],
                human_preferred="a" if ha is not None and hb is not None and ha > hb else "b",
                metadata={
                    "dataset": HELPSTEER2,
                    "split": split,
                    "rows": (ia, ib),
                    "scores_a": {k: a.get(k) for k in HELPSTEER2_SCORES if k in a},
                    "scores_b": {k: b.get(k) for k in HELPSTEER2_SCORES if k in b},
                },
            )
        )
    return _finish(out, f"helpsteer2 {split} ({where})", read, skips, "prompts", warn)


# --- shared ----------------------------------------------------------------------------------


def _check_limit(limit: Any) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise OptionError(f"limit must be a positive integer or None, got {limit!r}.")


def _unsafe(texts: Iterable[str]) -> bool:
    return any(text_problem(t) is not None for t in texts)


def _finish(
    out: list[Comparison], source: str, read: int, skips: _Skips, unit: str, warn: bool
) -> LoadedComparisons:
    result = LoadedComparisons(
        out, source=source, rows_read=read, skipped=skips.counts, skipped_rows=skips.rows, unit=unit
    )
    if warn and result.skipped:
        warnings.warn(result.summary(), UserWarning, stacklevel=3)
    return result


def _data_files(data_files: Any, split: str) -> Any:
    if isinstance(data_files, Mapping):
        return {str(k): _file_list(v) for k, v in data_files.items()}
    return {split: _file_list(data_files)}


def _file_list(files: Any) -> list[str]:
    if isinstance(files, (str, Path)):
        return [str(files)]
    return [str(f) for f in files]


def _open(
    hub_name: str,
    path: str | Path | None,
    data_files: Any,
    split: str,
    *,
    subset: str | None,
    revision: str | None,
    cache_dir: str | Path | None,
) -> tuple[Any, str]:
    """The split's rows through ``datasets.load_dataset`` and a short name of where they came
    from. A local folder is read like the hub repository: ``<folder>/<subset>/`` when it exists,
    else the folder itself; a local file is read as ``data_files``."""
    if path is not None and data_files is not None:
        raise OptionError("give path= or data_files=, not both.")
    if path is not None and Path(path).is_file():
        path, data_files = None, path
    kwargs: dict[str, Any] = {"split": split}
    if cache_dir is not None:
        kwargs["cache_dir"] = str(cache_dir)
    if data_files is not None:
        kwargs["data_files"] = _data_files(data_files, split)
        files = [f for fs in kwargs["data_files"].values() for f in fs]
        target, where = "json", safe_text(", ".join(files)[:200])
    elif path is not None and Path(path).exists():
        target, where = str(path), str(path)
        if subset is not None and (Path(path) / subset).is_dir():
            kwargs["data_dir"] = subset
    else:
        target, where = str(path or hub_name), str(path or hub_name)
        if subset is not None:
            kwargs["data_dir"] = subset
        if revision is not None:
            kwargs["revision"] = revision
    load_dataset = _datasets_loader()
    try:
        return load_dataset(target, **kwargs), where
    except Exception as e:  # datasets raises OSError, ValueError and its own error types
        message = safe_text(" ".join(str(e).split())[:300])
        raise DataError(
            f"cannot load split {split!r}: {type(e).__name__}: {message}. Offline, pass path= "
            "a local copy of the data set's folder or data_files= its .jsonl(.gz) files.",
            source=where,
        ) from None


def _datasets_loader() -> Any:
    try:
        from datasets import load_dataset
    except ImportError:
        raise RMXError(
            "loading public data sets needs the 'datasets' package: "
            "pip install 'rmx-widgets[datasets]'."
        ) from None
    return load_dataset
