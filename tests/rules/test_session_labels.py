"""Words number a plan's sessions as their keys do (issue 15: ``induction #4 → #5`` for keys
``induction#4`` and ``induction#6``)."""

from __future__ import annotations

from scheduler.rules import evaluate

from .helpers import KINDS, NEW_YORK, protocol, session


def test_a_gap_names_the_sessions_by_their_keys():
    proto = protocol({"code": "t", "name": "T", "phases": [
        {"name": "induction", "session_kind": "iv_infusion", "count": 2,
         "gap_days": {"min": 1, "max": 4}}]})
    plan = [session("induction#4", "induction", "iv_infusion", "2026-12-01 10:00"),
            session("induction#6", "induction", "iv_infusion", "2026-12-08 10:00")]
    [violation] = evaluate(proto, KINDS, plan, tz=NEW_YORK, complete=False)
    assert violation.sessions == ("induction#4", "induction#6")
    assert violation.message.startswith("induction #4 → induction #6: 7 days apart")


def test_keys_that_do_not_name_the_phase_are_numbered_in_order():
    proto = protocol({"code": "t", "name": "T", "phases": [
        {"name": "induction", "session_kind": "iv_infusion", "count": 2,
         "gap_days": {"min": 1, "max": 4}}]})
    plan = [session("17", "induction", "iv_infusion", "2026-12-01 10:00"),
            session("18", "induction", "iv_infusion", "2026-12-08 10:00")]
    [violation] = evaluate(proto, KINDS, plan, tz=NEW_YORK, complete=False)
    assert violation.message.startswith("induction #1 → induction #2")
