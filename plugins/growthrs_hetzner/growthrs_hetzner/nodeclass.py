"""``HetznerNodeClass``: how a pool's Hetzner servers are built.

A pool points at one through ``nodeClassRef``; the controller hands its spec to
:meth:`HetznerProvider.create` as ``CreateRequest.node_class``. The same pydantic
model validates that dict and generates the CRD's structural schema, so what
the apiserver accepts is exactly what the provider can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from growthrs_core import MANAGED_PREFIX, Condition, MissingConfig, crd_manifest
from growthrs_hetzner import labels as hlabels

KIND = "HetznerNodeClass"
PLURAL = "hetznernodeclasses"
DEFAULT_IMAGE = "ubuntu-24.04"
"""Used for both architectures when a node class names no image at all."""

Name = Annotated[str, Field(min_length=1, max_length=253)]
K8sName = Annotated[
    str, Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageRef(_Model):
    """Exactly one of ``name``, ``id`` or ``labelSelector``."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.name) ? 1 : 0) + (has(self.id) ? 1 : 0)"
                    " + (has(self.labelSelector) ? 1 : 0) == 1",
                    "message": "set exactly one of name, id or labelSelector",
                }
            ]
        }
    )

    name: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None, description="System image or snapshot name, e.g. ubuntu-24.04."
    )
    id: Annotated[int, Field(ge=1)] | None = Field(default=None, description="Image ID.")
    labelSelector: Annotated[str, Field(min_length=1, max_length=512)] | None = Field(
        default=None,
        description="Use the newest available snapshot with these Hetzner labels, "
        "e.g. role=k8s-node,k8s=v1.30.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageRef:
        if sum(v is not None for v in (self.name, self.id, self.labelSelector)) != 1:
            raise ValueError("set exactly one of name, id or labelSelector")
        return self


class Images(_Model):
    """The image per CPU architecture; a server type whose architecture is missing here
    cannot be created with this node class."""

    amd64: ImageRef | None = Field(default=None, description="Image for x86 server types.")
    arm64: ImageRef | None = Field(default=None, description="Image for Arm (CAX) server types.")

    def for_arch(self, arch: str) -> ImageRef | None:
        return self.amd64 if arch == "amd64" else self.arm64 if arch == "arm64" else None


class ConfigMapKeyRef(_Model):
    """A key of a ConfigMap: where a custom cloud-init template is kept."""

    namespace: K8sName = Field(description="Namespace of the ConfigMap.")
    name: K8sName = Field(description="Name of the ConfigMap.")
    key: Annotated[str, Field(min_length=1, max_length=253)] = Field(
        default="template", description="Key holding the template."
    )


class SecretRef(_Model):
    """A Secret: where the values a new server needs to join the cluster are kept."""

    namespace: K8sName = Field(description="Namespace of the Secret.")
    name: K8sName = Field(description="Name of the Secret.")


class UserData(_Model):
    """Which cloud-init template joins the server to the cluster."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.kind != 'custom' || has(self.templateRef)",
                    "message": "kind custom needs templateRef",
                }
            ]
        }
    )

    kind: Literal["k3s", "kubeadm", "custom"] = Field(
        description="k3s agent join, kubeadm join, or a template from a ConfigMap."
    )
    templateRef: ConfigMapKeyRef | None = Field(
        default=None, description="ConfigMap key holding the template (kind custom)."
    )

    @model_validator(mode="after")
    def _custom_needs_ref(self) -> UserData:
        if self.kind == "custom" and self.templateRef is None:
            raise ValueError("kind custom needs templateRef")
        return self


class PublicNet(_Model):
    ipv4: bool = Field(default=True, description="Give servers a public IPv4 address.")
    ipv6: bool = Field(default=True, description="Give servers a public IPv6 network.")


RefList = Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=16)]


class HetznerNodeClassSpec(_Model):
    """How to build a server; networks, firewalls, placement group and SSH keys by name or ID."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.userData) || self.userData.kind == 'custom'"
                    " || has(self.joinSecretRef)",
                    "message": "userData kind k3s and kubeadm need joinSecretRef",
                },
                {
                    "rule": "!(has(self.publicNet) && has(self.publicNet.ipv4) && !self.publicNet.ipv4"
                    " && has(self.publicNet.ipv6) && !self.publicNet.ipv6)"
                    " || (has(self.networks) && size(self.networks) > 0)",
                    "message": "a server without public IPs needs at least one network",
                },
            ]
        }
    )

    image: Images | None = Field(
        default=None, description=f"Image per architecture; {DEFAULT_IMAGE} for both when unset."
    )
    locations: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=32)]], Field(max_length=16)]
        | None
    ) = Field(default=None, description="Locations servers may be created in; any when unset.")
    networks: RefList = Field(default_factory=list, description="Private networks to attach.")
    firewalls: RefList = Field(default_factory=list, description="Firewalls to apply.")
    placementGroup: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None, description="Spread placement group (at most 10 servers per group)."
    )
    sshKeys: RefList = Field(default_factory=list, description="SSH keys to install.")
    publicNet: PublicNet = Field(
        default_factory=PublicNet,
        description="Public IPv4 and IPv6 of new servers (at least one, or a network).",
    )
    labels: Annotated[
        dict[str, Annotated[str, Field(max_length=63, pattern=hlabels.LABEL_VALUE.pattern)]],
        Field(max_length=32),
    ] = Field(
        default_factory=dict,
        description="Extra Hetzner labels on every server (growthrs.io/ keys are reserved).",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.all(k, !k.startsWith('growthrs.io/')"
                    " && !k.startsWith('hetzner.cloud/'))",
                    "message": "growthrs.io/ and hetzner.cloud/ label keys are reserved",
                }
            ]
        },
    )
    userData: UserData | None = Field(
        default=None,
        description="Cloud-init that joins the cluster; none when unset (e.g. a snapshot "
        "that joins by itself).",
    )
    joinSecretRef: SecretRef | None = Field(
        default=None,
        description="Secret with the join values (k3s: server, token; kubeadm: endpoint, "
        "token, caCertHash, kubernetesVersion).",
    )

    @field_validator("labels")
    @classmethod
    def _hetzner_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            problem = hlabels.key_error(key) or hlabels.value_error(val)
            if problem:
                raise ValueError(problem)
            if key.startswith(MANAGED_PREFIX):
                raise ValueError(f"label key {key!r}: growthrs.io/ labels are set by GrowthRS")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HetznerNodeClassSpec:
        if (
            self.userData is not None
            and self.userData.kind != "custom"
            and self.joinSecretRef is None
        ):
            raise ValueError(f"userData kind {self.userData.kind} needs joinSecretRef")
        if not (self.publicNet.ipv4 or self.publicNet.ipv6 or self.networks):
            raise ValueError("a server without public IPs needs at least one network")
        return self

    def image_for(self, arch: str) -> ImageRef | None:
        if self.image is None:
            return ImageRef(name=DEFAULT_IMAGE)
        return self.image.for_arch(arch)


