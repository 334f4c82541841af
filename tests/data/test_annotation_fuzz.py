"""Property: every annotation parser either parses malformed input or raises AnnotationError
naming the file and the line (or entry), never another exception."""
import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from zoo.data.annotations import AnnotationError, read_label_map
from zoo.data.datasets.activitynet import parse_activitynet
from zoo.data.datasets.charades import parse_charades_csv, read_charades_classes
from zoo.data.datasets.generic import parse_path_label_csv
from zoo.data.datasets.hmdb51 import parse_hmdb_split
from zoo.data.datasets.kinetics import parse_kinetics_csv
from zoo.data.datasets.sthv2 import parse_sthv2_annotations, read_sthv2_labels
from zoo.data.datasets.ucf101 import parse_ucf_list, read_class_ind
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
