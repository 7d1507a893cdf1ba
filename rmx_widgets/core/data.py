"""Comparisons: the unit of explanation, and how they get in from files and data frames.

A comparison is a prompt with two responses. The input may carry a human preference
(``chosen``/``rejected``) but the toolkit explains the *reward model's* own preference, so the
records keep the two responses symmetric (``response_a``/``response_b``) and the human label on
the side. Loading validates everything up front and names file, row and field on error, so a
long GPU job never dies on row 9,000 of a bad file.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmx_widgets.core.csv_io import prompt_cell, read_csv_rows
from rmx_widgets.core.errors import DataError
from rmx_widgets.core.input_files import (
    DEFAULT_MAX_INPUT_BYTES,
    check_parquet_size,
    check_size,
    decoded_lines,
    max_input_bytes,
)
from rmx_widgets.core.strict_json import DuplicateKeyError, loads_unique

Message = dict[str, str]
Prompt = str | list[Message]

ROLES = ("system", "user", "assistant", "tool")

# Accepted column names, in order of preference. A user mapping overrides these.
_PROMPT_KEYS = ("prompt", "messages", "conversation", "question", "instruction")
_PAIR_KEYS = (("chosen", "rejected"), ("response_a", "response_b"))


@dataclass(frozen=True)
class Comparison:
    """One prompt and two candidate responses (human preference optional)."""

    id: str
    prompt: Prompt
    response_a: str
    response_b: str
    human_preferred: str | None = None  # "a", "b" or None
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def prompt_text(self) -> str:
        return render_prompt(self.prompt)


def render_prompt(prompt: Prompt) -> str:
    """Flatten a prompt to text for places that need a string (perturbers, plain RM format).

    A multi-turn prompt becomes ``Role: content`` blocks so that an LLM rewriting a response
    still sees the conversation it answers.
    """
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in prompt)


def prompt_key(prompt: Prompt) -> str:
    """A canonical string for hashing/caching; identical prompts give identical keys."""
    if isinstance(prompt, str):
        return prompt
    return json.dumps([[m["role"], m["content"]] for m in prompt], ensure_ascii=False)


def comparison_id(prompt: Prompt, a: str, b: str) -> str:
    h = hashlib.sha256("\x1f".join((prompt_key(prompt), a, b)).encode("utf-8")).hexdigest()
    return h[:12]


def validate_prompt(value: Any, *, source: str | None, row: int | None, field_name: str) -> Prompt:
    """Accept a string or a list of ``{"role", "content"}`` messages; reject anything else."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(
                "the prompt is empty; give the text the responses answer.",
                source=source,
                row=row,
                field=field_name,
            )
        _check_text(value, source=source, row=row, field_name=field_name)
        return value
    if isinstance(value, (list, tuple)) or _is_array(value):
        return _validate_messages(list(value), source=source, row=row, field_name=field_name)
    hint = ""
    if isinstance(value, Mapping) and {"role", "content"} <= set(value):
        hint = ' A single message still goes inside a list: [{"role": ..., "content": ...}].'
    raise DataError(
        f"must be a string or a list of chat messages, got {type(value).__name__}.{hint}",
        source=source,
        row=row,
        field=field_name,
    )


def _validate_messages(
    messages: list, *, source: str | None, row: int | None, field_name: str
) -> list[Message]:
    """A chat prompt: at least one message, each valid, and not ending with the assistant."""
    if not messages:
        raise DataError(
            "the message list is empty; give at least one user message.",
            source=source,
            row=row,
            field=field_name,
        )
    out = [
        _validate_message(i, m, source=source, row=row, field_name=field_name)
        for i, m in enumerate(messages)
    ]
    if out[-1]["role"] == "assistant":
        raise DataError(
            "the prompt's last message is from the assistant; the compared "
            "responses are the assistant's next turn, so end the prompt with a "
            "user message.",
            source=source,
            row=row,
            field=field_name,
        )
    return out


