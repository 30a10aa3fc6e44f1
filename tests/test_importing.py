"""Reading bulk files: encodings and malformed CSV are reported, not guessed at."""

from __future__ import annotations

from pathlib import Path

import pytest

from ceir.errors import InvalidInput
from ceir.importing import CsvReader, CsvTable, NotPlainCsv, is_plain_csv, plain_csv_chunks


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


def read_plain(
    path: Path, width: int
) -> tuple[list[list[str]], list[int], list[tuple[int, str, str]]]:
    """Rows, lines and misfits as Arrow's reader of plain files gives them, two rows at a time."""
    rows: list[list[str]] = []
    lines: list[int] = []
    misfits: list[tuple[int, str, str]] = []
    for chunk in plain_csv_chunks(path, width, ",", chunk_rows=2):
        rows += [list(r) for r in zip(*(c.to_pylist() for c in chunk.columns), strict=True)]
        lines += chunk.lines.tolist()
        misfits += [(e.line, e.value, e.reason) for e in chunk.malformed]
    return rows, lines, misfits


def test_a_plain_file_reads_the_same_rows_lines_and_misfits_with_arrow(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b,c\r\n1,x,y\r\n2,z\r\n3, ,\r\n4,w,v,u\r\n,,\r\n5,t,s")
    exact = read_csv(path)

    assert is_plain_csv(path)
    rows, lines, misfits = read_plain(path, 3)
    assert rows == exact.rows == [["1", "x", "y"], ["3", " ", ""], ["", "", ""], ["5", "t", "s"]]
    assert lines == exact.lines == [2, 4, 6, 7]
    assert misfits == [(e.line, e.value, e.reason) for e in exact.malformed]
    assert [line for line, _, _ in misfits] == [3, 5]


@pytest.mark.parametrize(
    "body",
    [
        b'a,b\n1,"multi\nline"\n2,x\n',  # a row over two lines
        b'a,b\n1,"x"y\n',  # quoting Arrow reads more leniently than Python
        b"a,b\n1,x\n\n2,y\n",  # a blank line
        b"a,b\r1,x\r",  # CR alone ends a line for Arrow, not for Python
    ],
)
def test_files_whose_lines_only_the_exact_reader_knows_are_not_plain(
    tmp_path: Path, body: bytes
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(body)
    assert not is_plain_csv(path)


def test_a_plain_file_arrow_cannot_read_says_so(tmp_path: Path) -> None:
    path = tmp_path / "cp1251.csv"
    path.write_bytes("tac,brand\n35467819,Сяоми\n".encode("cp1251"))
    assert is_plain_csv(path)
    with pytest.raises(NotPlainCsv):
        read_plain(path, 2)
