"""Settings from environment variables (CEIR_...), gathered in one object."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConditionRule(BaseModel):
    """How one classification condition acts: blocking or only informative, and after how long."""

    blocking: bool = True
    grace_days: int = Field(default=30, ge=0)


class NetworkSettings(BaseModel):
    """Rules of network enforcement; every number here is a policy decision, hence a setting."""

    # Mobile operators by code, each with the MCC+MNC prefixes of its own IMSIs.
    operators: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "beeline": ["40101"],
            "kcell": ["40102"],
            "altel": ["40107"],
            "tele2": ["40177"],
        }
    )
    home_mcc: str = "401"
    # Leading digits of the home country's numbers as dumps write them (E.164 without "+", and the
    # national trunk form): +7 is shared with Russia, so Kazakh mobiles are 77... (or 87...).
    home_msisdn_prefixes: list[str] = Field(default_factory=lambda: ["77", "87"])
    # Devices seen on a network before this day are registered automatically ("amnesty").
    amnesty_cutoff: dt.date | None = dt.date(2025, 3, 24)
    conditions: dict[str, ConditionRule] = Field(
        default_factory=lambda: {
            "not_registered": ConditionRule(blocking=True, grace_days=30),
            "invalid_imei": ConditionRule(blocking=True, grace_days=30),
            "unknown_tac": ConditionRule(blocking=True, grace_days=30),
            "stolen": ConditionRule(blocking=True, grace_days=0),
            # A cloned IMEI is shared with its lawful owner: flag it, do not block it by default.
            "duplicate": ConditionRule(blocking=False, grace_days=30),
        }
    )
    # Cloned/duplicate: more than this many distinct home IMSIs ...
    duplicate_imsis: int = Field(default=5, ge=1)
    # ... within this many days.
    duplicate_window_days: int = Field(default=7, ge=1)
    # Count roamers' (foreign) IMSIs too: a clone travels with whatever SIMs its copies hold, and
    # DIRBS counts every IMSI. False counts home IMSIs only.
    duplicate_counts_foreign_imsis: bool = True
    # Import checks, as shares of a file's rows; a file above any of them is refused whole.
    max_share_null_field: float = 0.05
    max_share_invalid_imei: float = 0.05
    max_share_invalid_imsi: float = 0.05
    max_share_foreign: float = 0.10
    max_share_other_operator: float = 0.20
    # IMEIs that lost a leading zero (13 digits, or a first digit 1, which no TAC has): a
    # spreadsheet's damage. DIRBS also refuses a file with more such IMEIs than ones led by 0.
    max_share_short_imei: float = 0.01
    # Rows with either an empty IMEI, IMSI or MSISDN; rows with either a bad IMEI or a bad IMSI.
    max_share_null_any: float = 0.05
    max_share_unclean_any: float = 0.05
    # Rows with a field that does not parse at all (letters in an MSISDN, an unknown RAT code, a
    # formula for an IMEI, a row of the wrong width): DIRBS refuses a file for a single one.
    max_share_malformed_rows: float = 0.0
    # A zipped or gzipped dump that inflates past this is refused (a zip or gzip bomb).
    max_inflated_bytes: int = Field(default=20 * 1024**3, ge=1024)
    # A day with fewer distinct IMEIs than this share of the last 30 days' average is truncated.
    min_share_of_usual_volume: float = 0.90
    # Sightings not renewed for this long are forgotten.
    retention_days: int = Field(default=180, ge=30)
    # DuckDB may use this much memory before spilling to disk.
    duckdb_memory_limit: str = "6GB"
    duckdb_import_memory_limit: str = "1GB"  # a dump's import: its peak stays under 1.5 GiB
    # A second IMEI is linked to a registered device when the same home SIM was seen with both
    # within this many days (and the TACs share their first 6 digits).
    second_imei_window_days: int = Field(default=7, ge=1)
    # Safety brake: a run that would newly notify or block more than this share of an operator's
    # devices (and at least `brake_min_devices` of them) is held before anything reaches the
    # lists, until a supervisor confirms it (a damaged dump, a registry outage). None: no brake.
    brake_max_share: float | None = Field(default=0.05, ge=0, le=1)
    brake_min_devices: int = Field(default=100, ge=1)


class CitizenSettings(BaseModel):
    """The citizens' side: sign-in by SMS code, sessions, personal imports and appeals."""

    # Server secret that keys the HMAC of sign-in codes and signs the pending sign-in cookie.
    # Empty: made on first use and kept in <data_dir>/keys/citizens-secret (fine for one host).
    secret_key: str = ""
    code_minutes: int = Field(default=5, ge=1)  # a sign-in code expires after this long
    code_attempts: int = Field(default=5, ge=1)  # wrong entries a code survives
    # Codes that may be asked for in an hour, per IIN (with its own number only: a stranger's
    # guesses must not lock the holder out), per phone number and per client address.
    codes_per_hour_per_iin: int = Field(default=5, ge=1)
    codes_per_hour_per_msisdn: int = Field(default=5, ge=1)
    codes_per_hour_per_client: int = Field(default=20, ge=1)
    # Code entries a client address may make a minute (on top of the per-code attempts).
    code_checks_per_minute_per_client: int = Field(default=30, ge=1)
    session_minutes: int = Field(default=60, ge=5)
    # Force the Secure flag on cookies even when the app sees plain http (TLS ends at a proxy).
    secure_cookies: bool = False
    # Personally imported devices one IIN may register in a calendar year (the customs rule).
    personal_imports_per_year: int = Field(default=3, ge=0)
    # Purchases declared abroad: a declaration waits this many days from the purchase for the
    # trip home and the device's first sighting (then it expires), and one IIN may make this
    # many declarations a day.
    declaration_valid_days: int = Field(default=90, ge=1)
    declarations_per_day: int = Field(default=5, ge=1)
    # The entry found in the border records may differ from the stated day by this many days.
    entry_tolerance_days: int = Field(default=3, ge=0)
    # Uploaded documents: at most this many bytes each, and this many per application.
    max_document_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_documents: int = Field(default=5, ge=1)
    # Documents attached to a form that was sent back with a mistake are kept this long for it.
    pending_document_hours: int = Field(default=24, ge=1)
    # An application awaiting an officer is decided within this many working days of its filing
    # (Monday to Friday, public holidays off); past it, it rises to the supervisors.
    decision_working_days: int = Field(default=10, ge=1)
    # Kazakhstan's public holidays on fixed dates, as MM-DD (Labour Code; Republic Day since 2022).
    holidays_fixed: list[str] = Field(
        default_factory=lambda: [
            "01-01", "01-02", "01-07", "03-08", "03-21", "03-22", "03-23",
            "05-01", "05-07", "05-09", "07-06", "08-30", "10-25", "12-16",
        ]
    )  # fmt: skip
    # Holidays on fixed dates whose falling on a weekend moves no day off (religious ones).
    holidays_without_transfer: list[str] = Field(default_factory=lambda: ["01-07"])
    # Movable holidays (the first day of Kurban ait, by the government's yearly decree); being
    # religious, one on a weekend moves no day off either.
    holidays_movable: list[dt.date] = Field(
        default_factory=lambda: [dt.date(2025, 6, 6), dt.date(2026, 5, 27)]
    )
    # The government's decrees on top of the Labour Code's own transfers (a weekend holiday's day
    # off moves to the next working day, computed): weekdays made days off, and weekend days made
    # working days.
    days_off_transferred: list[dt.date] = Field(default_factory=list)
    working_days_transferred: list[dt.date] = Field(default_factory=list)
    # Identity use: the address the "this was not me" links in SMS start with (no trailing /),
    # how long such a link works, and how often one client may open or send one a minute.
    public_url: str = "https://ceir.kz"
    dispute_link_days: int = Field(default=30, ge=1)
    dispute_pages_per_minute_per_client: int = Field(default=20, ge=1)


