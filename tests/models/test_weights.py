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


# single_frame on timm's smallest ResNet at 2 x 32 x 32: the backbone's identity is not the point
TINY = dict(frames=2, size=32, backbone="test_resnet")
FC = ("streams.rgb.temporal_head.fc.bias", "streams.rgb.temporal_head.fc.weight")


def _model(num_classes):
    return zoo.build("single_frame", num_classes=num_classes, **TINY)


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
    report = weights.load_pretrained(dst, source, declared=[], what="single_frame")
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
    for key, value in kinetics.state_dict().items():  # the backbone is loaded
        if key not in FC:
            assert torch.equal(ucf.state_dict()[key], value), key
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


def test_backbone_declares_its_weight_files():
    declared = zoo.get("backbone", "x3d_xs").info.weights.files
    assert declared and declared[0].url.endswith("X3D_XS.pyth") and declared[0].num_classes == 400


# -- whole models: zoo.build(..., weights=...) -----------------------------------------------------
@pytest.fixture(scope="module")
def k400(tmp_path_factory):
    """A 400-class single_frame written as a zoo checkpoint (.pt) and a zoo weights file (.safetensors)."""
    from zoo.engine.checkpoint import save_checkpoint, save_weights

    torch.manual_seed(1)
    model = zoo.build("single_frame", num_classes=400, **TINY)
    folder = tmp_path_factory.mktemp("k400")
    return {"model": model, "pt": save_checkpoint(folder / "k400_single_frame.pt", model, epoch=3),
            "safetensors": save_weights(folder / "k400_single_frame.safetensors", model)}


def _equal_but(a, b, skip=FC):
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    for key in sa:
        if key not in skip:
            assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
def test_build_loads_other_class_count_and_reinitialises_classifier(k400, fmt, caplog):
    """Kinetics-400 weights into a 101-class model: the backbone loads, the classifier
    keeps its fresh initialisation, and the report and a warning say so."""
    torch.manual_seed(2)
    fresh = zoo.build("single_frame", num_classes=101, **TINY)
    torch.manual_seed(2)
    with pytest.warns(UserWarning, match="re-initialised"):
        ucf = zoo.build("single_frame", num_classes=101, weights=str(k400[fmt]), **TINY)
    report = ucf.weights_report
    assert sorted(report.reinitialised) == list(FC)
    assert not report.missing and not report.unexpected and not report.mismatched
    _equal_but(ucf, k400["model"])
    fc = ucf.streams["rgb"].temporal_head.fc
    assert fc.weight.shape[0] == 101
    assert torch.equal(fc.weight, fresh.streams["rgb"].temporal_head.fc.weight)  # as initialised
    assert not torch.equal(fc.weight, k400["model"].streams["rgb"].temporal_head.fc.weight[:101])
    assert "re-initialised" in caplog.text and "reinitialised (2)" in str(report)
    assert "weights" not in ucf.config  # a rebuild from the config does not fetch the file again
    assert zoo.build(ucf.config).weights_report is None


def test_build_same_class_count_loads_everything(k400):
    model = zoo.build("single_frame", num_classes=400, weights=k400["pt"], **TINY)
    assert not (model.weights_report.missing or model.weights_report.unexpected
                or model.weights_report.reinitialised)
    _equal_but(model, k400["model"], skip=())
    assert zoo.build("single_frame", num_classes=400, **TINY).weights_report is None


def test_weights_config_key_with_checksum(k400):
    from zoo.builder import resolve_config

    path = k400["safetensors"]
    cfg = resolve_config("single_frame", num_classes=400, **TINY)
    cfg["weights"] = {"url": path.as_uri(), "sha256": _sha(path)}
    model = zoo.build(cfg)
    assert model.weights_report.loaded and not model.weights_report.missing
    cfg["weights"] = {"url": str(path), "sha256": "0" * 64}
    with pytest.raises(weights.ChecksumError, match="sha256"):
        zoo.build(cfg)
    cfg["weights"] = {"path": str(path)}
    with pytest.raises(zoo.ConfigError, match="url"):
        zoo.build(cfg)
    with pytest.raises(ZooError, match="weights"):
        zoo.build("single_frame", num_classes=3, weights=3, **TINY)


