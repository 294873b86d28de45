"""Plugin discovery: built-ins, entry points, --plugin-path, and clear errors."""

from __future__ import annotations

import textwrap

import pytest

from harness import registry
from harness.errors import PluginError
from harness.plugin import ModelPlugin

PLUGIN_FILE = """
from harness.plugin import ModelPlugin

def build(input_shape, num_classes):
    import keras
    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Dense(num_classes)])

{name_upper} = ModelPlugin("{name}", "mine", "a user model", "flat", build)
"""


def _write(folder, stem, name):
    path = folder / f"{stem}.py"
    path.write_text(PLUGIN_FILE.format(name=name, name_upper=name.upper()))
    return path


def test_plugin_path_file_and_folder(tmp_path):
    _write(tmp_path, "first", "mine_a")
    _write(tmp_path, "second", "mine_b")
    assert {"mine_a", "mine_b"} <= set(registry.discover([tmp_path]))
    found = registry.discover([tmp_path / "first.py"])
    assert found["mine_a"].origin.endswith("first.py")


def test_duplicate_names_name_both_origins(tmp_path):
    _write(tmp_path, "one", "dense_mlp")
    with pytest.raises(PluginError, match=r"Duplicate plugin name 'dense_mlp'.*plugins\.dense"):
        registry.discover([tmp_path])


def test_plugin_that_fails_to_import_is_named(tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text("import not_a_module_anywhere\n")
    with pytest.raises(PluginError, match=r"broken\.py failed to import"):
        registry.discover([bad])


def test_file_without_plugins_is_an_error(tmp_path):
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    with pytest.raises(PluginError, match="defines no ModelPlugin"):
        registry.discover([empty])


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(PluginError, match="does not exist"):
        registry.discover([tmp_path / "nope"])


def test_malformed_plugin_is_named():
    with pytest.raises(PluginError, match="'bad_one' is malformed: input_kind"):
        ModelPlugin("bad_one", "x", "y", "video", lambda shape, n: None)
    with pytest.raises(PluginError, match="lower_snake_case"):
        ModelPlugin("Bad Name", "x", "y", "flat", lambda shape, n: None)


def test_unknown_selection_lists_known_names():
    found = registry.discover()
    with pytest.raises(PluginError, match=r"Expected one of: dense_mlp.*Received: 'nope'"):
        registry.select(found, ["nope"])
    assert [p.name for p in registry.select(found, ["cnn", "cnn"])] == ["cnn"]


def test_entry_point_plugins_are_discovered(tmp_path, monkeypatch):
    (tmp_path / "thirdparty_models.py").write_text(
        PLUGIN_FILE.format(name="third_party", name_upper="THIRD_PARTY")
    )
    dist = tmp_path / "thirdparty_models-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-models\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""
            [{registry.ENTRY_POINT_GROUP}]
            third_party = thirdparty_models:THIRD_PARTY
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = registry.discover()
    assert found["third_party"].origin.startswith("entry point 'third_party'")


def test_default_run_is_the_four_default_models_and_all_means_all():
    found = registry.discover()
    default = [p.name for p in registry.select(found, [])]
    assert default == ["dense_mlp", "dense_dropout", "cnn", "cnn_bn"]
    assert len(registry.select(found, ["all"])) == len(found)
