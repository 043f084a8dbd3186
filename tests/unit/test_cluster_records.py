"""Slim records parsed from API objects: pods, nodes, DaemonSets, groups, NodeRequests."""

from __future__ import annotations

from typing import Any

import pytest

from growthrs_core import Resources, Taint
from growthrs_core.cluster import (
    LabelSelector,
    NodeSelectorTerm,
    Requirement,
    Toleration,
    parse_claim,
    parse_daemonset,
    parse_group,
    parse_label_selector,
    parse_node,
    parse_node_request,
    parse_pod,
    parse_storage_class,
    parse_volume,
    pod_requests,
)


def container(name: str = "c", **resources: Any) -> dict[str, Any]:
    return {"name": name, "image": "x", "resources": resources}


def pod(spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": "p", "uid": "u1", **meta},
        "spec": spec if spec is not None else {"containers": [container()]},
        "status": {},
    }


def cpu_mem(res: Resources) -> tuple[int, int]:
    return res.cpu_millis, res.memory_mib


# -- requests --------------------------------------------------------------------------------------


def test_containers_add_up() -> None:
    spec = {
        "containers": [
            container("a", requests={"cpu": "100m", "memory": "64Mi"}),
            container("b", requests={"cpu": "200m", "memory": "128Mi"}),
            container("no-requests"),
        ]
    }
    assert pod_requests(spec) == Resources(cpu_millis=300, memory_mib=192)


def test_init_containers_count_by_their_peak_not_their_sum() -> None:
    spec = {
        "initContainers": [
            container("migrate", requests={"cpu": "1", "memory": "64Mi"}),
            container("warm", requests={"cpu": "500m", "memory": "1Gi"}),
        ],
        "containers": [
            container("a", requests={"cpu": "100m", "memory": "128Mi"}),
            container("b", requests={"cpu": "200m", "memory": "128Mi"}),
        ],
    }
    # CPU peaks in the first init container, memory in the second; each dimension on its own.
    assert cpu_mem(pod_requests(spec)) == (1000, 1024)


def test_containers_win_when_bigger_than_any_init_container() -> None:
    spec = {
        "initContainers": [container("i", requests={"cpu": "100m", "memory": "10Mi"})],
        "containers": [container("a", requests={"cpu": "2", "memory": "1Gi"})],
    }
    assert cpu_mem(pod_requests(spec)) == (2000, 1024)


def test_native_sidecars_run_alongside_later_init_containers_and_the_main_phase() -> None:
    sidecar = {
        **container("proxy", requests={"cpu": "100m", "memory": "50Mi"}),
        "restartPolicy": "Always",
    }
    spec = {
        "initContainers": [sidecar, container("init", requests={"cpu": "500m", "memory": "10Mi"})],
        "containers": [container("app", requests={"cpu": "200m", "memory": "100Mi"})],
    }
    # init phase: sidecar + init = 600m; main phase: app + sidecar = 300m / 150Mi
    assert cpu_mem(pod_requests(spec)) == (600, 150)


def test_sidecar_started_after_an_init_container_does_not_overlap_it() -> None:
    sidecar = {**container("proxy", requests={"cpu": "300m"}), "restartPolicy": "Always"}
    spec = {
        "initContainers": [container("init", requests={"cpu": "1"}), sidecar],
        "containers": [container("app", requests={"cpu": "500m"})],
    }
    assert pod_requests(spec).cpu_millis == 1000  # max(1000, 300, 500 + 300)
    spec["containers"] = [container("app", requests={"cpu": "900m"})]
    assert pod_requests(spec).cpu_millis == 1200


def test_pod_overhead_is_added() -> None:
    spec = {
        "containers": [container(requests={"cpu": "100m", "memory": "100Mi"})],
        "overhead": {"cpu": "250m", "memory": "120Mi"},
    }
    assert cpu_mem(pod_requests(spec)) == (350, 220)


