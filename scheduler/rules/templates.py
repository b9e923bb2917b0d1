"""Built-in protocol templates (SPEC section 3), shipped as JSON next to this module.

Each ``templates/<code>.json`` is a protocol in its SPEC shape plus ``session_kinds`` (the kinds
it needs, SPEC shape) and ``source`` (where its figures come from). Templates are loaded through
the same validation as a manager's rules, so a template can never hold what the API would refuse.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from .model import Protocol, SessionKind
from .validation import FieldError, RuleValidationError, parse_protocol_bundle

_DIRECTORY = "templates"


class UnknownTemplateError(KeyError):
    """No built-in template has this code."""


@cache
def _documents() -> dict[str, dict[str, Any]]:
    folder = resources.files(__package__).joinpath(_DIRECTORY)
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            found[entry.name.removesuffix(".json")] = json.loads(entry.read_text("utf-8"))
    return dict(sorted(found.items()))


def template_codes() -> list[str]:
    return list(_documents())


def template_document(code: str) -> dict[str, Any]:
    """The template's JSON (a fresh copy the caller may change)."""
    try:
        return copy.deepcopy(_documents()[code])
    except KeyError:
        raise UnknownTemplateError(code) from None


def _metadata(document: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "code": document["code"],
        "name": document["name"],
        "description": document.get("description", ""),
        "source": document.get("source", ""),
        "session_kinds": [k["code"] for k in document.get("session_kinds", [])],
    }


def list_templates() -> list[dict[str, Any]]:
    """Code, name, description, source and session-kind codes of every built-in template."""
    return [_metadata(document) for document in _documents().values()]


def load_template(
    code: str, overrides: Mapping[str, Any] | None = None
) -> tuple[Protocol, dict[str, SessionKind], dict[str, Any]]:
    """The template as validated model objects, after merging ``overrides`` over its JSON.

    Raises UnknownTemplateError, or RuleValidationError (paths relative to the template JSON,
    e.g. ``phases[1].count`` or ``session_kinds[1].segments[0].minutes``).
    """
    document = template_document(code)
    if overrides:
        document = apply_overrides(document, overrides)
    protocol, kinds = parse_protocol_bundle(document)
    return protocol, kinds, _metadata(document)


def apply_overrides(document: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386: objects merge, ``null`` removes, anything else replaces).

    ``phases`` and ``session_kinds`` may also be patched item by item, as an object keyed by phase
    name or kind code: ``{"phases": {"induction": {"count": 8}}}``.
    """
    merged = copy.deepcopy(dict(document))
    errors: list[FieldError] = []
    for key, value in overrides.items():
        if key in ("phases", "session_kinds") and isinstance(value, Mapping):
            id_field = "name" if key == "phases" else "code"
            merged[key] = _patch_items(merged.get(key, []), value, key, id_field, errors)
        else:
            _merge_key(merged, key, value)
    if errors:
        raise RuleValidationError(errors)
    return merged


def _patch_items(
    items: list[Any],
    patches: Mapping[str, Any],
    key: str,
    id_field: str,
    errors: list[FieldError],
) -> list[Any]:
    by_id = {item.get(id_field): i for i, item in enumerate(items) if isinstance(item, Mapping)}
    patched = list(items)
    removed: set[int] = set()
    for item_id, patch in patches.items():
        if item_id not in by_id:
            errors.append(FieldError(
                f"{key}.{item_id}",
                f"the template has no {key[:-1].replace('_', ' ')} {item_id!r}",
                f"override.unknown_{key[:-1]}",
            ))
        elif patch is None:
            removed.add(by_id[item_id])
        else:
            patched[by_id[item_id]] = merge_patch(patched[by_id[item_id]], patch)
    return [item for i, item in enumerate(patched) if i not in removed]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch of ``patch`` over ``target`` (neither is changed)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(dict(target)) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        _merge_key(merged, key, value)
    return merged


def _merge_key(merged: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        merged.pop(key, None)
    else:
        merged[key] = merge_patch(merged.get(key), value)