class FeeSettings(BaseModel):
    """Verification fees that importers and shops pay per registered device (1 MRP each)."""

    # The monthly calculation index (MRP, tenge) by calendar year, set each year by the budget
    # law; a year not listed uses the latest year before it.
    mrp_by_year: dict[int, int] = Field(default_factory=lambda: {2025: 3932, 2026: 4325})
    # Fees per registered device, in MRP.
    mrp_per_device: int = Field(default=1, ge=0)
    # Unpaid fees (tenge) a partner may owe; an import that would go above it is refused.
    unpaid_limit_tenge: int = Field(default=4_000_000, ge=0)
    # Per-partner limits (API key owner -> tenge), overriding the default above.
    unpaid_limits: dict[str, int] = Field(default_factory=dict)


class SmsSettings(BaseModel):
    """How ceir sends SMS: an outbox in the database (development, demo) or SMPP to the SMSC."""

    gateway: str = Field(default="outbox", pattern="^(outbox|smpp)$")
    smpp_host: str = "127.0.0.1"
    smpp_port: int = 2775
    smpp_system_id: str = ""
    smpp_password: str = ""
    smpp_source_addr: str = "CEIR"  # alphanumeric sender id agreed with the operators
    smpp_timeout_seconds: float = Field(default=10.0, gt=0)