def test_limits_stand_in_for_missing_requests() -> None:
    spec = {
        "containers": [
            container("only-limits", limits={"cpu": "1", "memory": "1Gi"}),
            container("both", requests={"cpu": "100m"}, limits={"cpu": "2", "memory": "256Mi"}),
        ]
    }
    # requests win where given; a limit without a request is the request (apiserver defaulting)
    assert cpu_mem(pod_requests(spec)) == (1100, 1280)


def test_gpu_and_ephemeral_storage() -> None:
    spec = {
        "containers": [
            container(
                "train", limits={"nvidia.com/gpu": "2"}, requests={"ephemeral-storage": "10Gi"}
            ),
            container("helper", requests={"ephemeral-storage": "512Mi"}),
        ]
    }
    req = pod_requests(spec)
    assert req.gpu == 2
    assert req.ephemeral_storage_gib == 11  # each container rounds up to whole GiB
    assert pod_requests({"containers": [container()]}).ephemeral_storage_gib is None


def test_extended_resources_and_hugepages_are_kept() -> None:
    spec = {
        "containers": [
            container(
                "app",
                requests={"cpu": "1", "example.com/widget": "2"},
                limits={"hugepages-2Mi": "1Gi", "example.com/widget": "2"},
            ),
            container("helper", requests={"example.com/widget": 1, "hugepages-1Gi": "2Gi"}),
        ]
    }
    req = pod_requests(spec)
    assert req.cpu_millis == 1000
    # counts for extended resources, bytes for hugepages
    assert dict(req.extended) == {
        "example.com/widget": 3,
        "hugepages-1Gi": 2 << 30,
        "hugepages-2Mi": 1 << 30,
    }
    assert pod_requests({"containers": [container(requests={"cpu": "1"})]}).extended == {}


def test_extended_resources_follow_the_init_and_overhead_rules() -> None:
    spec = {
        "containers": [
            container("a", requests={"example.com/widget": "1"}),
            container("b", requests={"example.com/widget": "2", "example.com/gadget": "1"}),
        ],
        "initContainers": [
            container("big-init", requests={"example.com/widget": "5"}),
            {
                **container("sidecar", requests={"example.com/gadget": "1"}),
                "restartPolicy": "Always",
            },
        ],
        "overhead": {"example.com/widget": "1"},
    }
    # widget: max(init 5, running 3) + overhead 1; gadget: running 1 + sidecar 1
    assert dict(pod_requests(spec).extended) == {"example.com/widget": 6, "example.com/gadget": 2}


def test_a_zero_request_of_an_extended_resource_asks_for_nothing() -> None:
    spec = {"containers": [container(requests={"cpu": "1", "example.com/widget": "0"})]}
    assert pod_requests(spec).extended == {}


def test_resources_stay_constructible_by_keyword_and_hashable() -> None:
    plain = Resources(cpu_millis=1000, memory_mib=512, gpu=1, gpu_model="nvidia-l4")
    assert plain.extended == {} and hash(plain) == hash(Resources(1000, 512, None, 1, "nvidia-l4"))
    widgets = Resources(cpu_millis=1000, memory_mib=512, extended={"example.com/widget": 4})
    same = Resources(cpu_millis=1000, memory_mib=512, extended=(("example.com/widget", 4),))
    assert widgets == same and hash(widgets) == hash(same) and widgets != plain
    assert widgets.extended["example.com/widget"] == 4
    assert (widgets + widgets).extended == {"example.com/widget": 8}
    with pytest.raises(TypeError):
        widgets.extended["x"] = 1  # type: ignore[index]
    with pytest.raises(ValueError, match="field of its own"):
        Resources(cpu_millis=0, memory_mib=0, extended={"nvidia.com/gpu": 1})
    with pytest.raises(TypeError, match="integer"):
        Resources(cpu_millis=0, memory_mib=0, extended={"example.com/widget": 1.5})  # type: ignore[dict-item]


def test_parse_pod_folds_requests_into_the_record() -> None:
    record = parse_pod(
        pod(
            {
                "initContainers": [container("i", requests={"cpu": "2"})],
                "containers": [container(requests={"cpu": "1", "memory": "1Gi"})],
                "overhead": {"cpu": "100m"},
            }
        )
    )
    assert record.error is None
    assert cpu_mem(record.requests) == (2100, 1024)


