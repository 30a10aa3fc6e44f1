"""Parse, validate and normalise the identifiers ceir deals in: IMEI, IMSI, MSISDN, IIN and BIN."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "JUNK_IMEI_KEYS",
    "KAZAKH_MOBILE_CODES",
    "KAZAKH_OPERATORS",
    "THREE_DIGIT_MNC_MCCS",
    "IdentifierError",
    "Iin",
    "Imei",
    "Imsi",
    "bulk_imei_keys",
    "iin_check_digit",
    "is_junk_imei_key",
    "luhn_check_digit",
    "network_imei_key",
    "normalize_msisdn",
    "parse_bin",
    "parse_iin",
    "parse_imei",
    "parse_imsi",
]

_DIGITS = frozenset("0123456789")

# ASCII whitespace plus the no-break space that spreadsheets and web forms paste in. Kept explicit
# (rather than str.strip()) so that bulk_imei_keys can strip exactly the same characters.
_SURROUNDING_WHITESPACE = " \t\n\r\f\v\u00a0"
_IMEI_SEPARATORS = " -/."
_DROP_IMEI_SEPARATORS = str.maketrans("", "", _IMEI_SEPARATORS)
_DROP_MSISDN_SEPARATORS = str.maketrans("", "", " -().\u00a0")


class IdentifierError(ValueError):
    """A rejected identifier: `code` is stable and machine-readable, str(err) is a sentence."""

    kind: str
    code: str
    value: str
    expected: str | None

    def __init__(
        self, kind: str, code: str, value: str, message: str, expected: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.value = value
        self.expected = expected

    def __reduce__(self) -> tuple[type[IdentifierError], tuple[str, str, str, str, str | None]]:
        # ValueError pickles through self.args, which holds only the message; worker processes
        # that validate bulk files must be able to send the full error back.
        return (type(self), (self.kind, self.code, self.value, str(self), self.expected))


def _fail(kind: str, code: str, value: str, message: str, expected: str | None = None) -> NoReturn:
    raise IdentifierError(kind, code, value, message, expected)


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit() accepts Arabic-Indic, superscript and other Unicode digits; identifiers do not.
    return text.isascii() and text.isdigit()


def _first_non_digit(text: str) -> str | None:
    for char in text:
        if char not in _DIGITS:
            return char
    return None


def _reject_non_digits(kind: str, label: str, value: str, digits: str, allowed: str) -> None:
    bad = _first_non_digit(digits)
    if bad is not None:
        _fail(kind, "not_digits", value, f"{label} may hold only digits{allowed}, not {bad!r}.")


# --- IMEI -----------------------------------------------------------------------------------------

# Keys that pass every shape check yet appear on counterfeit and test devices by the thousand.
# Repeated-digit keys (00000000000000, 11111111111111, ...) are caught by a rule, not listed here.
JUNK_IMEI_KEYS: frozenset[str] = frozenset(
    {
        "12345678901234",  # the key of the textbook example 123456789012345
        "01234567890123",  # sequential digits from zero
    }
)


def luhn_check_digit(digits14: str) -> int:
    """Return the Luhn check digit of the 14 digits of an IMEI (3GPP TS 23.003, annex B)."""
    if len(digits14) != 14 or not _is_ascii_digits(digits14):
        raise ValueError(f"luhn_check_digit needs exactly 14 digits, got {digits14!r}")
    total = 0
    for position, char in enumerate(digits14):
        digit = ord(char) - 48
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def is_junk_imei_key(key14: str) -> bool:
    """Tell whether a 14-digit registry key is a well-known fake (all one digit, or listed)."""
    return key14 in JUNK_IMEI_KEYS or (len(key14) > 0 and key14 == key14[0] * len(key14))


@dataclass(frozen=True, slots=True)
class Imei:
    """A valid IMEI reduced to its registry key, remembering how it was written."""

    key: str
    check_digit: int
    svn: str | None
    form: str
    pei: bool = False  # True when written as a 5G PEI ("imei-..." / "imeisv-...")

    @property
    def tac(self) -> str:
        return self.key[:8]

    @property
    def serial(self) -> str:
        return self.key[8:]

    @property
    def imei15(self) -> str:
        return f"{self.key}{self.check_digit}"

    @property
    def key_int(self) -> int:
        return int(self.key)


def _split_pei_prefix(stripped: str) -> tuple[str | None, str]:
    # ASCII-only comparison: str.lower() maps a few non-ASCII letters onto ASCII ones, and the
    # vectorised twin (pyarrow ascii_lower) does not, so both must agree on what counts as a prefix.
    head = stripped[:7]
    if head.isascii() and head.lower() == "imeisv-":
        return "imeisv", stripped[7:]
    head = stripped[:5]
    if head.isascii() and head.lower() == "imei-":
        return "imei", stripped[5:]
    return None, stripped


def parse_imei(text: str) -> Imei:
    """Parse an IMEI as a person or a 5G core writes it: 14/15/16 digits or a PEI."""
    stripped = text.strip(_SURROUNDING_WHITESPACE)
    prefix, rest = _split_pei_prefix(stripped)
    digits = rest.translate(_DROP_IMEI_SEPARATORS)
    if not digits:
        if prefix is None:
            _fail("imei", "empty", text, "No IMEI was given.")
        _fail("imei", "wrong_length", text, f"The PEI has no digits after '{prefix}-'.")
    _reject_non_digits("imei", "An IMEI", text, digits, " (and spaces, dashes, slashes or dots)")

    length = len(digits)
    if prefix == "imei" and length != 15:
        _fail(
            "imei", "wrong_length", text, f"A PEI 'imei-' needs 15 digits after it, not {length}."
        )
    if prefix == "imeisv" and length != 16:
        _fail(
            "imei",
            "wrong_length",
            text,
            f"A PEI 'imeisv-' needs 16 digits after it, not {length}.",
        )
    if length not in (14, 15, 16):
        _fail(
            "imei",
            "wrong_length",
            text,
            f"The IMEI has {length} digits; expected 14 (without check digit), "
            "15 (IMEI) or 16 (IMEISV).",
        )

    key = digits[:14]
    if is_junk_imei_key(key):
        # Checked before the check digit: 123456789012345 should be called a fake, not a typo.
        _fail("imei", "junk", text, f"{key} is a well-known fake or test IMEI, not a real device.")
    check = luhn_check_digit(key)
    if length == 15:
        given = ord(digits[14]) - 48
        if given != check:
            _fail(
                "imei",
                "bad_check_digit",
                text,
                f"The IMEI's check digit {given} is wrong, expected {check}.",
                expected=str(check),
            )
        return Imei(key=key, check_digit=check, svn=None, form="imei15", pei=prefix is not None)
    if length == 16:
        return Imei(
            key=key, check_digit=check, svn=digits[14:], form="imeisv", pei=prefix is not None
        )
    return Imei(key=key, check_digit=check, svn=None, form="imei14")


def network_imei_key(raw: str) -> tuple[str, bool]:
    """Map an IMEI as a network reported it to (registry key, whether it starts with 14 digits).

    Networks send wrong or zero check digits, so none is verified; junk keys still count as keyed.
    """
    # Stripped before looking at the first 14 characters: CSV exports pad fields with spaces, and
    # " 35693803564380" is the same device as "35693803564380".
    stripped = raw.strip()
    head = stripped[:14]
    if len(head) == 14 and _is_ascii_digits(head):
        return head, True
    return stripped.upper(), False


# --- bulk IMEI ------------------------------------------------------------------------------------

# Luhn doubles every second digit of the key; this maps a digit to the digit sum of its double.
# It is 256 long so that non-digit bytes (already rejected) can be looked up without an index error.
_LUHN_DOUBLED = np.zeros(256, dtype=np.uint8)
_LUHN_DOUBLED[:10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]
_JUNK_KEY_INTS = np.array(sorted(int(key) for key in JUNK_IMEI_KEYS), dtype=np.int64)


def as_string_array(values: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Values as one Arrow string array, as the bulk parsers take them."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            values = values.cast(pa.large_string())
        return values
    try:
        return pa.array(values, type=pa.string())
    except (UnicodeEncodeError, pa.ArrowInvalid):
        # Lone surrogates cannot be UTF-8 encoded; parse_imei rejects them as non-digits anyway.
        return pa.array(
            [None if v is None or not _encodable(v) else v for v in values], type=pa.string()
        )


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _keys_of_cleaned(
    cleaned: pa.Array, is_sv: npt.NDArray[np.bool_], is_pei: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Check strings that are already stripped of prefix and separators, as parse_imei does."""
    n = len(cleaned)
    ascii_rows = pc.string_is_ascii(cleaned).to_numpy(zero_copy_only=False)
    lengths = pc.utf8_length(cleaned).to_numpy(zero_copy_only=False)
    plain = ~(is_sv | is_pei)
    shape_ok = ascii_rows & (
        (plain & (lengths >= 14) & (lengths <= 16))
        | (is_pei & (lengths == 15))
        | (is_sv & (lengths == 16))
    )
    # Once rows of the wrong shape (including every non-ASCII row) are blanked and the rest padded
    # to 16 characters, every row is exactly 16 bytes and the data buffer is an (n, 16) matrix.
    # Padding with '0' keeps short rows all-digit.
    fixed = pc.utf8_rpad(pc.utf8_slice_codeunits(pc.if_else(shape_ok, cleaned, ""), 0, 16), 16, "0")
    _, offsets_buf, data_buf = fixed.buffers()
    offset_type = np.dtype(np.int64 if pa.types.is_large_string(fixed.type) else np.int32)
    first_byte = int(
        np.frombuffer(
            offsets_buf, dtype=offset_type, count=1, offset=fixed.offset * offset_type.itemsize
        )[0]
    )
    digits = np.frombuffer(data_buf, dtype=np.uint8, count=16 * n, offset=first_byte).reshape(
        n, 16
    ) - np.uint8(48)
    key_digits = digits[:, :14]
    all_digits = np.all(digits <= 9, axis=1)  # uint8 wrap-around sends other bytes above 9

    keys = np.zeros(n, dtype=np.int64)
    for column in range(14):
        keys *= 10
        keys += key_digits[:, column]

    luhn_sum = key_digits[:, 0::2].sum(axis=1, dtype=np.int32) + _LUHN_DOUBLED[
        key_digits[:, 1::2]
    ].sum(axis=1, dtype=np.int32)
    check = (10 - luhn_sum % 10) % 10
    check_ok = (lengths != 15) | (digits[:, 14] == check)

    repeated = np.all(key_digits == key_digits[:, :1], axis=1)
    junk = repeated | np.isin(keys, _JUNK_KEY_INTS)

    ok = shape_ok & all_digits & check_ok & ~junk
    return np.where(ok, keys, 0), ok


