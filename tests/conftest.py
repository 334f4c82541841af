"""Shared test helpers: the real sample data folder and fake installed distributions."""
from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()

# one torch thread per xdist worker: two workers of two threads each on two cores stall
# OpenMP's spinning threads (steps 10-50x slower); two threads for a single test process
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("zoo_cache")


@pytest.fixture(autouse=True)
def zoo_cache(session_cache, monkeypatch) -> Path:
    """$ZOO_CACHE in a folder of the test session: what zoo writes there (zoo.optimize's choices
    in `zoo predict`, `zoo eval`, `zoo export` and the harness) stays out of the user's cache."""
    monkeypatch.setenv("ZOO_CACHE", str(session_cache))
    return session_cache


@pytest.fixture
def shared_data() -> Path:
    """../shared/data (real sample files); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA} (see README: Tests)")
    return SHARED_DATA


@pytest.fixture
def registry():
    """A fresh registry, current for the test (zoo.build, zoo.list, the decorators use it): it
    reads the entry points installed now, and what the test registers goes away with it."""
    from zoo.registry import Registry

    with Registry().activate() as fresh:
        yield fresh


@pytest.fixture
def fake_dist(tmp_path, monkeypatch, registry):
    """Install a distribution with entry points by writing its .dist-info on sys.path; the
    test's own `registry` reads it.

    ``fake_dist("acme-zoo", {"zoo.backbones": {"tiny": "acme_zoo:tiny"}}, {"acme_zoo.py": src})``
    """
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(name: str, entry_points: dict, files: dict) -> Path:
        for rel, src in files.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(src))
        info = tmp_path / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        lines = []
        for group, eps in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{k} = {v}" for k, v in eps.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        registry.rescan()
        return tmp_path

    yield install
    for mod in [m for m in sys.modules if getattr(sys.modules[m], "__file__", None)
                and str(tmp_path) in str(sys.modules[m].__file__)]:
        del sys.modules[mod]
