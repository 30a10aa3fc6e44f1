"""Reading bulk files: encodings and malformed CSV are reported, not guessed at."""

from __future__ import annotations

from pathlib import Path

import pytest

from ceir.errors import InvalidInput
from ceir.importing import CsvReader, CsvTable


def read_csv(path: Path, *, delimiters: str = ",") -> CsvTable:
    """The whole file as the chunks of a reader give it, two rows at a time."""
    reader = CsvReader(path, delimiters=delimiters, chunk_rows=2)
    table = CsvTable(reader.header, [], [], [])
    for chunk in reader.chunks():
        table.rows += chunk.rows
        table.lines += chunk.lines
        table.malformed += chunk.malformed
    return table


def test_a_file_that_is_not_utf8_is_refused_with_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "cp1251.csv"
    path.write_bytes("tac,brand\n35467819,Сяоми\n".encode("cp1251"))
    with pytest.raises(InvalidInput, match=r"not UTF-8.*offset 19"):
        read_csv(path)


def test_line_numbers_survive_blank_lines_quotes_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b'\xef\xbb\xbfa,b\r\n1,"x, y"\r\n\r\n2,z\r\n3\r\n4,"multi\nline"\r\n5,w\r\n')
    table = read_csv(path)
    assert table.header == ["a", "b"]
    assert [r[0] for r in table.rows] == ["1", "2", "4", "5"]
    assert table.lines == [2, 4, 6, 8]
    assert [(e.line, e.field) for e in table.malformed] == [(5, "row")]


def test_the_delimiter_is_the_one_the_header_uses(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("TAC|Brand Name|Model\n35467819|Apple|A3523\n", encoding="utf-8")
    assert read_csv(path, delimiters=",|").rows == [["35467819", "Apple", "A3523"]]