def bulk_imei_keys(
    values: Sequence[str | None] | pa.Array | pa.ChunkedArray,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Vectorised parse_imei: (int64 keys, ok mask); ok[i] is True exactly when parse_imei succeeds.

    Rows that are not ok have key 0; call parse_imei on them to learn why.
    """
    strings = as_string_array(values)
    n = len(strings)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.bool_)
    stripped = pc.utf8_trim(strings.fill_null(""), characters=_SURROUNDING_WHITESPACE)
    # Operator files are mostly bare digits; only the rest pays for the regex clean-up.
    bare = pc.ascii_is_decimal(stripped).to_numpy(zero_copy_only=False)
    no_prefix = np.zeros(n, dtype=np.bool_)
    if bare.all():
        return _keys_of_cleaned(stripped, no_prefix, no_prefix)

    keys = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=np.bool_)
    bare_rows = np.flatnonzero(bare)
    if bare_rows.size:
        keys[bare_rows], ok[bare_rows] = _keys_of_cleaned(
            stripped.take(bare_rows), no_prefix[bare_rows], no_prefix[bare_rows]
        )

    other_rows = np.flatnonzero(~bare)
    lowered = pc.ascii_lower(stripped.take(other_rows))
    is_sv = pc.starts_with(lowered, "imeisv-").to_numpy(zero_copy_only=False)
    is_pei = pc.starts_with(lowered, "imei-").to_numpy(zero_copy_only=False)
    # Only a leading prefix goes (RE2 anchors ^ to the text start even in a global replace); the
    # separators go wherever they are, as in parse_imei.
    cleaned = pc.replace_substring_regex(lowered, pattern="^imei(?:sv)?-|[ ./-]", replacement="")
    keys[other_rows], ok[other_rows] = _keys_of_cleaned(cleaned, is_sv, is_pei)
    return keys, ok


def bulk_imei15(keys: npt.NDArray[np.int64]) -> list[str]:
    """The 15-digit IMEIs (key + Luhn check digit) of many 14-digit integer keys at once."""
    digits = (keys[:, None] // _POWERS_OF_TEN[None, :]) % 10
    luhn_sum = digits[:, 0::2].sum(axis=1) + _LUHN_DOUBLED[digits[:, 1::2]].sum(
        axis=1, dtype=np.int64
    )
    imeis = keys * 10 + (10 - luhn_sum % 10) % 10
    return [str(value).zfill(15) for value in imeis.tolist()]


_POWERS_OF_TEN = np.array([10 ** (13 - i) for i in range(14)], dtype=np.int64)


def bulk_imei15_arrow(keys: npt.NDArray[np.int64]) -> pa.Array:
    """bulk_imei15 as an Arrow string array, without a Python string per key.

    The keys' digits come from their decimal text as a byte matrix, and the 15-byte answers are
    written into one buffer: no integer division per digit, no padding pass.
    """
    n = int(keys.size)
    text = pc.utf8_lpad(pc.cast(pa.array(keys, pa.int64()), pa.string()), width=14, padding="0")
    text = pc.utf8_slice_codeunits(text, 0, 14)  # keys are below 10**14; this keeps rows 14 wide
    _, _, data = text.buffers()
    digits = np.empty((n, 15), dtype=np.uint8)
    digits[:, :14] = np.frombuffer(data, dtype=np.uint8, count=14 * n).reshape(n, 14)
    key_digits = digits[:, :14] - np.uint8(48)
    luhn_sum = key_digits[:, 0::2].sum(axis=1, dtype=np.int32) + _LUHN_DOUBLED[
        key_digits[:, 1::2]
    ].sum(axis=1, dtype=np.int32)
    digits[:, 14] = (10 - luhn_sum % 10) % 10 + 48
    string_type = pa.string() if 15 * n < 2**31 else pa.large_string()
    offsets = np.arange(0, 15 * (n + 1), 15, dtype=np.int32 if 15 * n < 2**31 else np.int64)
    return pa.Array.from_buffers(
        string_type, n, [None, pa.py_buffer(offsets), pa.py_buffer(digits)]
    )


# --- IMSI -----------------------------------------------------------------------------------------

# MCCs whose networks use 3-digit MNCs (ITU-T E.212 list). Not exhaustive: it covers North America,
# the Caribbean and India's 405 range, which are the roamers a Kazakh network sees; elsewhere the
# 2-digit default is right for every network we expect, including Kazakhstan (401).
THREE_DIGIT_MNC_MCCS: frozenset[str] = frozenset(
    {
        *(str(mcc) for mcc in range(310, 317)),  # USA
        "302",  # Canada
        "334",  # Mexico
        "338",  # Jamaica
        "342",  # Barbados
        "344",  # Antigua and Barbuda
        "346",  # Cayman Islands
        "348",  # British Virgin Islands
        "352",  # Grenada
        "354",  # Montserrat
        "356",  # Saint Kitts and Nevis
        "358",  # Saint Lucia
        "360",  # Saint Vincent and the Grenadines
        "365",  # Anguilla
        "376",  # Turks and Caicos Islands
        "405",  # India (404 uses 2-digit MNCs)
    }
)

KAZAKHSTAN_MCC = "401"
KAZAKH_OPERATORS: dict[str, str] = {"01": "beeline", "02": "kcell", "07": "altel", "77": "tele2"}


@dataclass(frozen=True, slots=True)
class Imsi:
    """A SIM's subscriber identity split into country, network and subscriber parts."""

    digits: str
    mcc: str
    mnc: str
    msin: str

    @property
    def is_home(self) -> bool:
        return self.mcc == KAZAKHSTAN_MCC

    @property
    def operator(self) -> str | None:
        return KAZAKH_OPERATORS.get(self.mnc) if self.is_home else None


def parse_imsi(text: str) -> Imsi:
    """Parse an IMSI of 6 to 15 digits and split off MCC and MNC."""
    digits = text.strip(_SURROUNDING_WHITESPACE)
    if not digits:
        _fail("imsi", "empty", text, "No IMSI was given.")
    _reject_non_digits("imsi", "An IMSI", text, digits, "")
    if not 6 <= len(digits) <= 15:
        _fail("imsi", "wrong_length", text, f"The IMSI has {len(digits)} digits; expected 6 to 15.")
    mcc = digits[:3]
    mnc_length = 3 if mcc in THREE_DIGIT_MNC_MCCS else 2
    return Imsi(
        digits=digits, mcc=mcc, mnc=digits[3 : 3 + mnc_length], msin=digits[3 + mnc_length :]
    )


# --- MSISDN ---------------------------------------------------------------------------------------

# Operator codes of Kazakh mobile networks (the three digits after +7).
KAZAKH_MOBILE_CODES: frozenset[str] = frozenset(
    {"700", "701", "702", "705", "706", "707", "708", "747", "771", "775", "776", "777", "778"}
)


def normalize_msisdn(text: str) -> str:
    """Turn a Kazakh mobile number as people write it into E.164 digits, e.g. "77011234567"."""
    compact = text.strip(_SURROUNDING_WHITESPACE).translate(_DROP_MSISDN_SEPARATORS)
    if not compact:
        _fail("msisdn", "empty", text, "No phone number was given.")
    international = compact.startswith("+")
    digits = compact[1:] if international else compact
    _reject_non_digits("msisdn", "A phone number", text, digits, " (after an optional leading '+')")
    if not digits:
        _fail("msisdn", "wrong_length", text, "The phone number has no digits after '+'.")

    if international:
        if not digits.startswith("7"):
            _fail(
                "msisdn",
                "not_kazakh_mobile",
                text,
                "The number is not Kazakh: its country code is not +7.",
            )
        e164 = digits
    elif len(digits) == 10:
        e164 = "7" + digits
    elif len(digits) == 11 and digits[0] in "78":
        # 8 is the domestic trunk prefix inherited from the Soviet numbering plan.
        e164 = "7" + digits[1:]
    elif len(digits) == 11:
        _fail(
            "msisdn",
            "not_kazakh_mobile",
            text,
            "The number is not Kazakh: an 11-digit number must start with 7 or 8.",
        )
    else:
        e164 = digits
    if len(e164) != 11:
        _fail(
            "msisdn",
            "wrong_length",
            text,
            f"The phone number has {len(digits)} digits; a Kazakh mobile number has 10 "
            "(7XX XXX XX XX), or 11 starting with 8 or 7.",
        )
    # +7 is shared with Russia (+7 9XX, +7 4XX ...) and Kazakh landlines (+7 7172 ...).
    code = e164[1:4]
    if code not in KAZAKH_MOBILE_CODES:
        _fail(
            "msisdn",
            "not_kazakh_mobile",
            text,
            f"+7 {code} is not a Kazakh mobile operator code.",
        )
    return e164


# --- IIN and BIN ----------------------------------------------------------------------------------

_IIN_WEIGHTS_FIRST = tuple(range(1, 12))
_IIN_WEIGHTS_SECOND = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_CENTURY_BY_DIGIT = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}
_BIN_ENTITY_TYPES = frozenset("456")