class HetznerNodeClassStatus(_Model):
    observedGeneration: int | None = Field(
        default=None, description="The generation of the spec this status describes."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Conditions of the node class."
    )


def parse_node_class(
    raw: Mapping[str, object], *, name: str = "(inline)"
) -> tuple[str, HetznerNodeClassSpec]:
    """``(name, spec)`` from ``CreateRequest.node_class``: a spec, or a whole object.

    ``name`` names a bare spec in messages. An invalid node class is a
    :class:`MissingConfig` naming the field.
    """
    spec: Any = raw
    if "spec" in raw and ("kind" in raw or "metadata" in raw):
        metadata = raw.get("metadata")
        if isinstance(metadata, dict) and metadata.get("name"):
            name = str(metadata["name"])
        spec = raw.get("spec") or {}
    try:
        return name, HetznerNodeClassSpec.model_validate(spec)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise MissingConfig(f"{KIND} {name}: {where}: {first['msg']}{more}") from None


def crd() -> dict[str, Any]:
    """The ``HetznerNodeClass`` CustomResourceDefinition."""
    return crd_manifest(
        kind=KIND,
        plural=PLURAL,
        short_names=["hnc"],
        spec_model=HetznerNodeClassSpec,
        status_model=HetznerNodeClassStatus,
        categories=["growthrs"],
        description="How GrowthRS builds Hetzner Cloud servers for the pools that reference it.",
        printer_columns=[
            {"name": "UserData", "type": "string", "jsonPath": ".spec.userData.kind"},
            {"name": "Locations", "type": "string", "jsonPath": ".spec.locations"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )
