"""Cloud-init user data that makes a new server join the cluster.

Templates use double-brace placeholders: ``{{ node_name }}``, ``{{ secret.token | json }}``.
Filters: ``shell`` (shell-quote), ``json`` (a JSON string, also valid YAML),
``base64``. ``{{ secret.key? }}`` marks a Secret key optional (empty when absent).
An unknown placeholder is an error rather than an empty string: a join script
with a hole in it would boot a server that never joins.

Rendering is pure (no API calls) so the 32 KiB limit is enforced before anything
is created. Secret values are only ever substituted, never logged.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources

from growthrs_core import CreationFailed, MissingConfig, Taint

USER_DATA_LIMIT = 32 * 1024
"""Hetzner's limit on ``user_data`` in bytes."""

BUILTIN_TEMPLATES = {"k3s": "k3s-agent.yaml.tmpl", "kubeadm": "kubeadm-join.yaml.tmpl"}

K3S_CHANNELS = ("stable", "latest")
"""k3s install channels a join Secret's ``version`` may name instead of a release: an
explicit choice to install whatever that channel holds at boot, not the server's version."""
_K3S_RELEASE = re.compile(r"v1\.\d+\.\d+(?:-rc\d+)?\+k3s\d+", re.ASCII)

KUBEADM_API_VERSION = "kubeadm.k8s.io/v1beta4"
"""The ``JoinConfiguration`` version the built-in kubeadm template writes."""
KUBEADM_MIN_MINOR = 31
"""kubeadm reads ``v1beta4`` from v1.31 on (it came in 1.31; ``v1beta3``, read from 1.22,
was removed in 1.36). No upper bound: ``v1beta4`` is the newest usable version of every
release so far (1.36's ``v1`` is a placeholder kubeadm does not accept yet), and a
deprecated beta version stays for at least three releases under Kubernetes' policy."""
_KUBE_VERSION = re.compile(r"v1\.(?P<minor>\d+)(?:\.\d+)?", re.ASCII)
_INTERFACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}", re.ASCII)
"""A Linux network interface name: at most 15 characters, no ``/`` or white space."""

_PLACEHOLDER = re.compile(
    r"\{\{\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_.-]+?)?)(?P<optional>\?)?"
    r"\s*(?:\|\s*(?P<filter>[a-z0-9]+)\s*)?\}\}"
)

FILTERS: dict[str, Callable[[str], str]] = {
    "shell": shlex.quote,
    "json": json.dumps,
    "base64": lambda value: base64.b64encode(value.encode()).decode(),
}

# Labels a kubelet may set on itself with --node-labels (k8s.io/api/node/v1 IsKubeletLabel):
# any other kubernetes.io / k8s.io label makes the kubelet refuse to start.
_KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
    }
)
_KUBELET_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")


def kubelet_may_set(key: str) -> bool:
    """Whether a kubelet may carry ``key`` in ``--node-labels``."""
    namespace, _, _ = key.rpartition("/")
    restricted = namespace in ("kubernetes.io", "k8s.io") or namespace.endswith(
        (".kubernetes.io", ".k8s.io")
    )
    if not restricted or key in _KUBELET_LABELS:
        return True
    return namespace in _KUBELET_NAMESPACES or namespace.endswith(
        tuple("." + ns for ns in _KUBELET_NAMESPACES)
    )


@dataclass(frozen=True)
class Placeholder:
    name: str
    optional: bool
    filter: str | None


def placeholders(template: str) -> list[Placeholder]:
    return [
        Placeholder(m.group("name"), bool(m.group("optional")), m.group("filter"))
        for m in _PLACEHOLDER.finditer(template)
    ]


def secret_keys(template: str) -> tuple[set[str], set[str]]:
    """``(required, optional)`` Secret keys the template refers to as ``secret.<key>``."""
    required: set[str] = set()
    optional: set[str] = set()
    for p in placeholders(template):
        if p.name.startswith("secret."):
            (optional if p.optional else required).add(p.name.removeprefix("secret."))
    return required, optional - required


def builtin_template(kind: str) -> str:
    """The packaged template for ``k3s`` or ``kubeadm``, without its documentation comments.

    Top-level ``#`` lines after ``#cloud-config`` are YAML comments; dropping them
    leaves more of the 32 KiB for what the node needs.
    """
    name = BUILTIN_TEMPLATES[kind]
    text = resources.files("growthrs_hetzner").joinpath("templates", name).read_text()
    first, _, rest = text.partition("\n")
    kept = [line for line in rest.split("\n") if not line.startswith("#")]
    return first + "\n" + "\n".join(kept)


