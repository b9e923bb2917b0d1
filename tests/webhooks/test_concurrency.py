"""Two delivery workers on separate connections (as two scheduler processes would be) deliver
each event exactly once, in order per key. Runs on the suite's database: on PostgreSQL (CI's
second pass) the claims race through ``FOR UPDATE SKIP LOCKED``; on SQLite through its single
writer."""

from __future__ import annotations

import threading
from collections import Counter

EVENTS = 240
KEYS = 40


def test_two_workers_deliver_each_event_once_and_in_order(app, practice, subscribe, receiver):
    from scheduler.extensions import db
    from scheduler.services import outbox, webhook_delivery

    subscribe(events=["offer.created"])
    receiver.delay = 0.005
    with app.app_context():
        for n in range(EVENTS):
            outbox.emit(outbox.OFFER_CREATED, [practice.clinic], {"n": n, "key": n % KEYS},
                        ordering_key=f"offer:{n % KEYS}")
        db.session.commit()
    start = threading.Barrier(3)
    made, errors = [], []

    def worker():
        try:
            with app.app_context():
                start.wait()
                total = 0
                while True:  # keep going until nothing is left, like repeated job runs
                    count = webhook_delivery.deliver_webhooks()
                    total += count
                    if count == 0:
                        break
                made.append(total)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    ids = Counter(r.id for r in receiver.requests)
    assert len(ids) == EVENTS and set(ids.values()) == {1}
    assert sum(made) == EVENTS
    by_key: dict[int, list[int]] = {}
    for request in sorted(receiver.requests, key=lambda r: r.at):
        data = request.json["data"]
        by_key.setdefault(data["key"], []).append(data["n"])
    assert all(ns == sorted(ns) for ns in by_key.values())
