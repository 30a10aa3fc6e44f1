"""Benchmark: from filing an appeal whose trip is on record to its automatic decision, over HTTP.

Each of N citizens (IIN, number, blocked phone, exit and entry on record) is signed in first;
then each files an appeal with a one-page PDF through the real form (multipart POST with the
session cookie and CSRF token), and the time until the answer (the redirect to the approved
application) is measured. The decision is made inside that request, so this is the whole wait.

    .venv/bin/python -m bench.appeal_decision --count 200 [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.factories import (
    TINY_PDF,
    add_device_state,
    add_subscriber,
    add_tac,
    add_trip,
    make_iin,
)

from bench.common import fresh_database, imei, machine
from ceir import db
from ceir.citizens.models import Application
from ceir.config import Settings
from ceir.sms.models import SmsMessage
from ceir.web.app import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found
    return found.group(1)


def run(kind: str, count: int) -> dict[str, float]:
    today = dt.date.today()
    left, back = today - dt.timedelta(days=30), today - dt.timedelta(days=10)
    with fresh_database(kind) as url, tempfile.TemporaryDirectory() as folder:
        engine = db.get_engine(url)
        people = []
        with db.session_factory(engine)() as session:
            add_tac(session, "35467819", "Apple", "A3101", marketing_name="iPhone 17")
            for n in range(count):
                iin = make_iin(birth="850505", serial=n * 7 + 1)
                msisdn = f"7705{n:07d}"
                add_subscriber(session, msisdn, iin)
                add_trip(session, iin, left, back, prefix=f"B{n}")
                device = imei("35467819", n + 1)
                add_device_state(session, device, "blocked", first_noncompliant=back)
                people.append((iin, msisdn, device))
        settings = Settings(database_url=url, data_dir=Path(folder))
        settings.citizens.secret_key = secrets.token_hex(16)
        # Every TestClient comes from the same address: the per-client limits would stop the run.
        settings.citizens.codes_per_hour_per_client = count + 10
        settings.citizens.code_checks_per_minute_per_client = count + 10
        app = create_app(settings, engine)
        clients = []
        for iin, msisdn, device in people:
            client = TestClient(app)
            form = client.get("/citizen/sign-in")
            client.post(
                "/citizen/sign-in",
                data={"csrf_token": _csrf(form.text), "iin": iin, "phone": msisdn},
            )
            with db.session_factory(engine)() as session:
                text = session.scalars(
                    select(SmsMessage.text)
                    .where(SmsMessage.msisdn == msisdn)
                    .order_by(SmsMessage.id.desc())
                ).first()
            code = re.search(r"\b(\d{6})\b", text or "")
            assert code
            page = client.get("/citizen/code")
            client.post(
                "/citizen/code", data={"csrf_token": _csrf(page.text), "code": code.group(1)}
            )
            clients.append((client, _csrf(client.get("/citizen/applications").text), device))
        times = []
        for client, token, device in clients:
            started = time.perf_counter()
            answer = client.post(
                "/citizen/applications/new/appeal",
                data={"csrf_token": token, "imei": device, "entered_on": back.isoformat()},
                files={"boarding_pass": ("pass.pdf", TINY_PDF, "application/pdf")},
                follow_redirects=False,
            )
            times.append(time.perf_counter() - started)
            assert answer.status_code == 303, answer.text
        with db.session_factory(engine)() as session:
            statuses = session.scalars(select(Application.status)).all()
        if statuses.count("approved") != count:
            with db.session_factory(engine)() as session:
                first = session.scalars(select(Application)).first()
                raise SystemExit(f"not all approved: {statuses[:3]} {first and first.auto_check}")
        for client, _token, _device in clients:
            client.close()
        db.dispose_engines()
    ordered = sorted(times)
    return {
        "median_ms": statistics.median(times) * 1000,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    print(machine())
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    for kind in kinds:
        result = run(kind, args.count)
        print(
            f"{kind:<10} {args.count} appeals: median {result['median_ms']:.1f} ms, "
            f"p95 {result['p95_ms']:.1f} ms, max {result['max_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()