def _validate_message(
    i: int, m: Any, *, source: str | None, row: int | None, field_name: str
) -> Message:
    """Message ``i`` of a chat prompt as ``{"role", "content"}``, or the error that says what
    is wrong with it."""
    if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
        raise DataError(
            f"message {i} must be an object with 'role' and 'content' "
            f"(got {type(m).__name__}: {str(m)[:60]!r}).",
            source=source,
            row=row,
            field=field_name,
        )
    role, content = m["role"], m["content"]
    if role not in ROLES:
        raise DataError(
            f"message {i} has role {role!r}; use one of {', '.join(ROLES)}.",
            source=source,
            row=row,
            field=field_name,
        )
    if not isinstance(content, str):
        raise DataError(
            f"message {i} content must be a string, got {type(content).__name__}.",
            source=source,
            row=row,
            field=field_name,
        )
    _check_text(content, source=source, row=row, field_name=field_name)
    return {"role": str(role), "content": content}


def _is_array(value: Any) -> bool:
    return type(value).__name__ == "ndarray"


#: What no text may hold: C0 control characters other than tab, newline and carriage return, and
#: DEL (NUL breaks C APIs, ESC starts terminal escape codes), and lone UTF-16 surrogates (not
#: characters: they cannot be encoded as UTF-8, so they crash hashing, SQLite and every writer).
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
#: What is escaped before a text is shown or recorded as a message: every control character
#: (C0, DEL, C1: ``\x9b`` is a terminal's CSI too) and lone surrogates.
_UNSAFE_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_NAMES = {0x00: "NUL", 0x1B: "ESC, which starts terminal escape codes", 0x7F: "DEL"}


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored and shown as plain text, naming its first bad character
    and where it is (``"a lone surrogate at character 3 (U+D83D), ..."``); ``None`` when it is
    fine. The same characters are refused in loaded data, rewrites and annotations."""
    m = _BAD_CHAR.search(text)
    if m is None:
        return None
    code = ord(m.group())
    if 0xD800 <= code <= 0xDFFF:
        return (
            f"a lone surrogate at character {m.start()} (U+{code:04X}), which cannot be "
            "stored as UTF-8"
        )
    name = _CONTROL_NAMES.get(code)
    return (
        f"a control character at character {m.start()} (U+{code:04X}{', ' + name if name else ''})"
    )


def safe_text(text: str) -> str:
    """``text`` with every control character and lone surrogate written as an escape
    (``\\x1b``, ``\\ud83d``), so a message quoting untrusted text can be stored as UTF-8
    and printed to a terminal without running its escape codes."""
    return _UNSAFE_CHAR.sub(lambda m: ascii(m.group())[1:-1], text)


def _check_text(text: str, *, source: str | None, row: int | None, field_name: str) -> None:
    bad = [c for c in text if (ord(c) < 32 and c not in "\n\t\r") or c == "\x7f"]
    if bad:
        raise DataError(
            f"contains control character {bad[0]!r}; remove it or escape it.",
            source=source,
            row=row,
            field=field_name,
        )
    # JSON can spell a lone UTF-16 surrogate ("\ud800"); it is not a character, cannot be
    # encoded as UTF-8 and would crash hashing, tokenisers and every writer downstream.
    lone = next((c for c in text if 0xD800 <= ord(c) <= 0xDFFF), None)
    if lone is not None:
        raise DataError(
            f"contains an unpaired surrogate {lone!r} (not valid Unicode); fix the "
            "escape sequence or re-export the file as UTF-8.",
            source=source,
            row=row,
            field=field_name,
        )


def _missing(value: Any) -> bool:
    """None, or the NaN that pandas puts in an empty cell."""
    return value is None or (isinstance(value, float) and value != value)


def _validate_response(value: Any, *, source: str | None, row: int | None, field_name: str) -> str:
    if not isinstance(value, str):
        raise DataError(
            f"must be a string, got {type(value).__name__}.",
            source=source,
            row=row,
            field=field_name,
        )
    if not value.strip():
        raise DataError(
            "the response is empty or whitespace only; an RM cannot be explained "
            "on an empty response.",
            source=source,
            row=row,
            field=field_name,
        )
    _check_text(value, source=source, row=row, field_name=field_name)
    return value


def _resolve_columns(
    keys: Iterable[str], mapping: Mapping[str, str] | None, source: str | None, row: int | None
) -> tuple[str, str, str, bool]:
    """Return (prompt_col, a_col, b_col, is_human_labelled)."""
    keys = list(keys)
    if mapping:
        unknown = set(mapping) - {"prompt", "chosen", "rejected", "response_a", "response_b", "id"}
        if unknown:
            raise DataError(
                f"column mapping has unknown targets {sorted(unknown)}; use prompt, "
                "chosen/rejected or response_a/response_b, and id.",
                source=source,
            )
        p = mapping.get("prompt", "prompt")
        if "chosen" in mapping or "rejected" in mapping:
            return p, mapping.get("chosen", "chosen"), mapping.get("rejected", "rejected"), True
        if "response_a" in mapping or "response_b" in mapping:
            return (
                p,
                mapping.get("response_a", "response_a"),
                mapping.get("response_b", "response_b"),
                False,
            )
        for a, b in _PAIR_KEYS:
            if a in keys:
                return p, a, b, a == "chosen"
        return p, "chosen", "rejected", True
    p = next((k for k in _PROMPT_KEYS if k in keys), "prompt")
    for a, b in _PAIR_KEYS:
        if a in keys or b in keys:
            return p, a, b, a == "chosen"
    near = _suggest(keys)
    raise DataError(
        "needs the fields prompt + chosen/rejected (or prompt + response_a/"
        f"response_b); found {sorted(keys)}.{near}",
        source=source,
        row=row,
    )


def _suggest(keys: Sequence[str]) -> str:
    import difflib

    wanted = ["prompt", "chosen", "rejected", "response_a", "response_b"]
    tips = []
    for k in keys:
        m = difflib.get_close_matches(k, wanted, n=1, cutoff=0.75)
        if m and k != m[0]:
            tips.append(f"'{k}' → '{m[0]}'")
    return f" Did you mean {', '.join(tips)}?" if tips else ""


def comparisons_from_records(
    records: Iterable[Mapping[str, Any]],
    *,
    source: str | None = None,
    mapping: Mapping[str, str] | None = None,
    first_row: int = 1,
) -> list[Comparison]:
    """Validate raw records (dicts) into comparisons; the shared path of every loader."""
    return _validate_numbered(enumerate(records, start=first_row), source, mapping)


def _validate_numbered(
    numbered: Iterable[tuple[int, Any]], source: str | None, mapping: Mapping[str, str] | None
) -> list[Comparison]:
    out: list[Comparison] = []
    cols: tuple[str, str, str, bool] | None = None
    seen: dict[str, int] = {}
    for i, rec in numbered:
        if not isinstance(rec, Mapping):
            raise DataError(
                f"must be an object with fields, got {type(rec).__name__}.", source=source, row=i
            )
        if cols is None:
            cols = _resolve_columns(rec.keys(), mapping, source, i)
        pcol, acol, bcol, human = cols
        for col in (pcol, acol, bcol):
            if col not in rec:
                hint = _suggest(list(rec.keys()))
                raise DataError(f"the field is missing.{hint}", source=source, row=i, field=col)
            if _missing(rec[col]):
                raise DataError(
                    "the field is null (or NaN); give the text.", source=source, row=i, field=col
                )
        prompt = validate_prompt(rec[pcol], source=source, row=i, field_name=pcol)
        a = _validate_response(rec[acol], source=source, row=i, field_name=acol)
        b = _validate_response(rec[bcol], source=source, row=i, field_name=bcol)
        id_col = (mapping or {}).get("id", "id")
        cid = rec.get(id_col)
        cid = str(cid) if not _missing(cid) and str(cid) != "" else comparison_id(prompt, a, b)
        if cid in seen:
            raise DataError(
                f"duplicate comparison id {cid!r} (first seen at row {seen[cid]}); "
                "ids must be unique.",
                source=source,
                row=i,
                field=id_col,
            )
        seen[cid] = i
        meta = {k: v for k, v in rec.items() if k not in (pcol, acol, bcol, id_col)}
        out.append(
            Comparison(
                id=cid,
                prompt=prompt,
                response_a=a,
                response_b=b,
                human_preferred="a" if human else None,
                metadata=meta,
            )
        )
    return out


def _decode_utf8(raw: bytes, path: Path) -> str:
    """UTF-8 with an optional byte-order mark (Windows editors add one); errors name the line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line = raw[:start].count(b"\n") + 1
        raise DataError(
            f"is not valid UTF-8 (byte {start}); re-save the file as UTF-8.",
            source=str(path),
            row=line,
        ) from None


