"""The one reader of request bodies: size, media type, JSON syntax, depth and text, in that order.

Every JSON endpoint reads its body here, whether flask-smorest validates it with a schema or the
rule library validates the raw document, so each of these is refused once, in one place, before
anything else looks at the data:

- more than ``MAX_CONTENT_LENGTH`` bytes → 413 (werkzeug stops reading there);
- a ``Content-Type`` that is not JSON → 415 (none at all is read as JSON: the API speaks only
  JSON, and a client that forgot the header should not be told its fields are missing);
- not JSON → 400 ``malformed_json``;
- nested deeper than ``MAX_DEPTH`` (a 1,000-deep array would exhaust Python's recursion in
  every later step) → 422;
- text that is not Unicode a database can store: a lone UTF-16 surrogate (``"\\ud800"``) or a
  NUL character, in any string or key → 422 naming the field.
"""

from __future__ import annotations

import json
import re

from flask import Request

from ..errors import DomainError, Invalid, MalformedJson

MAX_DEPTH = 32
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


def has_body(request: Request) -> bool:
    return bool(request.content_length) or request.headers.get("Transfer-Encoding") is not None


def read_json(request: Request):
    """The body as checked JSON; ``None`` when the request has no body at all."""
    raw = request.get_data(cache=True)  # 413 beyond MAX_CONTENT_LENGTH
    if not raw:
        return None
    mimetype = request.mimetype
    if mimetype and not (mimetype == "application/json" or mimetype.endswith("+json")):
        raise UnsupportedMediaType(
            f"send the body as JSON with Content-Type: application/json, not {mimetype[:60]}",
            fields={"Content-Type": ["must be application/json"]})
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJson(f"Request body is not valid JSON: {str(exc)[:120]}",
                            fields={"body": ["Invalid JSON body."]}) from None
    except RecursionError:
        raise _too_deep("body") from None
    check_document(data)
    return data


def check_document(data) -> None:
    """Depth and text of a parsed document, walked without recursion; names the first fault."""
    stack = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value, path)
        elif isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                raise _too_deep(path)
            if isinstance(value, dict):
                for key, item in value.items():
                    child = f"{path}.{key}" if path else str(key)
                    _check_text(key, child)
                    stack.append((item, child, depth + 1))
            else:
                stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))


def _check_text(text: str, path: str) -> None:
    found = _BAD_TEXT.search(text)
    if found is None:
        return
    char = found.group()
    what = "a NUL character" if char == "\x00" else \
        f"a lone UTF-16 surrogate (\\u{ord(char):04x}), which is not a character"
    raise Invalid.field(_short(path) or "body", f"contains {what}; send valid Unicode text")


def _too_deep(path: str) -> Invalid:
    return Invalid.field(_short(path) or "body", f"is nested more than {MAX_DEPTH} levels deep")


def _short(path: str) -> str:
    path = _BAD_TEXT.sub("?", path)  # a bad key must not make the error itself unprintable
    return path if len(path) <= 200 else path[:200] + "…"
