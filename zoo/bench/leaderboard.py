"""The leaderboard: the stored rows of one profile on one dataset as a Markdown table, a CSV file, a
self-contained sortable HTML page and an accuracy-vs-throughput Pareto plot.

``python -m zoo.bench.leaderboard --merge A.jsonl B.jsonl ...`` merges the stores of sharded runs
(one row per preset, dataset and profile; a finished row wins over a failed one, otherwise the
later file wins) into ``--results`` and regenerates the leaderboard there.
"""
from __future__ import annotations

import argparse
import csv
import html
import io
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

Row = Dict[str, Any]


METRIC_LABELS = {"top1": "top-1", "map": "mAP"}


def score(row: Row) -> float:
    """The figure a row is ranked by: top-1, or mAP on a multi-label dataset."""
    return row[row.get("metric", "top1")]


def metric_label(rows: Sequence[Row]) -> str:
    metrics = {r.get("metric", "top1") for r in rows if r["status"] == "ok"} or {"top1"}
    return " / ".join(METRIC_LABELS.get(m, m) for m in sorted(metrics))


def leaderboard_stem(dataset: str) -> str:
    """The file name (without extension) of `dataset`'s leaderboard."""
    from .harness import DATASET
    return "leaderboard" if dataset == DATASET else f"leaderboard_{dataset}"


def dataset_line(rows: Sequence[Row]) -> str:
    """What the rows were scored on, for the page's header."""
    from .harness import DATASET
    names = sorted({r["dataset"] for r in rows})
    if names == [DATASET] or not names:
        return ("- Dataset: built-in `moving_shapes`, top-1 on its held-out test split (chance "
                "1/12). *appearance*: classes told apart by the object's shape and colour; "
                "*motion*: classes told apart only by the direction or order of motion (a "
                "single-frame model is at chance there, 1/8).")
    ok = [r for r in rows if r["status"] == "ok"] or list(rows)
    splits = ", ".join(sorted({str(r.get("eval_split", "test")) for r in ok}))
    classes = ", ".join(sorted({str(r.get("num_classes", "?")) for r in ok}))
    return (f"- Dataset: `{'`, `'.join(names)}` ({classes} classes), {metric_label(rows)} on "
            f"its {splits} split; training and test clips capped per class as the budget says.")


def group_names(rows: Sequence[Row]) -> List[str]:
    """The class groups scored in `rows` ("appearance", "motion", ...), from ``top1_<group>``."""
    return sorted({k[len("top1_"):] for r in rows for k in r if k.startswith("top1_")})


def ranked(rows: Sequence[Row]) -> Tuple[List[Row], List[Row]]:
    """Finished rows best first (top-1, then throughput, then name), and failed rows by name."""
    ok = sorted((r for r in rows if r["status"] == "ok"),
                key=lambda r: (-score(r), -r["clips_per_s"], r["preset"]))
    failed = sorted((r for r in rows if r["status"] != "ok"), key=lambda r: r["preset"])
    return ok, failed