def _loads(text: str, path: Path, row: int | None) -> Any:
    try:
        return loads_unique(text)
    except DuplicateKeyError as e:
        raise DataError(
            "the field appears twice in one object; keep one.",
            source=str(path),
            row=row,
            field=e.key,
        ) from None
    except json.JSONDecodeError as e:
        where = f"column {e.colno}" if row is not None else f"line {e.lineno} column {e.colno}"
        msg = e.msg.removesuffix(" at")  # "Invalid control character at" → no "at at"
        raise DataError(
            f"is not valid JSON ({msg} at {where}).", source=str(path), row=row
        ) from None
    except RecursionError:
        raise DataError(
            "is nested too deeply to be a comparison.", source=str(path), row=row
        ) from None


def _read_jsonl(path: Path) -> list[tuple[int, Any]]:
    """Parse one line at a time (true line numbers kept) so errors point at the file's line and
    memory holds the records, not copies of the file."""
    lines = ((n, line.removesuffix("\n")) for n, line in decoded_lines(path))
    records = [(n, _loads(line, path, n)) for n, line in lines if line.strip()]
    if not records:
        raise DataError("is empty; it needs one JSON object per line.", source=str(path))
    return records


def _read_csv(path: Path, mapping: Mapping[str, str] | None, limit: int) -> list[Comparison]:
    """Every cell is text; only the prompt column may be a chat prompt (``csv_io.prompt_cell``)."""
    source = str(path)
    rows = read_csv_rows((line for _, line in decoded_lines(path)), source, max_cell=limit)
    pcol = _resolve_columns(rows[0].keys(), mapping, source, 2)[0]
    for n, r in enumerate(rows, start=2):
        value = r.get(pcol)
        if isinstance(value, str):
            r[pcol] = prompt_cell(value, source=source, row=n, field_name=pcol)
    return comparisons_from_records(rows, source=source, mapping=mapping, first_row=2)


