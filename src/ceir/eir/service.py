"""The N5g-eir check as plain functions, and the refresher that keeps the served index current."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ceir import identifiers
from ceir.config import Settings
from ceir.eir import journal
from ceir.eir.index import (
    SNAPSHOT_PREFIX,
    EquipmentIndex,
    IndexHolder,
    latest_snapshot,
    load_snapshot,
)
from ceir.eir.policy import EquipmentStatus, decide
from ceir.eir.snapshots import build_from_database

log = logging.getLogger(__name__)

JOURNAL_BATCH = 100_000

# TS 29.571 Pei, Supi and Gpsi end in a catch-all `.+` (forms a later release may add): a value
# of another form is not malformed, only not ours. Only the forms we read are checked closely.
_PEI_DIGITS = {"imei": 15, "imeisv": 16}
_SUPI_IMSI = re.compile(r"imsi-[0-9]{5,15}")
_GPSI_MSISDN = re.compile(r"msisdn-[0-9]{5,15}")
_GPSI_EXTID = re.compile(r"extid-[^@]+@[^@]+")
_SUPPORTED_FEATURES = re.compile(r"[A-Fa-f0-9]*")


def _matches_catch_all(value: str) -> bool:
    """Whether `value` matches the patterns' last branch `.+`: not empty, and no line feed."""
    return bool(value) and "\n" not in value


class EirProblem(Exception):
    """A request the check cannot answer with a status: a TS 29.571 ProblemDetails."""

    status = 400
    title = "Bad Request"

    def __init__(self, cause: str, detail: str, param: str | None = None) -> None:
        super().__init__(detail)
        self.cause = cause
        self.detail = detail
        self.param = param  # the query parameter at fault, for `invalidParams`


class InvalidRequest(EirProblem):
    """TS 29.500 protocol errors: MANDATORY_IE_MISSING, MANDATORY_IE_INCORRECT, OPTIONAL_IE_..."""


class EquipmentUnknown(EirProblem):
    """TS 29.511 application error ERROR_EQUIPMENT_UNKNOWN."""

    status = 404
    title = "Not Found"

    def __init__(self, detail: str) -> None:
        super().__init__("ERROR_EQUIPMENT_UNKNOWN", detail)


def parse_pei(text: str | None) -> int:
    """The 14-digit registry key of a PEI `imei-<15 digits>` or `imeisv-<16 digits>`.

    The check digit is not verified: networks report devices with wrong check digits, and those
    are exactly the devices the index may hold as blocked. A PEI of another form (a MAC address
    or EUI-64 of wireline equipment, or a form we do not know) is well formed but names no
    equipment we register: unknown equipment, whatever the unknown-equipment setting.
    """
    key = pei_key(text)
    if key is None:
        raise EquipmentUnknown(OTHER_PEI_FORM)
    return key


OTHER_PEI_FORM = "Only imei- and imeisv- PEIs are equipment this EIR registers."


def pei_key(text: str | None) -> int | None:
    """`parse_pei`, with None for a well-formed PEI of another form rather than an error."""
    if not text:
        raise InvalidRequest("MANDATORY_IE_MISSING", "The query parameter pei is required.", "pei")
    if not _matches_catch_all(text):
        raise InvalidRequest("MANDATORY_IE_INCORRECT", "pei is not a TS 29.571 Pei.", "pei")
    prefix, dash, digits = text.partition("-")
    length = _PEI_DIGITS.get(prefix.lower()) if dash else None
    if length is None:
        return None
    if len(digits) != length or not (digits.isascii() and digits.isdigit()):
        raise InvalidRequest(
            "MANDATORY_IE_INCORRECT",
            "pei must be imei- and 15 digits or imeisv- and 16 digits (TS 29.571 Pei).",
            "pei",
        )
    key, _keyed = identifiers.network_imei_key(digits)  # 14 leading digits, as checked
    return int(key)


def supi_is_home(supi: str | None, home_mcc: str) -> bool:
    """Whether the subscriber is at home: an IMSI SUPI whose MCC is not ours is a roamer.

    A SUPI that is absent, or of another form (nai-, gci-, gli-), gives no MCC: it is treated as
    home, so that a device blocked for not being registered is not let through on a guess.
    """
    if supi is None:
        return True
    if not _matches_catch_all(supi):
        raise InvalidRequest("OPTIONAL_IE_INCORRECT", "supi is not a TS 29.571 Supi.", "supi")
    if supi[:5].lower() == "imsi-":
        if not _SUPI_IMSI.fullmatch(supi):
            raise InvalidRequest(
                "OPTIONAL_IE_INCORRECT", "supi must be imsi- and 5 to 15 digits.", "supi"
            )
        return supi[5:8] == home_mcc
    return True