# -- pod fields --------------------------------------------------------------------------------------


def test_host_ports_from_containers_and_init_containers() -> None:
    spec = {
        "containers": [
            {
                "name": "a",
                "ports": [
                    {"containerPort": 80, "hostPort": 8080},
                    {"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"},
                    {"containerPort": 9090},
                ],
            }
        ],
        "initContainers": [{"name": "i", "ports": [{"containerPort": 1, "hostPort": 7000}]}],
    }
    assert parse_pod(pod(spec)).host_ports == (
        (8080, "TCP", ""),
        (53, "UDP", "10.0.0.1"),
        (7000, "TCP", ""),
    )


def test_node_affinity_selector_and_tolerations() -> None:
    spec = {
        "containers": [container()],
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}, {}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "arch", "operator": "In", "values": ["arm64", "amd64"]},
                                {"key": "spot", "operator": "DoesNotExist"},
                            ]
                        },
                        {
                            "matchFields": [
                                {"key": "metadata.name", "operator": "In", "values": ["n1"]}
                            ]
                        },
                    ]
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 20,
                        "preference": {
                            "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]
                        },
                    }
                ],
            }
        },
    }
    record = parse_pod(pod(spec))
    assert record.node_selector == {"disk": "ssd"}
    assert record.tolerations == (
        Toleration(key="gpu", operator="Exists", effect="NoSchedule"),
        Toleration(),
    )
    first, second = record.required_terms
    assert first == NodeSelectorTerm(
        expressions=(
            Requirement("arch", "In", ("arm64", "amd64")),
            Requirement("spot", "DoesNotExist"),
        )
    )
    assert second.has_field_selectors and not second.matches({"anything": "x"})
    assert record.preferred_terms == (
        (20, NodeSelectorTerm(expressions=(Requirement("zone", "In", ("a",)),))),
    )


def test_pod_affinity_anti_affinity_and_spread() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}],
    }
    spec = {
        "containers": [container()],
        "affinity": {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "zone"}
                ]
            },
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": selector,
                        "topologyKey": "kubernetes.io/hostname",
                        "namespaces": ["a", "b"],
                        "namespaceSelector": {"matchLabels": {"team": "x"}},
                    }
                ],
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 50,
                        "podAffinityTerm": {"labelSelector": selector, "topologyKey": "zone"},
                    }
                ],
            },
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 2,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": "web"}},
                "minDomains": 3,
                "nodeAffinityPolicy": "Ignore",
                "nodeTaintsPolicy": "Honor",
            },
            {"topologyKey": "kubernetes.io/hostname"},
        ],
    }
    record = parse_pod(pod(spec))
    assert record.error is None
    (aff,) = record.affinity
    assert aff.topology_key == "zone" and aff.selector.match_labels == (("app", "cache"),)
    assert aff.namespace_selector is None
    (anti,) = record.anti_affinity
    assert anti.selector == LabelSelector(
        match_labels=(("app", "web"),), expressions=(Requirement("tier", "NotIn", ("db",)),)
    )
    assert anti.namespaces == ("a", "b")
    assert anti.namespace_selector == LabelSelector(match_labels=(("team", "x"),))
    ((weight, term),) = record.preferred_anti_affinity
    assert weight == 50 and term.topology_key == "zone"
    first, second = record.spread
    assert (first.max_skew, first.topology_key, first.when_unsatisfiable, first.min_domains) == (
        2,
        "topology.kubernetes.io/zone",
        "ScheduleAnyway",
        3,
    )
    assert (first.node_affinity_policy, first.node_taints_policy) == ("Ignore", "Honor")
    assert (second.max_skew, second.when_unsatisfiable, second.selector) == (
        1,
        "DoNotSchedule",
        LabelSelector(nothing=True),
    )
    # The scheduler's defaults: node affinity honoured, taints ignored.
    assert (second.node_affinity_policy, second.node_taints_policy) == ("Honor", "Ignore")
    # Without a labelSelector a constraint counts no pod; with {} it counts every pod.
    assert not second.selector.matches({"app": "web"}) and not second.selector.matches({})
    assert parse_label_selector({}).matches({"app": "web"})


