"""Metrics against scikit-learn on random inputs, with ties and classes that have no positive."""
import math
import warnings

import numpy as np
import pytest
import torch

from zoo.engine import metrics

sk = pytest.importorskip("sklearn.metrics")

SEEDS = range(6)


def random_scores(rng, n, c, tied):
    """Scores drawn from 4 levels when `tied` (many ties), else continuous."""
    return rng.integers(0, 4, size=(n, c)).astype(float) if tied else rng.normal(size=(n, c))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_topk_matches_sklearn_with_ties_to_lower_index(seed, tied, k):
    rng = np.random.default_rng(seed)
    n, c = 40, 7
    scores, labels = random_scores(rng, n, c, tied), rng.integers(0, c, n)
    # scikit-learn breaks ties towards the higher index: reverse the classes to get ours
    expected = sk.top_k_accuracy_score(c - 1 - labels, scores[:, ::-1], k=k, labels=range(c))
    assert metrics.topk_accuracy(scores, labels, k) == pytest.approx(expected)
    as_tensors = metrics.topk_accuracy(torch.tensor(scores), torch.tensor(labels), k)
    assert as_tensors == pytest.approx(expected)


def test_top1_equals_argmax_accuracy_and_confusion_diagonal():
    rng = np.random.default_rng(0)
    scores, labels = random_scores(rng, 60, 5, tied=True), rng.integers(0, 5, 60)
    cm = metrics.confusion_matrix(scores, labels, 5)
    assert metrics.topk_accuracy(scores, labels, 1) == pytest.approx(
        sk.accuracy_score(labels, scores.argmax(1)))
    assert metrics.topk_accuracy(scores, labels, 1) == pytest.approx(np.trace(cm) / 60)


@pytest.mark.parametrize("seed", SEEDS)
def test_confusion_matrix_and_mean_class_accuracy(seed):
    rng = np.random.default_rng(seed)
    c = 6
    labels = rng.integers(0, c - 2, 50)  # the last two classes have no sample
    scores = random_scores(rng, 50, c, tied=bool(seed % 2))
    pred = scores.argmax(1)
    np.testing.assert_array_equal(metrics.confusion_matrix(scores, labels, c),
                                  sk.confusion_matrix(labels, pred, labels=range(c)))
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true"
        warnings.simplefilter("ignore")
        expected = sk.balanced_accuracy_score(labels, pred)  # mean recall over present classes
    assert metrics.mean_class_accuracy(scores, labels, c) == pytest.approx(expected)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tied", [False, True])
def test_mean_average_precision_skips_classes_without_positives(seed, tied):
    rng = np.random.default_rng(seed)
    n, c = 30, 8
    targets = (rng.random((n, c)) < 0.3).astype(float)
    targets[:, [2, 5]] = 0  # no positive
    scores = random_scores(rng, n, c, tied)
    expected = np.mean([sk.average_precision_score(targets[:, j], scores[:, j])
                        for j in range(c) if targets[:, j].any()])
    assert metrics.mean_average_precision(scores, targets) == pytest.approx(expected)


def test_average_precision_edge_cases():
    assert math.isnan(metrics.average_precision([0.3, 0.2], [0, 0]))
    assert metrics.average_precision([0.9, 0.1, 0.5], [1, 0, 1]) == pytest.approx(1.0)
    assert metrics.average_precision([0.5, 0.5], [0, 1]) == pytest.approx(0.5)  # tie: grouped
    assert math.isnan(metrics.mean_average_precision(np.zeros((3, 2)), np.zeros((3, 2))))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("k", [3, 20])
def test_gap_matches_pooled_sklearn_average_precision(seed, tied, k):
    rng = np.random.default_rng(seed)
    n, c = 25, 30
    targets = rng.random((n, c)) < 0.1
    targets[0] = False  # a video with no label
    scores = random_scores(rng, n, c, tied)
    # independent: pool each video's k best (ties to the lower index), AP over the pool,
    # rescaled from the pool's positives to all positives
    pool_scores, pool_hits = [], []
    for row_scores, row_targets in zip(scores, targets):
        order = sorted(range(c), key=lambda j: (-row_scores[j], j))[:k]
        pool_scores += [row_scores[j] for j in order]
        pool_hits += [row_targets[j] for j in order]
    pool_hits = np.array(pool_hits)
    expected = (sk.average_precision_score(pool_hits, pool_scores)
                * pool_hits.sum() / targets.sum())
    assert metrics.global_average_precision(scores, targets, k=k) == pytest.approx(expected)


def test_gap_without_hits_or_positives():
    assert metrics.global_average_precision([[0.9, 0.1]], [[0, 1]], k=1) == 0.0
    assert math.isnan(metrics.global_average_precision([[0.9, 0.1]], [[0, 0]], k=1))


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_per_class_report_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    classes = ["a", "b", "c", "d", "e"]
    labels = rng.integers(0, 4, 40)  # "e" has no sample
    scores = random_scores(rng, 40, 5, tied=True)
    pred = scores.argmax(1)
    precision, recall, f1, support = sk.precision_recall_fscore_support(
        labels, pred, labels=range(5), zero_division=0)
    rows = metrics.per_class_report(scores, labels, classes)
    assert [r["class"] for r in rows] == classes
    np.testing.assert_allclose([r["precision"] for r in rows], precision)
    np.testing.assert_allclose([r["f1"] for r in rows], f1)
    np.testing.assert_array_equal([r["support"] for r in rows], support)
    np.testing.assert_allclose([r["recall"] for r in rows[:4]], recall[:4])
    assert math.isnan(rows[4]["recall"])
    np.testing.assert_array_equal([r["predicted"] for r in rows], np.bincount(pred, minlength=5))
    assert "support" in metrics.format_report(rows).splitlines()[0]


def test_the_text_report_counts_rather_than_lists_classes_with_no_clip_and_no_prediction():
    labels = np.array([0, 0, 1, 1])
    predictions = np.array([0, 2, 1, 1])  # class 2 predicted once with no clip; 3 and 4 unseen
    rows = metrics.per_class_report(predictions, labels, ["a", "b", "c", "d", "e"])
    lines = metrics.format_report(rows).splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ["a", "b", "c"]
    assert lines[-1] == "(2 more classes: no clip, never predicted)"


def test_confusion_matrix_image(tmp_path):
    cm = metrics.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 3)
    path = metrics.plot_confusion_matrix(cm, tmp_path / "cm.png", classes=["x", "y", "z"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_classification_metrics_summary():
    scores = np.eye(6)[[0, 1, 2, 3]]
    labels = np.array([0, 1, 2, 0])
    summary = metrics.classification_metrics(scores, labels)
    assert summary["top1"] == pytest.approx(0.75)
    assert summary["top5"] == pytest.approx(1.0)
    assert summary["mean_class_acc"] == pytest.approx((0.5 + 1 + 1) / 3)
    multi = metrics.classification_metrics(scores, np.eye(6)[[0, 1, 2, 3]], multi_label=True)
    assert multi["map"] == pytest.approx(1.0) and multi["GAP@20"] == pytest.approx(1.0)