def load_comparisons(
    source: Any,
    *,
    mapping: Mapping[str, str] | None = None,
    split: str | None = None,
    max_bytes: int | None = None,
) -> list[Comparison]:
    """Load comparisons from a path (.jsonl/.json/.csv/.parquet), a DataFrame, a list of dicts
    or a Hugging Face ``datasets`` object.

    ``mapping`` renames columns: ``{"prompt": "question", "chosen": "good", "rejected": "bad"}``.
    Every row is validated before anything runs. A file over ``max_bytes`` (default 512 MiB, or
    ``RMX_MAX_INPUT_MB`` from the environment; for Parquet also its uncompressed size) is
    refused before it is read. In a CSV every cell is text, except a prompt cell that is a JSON
    array of message objects (``[{"role": ..., "content": ...}]``).
    """
    if isinstance(source, (str, Path)):
        return _load_path(Path(source), mapping, max_input_bytes(max_bytes))
    if type(source).__name__ == "DataFrame":
        return _load_frame(source, mapping, source_name="DataFrame")
    if type(source).__name__ == "DatasetDict":
        if split is None:
            raise DataError(f"a DatasetDict needs split=...; available: {list(source.keys())}.")
        source = source[split]
    if type(source).__name__ == "Dataset" and hasattr(source, "column_names"):
        return comparisons_from_records(
            iter(source), source="dataset", mapping=mapping, first_row=0
        )
    if isinstance(source, Sequence):
        if source and isinstance(source[0], Comparison):
            return _checked_comparisons(source)
        return comparisons_from_records(source, source="records", mapping=mapping, first_row=0)
    raise DataError(
        f"cannot load comparisons from a {type(source).__name__}; give a file path, "
        "a pandas DataFrame, a list of dicts or a datasets.Dataset."
    )


