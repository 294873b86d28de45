"""Conformance of every built-in plugin, and the built-ins' parameter counts on every backend."""

from __future__ import annotations

import pytest

from harness import registry
from harness.backends.parent import BACKENDS, backend_installed


def needs(backend: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not backend_installed(backend), reason=f"{backend} not installed")


MLP = (472_042, 472_042, 0)
BUILTIN_PARAMS = {
    "dense_mlp": MLP,
    "dense_dropout": MLP,
    "dense_l1": MLP,
    "dense_l2": MLP,
    "dense_l1l2": MLP,
    "dense_activity": MLP,
    "dense_batchnorm": (474_730, 473_386, 1_344),
    "dense_early_stopping": MLP,
    "dense_functional": MLP,
    "dense_subclassed": MLP,
    "dense_two_heads": (472_075, 472_075, 0),
    "cnn": (84_202, 84_202, 0),
    "cnn_bn": (364_842, 363_050, 1_792),
    "conv1d_regression": (7_009, 7_009, 0),  # 256 + 2,592 (convolutions) + 4,128 + 33
    "bilstm_text": (12_257, 12_257, 0),  # embedding 8,000 + 2 x LSTM 2,112 + 33
    "mobilenet": (221_114, 215_642, 5_472),  # keras.applications.MobileNet(alpha=0.25)
    # embeddings 17,024 (tokens 16,000, positions 1,024) + attention 4,224 + 2 layer norms
    # 128 + feed-forward 2,112 + Dense 20 660 + 42
    "transformer_text": (24_190, 24_190, 0),
    "gpt_tiny": (50_612, 50_612, 0),  # embeddings 17,024 + 2 x block 8,544 + Dense 16,500
    "gpt2_hub": (50_676, 50_676, 0),  # GPT2Backbone 34,176 + Dense 16,500 (with keras_hub)
}
ZOO = ("conv1d_regression", "bilstm_text", "mobilenet", "transformer_text", "gpt_tiny", "gpt2_hub")
UNMET = {  # built-ins needing a module this Python cannot import: described as unavailable
    r.plugin.name for r in registry.discover().values() if r.plugin.unmet_requirement()
}

MLP_FLOPS = 70_659_096
# FLOPs of one training step at batch 32, as harness.worker.flops counts them (docs/efficiency.md).
BUILTIN_FLOPS = {
    "dense_mlp": MLP_FLOPS,
    "dense_dropout": 70_723_608,  # + dropout's 3 FLOPs per hidden activation
    "dense_l1": 73_014_296,  # + the penalty and its gradient: 5 per kernel weight
    "dense_l2": 73_014_296,
    "dense_l1l2": 75_369_496,
    "dense_activity": 70_766_616,
    "dense_batchnorm": 71_040_792,
    "dense_early_stopping": MLP_FLOPS,
    "dense_functional": MLP_FLOPS,
    "dense_subclassed": MLP_FLOPS,
    "dense_two_heads": 70_666_500,
    "cnn": 1_863_618_584,
    "cnn_bn": 5_659_688_728,
}
ZOO_FLOPS = {  # docs/efficiency.md#the-zoo-and-its-layer-kinds: against XLA's
    "conv1d_regression": 34_828_812,
    "bilstm_text": 27_040_236,
    "mobilenet": 175_831_384,
    "transformer_text": 53_352_328,
    "gpt_tiny": 242_055_376,
}


@pytest.fixture(
    scope="module",
    params=[pytest.param(b, marks=[pytest.mark.backend, needs(b)], id=b) for b in BACKENDS],
)
def described(request, describe_once):
    """Every built-in plugin built under one backend (in a child process, shared)."""
    return describe_once([], backend=request.param)


def test_builtin_parameter_counts_on_every_backend(described):
    assert described.get("error") is None
    assert described["backend"] in BACKENDS
    counts = {
        name: tuple(d["params"][k] for k in ("total", "trainable", "non_trainable"))
        for name, d in described["plugins"].items()
        if name not in UNMET
    }
    assert counts == {name: c for name, c in BUILTIN_PARAMS.items() if name not in UNMET}
    for name in UNMET:
        assert described["plugins"][name]["unavailable"].startswith("needs ")


def test_flop_counts_are_the_same_on_every_backend(described):
    """Each backend's count equals the one table, so all three agree."""
    flops = {name: d["flops"] for name, d in described["plugins"].items() if name not in ZOO}
    assert {name: f.get("error") or f["total"] for name, f in flops.items()} == BUILTIN_FLOPS
    assert all(f["uncounted"] == [] and f["counted_by"] == "harness" for f in flops.values())


def test_the_zoo_is_counted_whole_and_alike_on_every_backend(described):
    """Embeddings, recurrent layers, attention and the zoo's metrics are in the counter's
    table: nothing is left out, and each backend's count equals the one table."""
    built = {name: described["plugins"][name] for name in ZOO}  # a missing module: not built
    flops = {name: d["flops"] for name, d in built.items() if "flops" in d}
    assert all(f.get("uncounted") == [] for f in flops.values()), flops
    assert {name: flops[name].get("total") for name in ZOO_FLOPS} == ZOO_FLOPS


def test_same_network_in_another_api_is_layer_for_layer_equal(described):
    for registered in registry.discover().values():
        twin = registered.plugin.same_network_as
        if twin is None:
            continue
        mine, theirs = described["plugins"][registered.plugin.name], described["plugins"][twin]
        assert mine["params"] == theirs["params"]
        assert [layer["class"] for layer in mine["layers"]] == [
            layer["class"] for layer in theirs["layers"]
        ]


@pytest.mark.parametrize("registered", registry.discover().values(), ids=lambda r: r.plugin.name)
def test_builtin_plugin_conformance(registered):
    plugin = registered.plugin
    assert plugin.family
    assert plugin.description
    if plugin.task is None:
        assert plugin.input_shape in ((784,), (28, 28, 1))
    else:
        assert plugin.family == "zoo"
        assert not plugin.in_default_run
    assert plugin.training.validation_split == pytest.approx(0.2)
    assert plugin.training.batch_size == 32
    assert plugin.training.epochs == 10


def test_builtins_are_listed_family_by_family():
    assert list(registry.discover()) == list(BUILTIN_PARAMS)