class OfficerSettings(BaseModel):
    """The officers' back office: sign-in, lockout and sessions."""

    # Sign-in attempts a minute per client address (0 switches the limit off) ...
    sign_in_rate_per_minute: int = Field(default=10, ge=0)
    # ... wrong passwords in a row that lock an account ...
    max_failed_logins: int = Field(default=5, ge=1)
    # ... and for how long.
    lockout_minutes: int = Field(default=15, ge=1)
    # A session ends this long after sign-in, whatever the officer does.
    session_hours: float = Field(default=8.0, gt=0)
    # Officers' cookies are Secure (sent over HTTPS only); switch off only for a local demo over
    # plain HTTP.
    secure_cookies: bool = True


class StatsSettings(BaseModel):
    """The public statistics and their open data."""

    # Any published count below this is withheld ("<10" on the page, null in open data), and so is
    # a median of fewer decisions: small numbers could single a person out.
    suppression_threshold: int = Field(default=10, ge=1)
    # The period shown when none is asked for, in days up to today, and the longest one allowed.
    default_days: int = Field(default=90, ge=1)
    max_days: int = Field(default=731, ge=1)
    # Answers are computed at most this often per period (the queries scan whole tables).
    cache_seconds: float = Field(default=300.0, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CEIR_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    # Where the embedded SQLite database and generated files live when nothing else is configured.
    data_dir: Path = Path("var")
    # SQLAlchemy URL; PostgreSQL in production: postgresql+psycopg://user@host/db
    database_url: str | None = None
    # A streaming replica of that database, for reads that may lag a moment behind the primary:
    # the public IMEI check and the partners' bulk checks. None: they read from the primary too.
    database_read_url: str | None = None

    # Public IMEI check: requests per minute per client (IP address) on the page and the JSON API.
    public_rate_limit_per_minute: int = Field(default=30, ge=0)
    # Answer the public check from an in-memory index per worker (ceir.check.memory) instead of
    # the database; the database still answers for devices changed since the index was built.
    check_from_memory: bool = True
    # With PostgreSQL, how far (seconds) the check from memory may lag a commit: a registration
    # or a police report shows in the public check within this time. 0: at once (each answer
    # then waits for a look at the database's newest changes). SQLite always shows it at once.
    check_staleness_seconds: float = Field(default=0.5, ge=0, le=60)
    # Proxies whose X-Forwarded-For we believe; empty means use the socket's peer address only.
    trusted_proxies: list[str] = Field(default_factory=list)

    default_language: str = "ru"
    # Bearer token that /metrics asks for; empty: /metrics is not served by the web app at all.
    metrics_token: str = ""

    network: NetworkSettings = Field(default_factory=NetworkSettings)
    # Ed25519 private key (PEM) that signs the lists operators pull; made on first use if absent.
    list_signing_key: Path | None = None

    # What the real-time check answers for a device it has never heard of: GREYLISTED, or
    # "not_found" for 404 / DIAMETER_ERROR_EQUIPMENT_UNKNOWN.
    eir_unknown_equipment: str = Field(default="GREYLISTED", pattern="^(GREYLISTED|not_found)$")
    # How often the real-time check looks for a new snapshot and new journal entries.
    eir_refresh_seconds: float = Field(default=1.0, gt=0)
    officers: OfficerSettings = Field(default_factory=OfficerSettings)

    citizens: CitizenSettings = Field(default_factory=CitizenSettings)
    fees: FeeSettings = Field(default_factory=FeeSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    stats: StatsSettings = Field(default_factory=StatsSettings)

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def eir_dir(self) -> Path:
        return self.data_dir / "eir"

    @property
    def network_store(self) -> Path:
        return self.data_dir / "network.duckdb"

    @property
    def lists_dir(self) -> Path:
        return self.data_dir / "lists"

    @property
    def signing_key_path(self) -> Path:
        return self.list_signing_key or self.data_dir / "keys" / "lists-ed25519.pem"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ceir.db').resolve()}"

    @property
    def effective_read_database_url(self) -> str:
        return self.database_read_url or self.effective_database_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
