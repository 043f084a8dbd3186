"""The Helm chart (deploy/chart) and the kustomize base (deploy/kustomize).

Both hold the same objects; RBAC grants exactly the API calls the operator's code
makes (each rule names that code, and the names must resolve); the Deployment is
hardened and wired to the values.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from deploy_support import (
    CHART,
    CRDS,
    KUSTOMIZE,
    by_key,
    find,
    helm,
    kinds,
    render_chart,
    render_chart_text,
    render_kustomize,
)

NS = "growthrs-system"
SA = {"kind": "ServiceAccount", "name": "growthrs", "namespace": NS}


def rule(
    group: str, resource: str | list[str], *verbs: str, names: list[str] | None = None
) -> dict[str, Any]:
    resources = [resource] if isinstance(resource, str) else resource
    out: dict[str, Any] = {"apiGroups": [group], "resources": resources, "verbs": list(verbs)}
    if names:
        out["resourceNames"] = names
    return out


# The ClusterRole, rule by rule, with the code that needs it. A rule added to the
# chart without a line here (and the code it is for) fails the test.
WATCH_RULES = [
    rule("", "pods", "list", "watch"),  # controller.state.Caches (WatchCache)
    rule("apps", "daemonsets", "list", "watch"),  # controller.state.Caches
    rule("", "namespaces", "list", "watch"),  # controller.state.Caches (namespaceSelector)
    # controller.state.Caches (volume topology)
    rule("", ["persistentvolumeclaims", "persistentvolumes"], "list", "watch"),
    rule("storage.k8s.io", "storageclasses", "list", "watch"),  # controller.state.Caches
    rule("", "pods/eviction", "create"),  # writes.ApiWrites.evict (deleted groups' nodes)
    # controller.state.Caches; writes.ApiWrites.patch_node / delete_node
    rule("", "nodes", "list", "watch", "patch", "delete"),
]
KWOK_RULES = [rule("", "nodes", "create", "get")]  # growthrs_kwok KwokProvider.create/_read
GROWTHRS_RULES = [
    rule("growthrs.io", "nodegroupwithpriorities", "list", "watch"),  # controller.state.Caches
    rule("growthrs.io", "nodegroupwithpriorities", "patch"),  # writes.ApiWrites.group_finalizers
    rule("growthrs.io", "nodegroupwithpriorities/status", "patch"),  # writes.ApiWrites.group_status
    # controller.disruption.Disrupter: the NodeRemoval cache, records, finalizers, clean-up
    rule("growthrs.io", "noderemovals", "list", "watch", "create", "patch", "delete"),
    rule("growthrs.io", "noderemovals/status", "patch"),  # controller.disruption.Disrupter._status
    # controller.state.Caches; writes.ApiWrites.create_node_request, node_request_status
    # (re-read on conflict), delete_node_request
    rule("growthrs.io", "noderequests", "list", "watch", "create", "get", "delete"),
    rule("growthrs.io", "noderequests/status", "patch"),  # writes.ApiWrites.node_request_status
]
HETZNER_RULES = [rule("growthrs.io", "hetznernodeclasses", "get")]  # writes.ApiWrites.node_class
# events.EventRecorder._post/_update/resume
EVENT_RULES = [rule("", "events", "create", "patch", "list")]
IDENTITY_RULES = [  # controller.state.cluster_identity
    rule("", "namespaces", "get", names=["kube-system"])
]
LEASE_RULES = [  # controller.leader.KubeLeaseStore.create / get / update
    rule("coordination.k8s.io", "leases", "create"),
    rule("coordination.k8s.io", "leases", "get", "update", names=["growthrs-leader"]),
]
CORE_RULES = WATCH_RULES + GROWTHRS_RULES


def cluster_rules(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = find(docs, "ClusterRole", "growthrs")["rules"]
    return rules


# -- helm lint and the kustomize base ---------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"providers": {"kwok": {"enabled": True}, "hetzner": {"enabled": False}}},
        {
            "clusterName": "prod-1",
            "leaderElection": False,
            "podDisruptionBudget": {"enabled": False},
        },
        {"read": {"secrets": ["a", "b"], "configMaps": ["b", "c"]}, "namespace": {"create": False}},
    ],
    ids=["defaults", "kwok-only", "no-election", "readers"],
)
def test_helm_lint_passes_strict(values: dict[str, Any], tmp_path: Path) -> None:
    extra = tmp_path / "values.yaml"
    extra.write_text(__import__("json").dumps(values))
    out = helm("lint", "--strict", str(CHART), "--values", str(extra))
    assert "1 chart(s) linted, 0 chart(s) failed" in out, out


def test_helm_template_with_defaults_equals_the_kustomize_base() -> None:
    chart = by_key(render_chart())
    base = by_key(render_kustomize())
    assert sorted(chart) == sorted(base), (
        f"only in the chart: {sorted(set(chart) - set(base))}; "
        f"only in deploy/kustomize: {sorted(set(base) - set(chart))}"
    )
    for k in chart:
        assert chart[k] == base[k], f"{k} differs between the chart and deploy/kustomize"


@pytest.mark.parametrize("where", [CHART / "crds", KUSTOMIZE / "crds"], ids=["chart", "kustomize"])
def test_deploy_crds_are_the_repositorys_crds(where: Path) -> None:
    repo = {p.name: p.read_text() for p in CRDS.glob("*.yaml")}
    copies = {p.name: p.read_text() for p in where.glob("*.yaml")}
    assert repo, "crds/ is empty"
    assert copies == repo, f"{where} differs from crds/; refresh it with `make deploy-crds`"


def test_the_kustomize_base_lists_every_crd() -> None:
    docs = render_kustomize()
    names = {d["metadata"]["name"] for d in kinds(docs, "CustomResourceDefinition")}
    assert names == {p.stem for p in CRDS.glob("*.yaml")}


# -- RBAC: exactly what the code uses --------------------------------------------------


def test_default_rbac_is_the_code_s_calls_and_nothing_else() -> None:
    docs = render_chart(crds=False)
    assert cluster_rules(docs) == CORE_RULES + HETZNER_RULES + EVENT_RULES + IDENTITY_RULES
    binding = find(docs, "ClusterRoleBinding", "growthrs")
    assert binding["subjects"] == [SA]
    assert binding["roleRef"]["name"] == "growthrs"
    assert find(docs, "Role", "growthrs-leader-election", NS)["rules"] == LEASE_RULES
    reader = find(docs, "Role", "growthrs-read", NS)
    assert reader["rules"] == [rule("", "secrets", "get")]
    assert not [r for r in kinds(docs, "Role") if r["metadata"]["name"] == "growthrs-kwok-faults"]
    roles = sorted((r["metadata"]["namespace"], r["metadata"]["name"]) for r in kinds(docs, "Role"))
    bindings = sorted(
        (b["metadata"]["namespace"], b["roleRef"]["name"]) for b in kinds(docs, "RoleBinding")
    )
    assert roles == bindings == [(NS, "growthrs-leader-election"), (NS, "growthrs-read")]
    for b in kinds(docs, "RoleBinding"):
        assert b["subjects"] == [SA]


def test_kwok_adds_node_create_get_and_the_faults_configmap_only() -> None:
    docs = render_chart(
        {
            "providers": {
                "kwok": {"enabled": True, "faultsConfigMap": {"namespace": "sim", "name": "f"}},
                "hetzner": {"enabled": False},
            },
            "clusterName": "lab",
        },
        crds=False,
    )
    assert cluster_rules(docs) == WATCH_RULES + KWOK_RULES + GROWTHRS_RULES + EVENT_RULES
    faults = find(docs, "Role", "growthrs-kwok-faults", "sim")
    assert faults["rules"] == [rule("", "configmaps", "get", names=["f"])]
    assert find(docs, "RoleBinding", "growthrs-kwok-faults", "sim")["subjects"] == [SA]
    env = container(docs)["env"]
    assert {"name": "GROWTHRS_KWOK_FAULTS_NAMESPACE", "value": "sim"} in env
    assert {"name": "GROWTHRS_KWOK_FAULTS_CONFIGMAP", "value": "f"} in env
    assert {"name": "GROWTHRS_DISABLED_PLUGINS", "value": "hetzner"} in env
    assert not [e for e in env if e["name"].startswith("GROWTHRS_HETZNER_")]


def test_one_get_only_reader_role_per_listed_namespace() -> None:
    docs = render_chart({"read": {"secrets": ["a", "b"], "configMaps": ["b", "c"]}}, crds=False)
    readers = {
        r["metadata"]["namespace"]: r["rules"]
        for r in kinds(docs, "Role")
        if r["metadata"]["name"] == "growthrs-read"
    }
    assert readers == {
        "a": [rule("", "secrets", "get")],
        "b": [rule("", "secrets", "get"), rule("", "configmaps", "get")],
        "c": [rule("", "configmaps", "get")],
    }
    bound = {
        b["metadata"]["namespace"]
        for b in kinds(docs, "RoleBinding")
        if b["metadata"]["name"] == "growthrs-read"
    }
    assert bound == {"a", "b", "c"}


def test_no_list_or_watch_on_secrets_or_configmaps_and_no_wildcards() -> None:
    docs = render_chart(
        {"providers": {"kwok": {"enabled": True}}, "read": {"configMaps": [NS]}}, crds=False
    )
    for role in kinds(docs, "Role") + kinds(docs, "ClusterRole"):
        for r in role["rules"]:
            assert "*" not in r["verbs"] + r["resources"] + r["apiGroups"], r
            if set(r["resources"]) & {"secrets", "configmaps"}:
                assert r["verbs"] == ["get"], r
            assert not set(r["verbs"]) & {"update", "deletecollection", "escalate", "bind"} or (
                r["resources"] == ["leases"]
            ), r


def test_a_set_cluster_name_drops_the_namespace_read_and_no_election_drops_the_lease_role() -> None:
    docs = render_chart({"clusterName": "prod-1", "leaderElection": False}, crds=False)
    assert cluster_rules(docs) == CORE_RULES + HETZNER_RULES + EVENT_RULES
    assert not [r for r in kinds(docs, "Role") if "leader" in r["metadata"]["name"]]
    c = container(docs)
    assert "--leader-election" not in c["args"]
    assert {"name": "GROWTHRS_CLUSTER_NAME", "value": "prod-1"} in c["env"]


CODE_REF = re.compile(r"\b(growthrs_(?:core|kwok|hetzner)(?:\.\w+)+)")


def resolve(ref: str) -> object:
    """Import the longest importable module prefix of ``ref``, then getattr the rest."""
    parts = ref.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(ref)


def rule_comments(text: str) -> list[tuple[str, str]]:
    """(comment above it, the rule's first line) for every rule in RBAC manifests."""
    out = []
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped)
        elif stripped.startswith("- apiGroups:"):
            out.append(("\n".join(comment), stripped))
            comment = []
        elif stripped.startswith(("resources:", "verbs:", "resourceNames:")):
            continue
        else:
            comment = []
    return out