def test_match_label_keys_join_the_owner_pods_values() -> None:
    spec = {
        "containers": [container()],
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": {"app": "web"}},
                        "topologyKey": "kubernetes.io/hostname",
                        "matchLabelKeys": ["pod-template-hash", "absent"],
                        "mismatchLabelKeys": ["tenant"],
                    }
                ]
            }
        },
        "topologySpreadConstraints": [
            {
                "topologyKey": "topology.kubernetes.io/zone",
                "labelSelector": {
                    "matchLabels": {"app": "web"},
                    # What a recent apiserver already merged in: not added twice.
                    "matchExpressions": [
                        {"key": "pod-template-hash", "operator": "In", "values": ["abc"]}
                    ],
                },
                "matchLabelKeys": ["pod-template-hash"],
            }
        ],
    }
    record = parse_pod(pod(spec, labels={"app": "web", "pod-template-hash": "abc", "tenant": "t1"}))
    assert record.error is None
    (anti,) = record.anti_affinity
    assert anti.selector.expressions == (
        Requirement("pod-template-hash", "In", ("abc",)),
        Requirement("tenant", "NotIn", ("t1",)),
    )
    assert anti.selector.matches({"app": "web", "pod-template-hash": "abc", "tenant": "t2"})
    assert not anti.selector.matches({"app": "web", "pod-template-hash": "old", "tenant": "t2"})
    assert not anti.selector.matches({"app": "web", "pod-template-hash": "abc", "tenant": "t1"})
    (spread,) = record.spread
    assert spread.selector.expressions == (Requirement("pod-template-hash", "In", ("abc",)),)


def test_status_owner_and_annotations() -> None:
    obj = pod(
        labels={"app": "x"},
        annotations={
            "kubernetes.io/config.mirror": "abc",
            "cluster-autoscaler.kubernetes.io/safe-to-evict": "False",
        },
        ownerReferences=[
            {"kind": "ReplicaSet", "name": "not-controller"},
            {"kind": "DaemonSet", "name": "agent", "controller": True},
        ],
        deletionTimestamp="2024-01-01T00:00:00Z",
        creationTimestamp="2023-12-31T00:00:00Z",
    )
    obj["spec"]["priority"] = 1000
    obj["spec"]["nodeName"] = "n1"
    obj["status"] = {
        "phase": "Running",
        "nominatedNodeName": "n2",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "lastTransitionTime": "2024-01-01T00:00:01Z",
            }
        ],
    }
    record = parse_pod(obj)
    assert record.key == "default/p" and record.uid == "u1" and record.labels == {"app": "x"}
    assert record.mirror and record.deleting and record.is_daemonset
    assert (record.owner_kind, record.owner_name) == ("DaemonSet", "agent")
    assert record.safe_to_evict is False
    assert (record.priority, record.node_name, record.nominated_node) == (1000, "n1", "n2")
    assert record.unschedulable and record.unschedulable_since == "2024-01-01T00:00:01Z"
    assert record.creation == "2023-12-31T00:00:00Z"
    assert not record.terminal


@pytest.mark.parametrize(
    ("condition", "unschedulable"),
    [
        ({"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}, True),
        ({"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}, False),
        ({"type": "PodScheduled", "status": "True"}, False),
        ({"type": "Ready", "status": "False", "reason": "Unschedulable"}, False),
    ],
)
def test_only_scheduler_unschedulable_counts(
    condition: dict[str, str], unschedulable: bool
) -> None:
    obj = pod()
    obj["status"]["conditions"] = [condition]
    assert parse_pod(obj).unschedulable is unschedulable


def test_defaults_for_a_bare_pod() -> None:
    record = parse_pod({"metadata": {"name": "bare"}})
    assert record.error is None
    assert record.requests == Resources(cpu_millis=0, memory_mib=0)
    assert (record.phase, record.safe_to_evict, record.owner_kind) == ("Pending", None, "")
    assert not (record.unschedulable or record.deleting or record.mirror or record.terminal)


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_terminal_phases(phase: str) -> None:
    obj = pod()
    obj["status"]["phase"] = phase
    assert parse_pod(obj).terminal


@pytest.mark.parametrize(
    "spec",
    [
        {"containers": [container(requests={"cpu": "one"})]},
        {"containers": [container(limits={"memory": "1GB"})]},
        {"initContainers": [container(requests={"nvidia.com/gpu": "x"})], "containers": []},
        {"containers": [container()], "overhead": {"cpu": "lots"}},
        {"containers": [container()], "priority": "high"},
        {"containers": [{"name": "a", "ports": [{"hostPort": "eighty"}]}]},
    ],
)
def test_malformed_pod_sets_error_and_does_not_raise(spec: dict[str, Any]) -> None:
    record = parse_pod(pod(spec))
    assert record.error is not None and record.error.startswith("cannot read pod spec")
    assert (record.namespace, record.name, record.uid) == ("default", "p", "u1")


def test_malformed_quantity_error_names_the_value() -> None:
    record = parse_pod(pod({"containers": [container(requests={"cpu": "one"})]}))
    assert record.error is not None and "'one'" in record.error


# -- nodes -----------------------------------------------------------------------------------------


def node(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {
            "name": "n1",
            "labels": {"growthrs.io/node-group": "g"},
            "annotations": {},
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {"providerID": "kwok://n1"},
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {
                "cpu": "3900m",
                "memory": "7936Mi",
                "pods": "100",
                "ephemeral-storage": "36Gi",
            },
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    for key, value in overrides.items():
        section, _, field = key.partition("__")
        obj[section][field] = value
    return obj


def test_parse_node() -> None:
    record = parse_node(node())
    assert record.error is None
    assert record.name == "n1" and record.node_group == "g"
    assert record.allocatable == Resources(
        cpu_millis=3900, memory_mib=7936, ephemeral_storage_gib=36
    )
    assert (record.max_pods, record.ready, record.provider_id) == (100, True, "kwok://n1")
    assert not (record.unschedulable or record.deleting or record.scale_down_disabled)
    assert record.taints == () and record.scale_down_at == ""


def test_parse_node_taints_annotations_and_flags() -> None:
    obj = node(
        spec__taints=[
            {"key": "growthrs.io/scale-down", "effect": "NoSchedule"},
            {"key": "dedicated", "value": "ci", "effect": "NoExecute"},
        ],
        spec__unschedulable=True,
        metadata__annotations={
            "growthrs.io/scale-down-at": "2024-01-01T00:10:00Z",
            "growthrs.io/scale-down-disabled": "True",
        },
        metadata__deletionTimestamp="2024-01-02T00:00:00Z",
        status__conditions=[{"type": "Ready", "status": "Unknown"}],
    )
    record = parse_node(obj)
    assert record.taints == (
        Taint("growthrs.io/scale-down"),
        Taint("dedicated", "ci", "NoExecute"),
    )
    assert record.unschedulable and record.deleting and not record.ready
    assert record.scale_down_at == "2024-01-01T00:10:00Z" and record.scale_down_disabled


def test_parse_node_falls_back_to_capacity_and_reads_gpu_model() -> None:
    obj = node(
        status__allocatable=None,
        status__capacity={"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"},
    )
    obj["metadata"]["labels"]["growthrs.io/gpu-model"] = "nvidia-l4"
    record = parse_node(obj)
    assert record.allocatable == Resources(
        cpu_millis=8000, memory_mib=32768, gpu=1, gpu_model="nvidia-l4"
    )
    assert record.max_pods == 110  # no pods entry: the kubelet default


def test_parse_node_keeps_every_allocatable_resource() -> None:
    record = parse_node(
        node(
            status__allocatable={
                "cpu": "4",
                "memory": "8Gi",
                "pods": "110",
                "example.com/widget": "4",
                "hugepages-2Mi": "512Mi",
                "hugepages-1Gi": "0",
            }
        )
    )
    assert record.error is None
    assert dict(record.allocatable.extended) == {
        "example.com/widget": 4,
        "hugepages-2Mi": 512 << 20,
    }
    assert record.max_pods == 110


def test_malformed_node_sets_error() -> None:
    record = parse_node(node(status__allocatable={"cpu": "fast"}))
    assert record.error is not None and "'fast'" in record.error
    assert record.name == "n1"


# -- DaemonSets ------------------------------------------------------------------------------------


def test_parse_daemonset_gives_the_pod_it_would_run() -> None:
    ds = {
        "metadata": {"namespace": "kube-system", "name": "agent"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "containers": [container(requests={"cpu": "50m", "memory": "64Mi"})],
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"operator": "Exists"}],
                },
            }
        },
    }
    info = parse_daemonset(ds)
    assert (info.namespace, info.name) == ("kube-system", "agent")
    assert info.pod.key == "kube-system/agent"
    assert info.pod.is_daemonset and info.pod.owner_name == "agent"
    assert cpu_mem(info.pod.requests) == (50, 64)
    assert info.pod.node_selector == {"kubernetes.io/os": "linux"}
    assert info.pod.labels == {"app": "agent"}
    assert info.pod.tolerations[0].tolerates(Taint("anything", "v", "NoExecute"))


def test_parse_daemonset_with_bad_template_sets_error() -> None:
    ds = {
        "metadata": {"namespace": "ns", "name": "bad"},
        "spec": {"template": {"spec": {"containers": [container(requests={"memory": "lots"})]}}},
    }
    assert parse_daemonset(ds).pod.error is not None


# -- tolerations ----------------------------------------------------------------------------------

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@pytest.mark.parametrize("effect", EFFECTS)
def test_toleration_effects(effect: str) -> None:
    taint = Taint("k", "v", effect)  # type: ignore[arg-type]
    assert Toleration("k", "Equal", "v", effect).tolerates(taint)
    assert Toleration("k", "Equal", "v", "").tolerates(taint)  # empty effect: all effects
    for other in set(EFFECTS) - {effect}:
        assert not Toleration("k", "Equal", "v", other).tolerates(taint)


@pytest.mark.parametrize(
    ("toleration", "taint", "tolerated"),
    [
        (Toleration("k", "Equal", "v"), Taint("k", "v"), True),
        (Toleration("k", "Equal", "v"), Taint("k", "w"), False),
        (Toleration("k", "Equal", "v"), Taint("j", "v"), False),
        (Toleration("k", "Equal", ""), Taint("k", ""), True),
        (Toleration("k", "Equal", ""), Taint("k", "v"), False),
        (Toleration("k", "Exists"), Taint("k", "anything"), True),
        (Toleration("k", "Exists"), Taint("j", "anything"), False),
        (Toleration("", "Exists"), Taint("any", "thing", "NoExecute"), True),
        (Toleration("", "Exists", effect="NoSchedule"), Taint("any", "x", "NoExecute"), False),
        (Toleration(key="k", value="v"), Taint("k", "v"), True),  # operator defaults to Equal
    ],
)
def test_toleration_operators(toleration: Toleration, taint: Taint, tolerated: bool) -> None:
    assert toleration.tolerates(taint) is tolerated


# -- requirements and selectors ---------------------------------------------------------------------

LABELS = {"zone": "a", "size": "8", "empty": ""}


@pytest.mark.parametrize(
    ("requirement", "matches"),
    [
        (Requirement("zone", "In", ("a", "b")), True),
        (Requirement("zone", "In", ("b",)), False),
        (Requirement("missing", "In", ("a",)), False),
        (Requirement("zone", "NotIn", ("b",)), True),
        (Requirement("zone", "NotIn", ("a",)), False),
        (Requirement("missing", "NotIn", ("a",)), True),
        (Requirement("zone", "Exists"), True),
        (Requirement("empty", "Exists"), True),
        (Requirement("missing", "Exists"), False),
        (Requirement("zone", "DoesNotExist"), False),
        (Requirement("missing", "DoesNotExist"), True),
        (Requirement("size", "Gt", ("4",)), True),
        (Requirement("size", "Gt", ("8",)), False),
        (Requirement("size", "Lt", ("16",)), True),
        (Requirement("size", "Lt", ("8",)), False),
        (Requirement("zone", "Gt", ("1",)), False),  # not a number
        (Requirement("size", "Gt", ("x",)), False),
        (Requirement("missing", "Gt", ("1",)), False),
        (Requirement("size", "Gt", ("1", "2")), False),  # Gt takes one value
        (Requirement("zone", "Like", ("a",)), False),  # unknown operator never matches
    ],
)
def test_requirement_operators(requirement: Requirement, matches: bool) -> None:
    assert requirement.matches(LABELS) is matches


def test_selector_terms_and_label_selectors() -> None:
    term = NodeSelectorTerm(
        expressions=(Requirement("zone", "In", ("a",)), Requirement("size", "Exists"))
    )
    assert term.matches(LABELS)
    assert not term.matches({"zone": "a"})
    assert NodeSelectorTerm().matches({})
    selector = LabelSelector(
        match_labels=(("zone", "a"),), expressions=(Requirement("size", "NotIn", ("4",)),)
    )
    assert selector.matches(LABELS)
    assert not selector.matches({"zone": "b", "size": "8"})
    assert LabelSelector().matches({})


# -- groups and NodeRequests ------------------------------------------------------------------------


def test_parse_group() -> None:
    view = parse_group(
        {
            "metadata": {"name": "default", "uid": "g1", "generation": 3},
            "spec": {"pools": [{"provider": "kwok", "serverType": ["cx22"], "priority": 5}]},
        }
    )
    assert (view.name, view.uid, view.generation, view.error) == ("default", "g1", 3, None)
    assert view.spec is not None and view.spec.pools[0].serverType == ["cx22"]


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"pools": [{"provider": "kwok", "serverType": [], "priority": 5}]}, "pools.0.serverType"),
        (
            {"pools": [{"provider": "kwok", "serverType": ["a"], "priority": 5000}]},
            "pools.0.priority",
        ),
        ({"pools": [{"provider": "kwok", "serverType": ["a"], "priority": 5}], "x": 1}, "x"),
        ({}, "pools"),
    ],
)
def test_parse_group_errors_name_the_field(spec: dict[str, Any], where: str) -> None:
    view = parse_group({"metadata": {"name": "bad"}, "spec": spec})
    assert view.spec is None
    assert view.error is not None and view.error.startswith(where + ":")


def test_parse_group_error_lists_at_most_five_problems() -> None:
    pools = [{"provider": "kwok", "serverType": [], "priority": -1} for _ in range(4)]
    view = parse_group({"metadata": {"name": "bad"}, "spec": {"pools": pools}})
    assert view.error is not None and view.error.count(";") == 4


def test_parse_node_request() -> None:
    view = parse_node_request(
        {
            "metadata": {
                "name": "nr-1",
                "uid": "u",
                "resourceVersion": "42",
                "creationTimestamp": "2024-01-01T00:00:00Z",
            },
            "spec": {"nodeGroup": "default", "requirements": {"cpu": "2", "memory": "4Gi"}},
            "status": {
                "phase": "Provisioning",
                "currentPool": 0,
                "nodeName": "n-1",
                "attempts": [{"pool": 0, "result": "Created", "nodeName": "n-1"}],
            },
        }
    )
    assert view.error is None and view.group == "default" and view.phase == "Provisioning"
    assert (view.resource_version, view.creation, view.deleting) == (
        "42",
        "2024-01-01T00:00:00Z",
        False,
    )
    assert view.status.attempts[0].result == "Created"


def test_parse_node_request_without_status_is_pending() -> None:
    view = parse_node_request(
        {
            "metadata": {"name": "nr", "deletionTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"nodeGroup": "g", "requirements": {"cpu": "1", "memory": "1Gi"}},
        }
    )
    assert view.phase == "Pending" and view.deleting and view.error is None


@pytest.mark.parametrize(
    ("obj", "where"),
    [
        ({"spec": {"nodeGroup": "g"}}, "requirements"),
        (
            {"spec": {"nodeGroup": "Not Valid", "requirements": {"cpu": "1", "memory": "1"}}},
            "nodeGroup",
        ),
        (
            {
                "spec": {"nodeGroup": "g", "requirements": {"cpu": "1", "memory": "1"}},
                "status": {"phase": "Exploded"},
            },
            "phase",
        ),
    ],
)
def test_parse_node_request_errors(obj: dict[str, Any], where: str) -> None:
    view = parse_node_request({"metadata": {"name": "nr"}, **obj})
    assert view.error is not None and view.error.startswith(where)
    if where == "phase":  # a broken status leaves the spec readable: the group is known
        assert view.spec is not None and view.group == "g"
    else:
        assert view.spec is None and view.group == ""


# -- volumes -----------------------------------------------------------------------------------


def test_pod_claims_include_generic_ephemeral_volumes() -> None:
    spec = {
        "containers": [container()],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}},
            {"name": "cache", "emptyDir": {}},
            {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
        ],
    }
    record = parse_pod(pod(spec, name="web-0"))
    assert record.error is None
    assert record.claims == ("data-web-0", "web-0-scratch")


