"""Reading input records and writing output records, for every command.

Input comes as plain lines (arguments or stdin, one item per line) or as CSV (`-i FILE`).
Output goes to text, CSV, JSON Lines or JSON, always one output record per input record,
in input order, written to a temporary file that is renamed into place at the end.

Real-world CSV is messy, and Python's `csv` module silently merges every following line into
one field after an unclosed quote. `read_csv` therefore parses strictly and recovers: a record
that spans several physical lines is accepted only if it has the header's number of cells;
otherwise its first line is rejected ("unclosed quote") and parsing restarts on the next line.
So rows in = rows out + rejects, always.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from addrcode.errors import DataError, UsageError

# A multi-line quoted field may span at most this many physical lines: past it, the record is
# taken for an unclosed quote (and the buffered lines are re-read), which keeps memory bounded.
MAX_RECORD_LINES = 50
# One physical line may hold at most this many bytes (characters for non-UTF-8 encodings).
MAX_LINE_CHARS = 64 * 2**20

csv.field_size_limit(2**31 - 1)  # very long fields are data, not errors


@dataclass
class InputRecord:
    """One input item: a text line, or a CSV row mapped to the header.

    `error` is set when the row itself is unusable (ragged, unclosed quote); such a record is
    still passed along so that it yields exactly one output record (a reject with the reason).
    """

    line: int  # 1-based physical line where the record starts (0 for positional arguments)
    text: str = ""  # one-line item (text input, or the `--column` cell)
    fields: dict[str, str] = field(default_factory=dict)  # CSV cells by header name
    error: str = ""
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- decoding


class _LineSource:
    """Physical lines of a byte stream, decoded, with line numbers and push-back.

    UTF-16 with a BOM is decoded as a whole; otherwise each line is decoded as UTF-8 and, when
    that fails, as cp1252 with a warning (files that mix encodings line by line exist).
    NUL bytes are dropped with a warning.
    """

    def __init__(self, stream: IO[bytes], encoding: str | None = None, name: str = "<stdin>"):
        self.name = name
        self.lineno = 0
        self.bytes_read = 0
        self.warnings: dict[int, list[str]] = {}
        self._pushback: deque[tuple[int, str]] = deque()
        head = stream.peek(4)[:4] if hasattr(stream, "peek") else b""
        if encoding is None and head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            encoding = "utf-16"
        self._encoding = encoding
        if encoding and encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
            import io

            text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
            self._lines = (ln.encode("utf-8") for ln in self._bounded(text.readline, ""))
            self._encoding = "utf-8"
        else:
            self._lines = self._bounded(stream.readline, b"")
        self._first = True

    def _bounded(self, readline, empty):
        """Lines of at most MAX_LINE_CHARS: a longer one (a binary file, /dev/zero) stops the run with a
        clear error instead of being read into memory for ever."""
        while True:
            line = readline(MAX_LINE_CHARS + 1)
            if line == empty:
                return
            if len(line) > MAX_LINE_CHARS:
                raise DataError(f"{self.name}: line {self.lineno + 1}: longer than {MAX_LINE_CHARS // 2**20} MB; "
                                "is this a text file with one record per line?")
            yield line

    def _decode(self, raw: bytes, lineno: int) -> str:
        if self._first:
            self._first = False
            if raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
        if b"\0" in raw:
            raw = raw.replace(b"\0", b"")
            self.warnings.setdefault(lineno, []).append("NUL bytes removed")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.warnings.setdefault(lineno, []).append("not UTF-8: read as cp1252")
            return raw.decode("cp1252", errors="replace")

    def __iter__(self) -> _LineSource:
        return self

    def __next__(self) -> tuple[int, str]:
        if self._pushback:
            return self._pushback.popleft()
        raw = next(self._lines)
        self.lineno += 1
        self.bytes_read += len(raw)
        return self.lineno, self._decode(raw, self.lineno)

    def push_back(self, items: Iterable[tuple[int, str]]) -> None:
        self._pushback.extendleft(reversed(list(items)))


def _strip_eol(text: str) -> str:
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    return text


def read_lines(stream: IO[bytes], *, encoding: str | None = None,
               on_idle: Callable[[], None] | None = None) -> Iterator[InputRecord]:
    """One record per line of `stream` (stdin mode). Empty lines are records too.

    `on_idle` is called before a read that may block (no input waiting on the file descriptor):
    a scanner feeding codes one at a time gets each answer at once (the caller flushes there),
    while a file piped in is not flushed line by line.
    """
    source = _LineSource(stream, encoding)
    waiting = _input_waiting(stream) if on_idle is not None else None
    while True:
        if waiting is not None and not waiting():
            on_idle()
        try:
            lineno, text = next(source)
        except StopIteration:
            return
        yield InputRecord(line=lineno, text=_strip_eol(text), warnings=source.warnings.pop(lineno, []))


def _input_waiting(stream) -> Callable[[], bool]:
    """A function telling whether reading `stream` can proceed without blocking (False if unknown)."""
    try:
        import select

        fd = stream.fileno()
        select.select([fd], [], [], 0)
    except (AttributeError, OSError, ValueError, ImportError):
        return lambda: False  # cannot tell: always treat as idle (flush every line)
    return lambda: bool(select.select([fd], [], [], 0)[0])


# --------------------------------------------------------------------------- CSV


PARQUET_MAGIC = b"PAR1"  # first and last 4 bytes of a Parquet file

# Files people pass as CSV by mistake: read as text they would give a garbage header or garbage rows.
_NOT_CSV = (
    (b"\x1f\x8b", "a gzip file; decompress it first (`gzip -dc FILE | addrcode ... -i -`)"),
    (b"PK\x03\x04", "a zip archive or an Excel .xlsx workbook; extract or export the CSV first"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls (OLE) file; export it as CSV first"),
    (b"BZh9", "a bzip2 file; decompress it first"),
    (b"\xfd7zXZ\x00", "an xz file; decompress it first"),
    (b"\x28\xb5\x2f\xfd", "a zstd file; decompress it first"),
    (b"SQLite format 3\x00", "a SQLite database"),
    (b"%PDF-", "a PDF document"),
    (PARQUET_MAGIC, "a Parquet file (give it as `-i FILE.parquet`: Parquet is read from a file, not a stream)"),
)


def is_parquet(path) -> bool:
    """Whether the file at `path` is Parquet (by its magic bytes, not its name)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def read_parquet(path, *, progress: Callable[[int], None] | None = None,
                 batch_rows: int = 2000) -> tuple[list[str], Iterator[InputRecord]]:
    """Read a Parquet file in record batches (memory bounded by one batch, not the file).

    Returns the column names and an iterator of records whose `line` is the 1-based row number;
    cells become text like CSV cells (null -> ""). `progress(n)` gets an estimate of the bytes
    read so far. Needs pyarrow; raises DataError for a file pyarrow cannot read.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError("reading Parquet needs pyarrow: `pip install pyarrow` (or 'addrcode[dask]')") from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError subclasses for broken files
        raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__}); check that it was "
                        "written completely") from None
    header = [str(n) for n in pf.schema_arrow.names]
    total = max(pf.metadata.num_rows, 1)
    size = os.path.getsize(path)

    def records() -> Iterator[InputRecord]:
        row = 0
        try:
            for batch in pf.iter_batches(batch_size=batch_rows):
                for values in zip(*(col.to_pylist() for col in batch.columns)):
                    row += 1
                    yield InputRecord(line=row, fields={h: "" if v is None else str(v)
                                                        for h, v in zip(header, values)})
                if progress is not None:
                    progress(size * row // total)
        except Exception as exc:
            raise DataError(f"{path}: unreadable after row {row} ({type(exc).__name__}); the file may be "
                            "truncated") from None

    return header, records()


class _TooManyLines(Exception):
    pass


def read_csv(
    stream: IO[bytes],
    *,
    name: str = "<stdin>",
    delimiter: str = ",",
    encoding: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[str], Iterator[InputRecord]]:
    """Parse a CSV byte stream. Returns the header and an iterator of records.

    Raises DataError for an empty file or an unusable header. Bad rows do not raise: they come
    back as records with `error` set and the line number in the message.
    """
    head = stream.peek(16)[:16] if hasattr(stream, "peek") else b""
    for magic, what in _NOT_CSV:
        if head.startswith(magic):
            raise DataError(f"{name}: line 1: this is {what}, not a CSV file")
    source = _LineSource(stream, encoding, name)
    try:
        header_line, header_text = next(source)
    except StopIteration:
        raise DataError(f"{name}: the file is empty; expected a CSV header line") from None
    try:
        header = next(csv.reader([header_text], delimiter=delimiter, strict=True))
    except (csv.Error, StopIteration) as exc:
        raise DataError(f"{name}: line 1: cannot read the CSV header ({exc})") from None
    header = [h.strip() for h in header]
    if not any(header):
        raise DataError(f"{name}: line 1: the CSV header is empty")
    seen: dict[str, int] = {}
    unique = []
    for h in header:  # duplicate header names get a suffix so no column is lost
        n = seen.get(h, 0)
        seen[h] = n + 1
        unique.append(h if n == 0 else f"{h}_{n + 1}")
    return unique, _csv_records(source, unique, delimiter, progress)


def _csv_records(source: _LineSource, header: list[str], delimiter: str, progress) -> Iterator[InputRecord]:
    ncols = len(header)
    consumed: list[tuple[int, str]] = []  # the physical lines of the record being read

    def feed() -> Iterator[str]:
        for item in source:
            consumed.append(item)
            if len(consumed) > MAX_RECORD_LINES:
                raise _TooManyLines
            yield item[1]

    # One reader for the whole file (the csv module reads exactly the lines a record needs); a
    # new one only after a malformed record, when the lines after its first are read again.
    reader = csv.reader(feed(), delimiter=delimiter, strict=True)
    while True:
        consumed.clear()
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, _TooManyLines) as exc:
            if not consumed:
                return
            row, problem = None, str(exc) or "unclosed quote"
        else:
            problem = ""
        if progress:
            progress(source.bytes_read)
        first_line = consumed[0][0]
        warnings = [w for ln, _ in consumed for w in source.warnings.pop(ln, [])] if source.warnings else []
        if row is not None and len(consumed) > 1 and len(row) != ncols:
            row, problem = None, "unclosed quote"
        if row is None:
            # Re-read everything after the first line: only the line with the bad quote is lost.
            source.push_back(consumed[1:])
            for ln, _ in consumed[1:]:
                source.warnings.pop(ln, None)
            quote = "quote" in problem or "end of data" in problem
            msg = f"line {first_line}: unclosed quote or malformed CSV" if quote \
                else f"line {first_line}: malformed CSV ({problem})"
            yield InputRecord(line=first_line, fields=_cells(header, _loose_split(consumed[0][1], delimiter)),
                              error=msg, warnings=warnings)
            reader = csv.reader(feed(), delimiter=delimiter, strict=True)
            continue
        if row == [] or (len(row) == 1 and row[0] == "" and ncols > 1):
            continue  # a blank line is not a record
        if len(row) != ncols:
            yield InputRecord(line=first_line, fields=_cells(header, row),
                              error=f"line {first_line}: {len(row)} cells, expected {ncols}", warnings=warnings)
            continue
        yield InputRecord(line=first_line, fields=dict(zip(header, row)), warnings=warnings)


def _loose_split(text: str, delimiter: str) -> list[str]:
    return _strip_eol(text).split(delimiter)


def _cells(header: list[str], row: list[str]) -> dict[str, str]:
    """Map a ragged row onto the header: missing cells empty, extra cells joined into the last."""
    cells = dict(zip(header, row + [""] * (len(header) - len(row))))
    if len(row) > len(header) and header:
        cells[header[-1]] = " ".join(row[len(header) - 1:])
    return cells


# --------------------------------------------------------------------------- output


# Formula-injection guard (OWASP "CSV injection"). A spreadsheet evaluates a cell that starts with
# `=`, `@`, `+` or `-` -- after folding full-width and compatibility forms (`＝`, `﹦`) and skipping
# leading spaces, tabs, CR, NBSP, BOM and other format characters. A cell it would evaluate gets a
# leading `'`. `+`/`-` followed only by a number or a phone number (`-73.18`, `+1 802-555-0142`,
# `-1.5e-07`) is left as it is: at worst a spreadsheet does arithmetic on constants, and the value
# stays exact for every other reader. Numbers addrcode writes itself (floats, ints) are never touched.
_PLAIN_SIGNED = re.compile(r"[+-](?:[\d .,()/+-]*|\d*\.?\d+[eE][+-]?\d+)")  # no name can be spelt here
_SAFE_FIRST = frozenset("=+-@") ^ frozenset(chr(c) for c in range(0x21, 0x7F))  # printable ASCII but = + - @


def _needs_quote(value: str) -> bool:
    """Whether a spreadsheet would evaluate `value`, as written or after compatibility folding (a
    combining mark can fold `=` into `≠`, so both forms are checked)."""
    import unicodedata

    return any(_starts_formula(_skip_blanks(form)) for form in (value, unicodedata.normalize("NFKC", value)))


def _skip_blanks(value: str) -> str:
    import unicodedata

    start = 0
    while start < len(value) and unicodedata.category(value[start]) in _BLANK_CATEGORIES:
        start += 1
    return value[start:]


_BLANK_CATEGORIES = ("Cc", "Cf", "Zs", "Zl", "Zp")  # controls (TAB, CR), format (BOM, ZWSP), spaces (NBSP)


def _starts_formula(value: str) -> bool:
    if not value:
        return False
    if value[0] in "=@":
        return True
    return value[0] in "+-" and _PLAIN_SIGNED.fullmatch(value) is None


def neutralise(value: str) -> str:
    """`value` with a `'` in front if a spreadsheet would evaluate it as a formula (rule above)."""
    if not value or value[0] in _SAFE_FIRST or not _needs_quote(value):
        return value
    return "'" + value


def unneutralise(value: str) -> str:
    """The cell a person wrote, from one `neutralise` wrote (the exact inverse)."""
    if value.startswith("'") and neutralise(value[1:]) == value:
        return value[1:]
    return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(round(value, 7))
    if isinstance(value, (list, tuple)):
        return neutralise("; ".join(str(v) for v in value))
    return str(value)


def _csv_cell(value) -> str:
    """The CSV text of one output value: strings neutralised, numbers as they are. Runs per cell."""
    if value.__class__ is not str:
        return _cell(value)
    if value and value[0] not in _SAFE_FIRST and _needs_quote(value):
        return "'" + value
    return value


def _csv_cells(values) -> list[str]:
    """`_csv_cell` of each value; a plain string that cannot start a formula is taken as it is without
    the call (most cells: this runs per row)."""
    safe = _SAFE_FIRST
    return [v if v.__class__ is str and (not v or v[0] in safe) else _csv_cell(v) for v in values]


_SURROGATES = re.compile("[\ud800-\udfff]")


def _no_surrogates(value):
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", value)
    if isinstance(value, (list, tuple)):
        return [_no_surrogates(v) for v in value]
    return value


class RecordWriter:
    """Writes records (ordered dicts) in one of the output formats.

    `columns` is the full ordered column list for CSV; `text` renders one record as one line
    for the text format. Call `write` per record and `close` at the end.
    """

    FORMATS = ("text", "csv", "jsonl", "json")

    def __init__(self, out: IO[str], fmt: str, columns: list[str], text: Callable[[dict], str],
                 *, flush_each: bool = False, delimiter: str = ",", resume_count: int | None = None):
        if fmt not in self.FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(self.FORMATS)}")
        self.out, self.fmt, self.columns, self.text = out, fmt, columns, text
        self.flush_each = flush_each
        self.count = resume_count or 0
        if fmt == "csv":
            self._csv = csv.writer(out, delimiter=delimiter, lineterminator="\n")
            # QUOTE_MINIMAL quotes only the line terminator's characters ("\n"), but readers also
            # end a record at a bare CR: rows with a CR in a cell are written fully quoted.
            self._csv_cr = csv.writer(out, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
        if resume_count is not None:  # continuing a file that already has its header
            return
        if fmt == "csv":
            self._csv.writerow([neutralise(c) for c in columns])
        elif fmt == "json":
            out.write("[")

    def write(self, record: dict) -> None:
        try:
            self._write(record)
        except UnicodeEncodeError:
            # Lone surrogates (bytes that were not UTF-8 in a command-line argument, decoded by
            # Python with surrogateescape) cannot be encoded: write U+FFFD instead of crashing.
            self._write({k: _no_surrogates(v) for k, v in record.items()})
        self.count += 1
        if self.flush_each:
            self.out.flush()

    def write_row(self, values: list) -> None:
        """`write` for CSV, of a record's values already in `columns` order."""
        self._write_csv_row(_csv_cells(values))

    def write_rows(self, rows: list[list]) -> None:
        """`write_row` of each of `rows` (a chunk's), the plain ones in one `writerows` call."""
        cells = [_csv_cells(values) for values in rows]
        text = "" if self.flush_each else "".join(["".join(row) for row in cells])
        if self.flush_each or "\r" in text or _SURROGATES.search(text):  # the rows that need care: one by one
            for row in cells:
                self._write_csv_row(row)
            return
        self._csv.writerows(cells)
        self.count += len(cells)

    def _write_csv_row(self, row: list[str]) -> None:
        try:
            self._write_cells(row)
        except UnicodeEncodeError:  # lone surrogates: see `write`
            self._write_cells([_no_surrogates(v) for v in row])
        self.count += 1
        if self.flush_each:
            self.out.flush()

    def _write(self, record: dict) -> None:
        if self.fmt == "csv":
            self._write_cells(_csv_cells(map(record.get, self.columns)))
        elif self.fmt == "jsonl":
            self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif self.fmt == "json":
            self.out.write(("\n" if self.count == 0 else ",\n") + json.dumps(record, ensure_ascii=False))
        else:
            self.out.write(self.text(record).replace("\n", " ") + "\n")

    def _write_cells(self, row: list[str]) -> None:
        (self._csv_cr if "\r" in "".join(row) else self._csv).writerow(row)

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write("\n]\n" if self.count else "]\n")
        self.out.flush()


