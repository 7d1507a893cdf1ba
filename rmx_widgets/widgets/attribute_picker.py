"""AttributePicker: choose which attributes to explain, and add your own.

A custom attribute typed in the browser is validated by the engine's ``Attribute`` (the same
rules as in Python) and then is indistinguishable from a built-in one downstream.
"""

from __future__ import annotations

from collections.abc import Iterable

import anywidget
import traitlets

from rmx_widgets.core.attributes import DEFAULT_ATTRIBUTES, Attribute, resolve_attributes
from rmx_widgets.core.errors import AttributeSpecError
from rmx_widgets.widgets._assets import bundle
from rmx_widgets.widgets.contract import PickerAttribute


def _payload(attr: Attribute, custom: bool) -> PickerAttribute:
    return PickerAttribute(name=attr.name, definition=attr.definition, custom=custom)


class AttributePicker(anywidget.AnyWidget):
    """Synced traits: ``contract.AttributePickerState``; messages: ``AddAttributeMessage``."""

    _esm = bundle("attribute_picker.js")
    _css = bundle("widgets.css")

    attributes: traitlets.List[PickerAttribute] = traitlets.List().tag(sync=True)
    selected: traitlets.List[str] = traitlets.List().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self, attributes: Iterable | None = None, selected: Iterable[str] | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        attrs = resolve_attributes(list(attributes) if attributes is not None else None)
        builtin = {a.name for a in DEFAULT_ATTRIBUTES}
        self._by_name = {a.name: a for a in attrs}
        self.attributes = [_payload(a, a.name not in builtin) for a in attrs]
        self.selected = list(selected) if selected is not None else [a.name for a in attrs]
        self.on_msg(self._on_msg)

    @property
    def selected_attributes(self) -> list[Attribute]:
        """The chosen attributes, in display order, ready for ``Explainer.explain``."""
        chosen = set(self.selected)
        return [self._by_name[a["name"]] for a in self.attributes if a["name"] in chosen]

    def add(self, name: str, definition: str) -> Attribute:
        """Add a user-defined attribute (and select it); raises AttributeSpecError if invalid."""
        attr = Attribute(name.strip(), definition.strip())
        if attr.name in self._by_name:
            raise AttributeSpecError(f"attribute {attr.name!r} exists already.")
        self._by_name[attr.name] = attr
        with self.hold_sync():
            self.attributes = [*self.attributes, _payload(attr, True)]
            self.selected = [*self.selected, attr.name]
            self.error = ""
        return attr

    @traitlets.validate("selected")
    def _valid_selection(self, proposal) -> list[str]:
        known = {a["name"] for a in self.attributes}
        return [n for n in dict.fromkeys(proposal["value"]) if n in known]

    def _on_msg(self, widget, content, buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "add":
            return
        try:
            self.add(str(content.get("name", "")), str(content.get("definition", "")))
        except AttributeSpecError as e:
            self.error = str(e)
