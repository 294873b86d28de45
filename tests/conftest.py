"""Shared fixtures: user plugin files the tests write, and one small real run shared by tests."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from harness.executors.local import LocalExecutor
from harness.records.schema import Cell, RunResult
from harness.run import driver
from harness.run.plan import plan_run
from harness.run.settings import RunSettings

USER_PLUGINS = """
import time

from harness.plugin import ModelPlugin, TrainingDefaults


def build_crashing(input_shape, num_classes):
    raise RuntimeError("this plugin crashes on purpose")


def build_sleepy(input_shape, num_classes):
    time.sleep(600)


def build_tiny(input_shape, num_classes):
    import keras

    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Dense(num_classes)])


def exploding_loss(y_true, y_pred):
    import keras

    return keras.ops.mean(y_pred) * float("nan")


CRASHING = ModelPlugin("crashing", "test", "raises in build", "flat", build_crashing)
SLEEPY = ModelPlugin("sleepy", "test", "never finishes building", "flat", build_sleepy)
NAN_LOSS = ModelPlugin(
    "nan_loss", "test", "a loss that is NaN", "flat", build_tiny,
    TrainingDefaults(loss=exploding_loss, metrics=()),
)
"""


@pytest.fixture(scope="session")
def user_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A --plugin-path file with a crashing, a hanging and a NaN-loss plugin."""
    path = tmp_path_factory.mktemp("user_plugins") / "broken.py"
    path.write_text(textwrap.dedent(USER_PLUGINS))
    return path


@pytest.fixture(scope="session")
def smoke_run(user_plugins: Path) -> RunResult:
    """dense_mlp on every backend, plus a crashing and a NaN-loss cell, in one real run."""
    settings = RunSettings(
        plugins=("dense_mlp",),
        dataset="synthetic",
        profile="smoke",
        device="cpu",
        plugin_paths=(str(user_plugins),),
    )
    plan = plan_run(settings)
    cells = [Cell("crashing", "jax", "cpu"), *plan.cells, Cell("nan_loss", "torch", "cpu")]
    plan = replace(plan, cells=cells)
    return driver.execute(plan, driver.load_data(plan), LocalExecutor())
