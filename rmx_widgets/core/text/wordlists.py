"""The phrase lists the rules edit and the transparent RM counts, as data (``wordlists.json``).

Phrases are lower case; matching is whole-phrase and case-insensitive, spaces match any
whitespace and an apostrophe also matches a typographic one (see ``phrases.phrase_regex``).
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

_DATA: dict[str, Any] = json.loads(
    files("rmx_widgets.core.text").joinpath("wordlists.json").read_text(encoding="utf-8")
)

#: Hedges: "I think", "perhaps", "might", ...
HEDGES: tuple[str, ...] = tuple(_DATA["hedges"])
#: Refusals and deflections: "I'm sorry, but I can't", "as an AI", ...
REFUSALS: tuple[str, ...] = tuple(_DATA["refusals"])
#: Greetings, thanks, praise of the question and courteous closes.
PLEASANTRIES: tuple[str, ...] = tuple(_DATA["pleasantries"])
#: Interjections that are pleasantries only when they make up a whole sentence ("Sure!").
PLEASANTRY_INTERJECTIONS: tuple[str, ...] = tuple(_DATA["pleasantry_interjections"])
#: Invitations to follow up: "Let me know if ...", "Would you like ...", ...
FOLLOW_UPS: tuple[str, ...] = tuple(_DATA["follow_ups"])
#: Words that carry no topic, left out of content words.
STOPWORDS: frozenset[str] = frozenset(_DATA["stopwords"])
