"""DIRBS-Core's own operator fixtures through `ceir network import`: the same files refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ceir import config
from ceir.cli import app

# DIRBS-Core's public test data sits beside the repository (shared/external/dirbs), never in it.
DIRBS = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "dirbs"
OPERATOR_FIXTURES = DIRBS / "tests" / "unittest_data" / "operator"

# What DIRBS-Core does with each fixture under its tests/unittest_data/config/config.yml, and why.
REFUSED_BY_DIRBS = {
    "detect_duplicate_20160203_20160203.csv": "IMSIs not 14-15 digits (unclean, 22 %)",
    "no_csv_file_20160203_20160203.txt": "not a CSV",
    "operator1_InvalidDate_20151224_20151225.csv": "dates outside the file's period",
    "operator1_blank_msisdn_20160701_20160731.csv": "empty MSISDNs over 5 %",
    "operator1_blank_optional_fields_20160701_20160731.csv": "blank (spaces) MSISDN and RAT",
    "operator1_blankimei_20160701_20160731.csv": "empty IMEIs over 5 %",
    "operator1_blankimsi_20160701_20160731.csv": "empty IMSIs over 5 %",
    "operator1_clean3_20160701_20160731.csv": "empty IMEIs over 5 %",
    "operator1_clean_20160701_20160731.csv": "bad IMEIs or IMSIs together over 5 %",
    "operator1_contains_null_imsis_msisdns_20160701_20160731.csv": "empty fields together > 5 %",
    "operator1_duplicate_uid_20190925_20191025.csv": "more IMEIs led by 1 than by 0",
    "operator1_extracolumns_20160701_20160731.csv": "rows wider than the header",
    "operator1_imeizerocheck1_20160701_20160731.csv": "more IMEIs led by 1 than by 0",
    "operator1_imeizerocheck2_20160701_20160731.csv": "more IMEIs led by 1 than by 0",
    "operator1_invalid_imei_20160701_20160731.csv": "an IMEI that is not hex, * or #",
    "operator1_invalid_imsi_20160701_20160731.csv": "an IMSI that is not digits",
    "operator1_invalid_msisdn2_20160701_20160731.csv": "an MSISDN with letters",
    "operator1_invalid_msisdn_20160701_20160731.csv": "an MSISDN with letters",
    "operator1_invalid_rat_code_20160701_20160731.csv": "an unknown RAT code",
    "operator1_invalid_rat_length_20160701_20160731.csv": "a RAT code of four digits",
    "operator1_invaliddate_20160401_20160131.csv": "the period ends before it starts",
    "operator1_invaliddate_olderdatedrecords_20170101_20170131.csv": "dates outside the period",
    "operator1_invalidfilename.csv": "no period in the name",
    "operator1_is_test_tac_anonymized_20161101_20161130.csv": "bad IMEIs over 5 %",
    "operator1_largeimsi_20160701_20160731.csv": "an IMSI of 18 digits",
    "operator1_malformeddate_20160701_20160731.csv": "a date of 7 digits",
    "operator1_misorderedheaders_20160701_20160731.csv": "header names on the wrong columns",
    "operator1_missingheader_20160701_20160731.csv": "no imsi column",
    "operator1_normalizeIMEI_20160701_20160731.csv": "bad IMEIs over 5 %",
    "operator1_normalizeIMEI_classification_test_anonymized_20161101_20161130.csv": (
        "bad IMEIs over 5 %"
    ),
    "operator1_null2_20160701_20160730.csv": "empty IMEIs over 5 %",
    "operator1_null_3_20160701_20160730.csv": "empty IMEIs over 5 %",
    "operator1_pipedelimited_20160701_20160731.csv": "not comma-separated",
    "testData1-operator-anonymized-invalid_20161101_20161130.csv": "empty IMEIs over 5 %",
    "testData1-operator-operator1-anonymized_20161101_20161130.csv": "bad IMEIs over 5 %",
    "testData1-operator-operator1-imsi-overloaded_20161101_20161130.csv": "bad IMEIs over 5 %",
    "testData1-operator-operator4-anonymized_20161101_20161130.csv": "bad IMEIs over 5 %",
    "testData1-operator-operator4-dupInvalidTriplet-anonymized_20161101_20161130.csv": (
        "empty fields together over 5 %"
    ),
    "test_duplicate_mk1_dirbs_527_20161115_20161115.csv": "dates outside the file's period",
    "test_operator1_average_duplicate_threshold_20161101_20161130.csv": "IMEIs led by 1, not 0",
    "test_operator2_average_duplicate_threshold_20161101_20161130.csv": "IMEIs led by 1, not 0",
}

# Where ceir decides otherwise on purpose (also listed in docs/operators.md).
CEIR_DIFFERS = {
    "operator1_imeizerocheck3_20160701_20160731.csv": (
        "refused: 2 of 6 IMEIs start with 1, which no TAC does (a stripped 0); DIRBS only "
        "compares them with the IMEIs led by 0"
    ),
    "operator1_with_rat_info_20160701_20160731.csv": "refused: 1 of 9 IMEIs led by 1, as above",
    "testData1-operator-operator4_v1-anonymized_20161101_20161130.csv": (
        "refused: 2 of 21 IMEIs start with 1 (as above)"
    ),
}

# DIRBS reads the period from the name's last two parts only; ceir also wants the operator's
# code first, so these are sent as `operator1_<their name>` and judged on their content.
NAMED_FOR_NO_OPERATOR = ("Foo_", "detect_", "sample_", "testData1-", "test_", "transient_")

# tests/unittest_data/config/config.yml: four operators of MCC 111, country code 22, and the
# out-of-region and non-home thresholds at 100 %.
DIRBS_SETTINGS = {
    "CEIR_NETWORK__OPERATORS": json.dumps({f"operator{n}": [f"1110{n}"] for n in range(1, 5)}),
    "CEIR_NETWORK__HOME_MCC": "111",
    "CEIR_NETWORK__HOME_MSISDN_PREFIXES": '["22"]',
    "CEIR_NETWORK__MAX_SHARE_FOREIGN": "1.0",
    "CEIR_NETWORK__MAX_SHARE_OTHER_OPERATOR": "1.0",
}


def fixtures() -> list[str]:
    if not OPERATOR_FIXTURES.is_dir():
        return []
    return sorted(p.name for p in OPERATOR_FIXTURES.iterdir())


@pytest.mark.skipif(
    not OPERATOR_FIXTURES.is_dir(),
    reason=f"DIRBS-Core's operator fixtures are not at {OPERATOR_FIXTURES} (shared/ is absent)",
)
def test_every_dirbs_operator_fixture_gets_dirbs_outcome_or_a_documented_difference(
    cli_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in DIRBS_SETTINGS.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    names = fixtures()
    assert len(names) >= 60 and set(REFUSED_BY_DIRBS) | set(CEIR_DIFFERS) <= set(names)
    outcomes: dict[str, str] = {}
    for number, name in enumerate(names):
        sent = tmp_path / "sent" / str(number)
        sent.mkdir(parents=True)
        target = sent / (f"operator1_{name}" if name.startswith(NAMED_FOR_NO_OPERATOR) else name)
        shutil.copyfile(OPERATOR_FIXTURES / name, target)
        # Each fixture on its own store: the volume history of one must not judge the next.
        monkeypatch.setenv("CEIR_DATA_DIR", str(tmp_path / "var" / str(number)))
        config.get_settings.cache_clear()
        result = runner.invoke(app, ["network", "import", "--operator", "operator1", str(target)])
        outcomes[name] = "accepted" if result.exit_code == 0 else "refused"
        assert result.exit_code in (0, 1, 2), (name, result.output, result.exception)

    dirbs = {n: "refused" if n in REFUSED_BY_DIRBS else "accepted" for n in names}
    expected = {
        n: ("accepted" if dirbs[n] == "refused" else "refused") if n in CEIR_DIFFERS else dirbs[n]
        for n in names
    }
    assert {n: o for n, o in outcomes.items() if o != expected[n]} == {}
