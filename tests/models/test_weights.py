"""zoo.weights: fetching (path, file://, cached URL), sha256 checks, mapping with a report,
re-initialised classifiers for another class count, and clear errors."""
from __future__ import annotations

import hashlib
import warnings

import pytest
import torch

import zoo
from zoo import weights
from zoo.errors import ZooError


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _model(num_classes, frames=4):
    return zoo.build("r3d_18", num_classes=num_classes, frames=frames, size=32)


def test_cache_dir_from_env(cache):
    assert weights.cache_dir() == cache
    assert weights.cached_path("https://example.org/models/x3d.pyth") == cache / "models" / "x3d.pyth"


@pytest.mark.parametrize("as_url", [False, True])
def test_load_local_path_and_file_url(tmp_path, as_url):
    src = _model(5)
    path = tmp_path / "ckpt.pth"
    torch.save({"model_state": src.state_dict()}, path)
    dst = _model(5)
    source = path.as_uri() if as_url else str(path)
    report = weights.load_pretrained(dst, source, declared=[], what="r3d_18")
    assert not report.missing and not report.unexpected and not report.reinitialised
    for (n, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert torch.equal(a, b), n


def test_checksum_verified(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    from safetensors.torch import save_file

    save_file({"w": torch.ones(3)}, str(path))
    assert weights.fetch(weights.WeightFile(str(path), sha256=_sha(path))) == path
    with pytest.raises(weights.ChecksumError, match="sha256"):
        weights.fetch(weights.WeightFile(path.as_uri(), sha256="0" * 64))
    assert issubclass(weights.ChecksumError, ZooError)
    assert weights.read_state_dict(path)["w"].sum() == 3


def test_other_number_of_classes_reinitialises_classifier(tmp_path, caplog):
    kinetics = _model(400)
    path = tmp_path / "k400.pth"
    torch.save(kinetics.state_dict(), path)
    ucf = _model(101)
    before = ucf.streams["rgb"].temporal_head.fc.weight.clone()
    with pytest.warns(UserWarning, match="re-initialised"):
        report = weights.load_pretrained(ucf, str(path))
    assert report.reinitialised == ["streams.rgb.temporal_head.fc.weight",
                                    "streams.rgb.temporal_head.fc.bias"]
    assert torch.equal(ucf.streams["rgb"].temporal_head.fc.weight, before)
    stem = "streams.rgb.backbone.stem.0.weight"
    assert torch.equal(ucf.state_dict()[stem], kinetics.state_dict()[stem])
    assert "reinitialised (2)" in str(report)


def test_missing_and_unexpected_keys_reported():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 4))
    state = {"0.weight": torch.zeros(3, 2), "extra.weight": torch.zeros(1)}
    report = weights.load_into(model, state)
    assert report.loaded == ["0.weight"] and report.unexpected == ["extra.weight"]
    assert set(report.missing) == {"0.bias", "1.weight", "1.bias"}
    assert (model[0].weight == 0).all()


def test_pretrained_true_without_file_says_where_to_put_it(cache):
    with pytest.raises(weights.WeightsNotFoundError) as err:
        zoo.get("backbone", "resnet18")(pretrained=True)
    assert isinstance(err.value, ZooError)
    assert str(cache / "timm" / "resnet18.safetensors") in str(err.value)
    with pytest.raises(ZooError, match="c3d"):
        zoo.build("c3d", num_classes=3, frames=4, size=32, pretrained=True)


def test_pretrained_true_uses_the_cache(cache):
    import timm

    (cache / "timm").mkdir(parents=True)
    ref = timm.create_model("resnet18")
    torch.save(ref.state_dict(), cache / "timm" / "resnet18.pth")
    bb = zoo.get("backbone", "resnet18")(pretrained=True)
    assert torch.equal(bb.model.conv1.weight, ref.conv1.weight)
    assert bb.load_report.unexpected == ["fc.weight", "fc.bias"]  # the ImageNet classifier


def test_url_served_from_cache_and_unreachable_url(cache):
    url = "http://127.0.0.1:9/zoo/weights/lin.pth"  # nothing listens on port 9
    with pytest.raises(weights.WeightsNotFoundError) as err:
        weights.fetch(url)
    assert str(weights.cached_path(url)) in str(err.value)
    target = weights.cached_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": torch.ones(2, 2), "bias": torch.zeros(2)}, target)
    lin = torch.nn.Linear(2, 2)
    report = weights.load_pretrained(lin, True, declared=[{"url": url, "sha256": _sha(target)}])
    assert report.loaded == ["weight", "bias"] and (lin.weight == 1).all()


def test_declared_weights_in_metadata():
    comp = zoo.get("backbone", "x3d_xs")
    declared = weights.declared_weights(comp.meta)
    assert declared and declared[0].url.endswith("X3D_XS.pyth") and declared[0].num_classes == 400