def check_gpsi(gpsi: str | None) -> None:
    """The GPSI plays no part in the answer, but a malformed one is refused as the spec says."""
    if gpsi is None or _GPSI_EXTID.fullmatch(gpsi):  # `[^@]` admits any character, line feeds too
        return
    if not _matches_catch_all(gpsi):
        raise InvalidRequest("OPTIONAL_IE_INCORRECT", "gpsi is not a TS 29.571 Gpsi.", "gpsi")
    lowered = gpsi[:7].lower()
    if lowered.startswith("msisdn-") and not _GPSI_MSISDN.fullmatch(gpsi):
        raise InvalidRequest(
            "OPTIONAL_IE_INCORRECT", "gpsi must be msisdn- and 5 to 15 digits.", "gpsi"
        )
    if lowered.startswith("extid-"):
        raise InvalidRequest("OPTIONAL_IE_INCORRECT", "gpsi must be extid-<id>@<domain>.", "gpsi")


def check_supported_features(features: str | None) -> None:
    if features is not None and not _SUPPORTED_FEATURES.fullmatch(features):
        raise InvalidRequest(
            "OPTIONAL_IE_INCORRECT",
            "supported-features must be hexadecimal digits (TS 29.571 SupportedFeatures).",
            "supported-features",
        )


def unknown_answer(settings: Settings) -> EquipmentStatus | None:
    """What the setting says a device never heard of gets: GREYLISTED, or None for 404."""
    if settings.eir_unknown_equipment == "not_found":
        return None
    return EquipmentStatus(settings.eir_unknown_equipment)


def equipment_status(
    holder: IndexHolder, pei: int, supi: str | None, settings: Settings
) -> EquipmentStatus | None:
    """The answer for a PEI key (from `parse_pei`); None means unknown equipment (404)."""
    return decide(
        holder.current.code_of(pei),
        home_subscriber=supi_is_home(supi, settings.network.home_mcc),
        unknown=unknown_answer(settings),
    )


# --- keeping the index current --------------------------------------------------------------------


def initial_index(engine: Engine, settings: Settings) -> EquipmentIndex:
    """The newest snapshot if there is one, else everything from the relational database."""
    newest = latest_snapshot(settings.eir_dir)
    if newest is not None:
        return load_snapshot(newest)
    with Session(engine) as db:
        return build_from_database(db)


class IndexRefresher:
    """A thread that every `eir_refresh_seconds` swaps in a newer snapshot and applies the journal.

    Loading happens on this thread while request handlers keep reading the old index; the swap
    is one reference. Journal polling is one short query a cycle, whatever the request rate.
    """

    def __init__(
        self,
        holder: IndexHolder,
        engine: Engine,
        settings: Settings,
        *,
        load: Callable[[Path], EquipmentIndex] = load_snapshot,
    ) -> None:
        self.holder = holder
        self.engine = engine
        self.folder = settings.eir_dir
        self.interval = settings.eir_refresh_seconds
        self.load = load
        self.last_error: str | None = None
        name = holder.current.name
        self._snapshot: str | None = name if name.startswith(SNAPSHOT_PREFIX) else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> IndexRefresher:
        self._thread = threading.Thread(target=self._run, name="eir-index-refresher", daemon=True)
        self._thread.start()
        return self

    def details(self) -> dict[str, Any]:
        return {}

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh_once()
                self.last_error = None
            except Exception as exc:  # the old index keeps serving; say so, try again next cycle
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("refreshing the real-time index failed")

    def refresh_once(self) -> None:
        newest = latest_snapshot(self.folder)
        if newest is not None and (self._snapshot is None or newest.name > self._snapshot):
            self.holder.swap(self.load(newest))
            self._snapshot = newest.name
        with self.engine.connect() as conn:
            while entries := journal.since(
                conn, self.holder.journal_id, JOURNAL_BATCH, self.holder.open_gaps()
            ):
                self.holder.apply(entries)
                if len(entries) < JOURNAL_BATCH:
                    break
