"""Partners' bulk checks (with fake and clone signals), background jobs, usage and sale records."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from pydantic import ValidationError
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from ceir.apikeys.models import ApiKey
from ceir.audit import service as audit
from ceir.check.service import BULK_COLUMNS, check_table
from ceir.db import session_factory, utcnow
from ceir.errors import CeirError, InvalidInput, NotFound
from ceir.identifiers import IdentifierError, parse_imei
from ceir.network.models import DeviceFlag
from ceir.partners.models import ApiKeyUsage, CheckJob, Sale
from ceir.partners.schemas import BulkCheckIn
from ceir.ratelimit import RateLimited, RateLimiter

MAX_BATCH = 10_000
MAX_JOB_ROWS = 1_000_000


class QuotaExceeded(CeirError):
    code = "quota_exceeded"
    status = 429
    title = "Daily quota exceeded"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


@dataclass(frozen=True, slots=True)
class CheckItem:
    imei: str
    brand: str | None = None  # what the seller says the device is (optional)
    model: str | None = None


# Signals beyond the public check's: the seller's stated model disagrees, the IMEI is cloned.
BRAND_MISMATCH = "brand_mismatch"
MODEL_MISMATCH = "model_mismatch"
CLONED = "cloned"


def check_batch(db: Session, items: Sequence[CheckItem]) -> list[dict[str, Any]]:
    """One answer per item, in order; a bad line is marked on its own, never fails the batch."""
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} IMEIs in one request; use a job for more")
    table = check_table(db, [item.imei for item in items])
    rows = table.to_pylist()
    keys = [row["imei"][:14] for row in rows if row["imei"]]
    cloned: set[str] = set()
    for start in range(0, len(keys), 500):
        cloned.update(
            db.scalars(
                select(DeviceFlag.imei).where(
                    DeviceFlag.imei.in_(keys[start : start + 500]), DeviceFlag.flag == "duplicate"
                )
            )
        )
    answers = []
    for index, (item, row) in enumerate(zip(items, rows, strict=True)):
        signals = [s for s in (row["signals"] or "").split("|") if s]
        if row["imei"] and row["imei"][:14] in cloned:
            signals.append(CLONED)
        if item.brand and row["brand"] and not _same(item.brand, row["brand"]):
            signals.append(BRAND_MISMATCH)
        if (
            item.model
            and row["model"]
            and not (
                _same(item.model, row["model"]) or _same(item.model, row["marketing_name"] or "")
            )
        ):
            signals.append(MODEL_MISMATCH)
        answers.append(
            {
                "index": index,
                **{c: row[c] for c in BULK_COLUMNS if c != "signals"},
                "signals": signals,
            }
        )
    return answers


def _same(stated: str, known: str) -> bool:
    """Brands and models as people write them: case, spaces and punctuation do not matter."""

    def norm(text: str) -> str:
        return "".join(ch for ch in text.casefold() if ch.isalnum())

    a, b = norm(stated), norm(known)
    return bool(a) and (a == b or a in b or b in a)


JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv", "text/plain")


class UnsupportedMediaType(CeirError):
    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


def items_of(content_type: str, body: bytes) -> list[CheckItem]:
    """The items of a bulk check body, by its media type; refuses what is not a check request."""
    media = content_type.split(";")[0].strip().lower()
    if media in JSON_TYPES or media.endswith("+json"):
        items = _json_items(body)
    elif media in CSV_TYPES:
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"The CSV is not UTF-8 text (byte {exc.start}).") from exc
        items = parse_items(text)
    else:
        raise UnsupportedMediaType(
            f"Content-Type {media or '(none)'!r} is not accepted: send application/json "
            '({"items": [{"imei": ...}]}) or text/csv (a header "imei[,brand,model]").'
        )
    if not items:
        raise InvalidInput("The request holds no IMEI to check.")
    return items


def check_job_media(content_type: str) -> None:
    """A job file is CSV text; any other media type is refused (415) before its body is read."""
    media = content_type.split(";")[0].strip().lower()
    if media not in CSV_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {media or '(none)'!r} is not accepted for a job file: send text/csv "
            '(a header "imei[,brand,model]" or one IMEI a line).'
        )


def _json_items(body: bytes) -> list[CheckItem]:
    try:
        request = BulkCheckIn.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidInput(
            "The JSON body does not match the bulk check request.",
            errors=[
                {"location": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors()
            ],
        ) from exc
    return [CheckItem(i.imei, i.brand, i.model) for i in request.items]


def parse_items(text: str) -> list[CheckItem]:
    """A CSV body: a header with `imei` (and optional `brand`, `model`), or one IMEI a line.

    A first line with letters in it is a header, and must name an `imei` column."""
    lines = text.splitlines()
    if lines and any(ch.isalpha() for ch in lines[0]):
        reader = csv.DictReader(io.StringIO(text))
        fields = {f.lower().strip(): f for f in reader.fieldnames or []}
        if "imei" not in fields:
            raise InvalidInput(
                f"The CSV header {lines[0][:100]!r} names no 'imei' column "
                "(expected imei[,brand,model]).",
                errors=[{"location": "line 1", "message": "no 'imei' column"}],
            )
        return [
            CheckItem(
                imei=(row.get(fields["imei"]) or "").strip(),
                brand=(row.get(fields.get("brand", ""), "") or "").strip() or None,
                model=(row.get(fields.get("model", ""), "") or "").strip() or None,
            )
            for row in reader
        ]
    return [CheckItem(line.strip()) for line in lines if line.strip()]


# --- limits and usage -----------------------------------------------------------------------

_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def admit(db: Session, key: ApiKey, imeis: int, now: dt.datetime) -> None:
    """Apply the key's rate limit and daily quota (in IMEIs), then count the use."""
    if key.rate_per_minute:
        with _limiters_lock:
            limiter = _limiters.get(key.key_id)
            if limiter is None or limiter.per_minute != key.rate_per_minute:
                limiter = _limiters[key.key_id] = RateLimiter(key.rate_per_minute)
        if wait := limiter.hit(key.key_id):
            raise RateLimited(wait)
    today = now.date()
    usage = db.get(ApiKeyUsage, (key.key_id, today))
    if key.daily_quota is not None and (usage.imeis if usage else 0) + imeis > key.daily_quota:
        midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
        raise QuotaExceeded(
            f"this key may check {key.daily_quota} IMEIs a day; "
            f"{usage.imeis if usage else 0} were checked today",
            int((midnight - now).total_seconds()) + 1,
        )
    if usage is None:
        db.add(ApiKeyUsage(key_id=key.key_id, day=today, requests=1, imeis=imeis))
    else:
        db.execute(
            update(ApiKeyUsage)
            .where(ApiKeyUsage.key_id == key.key_id, ApiKeyUsage.day == today)
            .values(requests=ApiKeyUsage.requests + 1, imeis=ApiKeyUsage.imeis + imeis)
        )
    db.flush()


