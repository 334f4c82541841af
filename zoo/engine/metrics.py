"""Classification metrics on score matrices, computed with numpy.

Conventions (each function repeats the one it uses):

* Ties in ranking one sample's classes (top-k, predicted class, GAP's per-video top-k) are broken
  in favour of the lower class index, as ``argmax`` does, so top-1 accuracy equals the accuracy
  of the argmax predictions and of the confusion matrix's diagonal.
* Ties in ranking samples by score (average precision, GAP) are grouped: one threshold admits
  every tied item or none, so the result does not depend on their order (as scikit-learn does).
* A class with no positive (no ground-truth sample) is left out of every average over classes
  (mean per-class accuracy, mAP); its report row has support 0 and NaN recall. A metric with
  nothing to average over is NaN.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

ArrayLike = Any  # a numpy array, a torch tensor or a nested sequence


def _numpy(x: ArrayLike) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def _ranked_classes(scores: np.ndarray) -> np.ndarray:
    """Class indices of each row from best to worst, ties to the lower index."""
    return np.argsort(-scores, axis=1, kind="stable")


def predictions(scores: ArrayLike) -> np.ndarray:
    """The predicted class of each row (argmax; ties to the lower class index)."""
    return np.argmax(_numpy(scores), axis=1)


def topk_accuracy(scores: ArrayLike, labels: ArrayLike, k: int = 1) -> float:
    """Fraction of samples whose label is among their `k` best-scored classes.

    Ties are broken in favour of the lower class index. `k` larger than the number of classes
    is clipped to it.
    """
    scores, labels = _numpy(scores), _numpy(labels).astype(int)
    k = min(k, scores.shape[1])
    top = _ranked_classes(scores)[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def confusion_matrix(scores_or_predictions: ArrayLike, labels: ArrayLike,
                     num_classes: int) -> np.ndarray:
    """Counts ``[true class, predicted class]``, `num_classes` square (the model's classes);
    scores ``[N, C]`` are reduced by argmax. A class index outside it raises ValueError."""
    pred = _numpy(scores_or_predictions)
    if pred.ndim == 2:
        if pred.shape[1] > num_classes:
            raise ValueError(f"confusion_matrix: scores of {pred.shape[1]} classes but "
                             f"num_classes={num_classes}; pass the model's class count")
        pred = np.argmax(pred, axis=1)
    labels = _numpy(labels).astype(int)
    pred = pred.astype(int)
    for what, values in (("label", labels), ("prediction", pred)):
        outside = values[(values < 0) | (values >= num_classes)]
        if outside.size:
            raise ValueError(f"confusion_matrix: {what} {int(outside[0])} is outside the "
                             f"{num_classes} classes (0..{num_classes - 1}); pass the model's "
                             f"class count (a label of -1 is an unlabelled clip)")
    flat = labels * num_classes + pred
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def mean_class_accuracy(scores_or_predictions: ArrayLike, labels: ArrayLike,
                        num_classes: int) -> float:
    """Mean over classes of the fraction of their samples predicted correctly (mean recall).

    Classes with no sample are left out of the mean; NaN when no class has one.
    """
    cm = confusion_matrix(scores_or_predictions, labels, num_classes)
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return float("nan")
    return float(np.mean(np.diag(cm)[present] / support[present]))


def average_precision(scores: ArrayLike, targets: ArrayLike) -> float:
    """Non-interpolated average precision of one ranking: sum of precision x recall increments.

    Tied scores share one threshold. NaN when `targets` has no positive.
    """
    scores, targets = _numpy(scores).astype(np.float64), _numpy(targets).astype(bool)
    positives = targets.sum()
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    scores, targets = scores[order], targets[order]
    # the last index of each run of equal scores is a threshold
    last_of_run = np.r_[np.diff(scores) != 0, True]
    true_pos = np.cumsum(targets)[last_of_run]
    admitted = (np.arange(len(scores)) + 1)[last_of_run]
    recall_gain = np.diff(np.r_[0, true_pos]) / positives
    return float(np.sum(recall_gain * true_pos / admitted))


def mean_average_precision(scores: ArrayLike, targets: ArrayLike) -> float:
    """Multi-label mAP (Charades): AP per class over samples, averaged over the classes that
    have at least one positive. `targets` is a multi-hot ``[N, C]`` matrix."""
    scores, targets = _numpy(scores), _numpy(targets)
    aps = [average_precision(scores[:, c], targets[:, c])
           for c in range(scores.shape[1]) if targets[:, c].any()]
    return float(np.mean(aps)) if aps else float("nan")


def global_average_precision(scores: ArrayLike, targets: ArrayLike, k: int = 20) -> float:
    """GAP@k (YouTube-8M): the `k` best predictions of every video are pooled, ranked by score,
    and AP is taken over the pool, with recall relative to all positive labels of all videos.

    A video's top k are chosen with ties to the lower class index; tied scores in the pool
    share one threshold. NaN when there is no positive label at all.
    """
    scores, targets = _numpy(scores), _numpy(targets).astype(bool)
    total_positives = targets.sum()
    if total_positives == 0:
        return float("nan")
    top = _ranked_classes(scores)[:, :min(k, scores.shape[1])]
    pooled_scores = np.take_along_axis(scores, top, axis=1).ravel()
    pooled_hits = np.take_along_axis(targets, top, axis=1).ravel()
    if not pooled_hits.any():
        return 0.0
    return float(average_precision(pooled_scores, pooled_hits) * pooled_hits.sum()
                 / total_positives)


def per_class_report(scores_or_predictions: ArrayLike, labels: ArrayLike,
                     classes: Sequence[str]) -> List[Dict[str, float]]:
    """One row per class: support, correct, predicted (clips predicted as it), recall
    (per-class accuracy), precision, f1.

    Recall is NaN for a class with no sample; precision is 0 for a class never predicted.
    """
    cm = confusion_matrix(scores_or_predictions, labels, len(classes))
    correct, support, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    rows = []
    for c, name in enumerate(classes):
        recall = correct[c] / support[c] if support[c] else float("nan")
        precision = correct[c] / predicted[c] if predicted[c] else 0.0
        both = (precision + recall) if support[c] else 0.0
        f1 = 2 * precision * recall / both if both else 0.0
        rows.append({"class": name, "support": int(support[c]), "correct": int(correct[c]),
                     "predicted": int(predicted[c]), "recall": float(recall), "precision": float(precision), "f1": float(f1)})
    return rows


def format_report(rows: List[Dict[str, float]]) -> str:
    """A fixed-width text table of `per_class_report` rows; the classes with no clip that
    nothing was predicted as (most of a 400-class label map on a small split) are counted in
    a last line rather than listed."""
    shown = [r for r in rows if r["support"] or r.get("predicted", 1)]
    width = max([len("class")] + [len(str(r["class"])) for r in shown])
    lines = [f"{'class':<{width}}  support  correct  recall  precision      f1"]
    for r in shown:
        lines.append(f"{r['class']:<{width}}  {r['support']:>7}  {r['correct']:>7}  "
                     f"{r['recall']:>6.3f}  {r['precision']:>9.3f}  {r['f1']:>6.3f}")
    if len(shown) < len(rows):
        lines.append(f"({len(rows) - len(shown)} more classes: no clip, never predicted)")
    return "\n".join(lines)


def plot_confusion_matrix(cm: np.ndarray, path: Union[str, Path],
                          classes: Optional[Sequence[str]] = None, normalize: bool = True) -> Path:
    """Save the confusion matrix as an image (rows: true class, normalised per row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=np.float64)
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = cm.shape[0]
    side = min(2 + 0.3 * n, 40)
    fig, ax = plt.subplots(figsize=(side, side))
    image = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if classes is not None and n <= 60:
        ax.set_xticks(range(n), labels=list(classes), rotation=90, fontsize=6)
        ax.set_yticks(range(n), labels=list(classes), fontsize=6)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def classification_metrics(scores: ArrayLike, labels: ArrayLike,
                           multi_label: bool = False) -> Dict[str, float]:
    """The summary `evaluate` reports: top-1/top-5/mean class accuracy (``top1``, ``top5``,
    ``mean_class_acc``), or mAP and GAP@20 (``map``, ``GAP@20``); the benchmark's keys are the same."""
    scores = _numpy(scores)
    if multi_label:
        return {"map": mean_average_precision(scores, labels),
                "GAP@20": global_average_precision(scores, labels, k=20)}
    labels = _numpy(labels)
    return {"top1": topk_accuracy(scores, labels, 1), "top5": topk_accuracy(scores, labels, 5),
            "mean_class_acc": mean_class_accuracy(scores, labels, scores.shape[1])}
