"""Named run sizes: ``smoke`` for tests and CI, ``quick`` by default, ``gate`` for the many
short processes of ``kbench ab``, ``full`` with each plugin's own epochs and batch size."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import UsageError
from harness.run.timing import WindowPlan


@dataclass(frozen=True)
class Profile:
    """How much data, training and timing one cell gets."""

    name: str
    epochs: int | None  # None: the plugin's own (10 for the built-ins)
    train_limit: int | None  # None: the whole training split
    test_limit: int | None
    timing: WindowPlan = field(default_factory=WindowPlan)
    predict_repeats: int = 5
    timeout_s: float = 900.0


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        epochs=1,
        train_limit=256,
        test_limit=128,
        timing=WindowPlan(target_window_s=0.1, min_windows=3, min_seconds=0.0, max_windows=30),
        predict_repeats=2,
        timeout_s=300.0,
    ),
    "quick": Profile(
        name="quick",
        epochs=2,
        train_limit=6000,
        test_limit=2000,
        timing=WindowPlan(target_window_s=0.5, min_windows=7, min_seconds=4.0, max_windows=40),
        predict_repeats=3,  # predict window pairs: 5 cost the default run about 2 minutes
    ),
    "gate": Profile(  # many short processes: the unit of the regression gate
        name="gate",
        epochs=1,
        train_limit=2048,
        test_limit=1024,
        timing=WindowPlan(target_window_s=0.2, min_windows=10, min_seconds=2.0, max_windows=20),
        predict_repeats=2,
        timeout_s=600.0,
    ),
    "full": Profile(
        name="full",
        epochs=None,
        train_limit=None,
        test_limit=None,
        timing=WindowPlan(target_window_s=0.5, min_windows=10, min_seconds=10.0, max_windows=200),
        predict_repeats=10,
        timeout_s=3600.0,
    ),
}


def get_profile(name: str) -> Profile:
    """The named profile, or a usage error listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(
            f"Unknown profile. Expected one of: {', '.join(PROFILES)}. Received: profile={name!r}"
        ) from None
