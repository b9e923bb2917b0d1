"""Races around offers: concurrent matching passes, accept against expiry or a cancellation,
and two gunicorn servers with two matching workers on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.booking.test_races import _free_port, _HttpApi, _wait_healthy
from tests.support import pg
from tests.support.checker import calendar_problems
from tests.waitlist.conftest import TWO_INFUSIONS, Clinic

ROOT = Path(__file__).resolve().parents[2]


def _together(*jobs):
    """Run the callables at the same moment in threads; their results in order."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(i, job):
        barrier.wait()
        results[i] = job()

    threads = [threading.Thread(target=run, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _offer_ready(c: Clinic, match) -> tuple[dict, dict]:
    early = c.booked("Early")
    waiting = c.booked("Waiting")
    c.wait(waiting)
    c.api.post(f"/enrollments/{early['id']}/cancel", expect=200)
    match()
    (offer,) = c.offers()
    return offer, waiting


def test_two_releases_matching_the_same_patient_make_one_offer(app, full_clinic, db_problems):
    from scheduler.services import matching

    c = full_clinic
    first, second = c.booked("Early 1"), c.booked("Early 2")
    waiting = c.booked("Waiting")
    c.wait(waiting)
    c.api.post(f"/enrollments/{first['id']}/cancel", expect=200)
    c.api.post(f"/enrollments/{second['id']}/cancel", expect=200)

    def one_pass():
        with app.app_context():
            return matching.match_clinic(c.id)

    assert sorted(_together(one_pass, one_pass)) == [0, 1]
    offers = c.offers()
    assert [o["enrollment_id"] for o in offers] == [waiting["id"]]
    assert db_problems() == []


def test_the_database_refuses_a_second_open_offer(app, full_clinic, match):
    from scheduler.extensions import db
    from scheduler.models import Offer

    offer, _ = _offer_ready(full_clinic, match)
    with app.app_context():
        first = db.session.get(Offer, offer["id"])
        db.session.add(Offer(enrollment_id=first.enrollment_id, patient_id=first.patient_id,
                             clinic_id=first.clinic_id, status="open",
                             expires_at=first.expires_at, gain_days=1, replaces=[]))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
        db.session.rollback()
        # A closed one beside it is fine: the index covers open offers only.
        db.session.add(Offer(enrollment_id=first.enrollment_id, patient_id=first.patient_id,
                             clinic_id=first.clinic_id, status="declined",
                             expires_at=first.expires_at, gain_days=1, replaces=[]))
        db.session.commit()


def _accept(app, headers, offer_id):
    def run():
        return app.test_client().post(f"/api/v1/offers/{offer_id}/accept",
                                      headers=headers).status_code
    return run


def test_accept_against_expiry(app, admin, full_clinic, match, db_problems):
    from scheduler.models.types import utcnow
    from scheduler.services import offers

    c = full_clinic
    offer, waiting = _offer_ready(c, match)

    def expire():
        with app.app_context():
            return offers.expire_offers(utcnow() + timedelta(minutes=121))

    accepted, expired = _together(_accept(app, admin, offer["id"]), expire)
    assert (accepted, expired) in ((200, 0), (409, 1))
    final = c.api.get(f"/offers/{offer['id']}")
    assert final["status"] == ("accepted" if accepted == 200 else "expired")
    plan = c.api.get(f"/enrollments/{waiting['id']}")
    live = sorted(a["id"] for a in plan["appointments"] if a["status"] == "booked")
    wanted = offer["appointments"] if accepted == 200 else waiting["appointments"]
    assert live == sorted(a["id"] for a in wanted)
    assert db_problems() == []


@pytest.mark.parametrize("target", ["replaced", "offered"])
def test_accept_while_the_slots_other_holder_cancels(app, admin, full_clinic, match,
                                                      db_problems, target):
    """The desk cancels a session the offer replaces (or one it holds) while the patient
    accepts: one of them wins whole, and the calendar stays clean."""
    c = full_clinic
    offer, waiting = _offer_ready(c, match)
    victim = offer["replaces"][0] if target == "replaced" else offer["appointments"][0]["id"]

    def cancel():
        return app.test_client().post(f"/api/v1/appointments/{victim}/cancel",
                                      headers=admin).status_code

    accepted, cancelled = _together(_accept(app, admin, offer["id"]), cancel)
    final = c.api.get(f"/offers/{offer['id']}")
    if accepted == 200:
        assert final["status"] == "accepted"
        # A replaced session is already cancelled (409); an offered one is now booked and
        # may be cancelled like any booked appointment (200).
        assert cancelled == (409 if target == "replaced" else 200)
    else:
        assert (accepted, cancelled, final["status"]) == (409, 200, "withdrawn")
        assert all(c.api.get(f"/appointments/{a['id']}")["status"] == "cancelled"
                   for a in offer["appointments"])
    assert db_problems() == []


# ---------------------------------------------------------------- two servers, two matchers

WAITING = 4


def _pg_env(url):
    return {**os.environ, "DATABASE_URL": url, "REGIMEN_ENV": "production",
            "REGIMEN_RATELIMIT_ENABLED": "0", "REGIMEN_PUBLIC_BASE_URL": "http://127.0.0.1",
            "REGIMEN_SECRET_KEY": "test-only-secret-key"}


@pytest.mark.slow
def test_two_servers_and_two_matchers_on_postgresql(tmp_path):
    url = pg.fresh_database("regimen_waitlist_race")
    env = _pg_env(url)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    key = subprocess.run([*flask, "api-key", "create", "--role", "admin"], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True,
                         timeout=60).stdout.strip().splitlines()[-1]
    servers, workers, bases = [], [], []
    stop = tmp_path / "stop"
    try:
        for n in range(2):
            port = _free_port()
            log = open(tmp_path / f"gunicorn-{n}.log", "wb")  # noqa: SIM115
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "4", "-b",
                 f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=log)
            proc.log = log
            servers.append(proc)
            bases.append(f"http://127.0.0.1:{port}/api/v1")
        for proc, base in zip(servers, bases, strict=True):
            _wait_healthy(base.removesuffix("/api/v1"), proc)
        apis = [_HttpApi(base, key) for base in bases]
        from tests.support.practice import build_practice

        practice = build_practice(apis[0], infusion_rooms=1, nurses=1, hours=("09:00", "11:00"))
        protocol = apis[0].post("/protocols", TWO_INFUSIONS)["id"]
        clinics = [Clinic(a, practice, protocol) for a in apis]
        early = [clinics[i % 2].booked(f"Early {i}") for i in range(WAITING)]
        waiting = [clinics[i % 2].booked(f"Waiting {i}", start_on="2027-02-03")
                   for i in range(WAITING)]
        for i, enrollment in enumerate(waiting):
            clinics[i % 2].wait(enrollment)
        for n in range(2):
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "tests.waitlist.match_worker", str(practice.clinic),
                 str(stop), "120"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                stderr=open(tmp_path / f"worker-{n}.log", "wb")))  # noqa: SIM115
        # Releases through both servers at once.
        _together(*[lambda e=e, i=i: clinics[i % 2].api.call(
            "POST", f"/enrollments/{e['id']}/cancel", expect=200) for i, e in enumerate(early)])
        accepted = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(accepted) < WAITING:
            open_offers = clinics[0].offers()
            # Every open offer is accepted through both servers at once: one answer wins.
            for offer in open_offers:
                answers = _together(*[lambda a=a, o=offer: a.call(
                    "POST", f"/offers/{o['id']}/accept").status_code for a in apis])
                assert sorted(answers) in ([200, 409], [409, 409]), answers
                if 200 in answers:
                    accepted.add(offer["enrollment_id"])
            time.sleep(0.3)
        stop.touch()
        made = [int(w.communicate(timeout=60)[0] or 0) for w in workers]
    finally:
        stop.touch()
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=30)
            proc.log.close()
        for w in workers:
            if w.poll() is None:
                w.terminate()
                w.wait(timeout=30)
    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("*.log"))
    assert accepted, logs
    assert sum(made) >= len(accepted)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert calendar_problems(conn) == [], logs
        open_per_enrollment = conn.execute(sa.text(
            "SELECT enrollment_id, count(*) FROM offers WHERE status = 'open' "
            "GROUP BY enrollment_id HAVING count(*) > 1")).all()
        assert open_per_enrollment == []
        slots_offered_twice = conn.execute(sa.text(
            "SELECT a1.id FROM offer_appointments o1 JOIN appointments a1 "
            "ON a1.id = o1.appointment_id JOIN offer_appointments o2 ON o2.offer_id <> "
            "o1.offer_id JOIN appointments a2 ON a2.id = o2.appointment_id JOIN offers f1 ON "
            "f1.id = o1.offer_id JOIN offers f2 ON f2.id = o2.offer_id WHERE f1.status IN "
            "('open', 'accepted') AND f2.status IN ('open', 'accepted') AND a1.status IN "
            "('held', 'booked') AND a2.status IN ('held', 'booked') AND "
            "a1.starts_at < a2.ends_at AND a2.starts_at < a1.ends_at")).all()
        assert slots_offered_twice == []
        booked = conn.execute(sa.text(
            "SELECT enrollment_id, count(*) FROM appointments WHERE status = 'booked' "
            "AND enrollment_id IS NOT NULL GROUP BY enrollment_id")).all()
    engine.dispose()
    assert all(n == 2 for _e, n in booked), booked