class OutputFile:
    """A text output (`-` or None = stdout) written through `addrcode.files.output_stream`: a regular
    file atomically (a crash never leaves half of it under the final name) and created with `mode`;
    a device, FIFO or `/dev/fd/N` streamed to."""

    def __init__(self, path: str | os.PathLike | None, *, newline: str = "", mode: int = 0o600):
        self.path = None if path in (None, "-") else Path(path)
        self._newline, self._mode = newline, mode
        self._writing = None  # the `output_stream` context while a file is being written
        self.stream: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if self.path is None:
            self.stream = sys.stdout
            return self.stream
        from addrcode.files import output_stream

        self._writing = output_stream(self.path, "w", mode=self._mode, newline=self._newline)
        self.stream = self._writing.__enter__()
        return self.stream

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.path is None:
            return
        if exc_type is None:
            try:  # what is still buffered is written now: a full disk shows here
                self.stream.flush()
            except OSError as err:
                with contextlib.suppress(DataError, OSError):  # the temporary file is removed
                    self._writing.__exit__(type(err), err, err.__traceback__)
                if isinstance(err, BrokenPipeError):
                    raise
                raise DataError(f"{self.path}: cannot write the output file ({err.strerror}); "
                                "nothing was written") from None
        self._writing.__exit__(exc_type, exc, tb)


def parse_delimiter(value: str) -> str:
    """A `--delimiter` value as the one character it names (`\\t` or `tab` for a tab)."""
    value = {"\\t": "\t", "tab": "\t"}.get(value, value)
    if len(value) != 1:
        raise UsageError(f"--delimiter must be one character, got {value!r}")
    return value


def read_rows(path: str, delimiter: str = ",") -> tuple[list[str] | None, list[dict]]:
    """(header, rows) of a CSV file, or (None, rows) of a JSON Lines file (`.jsonl`, `.ndjson`, `.json`)."""
    stream = open_input(path)
    if str(path).endswith((".jsonl", ".ndjson", ".json")):
        rows = []
        for n, line in enumerate(stream, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise UsageError(f"{path}: line {n}: not JSON Lines (one JSON object per line)") from None
        return None, rows
    header, records = read_csv(stream, name=path, delimiter=parse_delimiter(delimiter))
    return header, [r.fields for r in records]


def open_input(path: str | os.PathLike | None) -> IO[bytes]:
    """A binary stream for `-i PATH` (`-` = stdin). Raises UsageError when the file is missing."""
    if path in (None, "-"):
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such input file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, expected a CSV file") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied reading the input file") from None
