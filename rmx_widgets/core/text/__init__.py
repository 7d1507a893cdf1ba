"""Text features shared by the rule perturber and the transparent reward model.

The rules add and remove hedges, refusals, pleasantries, follow-up questions and arithmetic, and
the transparent RM scores exactly those things; both read them from here, so a rule that adds a
hedge is seen by the hedging feature, and neither side imports the other.

* ``markdown``: a response as units (sentences, list items, headers, code blocks) with the
  separators between them, so an edit can change one sentence and render the rest unchanged;
* ``words``: words, content words and casing helpers;
* ``wordlists``: the phrase lists (loaded from ``wordlists.json``);
* ``phrases``: matching those phrases, and telling social sentences from answer content;
* ``arithmetic``: simple 'a op b = c' statements and whether they are true.
"""