def test_claims_say_how_they_get_a_volume() -> None:
    bound = parse_claim(
        {
            "metadata": {"namespace": "shop", "name": "data"},
            "spec": {"storageClassName": "fast", "volumeName": "pv-1"},
            "status": {"phase": "Bound"},
        }
    )
    assert (bound.key, bound.storage_class, bound.volume_name, bound.phase) == (
        "shop/data",
        "fast",
        "pv-1",
        "Bound",
    )
    unset = parse_claim({"metadata": {"namespace": "shop", "name": "x"}, "spec": {}})
    assert (unset.storage_class, unset.volume_name, unset.phase) == (None, "", "Pending")
    none = parse_claim(
        {
            "metadata": {"name": "y", "deletionTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"storageClassName": ""},
        }
    )
    assert none.storage_class == "" and none.deleting


def test_volumes_keep_their_node_affinity_and_legacy_zone_labels() -> None:
    csi = parse_volume(
        {
            "metadata": {"name": "pv-1"},
            "spec": {
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "csi.hetzner.cloud/location",
                                        "operator": "In",
                                        "values": ["fsn1"],
                                    }
                                ]
                            }
                        ]
                    }
                }
            },
        }
    )
    assert csi.terms == (
        NodeSelectorTerm((Requirement("csi.hetzner.cloud/location", "In", ("fsn1",)),)),
    )
    legacy = parse_volume(
        {
            "metadata": {
                "name": "pv-2",
                "labels": {"topology.kubernetes.io/zone": "fsn1-dc14__fsn1-dc15"},
            },
            "spec": {},
        }
    )
    assert legacy.terms == (
        NodeSelectorTerm(
            (Requirement("topology.kubernetes.io/zone", "In", ("fsn1-dc14", "fsn1-dc15")),)
        ),
    )
    assert parse_volume({"metadata": {"name": "pv-3"}, "spec": {}}).terms == ()


def test_storage_classes() -> None:
    sc = parse_storage_class(
        {
            "metadata": {
                "name": "hcloud-volumes",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowedTopologies": [
                {
                    "matchLabelExpressions": [
                        {"key": "csi.hetzner.cloud/location", "values": ["fsn1", "nbg1"]}
                    ]
                }
            ],
        }
    )
    assert (sc.name, sc.binding_mode, sc.default) == (
        "hcloud-volumes",
        "WaitForFirstConsumer",
        True,
    )
    assert sc.allowed_topologies == (
        NodeSelectorTerm((Requirement("csi.hetzner.cloud/location", "In", ("fsn1", "nbg1")),)),
    )
    plain = parse_storage_class({"metadata": {"name": "x"}})
    assert (plain.binding_mode, plain.allowed_topologies, plain.default) == ("Immediate", (), False)