def test_missing_weight_file_says_where_to_put_it(tmp_path, cache, k400, monkeypatch):
    missing = tmp_path / "nowhere" / "k400_single_frame.pt"
    with pytest.raises(weights.WeightsNotFoundError, match="does not exist") as err:
        zoo.build("single_frame", num_classes=101, weights=str(missing), **TINY)
    assert str(missing) in str(err.value) and isinstance(err.value, ZooError)
    # a bare file name: the working directory, then the cache; the error names the cache path
    monkeypatch.chdir(tmp_path)
    with pytest.raises(weights.WeightsNotFoundError) as err:
        zoo.build("single_frame", num_classes=101, weights="k400_single_frame.pt", **TINY)
    assert str(cache / "k400_single_frame.pt") in str(err.value)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "k400_single_frame.pt").write_bytes(k400["pt"].read_bytes())
    model = zoo.build("single_frame", num_classes=400, weights="k400_single_frame.pt", **TINY)
    assert model.weights_report.source == str(cache / "k400_single_frame.pt")


def test_weights_true_without_declared_file_says_where_to_put_it(cache, k400):
    assert not zoo.get("preset", "single_frame").info.weights
    with pytest.raises(weights.WeightsNotFoundError) as err:
        zoo.build("single_frame", weights=True, **TINY)
    assert str(cache / "models" / "single_frame.pt") in str(err.value)
    assert "weights=" in str(err.value) and "single_frame" in str(err.value)
    with pytest.raises(weights.WeightsNotFoundError, match="declares no weight files"):
        zoo.build({"backbone": "test_resnet", "temporal_head": "avg_pool",
                   "input": {"frames": 2, "size": 32}}, weights=True)
    # the file put where the error said is found
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "single_frame.pt").write_bytes(k400["pt"].read_bytes())
    model = zoo.build("single_frame", num_classes=400, weights=True, **TINY)
    assert model.weights_report.loaded and not model.weights_report.missing


@pytest.fixture
def declared_preset(k400, registry):
    """A preset declaring its weight file (sha256 included), in the test's own registry."""
    from zoo.registry import register_preset

    url = "http://127.0.0.1:9/zoo/models/tiny_k400.pt"  # nothing listens on port 9

    @register_preset("tiny_k400", weights=[{"url": url, "sha256": _sha(k400["pt"]),
                                            "num_classes": 400, "dataset": "kinetics400"}])
    def tiny_k400():
        return {"streams": {"rgb": {"input": {"frames": 2, "size": 32},
                                    "backbone": {"name": "test_resnet"},
                                    "temporal_head": {"name": "tsn", "consensus": "avg"}}}}

    return url


def test_weights_true_loads_the_presets_declared_file(declared_preset, k400):
    url = declared_preset
    with pytest.raises(weights.WeightsNotFoundError) as err:  # not downloadable, not cached
        zoo.build("tiny_k400", num_classes=101, weights=True)
    assert str(weights.cached_path(url)) in str(err.value)
    target = weights.cached_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(k400["pt"].read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = zoo.build("tiny_k400", num_classes=101, weights=True)
    assert len(model.weights_report.reinitialised) == 2
    _equal_but(model, k400["model"])
    target.write_bytes(k400["safetensors"].read_bytes())  # another file under the declared name
    with pytest.raises(weights.ChecksumError):
        zoo.build("tiny_k400", weights=True)


def test_weights_that_fit_nothing_are_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(2, 3), "fc.bias": torch.zeros(2)}, path)
    with pytest.raises(weights.WeightsError, match="none of the tensors"):
        zoo.build("single_frame", num_classes=3, weights=str(path), **TINY)


class _Pickled:
    pass


def test_files_that_pickle_code_are_refused(tmp_path):
    path = tmp_path / "code.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "obj": _Pickled()}, path)
    with pytest.raises(weights.WeightsError, match="weights_only"):
        weights.read_state_dict(path)
