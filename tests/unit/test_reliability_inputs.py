"""Bad input never crashes the pure core: hypothesis-generated pods (of every shape JSON
can hold) through ``parse_pod`` and ``growthrs_core.planner.plan``, and group specs
through ``parse_group``. An unreadable pending pod is reported ``InvalidPodSpec``; an
invalid group spec says why. The strategies are the reliability suite's
(``reliability/badinput.py``), which runs many more examples (``make reliability``).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reliability.badinput import (
    check_group_spec,
    check_planner_pods,
    group_specs,
    raw_pods,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(raw_pods(), min_size=1, max_size=5))
def test_the_planner_never_raises_and_reports_unreadable_pods(raw: list[dict[str, Any]]) -> None:
    assert check_planner_pods(raw) is None


@FAST
@given(group_specs())
def test_an_invalid_group_spec_is_parsed_into_a_reason(spec: dict[str, Any]) -> None:
    assert check_group_spec(spec) is None


def test_a_malformed_quantity_is_an_invalid_pod_spec() -> None:
    raw = {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "lots"}}}]},
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
        },
    }
    assert check_planner_pods([raw]) is None  # and it did get InvalidPodSpec, or this says why
