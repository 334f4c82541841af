"""Properties of the annotation parsers: on arbitrary input each one either parses or raises
AnnotationError naming the file and the line (or entry), never another exception; and on files
mixing valid entries with known-bad ones, the lenient parse returns exactly the valid entries'
records, in order, and reports exactly the bad entries, while the strict parse raises at the first.
"""
import csv
import io
import json
import re
import string
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from zoo.data.annotations import AnnotationError, collect_errors, read_label_map
from zoo.data.datasets.activitynet import ActivityNetSegment, parse_activitynet
from zoo.data.datasets.charades import (CharadesAction, CharadesEntry, parse_charades_csv,
                                        read_charades_classes)
from zoo.data.datasets.generic import PathLabel, parse_path_label_csv
from zoo.data.datasets.hmdb51 import HMDBEntry, parse_hmdb_split
from zoo.data.datasets.kinetics import KineticsEntry, parse_kinetics_csv
from zoo.data.datasets.sthv2 import SthV2Entry, parse_sthv2_annotations, read_sthv2_labels
from zoo.data.datasets.ucf101 import ListEntry, parse_ucf_list, read_class_ind
from zoo.data.tfrecord import read_records

pytestmark = pytest.mark.filterwarnings("ignore:skipped .* unreadable annotation entries")

TOKENS = st.sampled_from(["", " ", ",", '"', ";", "\t", "c092", "c999", "1", "-3", "0", "2",
                          "1.5", "nan", "inf", "abc", "A/v_A.avi", "label", "youtube_id",
                          "time_start", "time_end", "split", "path", "id", "actions", "length",
                          "é", "\x00", "[", "]", "{", "}"])
LINE = st.lists(TOKENS, max_size=8).map("".join)
TEXT = st.lists(LINE, max_size=6).map("\n".join) | st.text(max_size=80)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "template", "segment", "label", "annotations", "duration",
                         "subset", "database", "version", "v_x", "Putting something"]),
        inner, max_size=4),
    max_leaves=10)

HEADERS = {
    parse_kinetics_csv: "label,youtube_id,time_start,time_end,split,is_cc\n",
    parse_charades_csv: "id,subject,scene,quality,relevance,verified,script,objects,"
                        "descriptions,actions,length\n",
    parse_path_label_csv: "path,label\n",
}
LINE_PARSERS = [
    lambda p, strict: parse_kinetics_csv(p, strict),
    lambda p, strict: parse_charades_csv(p, strict),
    lambda p, strict: parse_path_label_csv(p, strict),
    lambda p, strict: parse_ucf_list(p, ["A", "B"], strict),
    lambda p, strict: parse_hmdb_split(p, strict),
    lambda p, strict: read_class_ind(p),
    lambda p, strict: read_charades_classes(p, strict),
    lambda p, strict: read_label_map(p, strict),
]
JSON_PARSERS = [
    lambda p, strict: read_sthv2_labels(p),
    lambda p, strict: parse_sthv2_annotations(p, {"Putting something": 0}, strict),
    lambda p, strict: parse_activitynet(p, strict),
]
LOCATION = re.compile(r"^.+:(\d+|@\d+|\[.*\]|\*): .+", re.S)
FILE = Path(tempfile.mkdtemp()) / "annotations.txt"


def check(parser, data: bytes, strict: bool):
    FILE.write_bytes(data)
    try:
        parser(FILE, strict)
    except AnnotationError as exc:
        assert str(exc).startswith(str(FILE)) and LOCATION.match(str(exc)), str(exc)


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(parser=st.sampled_from(range(len(LINE_PARSERS))), text=TEXT, strict=st.booleans(),
       with_header=st.booleans())
def test_line_parsers(parser, text, strict, with_header):
    header = list(HEADERS.values())[parser] if parser < len(HEADERS) and with_header else ""
    check(LINE_PARSERS[parser], (header + text).encode("utf-8", "surrogatepass"), strict)


@SETTINGS
@given(parser=st.sampled_from(range(len(JSON_PARSERS))), value=JSON_VALUE, strict=st.booleans(),
       raw=st.none() | st.text(max_size=30))
def test_json_parsers(parser, value, strict, raw):
    text = raw if raw is not None else json.dumps(value)
    check(JSON_PARSERS[parser], text.encode("utf-8", "surrogatepass"), strict)


@SETTINGS
@given(data=st.binary(max_size=64))
def test_tfrecord_reader(data):
    check(lambda p, strict: list(read_records(p)), data, True)


def test_non_utf8_and_missing_files_are_annotation_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\xfa")
    for parser in LINE_PARSERS + JSON_PARSERS:
        for path in (bad, tmp_path / "absent.txt"):
            try:
                parser(path, False)
            except AnnotationError as exc:
                assert LOCATION.match(str(exc))
            else:
                raise AssertionError("an unreadable file parsed")


# Files that mix valid entries (a line and the record it must give) with known-bad lines.
NAME = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=11)
QUARTERS = st.integers(0, 400).map(lambda q: q / 4)  # exact in binary and in "%.2f"


def csv_line(*fields) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()


def mixed(valid, bad_lines):
    """Lists of ``(line, record)``, record None for a line from `bad_lines`."""
    return st.lists(valid | st.sampled_from(bad_lines).map(lambda line: (line, None)), max_size=8)


@st.composite
def kinetics_rows(draw):
    label = draw(st.sampled_from(["arm wrestling", "abseiling", 'say "cheese"', "a, b"]))
    youtube_id, split = draw(NAME), draw(st.sampled_from(["train", "val"]))
    start = draw(st.integers(0, 300))
    end = start + draw(st.integers(1, 20))
    return (csv_line(label, youtube_id, start, end, split, 0),
            KineticsEntry(youtube_id, float(start), float(end), label, split))


@st.composite
def charades_rows(draw):
    video_id, length = draw(NAME), draw(QUARTERS)
    actions = tuple(CharadesAction(c, start, start + span) for c, start, span in draw(
        st.lists(st.tuples(st.integers(0, 156), QUARTERS, QUARTERS), max_size=3)))
    text = ";".join(f"c{a.label:03d} {a.start:.2f} {a.end:.2f}" for a in actions)
    return (csv_line(video_id, "HR43", "Kitchen", 6, 7, "Yes", "A person cooks, then eats.",
                     "food;plate", "", text, f"{length:.2f}"),
            CharadesEntry(video_id, actions, length))


@st.composite
def path_label_rows(draw):
    path, label = f"{draw(NAME)}.mp4", draw(NAME)
    return csv_line(path, label), PathLabel(path, label)


@st.composite
def ucf_lines(draw):
    name, form = draw(NAME), draw(st.sampled_from(["A/v_{}.avi 1", "B/v_{}.avi", "v_{}.avi 2"]))
    line = form.format(name)
    return line, ListEntry(line.split()[0], 0 if form.startswith("A") else 1)


@st.composite
def hmdb_lines(draw):
    video, tag = f"{draw(NAME)}.avi", draw(st.integers(0, 2))
    return f"{video} {tag} ", HMDBEntry(video, tag)


CSV_CASES = {
    "kinetics": (parse_kinetics_csv, HEADERS[parse_kinetics_csv], mixed(kinetics_rows(), [
        "abseiling,abc,10,5,train,0", "abseiling,abc,-1,5,train,0", "abseiling,a b,1,5,train,0",
        ",abc,1,5,train,0", "abseiling,abc,1,5", '"abseiling,abc,1,5,train,0',
        "abseiling,abc,nan,5,train,0", "abseiling,abc,1,inf,train,0"])),
    "charades": (parse_charades_csv, HEADERS[parse_charades_csv], mixed(charades_rows(), [
        'X1,,,,,,,,,"c157 0.00 1.00",2.00', 'X1,,,,,,,,,"c001 -1.00 1.00",2.00',
        'X1,,,,,,,,,"c001 2.00 1.00",2.00', 'X1,,,,,,,,,"c01 0 1",2', "X1,,,,,,,,,c001 0 1,abc",
        ",,,,,,,,,,1", "X1,,,,,,,,,"])),
    "path_label": (parse_path_label_csv, HEADERS[parse_path_label_csv], mixed(path_label_rows(), [
        ",x", "a.mp4,", "a.mp4,x,y", '"a.mp4,x'])),
    "ucf_list": (lambda p, strict: parse_ucf_list(p, ["A", "B"], strict), "", mixed(ucf_lines(), [
        "C/v_x.avi", "A/v_x.avi 2", "A/v_x.avi 3", "A/v_x.avi 0", "v_x.avi", "A/v_x.avi 1 2",
        "A/v_x.avi one"])),
    "hmdb_split": (parse_hmdb_split, "", mixed(hmdb_lines(), [
        "x.avi 3 ", "x.avi", "x.avi 1 2", "x.avi one"])),
}