def usage_of(db: Session, key_id: str, days: int = 30) -> list[dict[str, Any]]:
    since = utcnow().date() - dt.timedelta(days=days)
    rows = db.execute(
        select(ApiKeyUsage.day, ApiKeyUsage.requests, ApiKeyUsage.imeis)
        .where(ApiKeyUsage.key_id == key_id, ApiKeyUsage.day >= since)
        .order_by(ApiKeyUsage.day)
    )
    return [{"day": d.isoformat(), "requests": r, "imeis": i} for d, r, i in rows]


# --- jobs -------------------------------------------------------------------------------------


def job_folder(data_dir: Path) -> Path:
    return data_dir / "jobs"


def create_job(db: Session, key: ApiKey, body: bytes, data_dir: Path) -> CheckJob:
    """Store the uploaded IMEIs and queue the job; run_job does the work."""
    lines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    if lines > MAX_JOB_ROWS + 1:
        raise InvalidInput(f"at most {MAX_JOB_ROWS} IMEIs in one job")
    job = CheckJob(
        id=secrets.token_hex(16),
        owner=key.owner,
        key_id=key.key_id,
        status="queued",
        rows=0,
        created_at=utcnow(),
    )
    folder = job_folder(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{job.id}.input").write_bytes(body)
    db.add(job)
    audit.record(
        db,
        actor=f"partner:{key.owner}:{key.key_id}",
        action="partners.create_job",
        object_type="check_job",
        object_id=job.id,
        details={"bytes": len(body)},
    )
    return job


def run_job(engine: Engine, job_id: str, data_dir: Path) -> None:
    """Check every IMEI of a job and write the result CSV (gzip); the job ends done or failed."""
    folder = job_folder(data_dir)
    sessions = session_factory(engine)
    with sessions() as db:
        db.execute(update(CheckJob).where(CheckJob.id == job_id).values(status="running"))
        db.commit()
        try:
            source = folder / f"{job_id}.input"
            items = parse_items(source.read_text(encoding="utf-8-sig"))
            if len(items) > MAX_JOB_ROWS:
                raise InvalidInput(f"at most {MAX_JOB_ROWS} IMEIs in one job")
            table = check_table(db, [item.imei for item in items])
            table = table.add_column(0, "line", pa.array(range(1, table.num_rows + 1), pa.int64()))
            with gzip.open(folder / f"{job_id}.csv.gz", "wb", compresslevel=5) as sink:
                pa_csv.write_csv(table, sink)
            source.unlink(missing_ok=True)
            db.execute(
                update(CheckJob)
                .where(CheckJob.id == job_id)
                .values(status="done", rows=table.num_rows, finished_at=utcnow())
            )
        except Exception as exc:  # a failed job says why; the partner may send it again
            db.rollback()
            db.execute(
                update(CheckJob)
                .where(CheckJob.id == job_id)
                .values(status="failed", error=str(exc)[:500], finished_at=utcnow())
            )
        db.commit()


def get_job(db: Session, owner: str, job_id: str) -> CheckJob:
    job = db.get(CheckJob, job_id)
    if job is None or job.owner != owner:  # another partner's job does not exist for you
        raise NotFound("no such job")
    return job


# --- sales ------------------------------------------------------------------------------------


def record_sale(db: Session, key: ApiKey, imei: str, sold_on: dt.date, receipt_number: str) -> Sale:
    try:
        parsed = parse_imei(imei)
    except IdentifierError as exc:
        raise InvalidInput(str(exc)) from exc
    if sold_on > utcnow().date() + dt.timedelta(days=1):
        raise InvalidInput("sold_on is in the future")
    sale = Sale(
        imei=parsed.key,
        owner=key.owner,
        sold_on=sold_on,
        receipt_number=receipt_number.strip(),
        created_at=utcnow(),
    )
    db.add(sale)
    db.flush()
    return sale


def find_sale(db: Session, imei_key: str, receipt_number: str) -> Sale | None:
    """The sale of this device with this receipt: shown only to whoever holds the receipt."""
    return db.execute(
        select(Sale)
        .where(Sale.imei == imei_key, Sale.receipt_number == receipt_number.strip())
        .order_by(Sale.id.desc())
        .limit(1)
    ).scalar_one_or_none()
