"""One typed settings object for the operator.

Every field can be set by a ``GROWTHRS_<FIELD>`` environment variable or by the
matching ``growthrs run`` flag (``--batch-idle`` for ``batch_idle``); flags win.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Operator settings, grouped by concern."""

    model_config = SettingsConfigDict(env_prefix="GROWTHRS_", extra="ignore", frozen=True)

    # -- cluster access ----------------------------------------------------------
    kubeconfig: str | None = Field(
        default=None, description="Kubeconfig path; in-cluster config or ~/.kube/config when unset."
    )
    cluster_name: str | None = Field(
        default=None,
        description=(
            "The cluster's identity on every provider instance (e.g. a Hetzner label); only"
            " instances carrying it are ever listed or deleted. Default: derived from the"
            " kube-system namespace's UID, unique per cluster."
        ),
    )
    namespace: str = Field(
        default="kube-system",
        description="Namespace for the operator's own objects (leader Lease).",
    )
    events_namespace: str = Field(
        default="default",
        description=(
            "Namespace for Events about cluster-scoped objects (nodes, groups, NodeRequests);"
            " client-go and kubectl describe use default."
        ),
    )

    # -- the loop ---------------------------------------------------------------
    batch_idle: float = Field(
        default=1.0, ge=0, description="Seconds without new unschedulable pods before planning."
    )
    batch_max: float = Field(
        default=10.0,
        gt=0,
        description="Longest a batch of unschedulable pods waits before planning.",
    )
    batch_first_plan: float = Field(
        default=1.0,
        ge=0,
        description=(
            "Longest a batch waits after its first pod even while pods keep arriving"
            " (0: wait for batch_idle or batch_max)."
        ),
    )
    resync_interval: float = Field(
        default=30.0, gt=0, description="Seconds between full reconciles even without events."
    )
    relist_interval: float = Field(
        default=600.0,
        gt=0,
        description="Seconds between full relists of every watched kind, whatever the watches say.",
    )
    tick_interval: float = Field(
        default=1.0, gt=0, description="Seconds between NodeRequest / scale-down steps."
    )
    strategies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["priority", "cheapest"],
        description="Strategy chain, comma separated: each narrows the ties the previous left "
        "(cheapest: the lowest hourly cost of the whole packing, then the fewest nodes).",
    )

    # -- node requests -------------------------------------------------------------
    readiness_wait: float = Field(
        default=600.0, gt=0, description="Seconds a new node may take to become Ready."
    )
    max_attempts: int = Field(
        default=2, ge=1, description="Creations tried in one pool before falling back to the next."
    )
    offering_backoff: float = Field(
        default=300.0,
        ge=0,
        description="Seconds an offering that had no capacity is first skipped (doubling after each failure).",
    )
    failure_backoff: float = Field(
        default=10.0,
        ge=0,
        description="Seconds an offering whose create failed otherwise is first skipped (doubling).",
    )
    group_backoff: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a group creates nothing after a request of it went Unmet (doubling).",
    )
    backoff_max: float = Field(
        default=3600.0, gt=0, description="Longest any of these backoffs grows."
    )
    ready_ttl: float = Field(
        default=600.0, ge=0, description="Seconds a Ready NodeRequest is kept."
    )
    unmet_ttl: float = Field(
        default=300.0,
        ge=0,
        description="Seconds an Unmet NodeRequest is kept before the pods are retried.",
    )
    provider_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds one provider call may take before it counts as failed.",
    )
    provider_workers: int = Field(default=8, ge=1, description="Threads for provider calls.")
    provider_qps: float = Field(
        default=10.0,
        gt=0,
        description="Calls per second each provider may get, on average (Hetzner allows 1).",
    )
    provider_burst: float = Field(
        default=20.0,
        ge=1,
        description="Calls a provider may get at once before provider_qps applies.",
    )
    api_workers: int = Field(
        default=8,
        ge=1,
        description="Threads for Kubernetes writes done side by side (NodeRequests of one plan).",
    )

    # -- scale-down ----------------------------------------------------------------
    scale_down_enabled: bool = Field(default=True, description="Remove nodes that stay empty.")
    scale_down_new_node_grace: float = Field(
        default=60.0,
        ge=0,
        description="Seconds after creation before a node may be marked as unneeded.",
    )
    orphan_grace: float = Field(
        default=600.0,
        ge=0,
        description="Seconds before an unaccounted provider instance is removed.",
    )

    # -- serving -------------------------------------------------------------------
    metrics_port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        description="Port for /metrics, /healthz and /readyz (0 = off).",
    )
    leader_election: bool = Field(
        default=False,
        description="Take a coordination.k8s.io Lease so replicas can run side by side.",
    )
    leader_lease_duration: float = Field(
        default=15.0,
        gt=0,
        description="Seconds a follower waits after the last renewal it saw before taking over.",
    )
    leader_renew_deadline: float = Field(
        default=10.0,
        gt=0,
        description="Seconds the leader may fail to renew before it stops acting (< lease duration).",
    )
    leader_retry_period: float = Field(
        default=2.0, gt=0, description="Seconds between attempts to take or renew the Lease."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="DEBUG, INFO, WARNING or ERROR."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text, or json: one JSON object per line with noderequest, group, pod, provider and node fields where they apply.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("strategies", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value