RBAC_SOURCES = {
    "chart (everything on)": lambda: render_chart_text(
        {"providers": {"kwok": {"enabled": True}}, "read": {"configMaps": [NS]}}, crds=False
    ),
    "deploy/kustomize/rbac.yaml": lambda: (KUSTOMIZE / "rbac.yaml").read_text(),
}


@pytest.mark.parametrize("source", sorted(RBAC_SOURCES))
def test_every_rbac_rule_names_the_code_that_needs_it_and_the_names_resolve(source: str) -> None:
    text = RBAC_SOURCES[source]()
    rules = rule_comments(text)
    assert len(rules) >= 10, rules
    for comment, first in rules:
        refs = CODE_REF.findall(comment)
        assert refs, f"{source}: rule {first!r} has no comment naming its code:\n{comment}"
    for ref in set(CODE_REF.findall(text)):
        try:
            resolve(ref.rstrip("."))
        except (ImportError, AttributeError) as exc:
            pytest.fail(f"{source}: {ref} does not exist ({exc}); update the RBAC comment")


# -- the Deployment ----------------------------------------------------------------------


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = kinds(docs, "Deployment")
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_two_replicas_with_leader_election_probes_limits_and_a_pdb() -> None:
    docs = render_chart(crds=False)
    deployment = find(docs, "Deployment", "growthrs", NS)
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "growthrs"
    c = container(docs)
    assert c["args"] == ["run", "--leader-election", "--namespace", NS]
    assert c["ports"] == [{"name": "http", "containerPort": 8080}]
    assert {"name": "GROWTHRS_METRICS_PORT", "value": "8080"} in c["env"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert set(c["resources"]) == {"requests", "limits"}
    assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == {"cpu", "memory"}
    pdb = find(docs, "PodDisruptionBudget", "growthrs", NS)
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"] == spec["selector"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()


def test_the_pod_runs_as_non_root_read_only_without_capabilities() -> None:
    docs = render_chart(crds=False)
    pod = find(docs, "Deployment", "growthrs", NS)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    sc = container(docs)["securityContext"]
    assert sc == {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def test_the_hetzner_token_comes_from_a_secret_and_settings_become_variables() -> None:
    docs = render_chart(
        {
            "strategies": ["cheapest"],
            "settings": {"batch_idle": 2, "scale_down_enabled": False},
            "providers": {
                "hetzner": {
                    "tokenSecret": {"name": "hz", "key": "api-token"},
                    "settings": {"price": "gross"},
                }
            },
            "image": {"repository": "registry.example.com/growthrs", "tag": "1.2.3"},
        },
        crds=False,
    )
    c = container(docs)
    assert c["image"] == "registry.example.com/growthrs:1.2.3"
    env = {e["name"]: e for e in c["env"]}
    assert env["GROWTHRS_HETZNER_TOKEN"] == {
        "name": "GROWTHRS_HETZNER_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hz", "key": "api-token"}},
    }
    assert env["GROWTHRS_STRATEGIES"]["value"] == "cheapest"
    assert env["GROWTHRS_BATCH_IDLE"]["value"] == "2"
    assert env["GROWTHRS_SCALE_DOWN_ENABLED"]["value"] == "false"
    assert env["GROWTHRS_HETZNER_PRICE"]["value"] == "gross"
    assert env["GROWTHRS_DISABLED_PLUGINS"]["value"] == "kwok"
    assert "GROWTHRS_CLUSTER_NAME" not in env  # derived from the kube-system UID


def test_every_settings_variable_is_a_real_setting() -> None:
    from growthrs_core.settings import Settings

    docs = render_chart({"clusterName": "x", "providers": {"kwok": {"enabled": True}}}, crds=False)
    known = {f"GROWTHRS_{name.upper()}" for name in Settings.model_fields}
    known |= {"GROWTHRS_DISABLED_PLUGINS"}
    for e in container(docs)["env"]:
        name = e["name"]
        if not name.startswith(("GROWTHRS_HETZNER_", "GROWTHRS_KWOK_")):
            assert name in known, f"{name} is not a setting of growthrs run"


def test_the_namespace_can_be_an_existing_one() -> None:
    docs = render_chart(
        {"namespace": {"name": "ops", "create": False}, "read": {"secrets": ["ops"]}}, crds=False
    )
    assert not kinds(docs, "Namespace")
    for doc in docs:
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == "ops", doc["metadata"]
    assert find(docs, "ClusterRoleBinding", "growthrs")["subjects"][0]["namespace"] == "ops"
    assert container(docs)["args"][-1] == "ops"