def _number(value: Any, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _percent(value: Any) -> str:
    return "" if value is None else f"{100 * value:.0f}%"


def _env(r: Row) -> str:
    e = r.get("env")
    if not e:
        return ""
    return (f"{e.get('processor', '?')}, torch {e.get('torch', '?')}, {e.get('threads', '?')} "
            f"threads, {e.get('dtype', '?')}, {e.get('device', '?')}")


# (header, row -> cell) of the measured columns after top-1 and its groups
def _columns() -> List[Tuple[str, Any]]:
    return [
        ("top-5", lambda r: _number(r.get("top5"), 3)),
        ("Δ shuffled", lambda r: _number(r.get("temporal_reliance"), 3)),
        ("clips/s", lambda r: _number(r.get("clips_per_s"), 1)),
        ("clips/s b1", lambda r: _number(r.get("clips_per_s_b1"), 1)),
        ("p50 ms", lambda r: _number(r.get("latency_p50_ms"), 1)),
        ("p95 ms", lambda r: _number(r.get("latency_p95_ms"), 1)),
        ("train clips/s", lambda r: _number(r.get("train_clips_per_s"), 1)),
        ("data wait", lambda r: _percent(r.get("data_wait_frac"))),
        ("peak MiB", lambda r: _number(r.get("peak_mem_mb"), 0)),
        ("params (M)", lambda r: _number(r["params"] / 1e6, 2)),
        ("GFLOPs", lambda r: _number(r.get("gflops"), 3)),
        ("input", lambda r: format_input(r["input"])),
        ("steps", lambda r: str(r.get("steps", ""))),
    ]


def format_input(inputs: Dict[str, Dict[str, Any]]) -> str:
    """``rgb 8x32² + flow 8x32² (2 ch)``: each stream's frames, size and non-RGB channels."""
    parts = []
    for name, s in inputs.items():
        channels = f" ({s['channels']} ch)" if s["channels"] != 3 else ""
        parts.append(f"{name} {s['frames']}x{s['size']}²{channels}")
    return " + ".join(parts)


def markdown(rows: Sequence[Row]) -> str:
    """The leaderboard of one profile's rows."""
    ok, failed = ranked(rows)
    groups = group_names(ok)
    profiles = sorted({r["profile"] for r in rows})
    lines = ["# Benchmark leaderboard", "",
             "Generated by `python -m zoo.bench` from `leaderboard.jsonl`; do not edit by hand.", ""]
    for budget in sorted({r.get("budget", "") for r in rows} - {""}):
        lines.append(f"- Budget ({', '.join(profiles)}): {budget}.")
    for env in sorted({_env(r) for r in rows} - {""}):
        lines.append(f"- Environment: {env}.")
    lines += [
        dataset_line(rows),
        "- top-5: the label among the five best-scored classes.",
        "- Δ shuffled (temporal reliance): the score minus the score when the frames of every clip are "
        "shuffled in time (one seeded permutation per clip, the same for all its streams), both "
        "on the first test clips of each class (`reliance_clips` in the CSV); near 0 for a "
        "model that ignores frame order.",
        "- clips/s: a bare inference loop at the benchmark batch; clips/s b1, p50/p95 ms: "
        "batch-1 calls. train clips/s: during the training budget; data wait: the share of "
        "training time spent waiting for the next batch. peak MiB: peak resident memory during "
        "the preset above the resident memory at its start (CUDA: max allocated). GFLOPs per clip by fvcore (a "
        "multiply-add counts once).", ""]
    columns = _columns()
    header = ["#", "preset", metric_label(rows)] + groups + [h for h, _ in columns]
    lines += ["| " + " | ".join(header) + " |",
              "|" + "|".join("---" if h in ("preset", "input") else "---:" for h in header) + "|"]
    for rank, r in enumerate(ok, 1):
        cells = ([str(rank), f"`{r['preset']}`", _number(score(r), 3)]
                 + [_number(r.get(f"top1_{g}"), 3) for g in groups]
                 + [cell(r) for _, cell in columns])
        lines.append("| " + " | ".join(cells) + " |")
    if failed:
        lines += ["", "Failed:", "", "| preset | reason |", "|---|---|"]
        lines += [f"| `{r['preset']}` | {r['reason'].replace('|', '/')} |" for r in failed]
    return "\n".join(lines) + "\n"


def csv_text(rows: Sequence[Row]) -> str:
    ok, failed = ranked(rows)
    groups = [f"top1_{g}" for g in group_names(ok)]
    columns = (["rank", "preset", "dataset", "kind", "status", "top1", "top5", "map"] + groups
               + ["shuffled_top1", "shuffled_map", "temporal_reliance", "reliance_clips", "clips_per_s", "clips_per_s_b1",
                  "latency_p50_ms", "latency_p95_ms", "train_clips_per_s", "data_wait_frac",
                  "peak_mem_mb", "params", "gflops", "steps", "train_s", "final_loss", "profile",
                  "processor", "torch", "threads", "dtype", "device", "reason"])
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for rank, r in enumerate(ok + failed, 1):
        writer.writerow({**r.get("env", {}), **r, "rank": rank if r["status"] == "ok" else ""})
    return out.getvalue()


_SORTER = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0];
    var asc = th.dataset.dir !== "asc";
    th.closest("tr").querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = asc ? "asc" : "desc";
    var key = function (tr) {
      var text = tr.cells[col].textContent.trim(), n = parseFloat(text.replace("%", ""));
      return text === "" ? null : (isNaN(n) ? text.toLowerCase() : n);
    };
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1);
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    }).forEach(function (tr) { body.appendChild(tr); });
  });
});
"""
_STYLE = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
          "th,td{border:1px solid #ccc;padding:2px 6px;font-size:13px}td.n{text-align:right}"
          "th{cursor:pointer;background:#eee}th[data-dir=asc]::after{content:' \\25B2'}"
          "th[data-dir=desc]::after{content:' \\25BC'}tr.front td{background:#fff6d5}")


def html_page(rows: Sequence[Row]) -> str:
    """A self-contained page (inline CSS and JavaScript, no external resources) with the
    leaderboard as a table sorted by clicking a header; Pareto-front rows are highlighted."""
    ok, failed = ranked(rows)
    groups = group_names(ok)
    columns = _columns()
    front = {r["preset"] for r in pareto_front(ok)}
    header = ["#", "preset", metric_label(rows)] + groups + [h for h, _ in columns]
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">',
           "<title>zoo benchmark leaderboard</title>", f"<style>{_STYLE}</style></head><body>",
           "<h1>Benchmark leaderboard</h1>",
           "<p>Generated by <code>python -m zoo.bench</code> from <code>leaderboard.jsonl</code>; "
           "click a header to sort. Highlighted rows are on the accuracy-vs-throughput Pareto "
           "front. The Markdown leaderboard beside this page defines the columns.</p>"]
    for budget in sorted({r.get("budget", "") for r in rows} - {""}):
        out.append(f"<p>Budget: {esc(budget)}.</p>")
    for env in sorted({_env(r) for r in rows} - {""}):
        out.append(f"<p>Environment: {esc(env)}.</p>")
    out.append('<table class="sortable"><thead><tr>'
               + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead><tbody>")
    for rank, r in enumerate(ok, 1):
        cells = ([str(rank), r["preset"], _number(score(r), 3)]
                 + [_number(r.get(f"top1_{g}"), 3) for g in groups]
                 + [cell(r) for _, cell in columns])
        css = ' class="front"' if r["preset"] in front else ""
        out.append(f"<tr{css}>" + "".join(
            f'<td{"" if h in ("preset", "input") else " class=n"}>{esc(c)}</td>'
            for h, c in zip(header, cells)) + "</tr>")
    out.append("</tbody></table>")
    if failed:
        out.append("<h2>Failed</h2><ul>" + "".join(
            f"<li><code>{esc(r['preset'])}</code>: {esc(r.get('reason', ''))}</li>"
            for r in failed) + "</ul>")
    out += [f"<script>{_SORTER}</script>", "</body></html>"]
    return "\n".join(out) + "\n"


def pareto_front(rows: Sequence[Row]) -> List[Row]:
    """The finished rows no other row beats on both top-1 and clips/s (ties kept), by
    throughput."""
    ok = [r for r in rows if r["status"] == "ok"]
    front = [r for r in ok if not any(
        score(o) >= score(r) and o["clips_per_s"] >= r["clips_per_s"]
        and (score(o) > score(r) or o["clips_per_s"] > r["clips_per_s"]) for o in ok)]
    return sorted(front, key=lambda r: r["clips_per_s"])


def pareto_plot(rows: Sequence[Row], path: Path) -> bool:
    """Top-1 against inference clips/s (log scale), the Pareto front drawn and labelled, as a
    PNG at `path` (matplotlib's Agg backend); False when there is nothing to plot."""
    ok = [r for r in rows if r["status"] == "ok" and r.get("clips_per_s")]
    if not ok:
        return False
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    front = pareto_front(ok)
    names = {r["preset"] for r in front}
    fig = Figure(figsize=(8, 5.5), dpi=100)
    ax = fig.add_subplot()
    rest = [r for r in ok if r["preset"] not in names]
    ax.scatter([r["clips_per_s"] for r in rest], [score(r) for r in rest], c="#8aa", s=25,
               label="other")
    ax.plot([r["clips_per_s"] for r in front], [score(r) for r in front], "-o", c="#d62728",
            ms=6, label="Pareto front")
    for r in ok:
        ax.annotate(r["preset"], (r["clips_per_s"], score(r)), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("inference clips/s (log)")
    ax.set_ylabel(f"{metric_label(ok)} (held-out split)")
    profiles = ", ".join(sorted({r["profile"] for r in ok}))
    datasets = ", ".join(sorted({r["dataset"] for r in ok}))
    ax.set_title(f"Accuracy vs throughput ({datasets}, {profiles})", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    return True


def write_leaderboard(rows: Sequence[Row], results_dir: Path, stem: str = "leaderboard") -> str:
    """Write STEM.md, STEM.csv, STEM.html and the Pareto plot (pareto.png for the built-in
    dataset's ``leaderboard``, else STEM_pareto.png) under `results_dir`; returns the
    Markdown."""
    results_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(rows)
    (results_dir / f"{stem}.md").write_text(text, encoding="utf-8")
    (results_dir / f"{stem}.csv").write_text(csv_text(rows), encoding="utf-8")
    (results_dir / f"{stem}.html").write_text(html_page(rows), encoding="utf-8")
    pareto_plot(rows, results_dir / ("pareto.png" if stem == "leaderboard" else f"{stem}_pareto.png"))
    return text


def merge_rows(paths: Sequence[Path]) -> List[Row]:
    """The rows of the stores `paths`, one per key: a finished row wins over a failed one,
    otherwise the later file wins."""
    from .store import ResultStore, row_key

    merged: Dict[Tuple[str, str, str], Row] = {}
    for path in paths:
        for row in ResultStore(path).rows():
            old = merged.get(row_key(row))
            if old is None or not (old["status"] == "ok" and row["status"] != "ok"):
                merged[row_key(row)] = row
    return list(merged.values())


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .harness import DATASET, DEFAULT_PROFILE, DEFAULT_RESULTS, STORE_NAME
    from .store import ResultStore, _line

    p = argparse.ArgumentParser(
        prog="python -m zoo.bench.leaderboard",
        description="Regenerate the leaderboard (md, csv, html, pareto.png) from the results "
                    "store, or merge the stores of sharded runs into it first.")
    p.add_argument("--merge", nargs="+", type=Path, metavar="STORE",
                   help="JSONL stores to merge (e.g. the shards' leaderboard.jsonl files)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                   help="folder of the (merged) store and leaderboard (default: %(default)s)")
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help="profile key to tabulate (default: %(default)s)")
    args = p.parse_args(argv)
    store_path = args.results / STORE_NAME
    if args.merge:
        rows = merge_rows(args.merge)
        args.results.mkdir(parents=True, exist_ok=True)
        store_path.write_text("".join(_line(r) for r in rows), encoding="utf-8")
        print(f"merged {len(rows)} rows from {len(args.merge)} stores into {store_path}")
    rows = [r for r in ResultStore(store_path).rows() if r["profile"] == args.profile]
    if not rows:
        print(f"no rows of profile {args.profile!r} in {store_path}")
        return 1
    for dataset in sorted({r["dataset"] for r in rows}, key=lambda d: (d != DATASET, d)):
        print(write_leaderboard([r for r in rows if r["dataset"] == dataset], args.results,
                                leaderboard_stem(dataset)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