def parse_both_ways(parser, expected, bad):
    """The lenient parse gives `expected` and reports the locations `bad`; the strict parse
    raises at the first of them (or gives `expected` too)."""
    with collect_errors() as errors, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert parser(FILE, False) == expected
    assert [e.line for e in errors] == bad
    if bad:
        with pytest.raises(AnnotationError) as raised:
            parser(FILE, True)
        assert raised.value.line == bad[0]
    else:
        assert parser(FILE, True) == expected


@SETTINGS
@given(data=st.data(), case=st.sampled_from(sorted(CSV_CASES)))
def test_line_parsers_keep_the_valid_lines_and_count_the_bad(data, case):
    parser, header, rows = CSV_CASES[case]
    rows = data.draw(rows)
    FILE.write_text(header + "".join(f"{line}\n" for line, _ in rows), encoding="utf-8")
    first = 2 if header else 1
    parse_both_ways(parser, [record for _, record in rows if record is not None],
                    [first + i for i, (_, record) in enumerate(rows) if record is None])


def test_label_map_is_every_non_blank_line(tmp_path):
    path = tmp_path / "label_map.txt"
    path.write_text("arm wrestling\n\n  abseiling  \nair drumming\n", encoding="utf-8")
    assert read_label_map(path) == ["arm wrestling", "abseiling", "air drumming"]


GOOD_SEGMENT = st.tuples(QUARTERS, QUARTERS, st.sampled_from(["Archery", "Wakeboarding"]))
BAD_SEGMENTS = [{"segment": [2, 1], "label": "Archery"}, {"segment": [-1, 1], "label": "Archery"},
                {"segment": [1], "label": "Archery"}, {"segment": [0, 1], "label": 5},
                {"label": "Archery"}, {"segment": [0, "1"], "label": "Archery"}, "segment"]


@SETTINGS
@given(videos=st.dictionaries(NAME, st.lists(GOOD_SEGMENT | st.sampled_from(BAD_SEGMENTS),
                                             max_size=4) | st.sampled_from([[], "bad", None]),
                              max_size=5))
def test_activitynet_keeps_the_valid_segments_and_counts_the_bad(videos):
    database, expected, bad_videos, bad_segments = {}, [], [], []
    for name, segments in videos.items():
        key = f"v_{name}"
        if not isinstance(segments, list):  # a video entry that is not an object
            database[key] = segments
            bad_videos.append(f"[{key!r}]")
            continue
        database[key] = {"duration": 9.0, "subset": "training", "annotations": []}
        for i, segment in enumerate(segments):
            if isinstance(segment, tuple):
                start, span, label = segment
                database[key]["annotations"].append({"segment": [start, start + span],
                                                     "label": label})
                expected.append(ActivityNetSegment(name, "training", 9.0, start, start + span,
                                                   label))
            else:
                database[key]["annotations"].append(segment)
                bad_segments.append(f'[{key!r}]["annotations"][{i}]')
    FILE.write_text(json.dumps(database), encoding="utf-8")
    parse_both_ways(parse_activitynet, expected, bad_videos + bad_segments)  # videos come first


@SETTINGS
@given(entries=st.lists(NAME.map(lambda n: ({"id": n, "template": "Putting [something]"},
                                            SthV2Entry(n, 0)))
                        | st.integers(1, 99).map(lambda i: ({"id": str(i)}, SthV2Entry(str(i), -1)))
                        | st.sampled_from([{"id": ""}, {"template": "Putting [something]"}, [],
                                           {"id": "x", "template": "Unknown"}, {"id": True}])
                        .map(lambda entry: (entry, None)), max_size=8))
def test_sthv2_keeps_the_valid_entries_and_counts_the_bad(entries):
    # An entry without a template is unlabelled (-1) in a file of ids only (the test file), and
    # a bad entry in a file whose other entries give templates.
    labelled = any(isinstance(entry, dict) and "template" in entry for entry, _ in entries)
    entries = [(entry, None if labelled and record is not None and record.label < 0 else record)
               for entry, record in entries]
    FILE.write_text(json.dumps([entry for entry, _ in entries]), encoding="utf-8")
    parse_both_ways(lambda p, strict: parse_sthv2_annotations(p, {"Putting something": 0}, strict),
                    [record for _, record in entries if record is not None],
                    [f"[{i}]" for i, (_, record) in enumerate(entries) if record is None])