def node_values(
    *,
    node_name: str,
    cluster_name: str,
    node_group: str,
    node_request: str,
    instance_type: str,
    region: str,
    arch: str,
    labels: Mapping[str, str],
    taints: tuple[Taint, ...],
) -> dict[str, str]:
    """The per-node variables every template can use (see the README's table)."""
    allowed = {k: v for k, v in sorted(labels.items()) if kubelet_may_set(k)}
    label_args = [f"{k}={v}" for k, v in allowed.items()]
    taint_args = [
        f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}" for t in taints
    ]
    flags = [f"--node-label {shlex.quote(a)}" for a in label_args]
    flags += [f"--node-taint {shlex.quote(a)}" for a in taint_args]
    return {
        "node_name": node_name,
        "cluster_name": cluster_name,
        "node_group": node_group,
        "node_request": node_request,
        "instance_type": instance_type,
        "region": region,
        "arch": arch,
        "node_labels": ",".join(label_args),
        "node_taints": ",".join(taint_args),
        "k3s_node_flags": " ".join(flags),
    }


def render(
    template: str,
    values: Mapping[str, str],
    secret: Mapping[str, str],
    *,
    source: str,
) -> str:
    """Fill ``template``; an unknown placeholder or filter is a :class:`MissingConfig`."""

    def fill(match: re.Match[str]) -> str:
        name, optional, filt = match.group("name"), match.group("optional"), match.group("filter")
        if name.startswith("secret."):
            key = name.removeprefix("secret.")
            if key in secret:
                value = secret[key]
            elif optional:
                value = ""
            else:
                raise MissingConfig(f"user data template {source}: Secret key {key!r} missing")
        elif name in values:
            value = values[name]
        else:
            known = ", ".join(sorted(values))
            raise MissingConfig(
                f"user data template {source}: unknown placeholder {name!r} (known: {known}, secret.<key>)"
            )
        if filt is None:
            return value
        if filt not in FILTERS:
            raise MissingConfig(
                f"user data template {source}: unknown filter {filt!r} (known: {', '.join(FILTERS)})"
            )
        return FILTERS[filt](value)

    return _PLACEHOLDER.sub(fill, template)


def builtin_join_problems(kind: str, secret: Mapping[str, str], *, where: str) -> list[str]:
    """What is wrong with the join Secret's values for the built-in ``k3s`` or ``kubeadm``
    template, in words; ``where`` names the Secret (``HetznerNodeClass x: joinSecretRef:
    Secret ns/name``). Keys that are absent are checked only where absence itself is the
    problem (the k3s ``version``); no message carries a value read from the Secret.
    """
    problems = []
    if kind == "k3s":
        version = secret.get("version", "").strip()
        if not version:
            problems.append(
                f"{where} has no key 'version': the k3s agent would install the newest "
                "k3s release, not the server's, and an agent newer than its server is "
                "unsupported. Set it to the server's version as `kubectl version` reports "
                f"it (Server Version, e.g. v1.33.4+k3s1), or to {' or '.join(map(repr, K3S_CHANNELS))} "
                "to install that k3s channel on purpose"
            )
        elif version not in K3S_CHANNELS and not _K3S_RELEASE.fullmatch(version):
            problems.append(
                f"{where} key 'version' is not a k3s release like v1.33.4+k3s1 (the Server "
                "Version `kubectl version` reports on the k3s server), nor "
                f"{' or '.join(map(repr, K3S_CHANNELS))}"
            )
    elif kind == "kubeadm" and "kubernetesVersion" in secret:
        match = _KUBE_VERSION.fullmatch(secret["kubernetesVersion"].strip())
        if match is None:
            problems.append(
                f"{where} key 'kubernetesVersion' is not a Kubernetes version like v1.33 or "
                "v1.33.4 (the Server Version `kubectl version` reports)"
            )
        elif int(match["minor"]) < KUBEADM_MIN_MINOR:
            problems.append(
                f"{where} key 'kubernetesVersion' is v1.{int(match['minor'])}: the built-in "
                f"kubeadm template writes a {KUBEADM_API_VERSION} JoinConfiguration, which "
                f"kubeadm reads from v1.{KUBEADM_MIN_MINOR} on; upgrade the cluster, or use "
                "userData kind custom with a kubeadm.k8s.io/v1beta3 template"
            )
    interface = secret.get("privateInterface", "").strip()
    if interface and not _INTERFACE.fullmatch(interface):
        problems.append(
            f"{where} key 'privateInterface' is not a network interface name like enp7s0"
        )
    return problems


def builtin_join_values(kind: str, secret: Mapping[str, str], *, where: str) -> dict[str, str]:
    """The join Secret's values for a built-in template, checked and without surrounding
    white space (``kubectl create secret --from-file`` keeps a file's last newline, and
    every value these templates take is one line). A problem is a :class:`MissingConfig`."""
    problems = builtin_join_problems(kind, secret, where=where)
    if problems:
        raise MissingConfig(problems[0])
    return {key: value.strip() for key, value in secret.items()}


def check_size(user_data: str, *, source: str) -> None:
    """Hetzner rejects more than 32 KiB: fail before any API call, saying by how much."""
    size = len(user_data.encode())
    if size > USER_DATA_LIMIT:
        raise CreationFailed(
            f"user data from {source} is {size} bytes after rendering, over Hetzner's "
            f"{USER_DATA_LIMIT}-byte (32 KiB) limit: shorten the template or move files "
            "into the image",
            retryable=False,
        )
