"""Rendered feeds kept in memory, keyed by ETag: same state, same bytes, no second render.

Many calendar clients (Google's among them) poll without ``If-None-Match``, so the 304 path
alone does not spare the render. The ETag already names the exact state a body was rendered
from, so a body found under it is correct by construction; a changed feed has a new ETag and
the old entry simply ages out. Bounded by size (``FEED_CACHE_MB``, 0 turns it off), least
recently used first out, one cache per app (per gunicorn worker).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from flask import Flask


class BodyCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._size -= len(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


def cache_for(app: Flask) -> BodyCache:
    cache = app.extensions.get("regimen_feed_cache")
    if cache is None:
        cache = app.extensions.setdefault(
            "regimen_feed_cache", BodyCache(app.config["FEED_CACHE_MB"] * 1024 * 1024))
    return cache
