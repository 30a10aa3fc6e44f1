"""Loading many rows at once: COPY on PostgreSQL, executemany on SQLite; never row-by-row ORM."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection

Column = Sequence[Any] | np.ndarray[Any, Any]


def _is_column(value: object) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, pa.Array, pa.ChunkedArray))


def insert_columns(conn: Connection, table: str, columns: Mapping[str, Column | object]) -> int:
    """Insert columns of equal length (a scalar value repeats on every row); returns the row count.

    Timestamps must be timezone-aware UTC; they are stored as the UTCDateTime type stores them.
    """
    rows = _rows(table, columns)
    if rows == 0:
        return 0
    names = list(columns)
    if conn.dialect.name == "postgresql":
        _copy_postgresql(conn, table, names, columns, rows)
    else:
        _executemany_sqlite(conn, table, names, columns)
    return rows


def _sqlite_value(value: object) -> object:
    if isinstance(value, dt.datetime):
        # The same text SQLAlchemy's SQLite DateTime writes, so ORM reads see equal values.
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _executemany_sqlite(
    conn: Connection, table: str, names: list[str], columns: Mapping[str, object]
) -> None:
    iterables = []
    for name in names:
        value = columns[name]
        if isinstance(value, (np.ndarray, pa.Array, pa.ChunkedArray)):
            iterables.append(value.tolist() if isinstance(value, np.ndarray) else value.to_pylist())
        elif _is_column(value):
            iterables.append(value)
        else:
            iterables.append(itertools.repeat(_sqlite_value(value)))
    placeholders = ", ".join("?" for _ in names)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})",  # noqa: S608
            zip(*iterables, strict=False),
        )
    finally:
        cursor.close()


def _copy_postgresql(
    conn: Connection, table: str, names: list[str], columns: Mapping[str, object], rows: int
) -> None:
    _copy_in(conn, table, names, [_csv_bytes(names, columns, rows)])


def _csv_bytes(names: list[str], columns: Mapping[str, object], rows: int) -> memoryview:
    """The columns as the CSV that COPY reads, encoded by Arrow (no Python object per value)."""
    arrays = []
    for name in names:
        value = columns[name]
        if isinstance(value, (pa.Array, pa.ChunkedArray)):
            arrays.append(value)  # already Arrow: written as it is
        elif _is_column(value):
            arrays.append(pa.array(value))
        else:
            arrays.append(pa.repeat(pa.scalar(value), rows))
    buffer = io.BytesIO()
    pa_csv.write_csv(
        pa.table(arrays, names=names),
        buffer,
        write_options=pa_csv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    return buffer.getbuffer()


def _copy_in(conn: Connection, table: str, names: list[str], blocks: Iterable[memoryview]) -> None:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT csv)") as copy:
        for view in blocks:
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])


def insert_batches(
    conn: Connection, table: str, batches: Iterable[Mapping[str, Column | object]]
) -> int:
    """Insert batches of columns (each as `insert_columns` takes them); returns the row count.

    On PostgreSQL the batches go in one COPY, and the next batch is made and encoded in a helper
    thread while the database takes the current one: the client's work (the caller's queries
    that make the batches, Arrow's CSV) overlaps the server's instead of alternating with it.
    """
    if conn.dialect.name != "postgresql":
        return sum(insert_columns(conn, table, batch) for batch in batches)
    names: list[str] = []
    counted = [0]

    def encoded() -> Iterator[memoryview]:
        for batch in batches:
            rows = _rows(table, batch)
            if rows:
                names[:] = names or list(batch)
                counted[0] += rows
                yield _csv_bytes(names, batch, rows)

    # Closed on the way out, whatever happens: the helper thread is done before the caller goes on.
    with closing(prefetched(encoded())) as blocks:
        first = next(blocks, None)
        if first is not None:
            _copy_in(conn, table, names, itertools.chain([first], blocks))
    return counted[0]


def _rows(table: str, columns: Mapping[str, Column | object]) -> int:
    lengths = {len(v) for v in columns.values() if _is_column(v)}  # type: ignore[arg-type]
    if len(lengths) != 1:
        raise ValueError(f"columns of {table} differ in length or are all scalars: {lengths}")
    return lengths.pop()


T = TypeVar("T")


def prefetched(items: Iterator[T]) -> Generator[T, None, None]:
    """The items of `items`, each next one made in a helper thread while the caller uses the
    current one. An error making an item is raised where the caller asks for it."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="ceir-prefetch")
    try:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # never leave the thread inside `items`
        if isinstance(items, Generator):
            items.close()


def keys_temp_table(
    conn: Connection, name: str, keys: np.ndarray[Any, Any], rows: np.ndarray[Any, Any]
) -> None:
    """A temporary table (imei_key, row_no) to join a file's keys against the registry.

    Rows go in sorted by key so the join walks the registry's key index in order. The table has
    no index of its own: every join drives from it into the registry's primary keys.
    """
    order = np.argsort(keys, kind="stable")
    temp_table(
        conn, name, {"imei_key": ("BIGINT", keys[order]), "row_no": ("INTEGER", rows[order])}
    )


def temp_table(conn: Connection, name: str, columns: Mapping[str, tuple[str, Column]]) -> None:
    """A temporary table `name` of `columns` (name -> SQL type and values) to join against.

    One left by an earlier call in the transaction is replaced; on PostgreSQL it is ANALYZEd, so
    the planner knows its size instead of guessing (it would scan the registry for a big one).
    """
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    spec = ", ".join(f"{column} {sql_type} NOT NULL" for column, (sql_type, _) in columns.items())
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({spec})")
    insert_columns(conn, name, {column: values for column, (_, values) in columns.items()})
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {name}")


def fetch_table(conn: Connection, sql: str, schema: pa.Schema) -> pa.Table:
    """A query's rows as an Arrow table of `schema` (its columns in the query's order).

    On PostgreSQL the rows come out by COPY as CSV, parsed by Arrow: no Python object per value,
    which is what a million rows would cost through the driver's rows.
    """
    if conn.dialect.name != "postgresql":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql)
            found = cursor.fetchall()
        finally:
            cursor.close()
        columns = list(zip(*found, strict=True)) if found else [()] * len(schema)
        return pa.table(
            [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
        )
    buffer = io.BytesIO()
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
        for data in copy:
            buffer.write(data)
    if not buffer.tell():
        return schema.empty_table()
    buffer.seek(0)
    return pa_csv.read_csv(
        buffer,
        read_options=pa_csv.ReadOptions(column_names=schema.names),
        # PostgreSQL writes NULL as nothing and an empty text as "".
        convert_options=pa_csv.ConvertOptions(
            column_types=schema,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
