"""Which split a real dataset is scored on: "test", else "val" where "test" is missing, empty or
unlabelled; no usable split fails the dataset's rows in one sentence (and `zoo bench` exits 1);
held-out clips that are training clips too (a flat video folder) are flagged."""
from __future__ import annotations

import shutil

import pytest

from toys import install
from zoo.bench import cli
from zoo.bench.run import REASON_CHARS, STORE_NAME, held_out_split, reason
from zoo.bench.store import ResultStore
from zoo.data.protocol import shared_clips, unlabelled
from zoo.errors import ZooError

TINY = ["--jobs", "1", "--steps", "2", "--train-clips-per-class", "1", "--test-clips-per-class", "1",
        "--latency-runs", "2", "--precise-bn-batches", "1", "--quiet", "--no-cards", "--no-cost"]


class Clips:
    """A dataset of `labels`; `labelled` as an annotation file without labels sets it."""

    def __init__(self, labels, labelled=True, paths=None):
        self.labels, self.labelled, self.classes = list(labels), labelled, ["a", "b"]
        self.records = [type("R", (), {"path": p})() for p in paths or []]

    def __len__(self):
        return len(self.labels)

    def label(self, i):
        return self.labels[i]


def factory_of(**splits):
    def factory(root, split, inputs):
        made = splits.get(split)
        if made is None:
            raise ValueError(f"no {split} annotation file")
        return made
    return factory


@pytest.mark.parametrize("test", [Clips([]), Clips([-1, -1]), Clips([0, 1], labelled=False), None])
def test_an_empty_unlabelled_or_missing_test_split_falls_back_to_val(test):
    val = Clips([0, 1])
    assert held_out_split(factory_of(test=test, val=val), "root", {}) == (val, "val")


def test_a_labelled_test_split_is_scored():
    test = Clips([1, 0])
    assert held_out_split(factory_of(test=test, val=Clips([0])), "root", {}) == (test, "test")


def test_no_usable_split_is_one_sentence_naming_the_root_and_each_split():
    with pytest.raises(ZooError) as caught:
        held_out_split(factory_of(test=Clips([-1]), val=Clips([])), "/data/kin", {})
    message = str(caught.value)
    assert message.startswith("/data/kin: no labelled held-out split")
    assert "test: 1 clips without labels" in message and "val: 0 clips" in message
    assert "\n" not in message


def test_unlabelled_and_shared_clips():
    assert unlabelled(Clips([-1])) and unlabelled(Clips([0], labelled=False))
    assert not unlabelled(Clips([])) and not unlabelled(Clips([-1, 0]))
    train = Clips([0, 1], paths=["x/a.mp4", "x/b.mp4"])
    assert shared_clips(train, Clips([0, 1], paths=["x/b.mp4", "y/c.mp4"])) == 1
    assert shared_clips(train, Clips([0])) == 0  # nothing to tell them by


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    pytest.importorskip("av")
    from zoo.data.synthetic import write_videos

    root = tmp_path_factory.mktemp("videos")
    for split in ("train", "val"):
        write_videos(root, split, clips_per_class=1)
    return root


def bench(tmp_path, root, capsys):
    results = tmp_path / "results"
    rc = cli.main(["--presets", "acme_single", "--results", str(results),
                   "--data", f"video_folder={root}", *TINY])
    rows = {r.dataset: r for r in ResultStore(results / STORE_NAME).rows()}
    return rc, rows["video_folder"], results, capsys.readouterr()


def test_a_video_folder_without_test_is_scored_on_val(fake_dist, videos, tmp_path, capsys):
    install(fake_dist)
    rc, row, _, _ = bench(tmp_path, videos, capsys)
    assert rc == 0 and row.ok, row.reason
    assert row.eval_split == "val" and row.train_overlap == 0 and "not held out" not in row.note


def test_a_flat_video_folder_is_flagged_as_not_held_out(fake_dist, videos, tmp_path, capsys):
    install(fake_dist)
    flat = tmp_path / "flat"
    shutil.copytree(videos / "train", flat)  # flat/<class>/<video>: every split the same clips
    rc, row, results, out = bench(tmp_path, flat, capsys)
    assert rc == 0 and row.ok, row.reason
    assert row.train_overlap == row.test_clips > 0
    assert row.note.startswith("not held out: ")
    assert "zoo: warning: video_folder" in out.err and "add train/ and test/" in out.err
    assert "**Warning**: not held out" in (results / "leaderboard_video_folder.md").read_text()


def test_no_held_out_split_fails_the_rows_and_the_exit_status(fake_dist, videos, tmp_path,
                                                              capsys):
    install(fake_dist)
    only_train = tmp_path / "only_train"
    shutil.copytree(videos / "train", only_train / "train")
    rc, row, _, out = bench(tmp_path, only_train, capsys)
    assert rc == 1 and not row.ok
    assert f"{only_train}: no labelled held-out split" in row.reason
    assert "test: 0 clips" in row.reason and "val: 0 clips" in row.reason
    assert "zoo: error: 1 of 2 jobs failed" in out.err


def test_a_long_failure_reason_keeps_its_fix():
    error = ValueError("/a/very/long/path" * 40 + ": no labelled held-out split; add a labelled "
                       "test or val split")
    text = reason("data", error)
    assert len(text) <= REASON_CHARS and text.startswith("data: ValueError: /a/very")
    assert " … " in text and text.endswith("add a labelled test or val split")
    assert reason("data", ValueError("short")) == "data: ValueError: short"
