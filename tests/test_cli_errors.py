"""Every CLI command answers a user's mistake with one line and a documented exit code.

Exit codes (docs/operations.md): 0 done, 1 input refused, 2 usage (a missing file, a bad option).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import typer
from typer._click.core import Context
from typer.testing import CliRunner

from ceir.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("cli_env")

MISSING = "no-such-dir/missing.csv"

# Every command, each with a mistake a user makes, and the exit code it must give.
MISTAKES: list[tuple[list[str], int]] = [
    (["check", "--file", MISSING], 2),
    (["check", "--file", "{binary}"], 1),
    (["check", "123", "--output", "no-such-dir/out.csv"], 2),
    (["tac", "import", MISSING], 2),
    (["tac", "import", "{binary}"], 1),
    (["registry", "import", MISSING], 2),
    (["registry", "import", "{binary}"], 1),
    (["network", "import", "--operator", "kcell", MISSING], 2),
    (["network", "import", "--operator", "kcell", "{dump}"], 1),
    (["network", "subscribers", "--operator", "kcell", MISSING], 2),
    (["network", "subscribers", "--operator", "kcell", "{binary}"], 1),
    (["network", "classify", "--date", "2026-13-45"], 2),
    (["network", "classify", "--dismiss-run", "7", "--supervisor", "sup"], 2),
    (["network", "classify", "--dismiss-run", "7", "--supervisor", "nobody", "--reason", "x"], 1),
    (["borders", "import", MISSING], 2),
    (["borders", "import", "{binary}"], 1),
    (["keys", "create", "--owner-kind", "x", "--owner", "y", "--scope", "z", "--label", "l"], 1),
    (["keys", "revoke", "no-such-key"], 1),
    (["keys", "list", "--owner-kind", "nobody"], 0),
    (["officers", "create", "a", "--name", "A", "--role", "emperor", "--password-stdin"], 1),
    (["officers", "disable", "nobody"], 1),
    (["officers", "unlock", "nobody"], 1),
    (["officers", "set-password", "nobody", "--password-stdin"], 1),
    (["partners", "fees", "mark-paid", "--partner", "p", "2026-99"], 1),
    (["partners", "fees", "statement", "--partner", "p", "not-a-month"], 1),
    (["partners", "fees", "ledger", "--partner", "nobody"], 0),
    (["sms", "outbox", "--limit", "many"], 2),
    (["db", "upgrade", "--revision", "no-such-revision"], 2),
    (["eir", "node", "--source", "http://c", "--key-file", MISSING, "--public-key", MISSING], 2),
    (
        [
            "eir",
            "node",
            "--source",
            "http://c",
            "--key-file",
            "{binary}",
            "--public-key",
            "{binary}",
        ],
        1,
    ),
]
# Long-running or machine-wide commands, tried elsewhere: they take no file from a user.
NOT_WALKED = {"serve", "demo", "eir serve", "eir build", "network status", "network public-key"}
NOT_WALKED |= {"officers list", "sms retry"}


def _leaf_commands() -> set[str]:
    names: set[str] = set()

    def walk(command: object, prefix: list[str]) -> None:
        if hasattr(command, "list_commands"):
            ctx = Context(command)  # type: ignore[arg-type]
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*prefix, name])  # type: ignore[attr-defined]
        else:
            names.add(" ".join(prefix))

    walk(typer.main.get_command(app), [])
    return names


def test_the_walk_covers_every_command() -> None:
    tried = set()
    for args, _ in MISTAKES:
        for size in (3, 2, 1):
            if " ".join(args[:size]) in _leaf_commands():
                tried.add(" ".join(args[:size]))
                break
    assert _leaf_commands() - tried - NOT_WALKED == set()


@pytest.mark.parametrize(
    ("args", "code"), MISTAKES, ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else str(v)
)
def test_a_mistake_gets_one_line_and_its_exit_code_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int
) -> None:
    monkeypatch.chdir(tmp_path)
    runner.invoke(app, ["db", "upgrade"])
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x01garbage\x00\x9c" * 50)
    (tmp_path / "kcell_20261101_20261101.csv.gz").write_bytes(gzip.compress(b"\xff\x00" * 99))
    paths = {"{binary}": "binary.csv", "{dump}": "kcell_20261101_20261101.csv.gz"}
    args = [paths.get(a, a) for a in args]

    result = runner.invoke(app, args, input="a-long-enough-password\n")

    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args}: {result.exception!r}\n{result.output}"
    )
    assert result.exit_code == code, result.output
    if code:
        assert "Traceback" not in result.output
        assert result.output.strip(), "a refusal must say why"
