"""Hypothesis profiles for the contract tests: random locally, reproducible in CI."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "schemas-ci",
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("schemas-dev", max_examples=100, deadline=None)
settings.load_profile("schemas-ci" if os.environ.get("CI") else "schemas-dev")
