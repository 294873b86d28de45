"""The gate-evidence replay (benchmarks/gate_evidence.py): pooling and simulated gates."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from harness.compare import Rule

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gate_evidence.py"
spec = importlib.util.spec_from_file_location("gate_evidence", SCRIPT)
gate_evidence = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gate_evidence)


def _gate(level: float, values: list[float]) -> dict:
    half = len(values) // 2
    scaled = [level * v for v in values]
    return {"cells": [{"key": "m/jax/cpu", "a_samples": scaled[:half], "b_samples": scaled[half:]}]}


def test_pools_divide_each_gate_by_its_own_level():
    values = [0.9, 1.0, 1.1, 0.95, 1.05, 1.0]
    gates = [_gate(1.0, values), _gate(3.0, values)]
    normalized = gate_evidence.pools(gates)["m/jax/cpu"]
    raw = gate_evidence.pools(gates, per_gate=False)["m/jax/cpu"]
    assert np.allclose(normalized[:6], normalized[6:])  # the sittings' levels are gone
    assert max(raw) / min(raw) > 3  # the raw pool keeps them


def test_replayed_gates_flag_a_large_slowdown_and_not_the_same_code():
    rng = np.random.default_rng(0)
    pooled = {f"c{i}/jax/cpu": list(rng.normal(1.0, 0.02, 60)) for i in range(3)}
    rule = Rule(alpha=Rule().alpha / 2, looks=2)
    same = [gate_evidence.simulate_gate(pooled, 10, 0.0, rule, rng) for _ in range(50)]
    slower = [gate_evidence.simulate_gate(pooled, 10, 0.5, rule, rng) for _ in range(20)]
    assert not any(any(flags.values()) for flags in same)
    assert all(all(flags.values()) for flags in slower)


def test_replay_with_replacement_draws_beyond_the_pool():
    rng = np.random.default_rng(1)
    pooled = {"m/jax/cpu": list(rng.normal(1.0, 0.02, 12))}
    rule = Rule(alpha=Rule().alpha / 2, looks=2)
    flags = gate_evidence.simulate_gate(pooled, 10, 0.5, rule, rng, with_replacement=True)
    assert flags == {"m/jax/cpu": True}
