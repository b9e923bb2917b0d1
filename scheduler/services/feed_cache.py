"""What a worker keeps of rendered feeds, so polls and small changes do not re-render it all.

Two least-recently-used caches per app (per gunicorn worker), each bounded by size
(``FEED_CACHE_MB`` each, 0 turns both off):

- **bodies**, keyed by ETag (and content coding): many calendar clients (Google's among them)
  poll without ``If-None-Match``, so the 304 path alone does not spare the render. The ETag
  names the exact state a body was rendered from, so a body found under it is correct by
  construction; a changed feed has a new ETag and the old entry simply ages out.
- **events**, keyed by the ``ical.EventData`` they were rendered from (appointment id,
  sequence, times, status, zone and the texts privacy left in): after one appointment changed,
  only its event is rendered again and the calendar is assembled from the others' bytes. The
  key holds every input of the event's text, so a hit is correct by construction too; feeds
  that show the same appointment the same way share the entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from flask import Flask


class LruCache:
    def __init__(self, max_bytes: int, size: Callable[[Any], int] = len):
        self.max_bytes = max_bytes
        self._size_of = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        size = self._size_of(value)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._size += size
            while self._size > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._size -= self._size_of(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0

    def __len__(self) -> int:
        return len(self._items)


# Rough memory of one cached event besides its bytes (the key's objects, the entry).
EVENT_OVERHEAD_BYTES = 600


def _event_size(rendered) -> int:
    return len(rendered.body) + EVENT_OVERHEAD_BYTES


def cache_for(app: Flask) -> LruCache:
    """Rendered feed bodies by (ETag, content coding)."""
    return _cache(app, "regimen_feed_cache", len)


def events_cache_for(app: Flask) -> LruCache:
    """Rendered events by ``ical.EventData``."""
    return _cache(app, "regimen_feed_event_cache", _event_size)


def clear_all(app: Flask) -> None:
    cache_for(app).clear()
    events_cache_for(app).clear()


def _cache(app: Flask, name: str, size) -> LruCache:
    cache = app.extensions.get(name)
    if cache is None:
        cache = app.extensions.setdefault(
            name, LruCache(app.config["FEED_CACHE_MB"] * 1024 * 1024, size))
    return cache
