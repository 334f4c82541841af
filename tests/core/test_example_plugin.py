"""The example third-party plugin, installed for real with pip, appears in zoo unchanged."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """pip-install plugins/example_plugin into a temporary folder (no zoo code changes)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(target),
                    str(REPO / "plugins" / "example_plugin")], check=True)
    assert list(target.glob("zoo_example_plugin-*.dist-info/entry_points.txt"))
    return target


def run_with_plugin(site: Path, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_plugin_components_are_listed(plugin_site):
    out = run_with_plugin(plugin_site, "-m", "zoo.cli", "list", "backbones", "tiny*")
    assert "tiny_p3d" in out.split()
    out = run_with_plugin(plugin_site, "-m", "zoo.cli", "plugins")
    assert "zoo-example-plugin 0.1.0" in out and "tiny_motion" in out


def test_plugin_preset_builds_and_passes_the_conformance_kit(plugin_site):
    code = ("import zoo, torch; from zoo.testing import check_plugin;"
            "m = zoo.build('tiny_motion', num_classes=5, frames=4, size=32);"
            "print(m(torch.randn(2, 3, 4, 32, 32)).shape[-1], zoo.get('preset', 'tiny_motion').source);"
            "print(sorted(check_plugin('zoo-example-plugin', frames=4, size=32)))")
    out = run_with_plugin(plugin_site, "-c", code).splitlines()
    assert out[0] == "5 zoo-example-plugin"
    assert out[1] == "['backbone/tiny_p3d', 'preset/tiny_motion']"


def test_zoo_without_the_plugin_does_not_know_it():
    out = subprocess.run([sys.executable, "-m", "zoo.cli", "list", "backbones", "tiny_p3d"],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
    known = subprocess.run([sys.executable, "-m", "zoo.cli", "list", "backbones", "c3d"],
                           capture_output=True, text=True, cwd=REPO)
    assert known.returncode == 0 and "c3d" in known.stdout.split()  # a known name is listed


def test_harness_benchmarks_the_plugin_preset(plugin_site, tmp_path):
    run_with_plugin(plugin_site, "-m", "zoo.bench", "--presets", "tiny_motion", "--steps", "1",
                    "--seconds", "0", "--train-clips-per-class", "1", "--test-clips-per-class", "1",
                    "--frames", "4", "--size", "32", "--results", str(tmp_path), "--no-cards", "--quiet")
    rows = [json.loads(line) for line in (tmp_path / "leaderboard.jsonl").read_text().splitlines()
            if line.strip()]
    assert [row["preset"] for row in rows] == ["tiny_motion"]
    assert rows[0]["status"] == "ok", rows[0]
    top1 = rows[0]["top1"]
    assert isinstance(top1, (int, float)) and not isinstance(top1, bool) and 0 <= top1 <= 1, top1
    assert "`tiny_motion`" in (tmp_path / "leaderboard.md").read_text()
