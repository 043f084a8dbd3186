"""The consolidation and disruption fields of a group: defaults that keep today's
behaviour, Karpenter-style budgets, and what the schema rejects."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from growthrs_core.crd.models import NodeGroupWithPrioritySpec, NodeRemovalStatus, core_crds


def spec(**fields: Any) -> dict[str, Any]:
    return {"pools": [{"provider": "kwok", "serverType": ["cx22"], "priority": 50}], **fields}


def test_the_defaults_keep_todays_behaviour() -> None:
    group = NodeGroupWithPrioritySpec.model_validate(spec())
    assert group.scaleDown.consolidation == "WhenEmpty"
    assert group.scaleDown.consolidate_after_seconds == 30
    assert group.scaleDown.utilisationThreshold is None
    assert group.disruption.budgets == []
    assert group.disruption.onDrainTimeout == "Cancel"  # never force by default
    assert group.disruption.drain_timeout_seconds == 600
    assert not group.disruption.evictLocalStorage and not group.disruption.evictUnreplicated
    assert group.expireAfter is None and group.disruption.drift


def test_accepts_karpenter_style_budgets() -> None:
    group = NodeGroupWithPrioritySpec.model_validate(
        spec(
            scaleDown={"consolidation": "WhenUnderutilized", "utilisationThreshold": 0.5},
            expireAfter="720h",
            disruption={
                "budgets": [
                    {
                        "nodes": "10%",
                        "schedule": "0 9 * * mon-fri",
                        "duration": "8h",
                        "reasons": ["Underutilized"],
                    },
                    {"nodes": "0", "schedule": "@daily", "duration": "1h"},
                    {"nodes": "3"},
                ],
                "onDrainTimeout": "Force",
            },
        )
    )
    assert [b.nodes for b in group.disruption.budgets] == ["10%", "0", "3"]
    assert group.disruption.budgets[0].reasons == ["Underutilized"]


@pytest.mark.parametrize(
    ("disruption", "fragment"),
    [
        ({"budgets": [{"nodes": "101%"}]}, "nodes"),
        ({"budgets": [{"nodes": "ten"}]}, "nodes"),
        ({"budgets": [{"schedule": "0 9 * * *"}]}, "schedule and duration go together"),
        ({"budgets": [{"duration": "1h"}]}, "schedule and duration go together"),
        ({"budgets": [{"schedule": "every day", "duration": "1h"}]}, "schedule"),
        ({"budgets": [{"reasons": ["Bored"]}]}, "reasons"),
        ({"onDrainTimeout": "Ignore"}, "onDrainTimeout"),
    ],
)
def test_rejects_bad_budgets(disruption: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        NodeGroupWithPrioritySpec.model_validate(spec(disruption=disruption))
    assert fragment in str(err.value)


@pytest.mark.parametrize("threshold", [0, 1.5, -0.1])
def test_rejects_a_threshold_outside_zero_to_one(threshold: float) -> None:
    with pytest.raises(ValidationError, match="utilisationThreshold"):
        NodeGroupWithPrioritySpec.model_validate(
            spec(scaleDown={"utilisationThreshold": threshold})
        )


def test_a_node_removal_shows_reason_phase_and_pending_evictions() -> None:
    crd = next(c for c in core_crds() if c["spec"]["names"]["kind"] == "NodeRemoval")
    columns = {c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert {"Node", "Group", "Reason", "Phase", "Pending"} <= columns
    assert NodeRemovalStatus().phase == "Candidate"
    budget = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert budget["properties"]["status"]["properties"]["blockedByPDB"]["type"] == "array"


def test_the_schemas_use_only_openapi_v3_0_bounds() -> None:
    """The apiserver reads exclusiveMinimum as a boolean (OpenAPI 3.0): a numeric one,
    as pydantic writes for gt=, makes the whole CRD unreadable."""
    text = str(core_crds())
    assert "exclusiveMinimum" not in text and "exclusiveMaximum" not in text
