"""The registry: entry points, laziness, wildcards, unknown names, clashes, broken plugins."""
import subprocess
import sys
import warnings

import pytest

import zoo
from zoo.cli import main
from zoo.errors import (AmbiguousComponentError, ConfigError, PluginLoadError,
                        UnknownComponentError)
from zoo.registry import REGISTRY, Registry
from zoo.testing import check_plugin

from toys import install


def test_import_zoo_is_light():
    code = ("import sys, zoo; zoo.list('presets'); zoo.list('temporal_heads');"
            "heavy = [m for m in ('timm', 'pytorchvideo', 'cv2', 'av', 'fvcore') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import zoo loaded {out.stdout.strip()}"


def test_entry_point_loads_only_when_needed(fake_dist):
    install(fake_dist)
    assert "acme_zoo" not in sys.modules
    assert "acme_single" in zoo.list("presets", "acme_*")
    assert "acme_zoo" not in sys.modules, "listing names must not import the plugin"
    comp = zoo.get("preset", "acme_single")
    assert "acme_zoo" in sys.modules
    assert comp.source == "acme-zoo"
    assert comp.meta.year == 2020


def test_wildcards_and_kind_aliases(fake_dist):
    install(fake_dist)
    assert zoo.list("backbones", "acme_*") == ["acme_clip", "acme_frame"]
    assert zoo.list("temporal_heads", "ACME_R*") == ["acme_rnn"]
    assert zoo.list("heads", "acme_p?ol") == ["acme_pool"]


def test_unknown_name_suggests_close_matches(fake_dist):
    install(fake_dist)
    with pytest.raises(UnknownComponentError) as err:
        zoo.get("backbone", "acme_fram")
    msg = str(err.value)
    assert "backbone" in msg and "'acme_frame'" in msg and "zoo list backbones" in msg


def test_unknown_kind():
    with pytest.raises(UnknownComponentError, match="unknown kind 'backbonez'"):
        zoo.list("backbonez")


def test_name_clash_names_both_and_stays_reachable(fake_dist):
    install(fake_dist, dist="acme-zoo", module="acme_zoo")
    install(fake_dist, dist="clash-zoo", module="clash_zoo")
    with pytest.raises(AmbiguousComponentError) as err:
        zoo.get("backbone", "acme_frame")
    assert "acme-zoo" in str(err.value) and "clash-zoo" in str(err.value)
    assert "clash-zoo:acme_frame" in zoo.list("backbones", "acme_frame")
    assert zoo.get("backbone", "clash-zoo:acme_frame").source == "clash-zoo"
    assert zoo.get("backbone", "acme-zoo:acme_frame").source == "acme-zoo"
    model = zoo.build({"backbone": "clash-zoo:acme_frame", "temporal_head": "acme-zoo:acme_pool",
                       "input": {"frames": 2, "size": 8}}, num_classes=3)
    assert model.spec.num_classes == 3


def test_broken_plugin_is_reported_not_fatal(fake_dist):
    install(fake_dist)
    fake_dist("broken-zoo", {"zoo.backbones": {"broken_net": "broken_zoo:net"}},
              {"broken_zoo.py": "import not_a_real_module_xyz\n"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the error says it all: no warning besides
        with pytest.raises(PluginLoadError) as err:
            zoo.get("backbone", "broken_net")
    assert "not_a_real_module_xyz" in str(err.value) and "zoo plugins" in str(err.value)
    # the rest of zoo keeps working
    assert zoo.build("acme_single", num_classes=2).spec.num_classes == 2
    report = {r.source: r for r in zoo.plugins()}
    (kind, name, state, error), = report["broken-zoo"].entries
    assert (kind, name, state) == ("backbone", "broken_net", "failed")
    assert "ModuleNotFoundError" in error


def test_undecorated_entry_point_is_a_clear_failure(fake_dist):
    fake_dist("broken-undecorated", {"zoo.backbones": {"plain": "broken_plain:plain"}},
              {"broken_plain.py": "def plain(**kw):\n    return None\n"})
    with pytest.raises(PluginLoadError, match="not decorated with zoo.register_backbone"):
        zoo.get("backbone", "plain")


def test_a_misspelled_entry_point_attribute_suggests_the_decorated_builder(fake_dist):
    fake_dist("typo-zoo", {"zoo.temporal_heads": {"typo_pool": "typo_zoo:typo_pooll"}}, {
        "typo_zoo.py": """
            from zoo import HeadSpec, register_temporal_head

            @register_temporal_head("typo_pool", spec=HeadSpec())
            def typo_pool(feature, num_classes):
                raise AssertionError("not built here")
        """})
    with pytest.raises(PluginLoadError, match="correct the entry point's attribute 'typo_pooll' "
                                              "in typo_zoo \\(did you mean 'typo_pool'\\?\\)"):
        zoo.get("temporal_head", "typo_pool")


def test_check_plugin_fails_with_an_assertion_and_the_fix(fake_dist):
    fake_dist("broken-undecorated", {"zoo.backbones": {"plain": "broken_plain:plain"}},
              {"broken_plain.py": "def plain(**kw):\n    return None\n"})
    with pytest.raises(AssertionError, match="should decorate plain with "
                                             "@zoo.register_backbone"):
        check_plugin("broken-undecorated")


def test_check_plugin_warns_of_a_name_that_shadows_another_distributions(fake_dist):
    install(fake_dist)
    fake_dist("shadow-zoo", {"zoo.temporal_heads": {"avg_pool": "shadow_zoo:pool"}}, {
        "shadow_zoo.py": """
            from torch import nn
            from zoo import HeadSpec, register_temporal_head

            @register_temporal_head("avg_pool", spec=HeadSpec())
            def pool(feature, num_classes):
                return nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                                     nn.Linear(feature.channels, num_classes))
        """})
    with pytest.warns(UserWarning, match="'avg_pool' of 'shadow-zoo' is also registered by "
                                         "zoo-video: users must ask for 'shadow-zoo:avg_pool'"):
        assert check_plugin("shadow-zoo") == {"temporal_head/avg_pool": "ok"}


def test_a_third_party_preset_keeps_zoos_own_name_under_a_clash(fake_dist):
    fake_dist("uses-zoo", {"zoo.presets": {"uses_avg": "uses_zoo:preset"}}, {
        "uses_zoo.py": """
            from zoo import register_preset

            @register_preset("uses_avg")
            def preset():
                return {"backbone": "c3d", "temporal_head": "avg_pool",
                        "input": {"frames": 8, "size": 32}}
        """})
    fake_dist("shadow-zoo", {"zoo.temporal_heads": {"avg_pool": "shadow_zoo:pool"}}, {
        "shadow_zoo.py": """
            from zoo import HeadSpec, register_temporal_head

            @register_temporal_head("avg_pool", spec=HeadSpec())
            def pool(feature, num_classes):
                raise AssertionError("the other plugin's head must not be picked")
        """})
    model = zoo.build("uses_avg", num_classes=3, width=0.125)
    assert model.config["streams"]["rgb"]["temporal_head"]["name"] == "zoo-video:avg_pool"


def test_an_unknown_name_inside_a_preset_names_the_preset(fake_dist):
    fake_dist("ref-zoo", {"zoo.presets": {"bad_ref": "ref_zoo:preset"}}, {
        "ref_zoo.py": """
            from zoo import register_preset

            @register_preset("bad_ref")
            def preset():
                return {"backbone": "nope_net", "temporal_head": "avg_pool"}
        """})
    with pytest.raises(UnknownComponentError, match="building preset 'bad_ref' of ref-zoo: "
                                                    "unknown backbone 'nope_net'.*install the plugin"):
        zoo.build("bad_ref")


def test_unknown_kinds_and_components_point_to_listings_that_exist(capsys):
    assert main(["list", "kinds"]) == 2
    err = capsys.readouterr().err
    assert "unknown kind 'kinds'. The kinds: backbones, temporal_heads, fusions" in err
    assert main(["describe", "no_such_thing_xyz"]) == 2
    assert "See `zoo list` for every registered component." in capsys.readouterr().err


def test_first_party_components_come_through_entry_points():
    report = {r.source: r for r in zoo.plugins()}
    assert "zoo-video" in report, "zoo's own components must be declared as entry points"
    kinds = {kind for kind, *_ in report["zoo-video"].entries}
    assert {"backbone", "temporal_head", "fusion", "preset", "dataset"} <= kinds


def test_core_never_imports_first_party_plugins():
    import re
    from pathlib import Path

    core = Path(zoo.__file__).parent
    imports = re.compile(r"^\s*(from|import)\s+zoo_plugins|import_module\(.zoo_plugins", re.M)
    offenders = [str(p) for p in core.rglob("*.py") if imports.search(p.read_text())]
    assert offenders == []


def test_registry_module_state_after_rescan_keeps_local_components(registry):
    @zoo.register_fusion("local_only_fusion", spec=zoo.FusionSpec())
    def local_only_fusion(streams, num_classes):
        raise NotImplementedError

    registry.rescan()
    assert zoo.get("fusion", "local_only_fusion").local
    assert "local_only_fusion" not in REGISTRY.names("fusion")  # the test's registry only


MISDECLARED = {"zoo.temporal_heads": {"acme_named": "acme_misdeclared:pool"}}, {
    "acme_misdeclared.py": """
        from torch import nn
        from zoo import HeadSpec, register_temporal_head

        @register_temporal_head("acme_other_name", spec=HeadSpec())
        def pool(feature, num_classes):
            return nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                                 nn.Linear(feature.channels, num_classes))

        @register_temporal_head("acme_undeclared", spec=HeadSpec())
        def undeclared(feature, num_classes):
            raise AssertionError("no entry point declares it")
    """}


def test_entry_point_names_the_component_and_disagreements_are_reported(fake_dist, capsys):
    fake_dist("acme-misdeclared", *MISDECLARED)
    with pytest.warns(RuntimeWarning) as warned:
        assert zoo.get("temporal_head", "acme_named").name == "acme_named"
    assert sorted(str(w.message).split(": ")[1][:13] for w in warned) == ["acme_misdecla", "name mismatch"]
    assert zoo.list("heads", "acme_*") == ["acme_named"]  # a decorator alone declares nothing
    assert main(["plugins"]) == 1
    out = capsys.readouterr().out
    assert ("problem: name mismatch: entry point 'acme_named' (group zoo.temporal_heads) points "
            "at acme_misdeclared:pool, decorated as 'acme_other_name'") in out
    assert ("problem: acme_misdeclared:undeclared is decorated with zoo.register_temporal_head("
            "'acme_undeclared') but no entry point declares it") in out
    with pytest.raises(AssertionError, match="decorated as 'acme_other_name'"):
        check_plugin("acme-misdeclared")


def test_a_decorator_without_a_name_takes_the_entry_points(fake_dist):
    fake_dist("acme-unnamed", {"zoo.fusions": {"acme_entry_name": "acme_unnamed:fuse"}}, {
        "acme_unnamed.py": """
            from zoo import FusionSpec, register_fusion

            @register_fusion(spec=FusionSpec())
            def fuse(streams, num_classes):
                raise NotImplementedError
        """})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert zoo.get("fusion", "acme_entry_name").builder.__name__ == "fuse"
    assert not zoo.current().problems("acme-unnamed")


def test_decorator_fields_are_typed(registry):
    # a keyword that is no field (a typo, or metadata a plugin gave before the typed records)
    # is named in a warning with the fields, and the plugin still loads
    with pytest.warns(UserWarning, match=r"register_backbone\('acme_typo'\): defualt_input is no "
                                         r"field of its metadata \(temporal, default_input, weights\)"):
        zoo.register_backbone("acme_typo", temporal="clip", defualt_input=None)(lambda **kw: None)
    component = zoo.get("backbone", "acme_typo")
    assert component.extra == {"defualt_input": None} and component.info.default_input is None


def test_a_plugin_with_keywords_of_the_old_decorators_still_loads(fake_dist):
    fake_dist("acme-old", {"zoo.presets": {"acme_old": "acme_old:preset"}}, {
        "acme_old.py": """
            from zoo import register_preset

            @register_preset("acme_old", family="acme")
            def preset():
                return {"backbone": "r3d_18", "temporal_head": "avg_pool"}
        """})
    with pytest.warns(UserWarning, match="family is no field"):
        component = zoo.get("preset", "acme_old")
    assert component.extra == {"family": "acme"} and component.source == "acme-old"
    with pytest.raises(ValueError, match="temporal='frame'"):
        zoo.register_backbone("acme_bad", temporal="3d")


BROKEN = {"zoo.backbones": {"broken_net": "broken_zoo:net"}}, {
    "broken_zoo.py": "import not_a_real_module_xyz\n"}


def test_a_preset_that_returns_no_dict_names_plugin_preset_and_value(fake_dist):
    fake_dist("acme-listy", {"zoo.presets": {"acme_listy": "acme_listy:listy"}}, {
        "acme_listy.py": """
            from zoo import register_preset

            @register_preset("acme_listy")
            def listy():
                return ["backbone", "c3d"]
        """})
    with pytest.raises(ConfigError) as err:
        zoo.build("acme_listy")
    assert str(err.value).startswith("preset 'acme_listy' of plugin 'acme-listy' returned list "
                                     "['backbone', 'c3d'], not a config dict")


def test_zoo_plugins_shows_errors_and_clashes_without_a_flag(fake_dist, capsys):
    install(fake_dist)
    install(fake_dist, dist="clash-zoo", module="clash_zoo")
    fake_dist("broken-zoo", *BROKEN)
    code = main(["plugins"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert ("  backbone      broken_net                   failed: ModuleNotFoundError: No module "
            "named 'not_a_real_module_xyz'") in out
    assert ("  backbone      acme_frame                   loaded: name clash: also declared by "
            "clash-zoo; ask for 'acme-zoo:acme_frame'") in out


def test_check_plugin_loads_only_the_distribution_it_checks(fake_dist):
    install(fake_dist)
    fake_dist("broken-zoo", *BROKEN)
    fake_dist("acme-extra", {"zoo.temporal_heads": {"acme_extra_pool": "acme_extra:pool"},
                             "zoo.presets": {"acme_extra": "acme_extra:preset"}}, {
        "acme_extra.py": """
            from torch import nn
            from zoo import HeadSpec, register_preset, register_temporal_head

            @register_temporal_head("acme_extra_pool", spec=HeadSpec())
            def pool(feature, num_classes):
                return nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                                     nn.Linear(feature.channels, num_classes))

            @register_preset("acme_extra")
            def preset():
                return {"backbone": "acme_frame", "temporal_head": "acme_extra_pool",
                        "input": {"frames": 2, "size": 8}}
        """})
    assert check_plugin("acme-extra") == {"temporal_head/acme_extra_pool": "ok",
                                          "preset/acme_extra": "ok"}
    assert {r.source: r for r in zoo.plugins(load=False)}["broken-zoo"].entries[0][2] == "not loaded"
    assert check_plugin("Acme_Extra")  # spelled the ways pip accepts
    # zoo.plugins() imports every entry point first, as `zoo plugins` does
    assert {r.source: r for r in zoo.plugins()}["broken-zoo"].entries[0][2] == "failed"


def test_a_presets_components_resolve_in_its_own_distribution_first(fake_dist):
    install(fake_dist)
    fake_dist("clash-pool", {"zoo.temporal_heads": {"acme_pool": "clash_pool:pool"}}, {
        "clash_pool.py": """
            from zoo import HeadSpec, register_temporal_head

            @register_temporal_head("acme_pool", spec=HeadSpec())
            def pool(feature, num_classes):
                raise AssertionError("the third-party head must not be picked")
        """})
    for name in ("acme_single", "acme-zoo:acme_single"):
        model = zoo.build(name, num_classes=3)
        assert model.config["streams"]["rgb"]["temporal_head"]["name"] == "acme-zoo:acme_pool"
        assert model.config["streams"]["rgb"]["backbone"]["name"] == "acme_frame"
    with pytest.raises(AmbiguousComponentError):  # a user's own config still has to choose
        zoo.build({"backbone": "acme_frame", "temporal_head": "acme_pool"})


def test_a_plugin_load_error_is_printed_once(fake_dist, capsys):
    fake_dist("broken-zoo", {"zoo.presets": {"broken_model": "broken_zoo:model"}},
              {"broken_zoo.py": "import not_a_real_module_xyz\n"})
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code = main(["build", "broken_model"])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("zoo: error: plugin 'broken-zoo' failed to load its preset "
                             "'broken_model'")


def test_registry_sources_and_load_source_on_a_fresh_registry(fake_dist):
    install(fake_dist)
    fake_dist("broken-zoo", *BROKEN)
    registry = Registry()
    assert registry.sources("backbone", "acme_frame") == ["acme-zoo"]
    assert [c.name for c in registry.load_source("acme-zoo", "backbones")] == ["acme_clip",
                                                                             "acme_frame"]
    with pytest.raises(PluginLoadError, match="not_a_real_module_xyz"):
        registry.load_source("broken-zoo", "backbone")
