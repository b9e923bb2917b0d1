"""gunicorn's access log without feed secrets: a feed URL's token is its only credential.

``gunicorn.conf.py`` (read by gunicorn from the working directory) names ``MaskingLogger``.
Every atom of an access-log line (request line, path, query, referrer, headers) has each feed
token cut to its prefix and first four characters, enough to tell feeds apart in a log and
useless to open one. Light on purpose: the gunicorn master imports it before the app.
"""

from __future__ import annotations

import re

from gunicorn.glogging import Logger

# scheduler.services.feeds: "rgf_" + token_urlsafe(32) (43 URL-safe characters). Anything
# longer than the kept part is masked, so a token of another length is not spared either.
FEED_TOKEN = re.compile(r"(rgf_[A-Za-z0-9_-]{4})[A-Za-z0-9_-]+")
MASK = r"\1…"


def mask_tokens(text: str) -> str:
    return FEED_TOKEN.sub(MASK, text)


class MaskingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: mask_tokens(value) if isinstance(value, str) else value
                for key, value in atoms.items()}
