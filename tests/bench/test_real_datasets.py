"""The harness on a real dataset format: moving_shapes written as videos in the Kinetics layout,
read through kinetics400 from a configured root; a corrupt video is skipped, not fatal."""
from __future__ import annotations

import pytest

from toys import install
from zoo.bench import cli
from zoo.bench.jobs import dataset_roots
from zoo.bench.run import STORE_NAME
from zoo.bench.store import ResultStore
from zoo.data.synthetic import write_videos

TINY = ["--jobs", "1", "--steps", "2", "--train-clips-per-class", "1", "--test-clips-per-class", "1",
        "--latency-runs", "2", "--precise-bn-batches", "1", "--quiet", "--no-cards", "--no-cost"]


@pytest.fixture(scope="module")
def kinetics_root(tmp_path_factory):
    pytest.importorskip("av")
    root = tmp_path_factory.mktemp("kinetics")
    for split in ("train", "val"):  # no test split: the harness holds out "val"
        write_videos(root, split, clips_per_class=1)
    broken = next((root / "train" / "red_circle").glob("*.mp4"))
    broken.write_bytes(b"not a video")
    return root


def test_configured_dataset_gets_rows_and_its_own_leaderboard(fake_dist, kinetics_root, tmp_path,
                                                              monkeypatch, capsys):
    install(fake_dist)
    monkeypatch.setenv("ZOO_DATA_KINETICS400", str(kinetics_root))
    results = tmp_path / "results"
    assert cli.main(["--presets", "acme_single", "--results", str(results), *TINY]) == 0
    rows = {r.dataset: r for r in ResultStore(results / STORE_NAME).rows()}
    assert set(rows) == {"moving_shapes", "kinetics400"}
    real = rows["kinetics400"]
    assert real.ok, real.reason
    assert real.eval_split == "val" and real.num_classes == 12 and real.metric == "top1"
    assert 0 <= real.top1 <= real.top5 <= 1
    assert real.skipped_loads >= 1  # the corrupt video, left out
    assert real.groups == {} and real.arrow is None  # no class groups, no replay backwards
    assert real.shuffled is not None  # frames shuffled in the tensors instead
    assert set(rows["moving_shapes"].groups) == {"appearance", "motion"}
    text = (results / "leaderboard_kinetics400.md").read_text()
    assert "`kinetics400`, 12 classes; top-1 on its val split" in text
    assert (results / "leaderboard_kinetics400.html").is_file()
    assert (results / "leaderboard.md").read_text().count("`acme_single`") == 1
    assert "acme_single on kinetics400: score" in capsys.readouterr().out


def test_dataset_roots_from_flags_and_environment(tmp_path):
    env = {"ZOO_DATA_UCF101": str(tmp_path), "ZOO_DATA_NOPE": str(tmp_path), "PATH": "/bin"}
    with pytest.warns(UserWarning, match="ZOO_DATA_NOPE names no registered dataset"):
        assert dataset_roots([], env) == {"ucf101": tmp_path}
    assert dataset_roots([f"hmdb51={tmp_path}"], {}) == {"hmdb51": tmp_path}
    with pytest.raises(ValueError, match="is not a folder"):
        dataset_roots([f"hmdb51={tmp_path / 'missing'}"], {})
    with pytest.raises(ValueError, match="NAME=FOLDER"):
        dataset_roots(["hmdb51"], {})
    with pytest.raises(Exception, match="ucf10"):
        dataset_roots([f"ucf10={tmp_path}"], {})
    with pytest.raises(ValueError, match="built in"):
        dataset_roots([f"moving_shapes={tmp_path}"], {})
    assert cli.main(["--data", "hmdb51", "--list"]) == 2