@dataclass(frozen=True, slots=True)
class Iin:
    """A valid IIN (person) or BIN (business); birth date and sex are known only for an IIN."""

    value: str
    birth_date: datetime.date | None
    sex: str | None


def iin_check_digit(first11: str) -> int | None:
    """Return the check digit for the first 11 digits of an IIN/BIN, or None if none can exist."""
    if len(first11) != 11 or not _is_ascii_digits(first11):
        raise ValueError(f"iin_check_digit needs exactly 11 digits, got {first11!r}")
    digits = [ord(char) - 48 for char in first11]
    for weights in (_IIN_WEIGHTS_FIRST, _IIN_WEIGHTS_SECOND):
        check = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if check != 10:
            return check
    return None


def _twelve_checked_digits(kind: str, label: str, text: str) -> str:
    digits = text.strip(_SURROUNDING_WHITESPACE).replace(" ", "")
    if not digits:
        _fail(kind, "empty", text, f"No {label} was given.")
    article = "An" if label == "IIN" else "A"
    _reject_non_digits(kind, f"{article} {label}", text, digits, " (and spaces)")
    if len(digits) != 12:
        _fail(kind, "wrong_length", text, f"The {label} has {len(digits)} digits; expected 12.")
    check = iin_check_digit(digits[:11])
    given = ord(digits[11]) - 48
    if check is None:
        _fail(
            kind,
            "bad_check_digit",
            text,
            f"No {label} can start with {digits[:11]}: both check digit rounds give 10.",
        )
    if given != check:
        _fail(
            kind,
            "bad_check_digit",
            text,
            f"The {label}'s check digit {given} is wrong, expected {check}.",
            expected=str(check),
        )
    return digits