def _checked_comparisons(comps: Sequence[Any]) -> list[Comparison]:
    """``Comparison`` objects built in Python get the text checks loaded rows get (a lone
    surrogate would otherwise crash hashing and the store mid-run)."""
    for i, c in enumerate(comps):
        if not isinstance(c, Comparison):
            raise DataError(
                f"is a {type(c).__name__} in a list of Comparison objects.",
                source="comparisons",
                row=i,
            )
        texts: list[tuple[str, Any]] = [
            ("id", c.id),
            ("response_a", c.response_a),
            ("response_b", c.response_b),
        ]
        if isinstance(c.prompt, str):
            texts.append(("prompt", c.prompt))
        else:
            texts += [("prompt", m.get("content")) for m in c.prompt if isinstance(m, Mapping)]
        for name, text in texts:
            if isinstance(text, str):
                _check_text(text, source="comparisons", row=i, field_name=name)
    return list(comps)


def _load_path(path: Path, mapping: Mapping[str, str] | None, limit: int) -> list[Comparison]:
    if not path.exists():
        raise DataError("no such file.", source=str(path))
    suffix = path.suffix.lower()
    check_size(path, limit)
    if suffix in (".jsonl", ".ndjson"):
        return _validate_numbered(_read_jsonl(path), str(path), mapping)
    if suffix == ".json":
        data = _loads(_decode_utf8(path.read_bytes(), path), path, None)
        if not isinstance(data, list) or not data:
            raise DataError("must hold a non-empty JSON array of objects.", source=str(path))
        return comparisons_from_records(data, source=str(path), mapping=mapping)
    if suffix == ".csv":
        return _read_csv(path, mapping, limit)
    if suffix in (".parquet", ".pq"):
        import pandas as pd

        check_parquet_size(path, limit)
        try:
            frame = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises many types for a corrupt file
            raise DataError(f"cannot be read as Parquet ({e}).", source=str(path)) from None
        return _load_frame(frame, mapping, source_name=str(path))
    raise DataError(
        f"has unsupported extension '{suffix}'; use .jsonl, .json, .csv or .parquet.",
        source=str(path),
    )


def _load_frame(
    frame: Any, mapping: Mapping[str, str] | None, source_name: str
) -> list[Comparison]:
    if len(frame) == 0:
        raise DataError("has no rows.", source=source_name)
    records = frame.to_dict(orient="records")
    return comparisons_from_records(records, source=source_name, mapping=mapping, first_row=0)


def comparisons_to_frame(comps: Sequence[Comparison]) -> Any:
    """The inverse of loading, for saving a cleaned set (prompts stay lists for multi-turn)."""
    import pandas as pd

    return pd.DataFrame(
        [
            {"id": c.id, "prompt": c.prompt, "response_a": c.response_a, "response_b": c.response_b}
            for c in comps
        ]
    )


def save_comparisons(comps: Sequence[Comparison], path: str | Path) -> None:
    path = Path(path)
    with path.open("w", encoding="utf-8") as f:
        for c in comps:
            f.write(
                json.dumps(
                    {
                        "id": c.id,
                        "prompt": c.prompt,
                        "response_a": c.response_a,
                        "response_b": c.response_b,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )


def sample_comparisons() -> list[Comparison]:
    """The bundled comparisons used by ``rmx demo`` and the tutorials."""
    from importlib.resources import files

    path = files("rmx_widgets.data").joinpath("sample_comparisons.jsonl")
    return _load_path(Path(str(path)), None, DEFAULT_MAX_INPUT_BYTES)