def parse_iin(text: str) -> Iin:
    """Parse a person's IIN and read the birth date and sex it encodes."""
    digits = _twelve_checked_digits("iin", "IIN", text)
    century_digit = digits[6]
    century = _CENTURY_BY_DIGIT.get(century_digit)
    if century is None:
        _fail(
            "iin",
            "invalid_century",
            text,
            f"The IIN's 7th digit {century_digit} is not a century-and-sex digit (1 to 6).",
        )
    try:
        birth_date = datetime.date(century + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        _fail(
            "iin",
            "invalid_date",
            text,
            f"The IIN's first six digits {digits[:6]} are not a real date (YYMMDD).",
        )
    sex = "male" if int(century_digit) % 2 == 1 else "female"
    return Iin(value=digits, birth_date=birth_date, sex=sex)


def parse_bin(text: str) -> Iin:
    """Parse a business identification number (BIN)."""
    digits = _twelve_checked_digits("bin", "BIN", text)
    if digits[4] not in _BIN_ENTITY_TYPES:
        _fail(
            "bin",
            "bad_prefix",
            text,
            f"The BIN's 5th digit {digits[4]} is not an entity type (4, 5 or 6).",
        )
    return Iin(value=digits, birth_date=None, sex=None)


def display_imei(key: str | None) -> str:
    """An IMEI as `*#06#` shows it: a 14-digit registry key gets its check digit back.

    Anything else (already 15 digits, or not an IMEI) is shown as it is.
    """
    if key and len(key) == 14 and _is_ascii_digits(key):
        return key + str(luhn_check_digit(key))
    return key or ""
