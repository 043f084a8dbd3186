"""Bad input: hypothesis-generated node group specs and pod specs.

Three ways in, each with one promise:

- group specs through the apiserver (operator running): every spec is either
  rejected by the CRD schema with a message naming the field, or accepted and
  then reported in the group's status (``observedGeneration`` and a ``Ready``
  condition) — never a crash;
- pod specs through the apiserver (operator running): never a crash; a pod the
  operator cannot read gets an ``InvalidPodSpec`` Event;
- raw pod dicts (anything JSON can hold) straight into the planner
  (``growthrs_core.planner.plan``): never an exception; an unreadable pod is
  reported ``InvalidPodSpec``.

The strategies are shared with ``tests/unit/test_reliability_inputs.py``.
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from growthrs_core.cluster import parse_group, parse_pod
from growthrs_core.controller.kube import KubeError, ngp_path
from growthrs_core.planner import REASONS, unschedulable_pods
from growthrs_testkit.kube import PAUSE_IMAGE, group_body
from growthrs_testkit.planning import group, lineup, pool, run
from reliability.trial import GROUP_LABEL, Trial, TrialFailed

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x2FFF), max_size=70
)
NAMEISH = st.one_of(
    st.sampled_from(["kwok", "hetzner", "nosuchcloud", "", "KWOK", "a" * 64]),
    st.from_regex(r"[a-z0-9][-a-z0-9.]{0,20}", fullmatch=True),
    TEXT,
)
SERVER_TYPES = st.one_of(
    st.sampled_from(["cx22", "cx32", "cpx31", "cax11", "gx-l4-1", "wx-widget-2", "cx99", ""]),
    TEXT,
)
LOCATIONS = st.lists(st.sampled_from(["fsn1", "nbg1", "hel1", "mars1", "", "FSN1"]), max_size=4)
SMALL_INT = st.one_of(st.integers(-2, 4), st.sampled_from([10001, 2**31, -(2**40)]))
DURATIONS = st.sampled_from(["1s", "10m", "1h30m", "0s", "bogus", "", "5", "1.5m", "9999999h"])


def node_class_refs() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries({"kind": st.sampled_from(["HetznerNodeClass", ""]), "name": NAMEISH}),
        st.fixed_dictionaries({"name": NAMEISH}),
        st.just("not-an-object"),
    )


def pools() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {
            "provider": NAMEISH,
            "serverType": st.one_of(st.lists(SERVER_TYPES, max_size=4), st.just("cx22")),
            "priority": st.one_of(st.integers(-5, 1100), st.just("high")),
        },
        optional={
            "locations": LOCATIONS,
            "minNodes": SMALL_INT,
            "maxNodes": SMALL_INT,
            "nodeClassRef": node_class_refs(),
            "colour": TEXT,
        },
    )


def taints() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {"key": st.one_of(st.sampled_from(["dedicated", "a/b", ""]), TEXT)},
        optional={
            "value": TEXT,
            "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute", "Bogus"]),
        },
    )


def valid_pools() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {
            "provider": st.sampled_from(["kwok", "kwok", "kwok", "hetzner", "nosuchcloud"]),
            "serverType": st.lists(
                st.sampled_from(
                    ["cx22", "cx32", "cpx31", "cax11", "gx-l4-1", "wx-widget-2", "cx99"]
                ),
                min_size=1,
                max_size=3,
                unique=True,
            ),
            "priority": st.integers(0, 1000),
        },
        optional={
            "locations": st.lists(
                st.sampled_from(["fsn1", "nbg1", "hel1", "mars1"]),
                min_size=1,
                max_size=2,
                unique=True,
            ),
            "minNodes": st.integers(0, 1),
            "maxNodes": st.integers(1, 4),
        },
    )


def plausible_group_specs() -> st.SearchStrategy[dict[str, Any]]:
    """Specs a user might write: most are valid, some name what does not exist
    (a provider, a type, a location) or leave a pool nothing to do (maxNodes 0)."""
    return st.fixed_dictionaries(
        {
            "pools": st.lists(
                valid_pools(),
                min_size=1,
                max_size=3,
                unique_by=lambda p: (
                    p["provider"],
                    tuple(p["serverType"]),
                    tuple(p.get("locations", ())),
                ),
            )
        },
        optional={
            "minNodes": st.just(0),
            "maxNodes": st.integers(0, 5),
            "locations": st.lists(
                st.sampled_from(["fsn1", "nbg1", "hel1", "mars1"]),
                min_size=1,
                max_size=2,
                unique=True,
            ),
            "labels": st.dictionaries(
                st.sampled_from(["team", "tier"]), st.sampled_from(["a", "b"]), max_size=2
            ),
            "taints": st.lists(
                st.fixed_dictionaries(
                    {
                        "key": st.sampled_from(["dedicated", "gpu"]),
                        "effect": st.sampled_from(["NoSchedule", "NoExecute"]),
                    }
                ),
                max_size=1,
            ),
            "scaleDown": st.fixed_dictionaries(
                {"enabled": st.booleans(), "unneededTime": st.sampled_from(["1s", "10m", "1h30m"])}
            ),
            "nodesOnDeletion": st.sampled_from(["Remove", "Release"]),
            "nodeClassRef": st.fixed_dictionaries(
                {
                    "kind": st.just("HetznerNodeClass"),
                    "name": st.sampled_from(["missing", "workers"]),
                }
            ),
        },
    )


def group_specs() -> st.SearchStrategy[dict[str, Any]]:
    """Specs of every shape: plausible (mostly valid), subtly invalid, and nonsense."""
    return st.one_of(plausible_group_specs(), plausible_group_specs(), wild_group_specs())


def wild_group_specs() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"pools": st.one_of(st.lists(pools(), max_size=4), st.just([]), st.just("pools"))},
        optional={
            "minNodes": SMALL_INT,
            "maxNodes": SMALL_INT,
            "locations": LOCATIONS,
            "labels": st.dictionaries(
                st.one_of(st.sampled_from(["team", "a/b", "growthrs.io/x"]), TEXT), TEXT, max_size=3
            ),
            "taints": st.lists(taints(), max_size=3),
            "scaleDown": st.fixed_dictionaries(
                {}, optional={"enabled": st.booleans(), "unneededTime": DURATIONS}
            ),
            "nodesOnDeletion": st.sampled_from(["Remove", "Release", "Keep"]),
            "nodeClassRef": node_class_refs(),
        },
    )


# -- pods -----------------------------------------------------------------------------------

QUANTITIES = st.one_of(
    st.sampled_from(
        [
            "1",
            "100m",
            "0.5",
            "1e3",
            "1E",
            "1Ki",
            "1.5Gi",
            "+1",
            "0",
            "-1",
            "1e-3",
            "12345678901234567890",
            "1m",
            "abc",
            "",
            "0.0001",
            "1Pi",
            "500Mi",
            "2Gi",
            "9223372036854775807",
            "1n",
            "1u",
            ".5",
            "5.",
            "1e18",
        ]
    ),
    st.integers(-2, 10**12).map(str),
)
RESOURCE_NAMES = st.sampled_from(
    [
        "cpu",
        "memory",
        "ephemeral-storage",
        "nvidia.com/gpu",
        "example.com/widget",
        "hugepages-2Mi",
        "pods",
    ]
)
OPERATORS = st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Bogus"])
KEYS = st.sampled_from(
    [
        "kubernetes.io/arch",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "node.kubernetes.io/instance-type",
        "kubernetes.io/hostname",
        "team",
        "",
    ]
)


def resources() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {},
        optional={
            "requests": st.dictionaries(RESOURCE_NAMES, QUANTITIES, max_size=4),
            "limits": st.dictionaries(RESOURCE_NAMES, QUANTITIES, max_size=3),
        },
    )


def containers(prefix: str) -> st.SearchStrategy[Any]:
    return st.lists(
        st.fixed_dictionaries(
            {"image": st.just(PAUSE_IMAGE), "resources": resources()},
            optional={
                "ports": st.lists(
                    st.fixed_dictionaries(
                        {"containerPort": st.integers(1, 65535)},
                        optional={"hostPort": st.integers(-1, 70000)},
                    ),
                    max_size=2,
                )
            },
        ),
        min_size=1,
        max_size=2,
    ).map(lambda cs: [{**c, "name": f"{prefix}{i}"} for i, c in enumerate(cs)])


def requirements() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {"key": KEYS, "operator": OPERATORS},
        optional={
            "values": st.lists(
                st.one_of(st.sampled_from(["amd64", "fsn1", "1", "x"]), TEXT), max_size=3
            )
        },
    )


def affinities() -> st.SearchStrategy[Any]:
    term = st.fixed_dictionaries(
        {}, optional={"matchExpressions": st.lists(requirements(), max_size=3)}
    )
    pod_term = st.fixed_dictionaries(
        {"topologyKey": KEYS},
        optional={
            "labelSelector": st.fixed_dictionaries(
                {},
                optional={
                    "matchLabels": st.dictionaries(
                        st.just("app"), st.sampled_from(["x", "y"]), max_size=1
                    )
                },
            )
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "nodeAffinity": st.fixed_dictionaries(
                {},
                optional={
                    "requiredDuringSchedulingIgnoredDuringExecution": st.fixed_dictionaries(
                        {"nodeSelectorTerms": st.lists(term, max_size=2)}
                    ),
                    "preferredDuringSchedulingIgnoredDuringExecution": st.lists(
                        st.fixed_dictionaries({"weight": st.integers(-1, 101), "preference": term}),
                        max_size=2,
                    ),
                },
            ),
            "podAntiAffinity": st.fixed_dictionaries(
                {},
                optional={
                    "requiredDuringSchedulingIgnoredDuringExecution": st.lists(pod_term, max_size=2)
                },
            ),
        },
    )


def pod_specs(group_name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Pod specs as a user might write them: mostly plausible, often subtly wrong."""
    pinned = st.booleans().map(lambda pin: {GROUP_LABEL: group_name} if pin else {})
    extra = st.dictionaries(
        st.one_of(KEYS, TEXT), st.one_of(st.sampled_from(["amd64", "fsn1"]), TEXT), max_size=2
    )
    return st.fixed_dictionaries(
        {
            "containers": containers("c"),
            "nodeSelector": st.tuples(pinned, extra).map(lambda p: {**p[1], **p[0]}),
            "terminationGracePeriodSeconds": st.just(0),
        },
        optional={
            "initContainers": containers("i"),
            "tolerations": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "key": st.one_of(KEYS, st.just("node.kubernetes.io/not-ready")),
                        "operator": st.sampled_from(["Exists", "Equal", "Bogus"]),
                        "value": TEXT,
                        "effect": st.sampled_from(["NoSchedule", "NoExecute", "", "Bogus"]),
                    },
                ),
                max_size=3,
            ),
            "affinity": affinities(),
            "topologySpreadConstraints": st.lists(
                st.fixed_dictionaries(
                    {
                        "maxSkew": st.integers(-1, 3),
                        "topologyKey": KEYS,
                        "whenUnsatisfiable": st.sampled_from(
                            ["DoNotSchedule", "ScheduleAnyway", "Bogus"]
                        ),
                    },
                    optional={"minDomains": st.integers(-1, 3)},
                ),
                max_size=2,
            ),
            "overhead": st.dictionaries(st.sampled_from(["cpu", "memory"]), QUANTITIES, max_size=2),
            "priority": st.integers(-5, 10**9),
        },
    )


JSONISH = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=True), TEXT
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=12,
)


def raw_pods() -> st.SearchStrategy[dict[str, Any]]:
    """Pods as the planner's parser might ever see them: a plausible spec, or one whose
    fields hold anything JSON can hold."""
    spec = st.one_of(
        pod_specs("g"),
        st.dictionaries(
            st.sampled_from(
                [
                    "containers",
                    "initContainers",
                    "nodeSelector",
                    "tolerations",
                    "affinity",
                    "topologySpreadConstraints",
                    "overhead",
                    "priority",
                    "volumes",
                    "nodeName",
                ]
            ),
            JSONISH,
            max_size=5,
        ),
    )
    return st.fixed_dictionaries(
        {
            "metadata": st.fixed_dictionaries(
                {
                    "name": st.from_regex(r"p[a-z0-9]{1,8}", fullmatch=True),
                    "namespace": st.just("default"),
                },
                optional={"labels": st.one_of(st.dictionaries(TEXT, TEXT, max_size=2), JSONISH)},
            ),
            "spec": spec,
            "status": st.just(
                {
                    "phase": "Pending",
                    "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
                    ],
                }
            ),
        }
    )


# -- checks ---------------------------------------------------------------------------------


def check_planner_pods(raw: list[dict[str, Any]]) -> str | None:
    """Parse ``raw`` pods and plan for them; a problem in words, or None."""
    parsed = []
    for i, obj in enumerate(raw):
        obj = {
            **obj,
            "metadata": {
                **obj["metadata"],
                "uid": f"u{i}",
                "name": f"{obj['metadata']['name']}-{i}",
            },
        }
        try:
            parsed.append(parse_pod(obj))
        except Exception as exc:  # noqa: BLE001 - that is what is being looked for
            return f"parse_pod raised {type(exc).__name__}: {exc} on {obj!r}"[:2000]
    groups = [
        group(
            "g", [pool(["cx22", "cx32"], 90, provider="kwok"), pool(["cpx31"], 50, provider="kwok")]
        ),
        group("h", [pool(["cx42"], 50, provider="kwok")], labels={"team": "x"}),
    ]
    try:
        result = run(
            parsed, groups, {"kwok": lineup(["cx22", "cx32", "cpx31", "cx42"], ("fsn1", "nbg1"))}
        )
    except Exception as exc:  # noqa: BLE001
        return f"plan raised {type(exc).__name__}: {exc} for {raw!r}"[:2000]
    for pod in parsed:
        outcome = result.outcomes.get(f"{pod.namespace}/{pod.name}")
        if pod.error and unschedulable_pods([pod]):
            if outcome is None or outcome.reason != "InvalidPodSpec":
                return f"unreadable pod {pod.name} ({pod.error}) got {outcome}"
        elif (
            outcome is not None and outcome.kind == "cannot_serve" and outcome.reason not in REASONS
        ):
            return f"pod {pod.name}: unknown reason {outcome.reason}"
    return None


def check_group_spec(spec: Any) -> str | None:
    """``parse_group`` never raises; an invalid spec says why."""
    try:
        view = parse_group({"metadata": {"name": "g", "uid": "u", "generation": 1}, "spec": spec})
    except Exception as exc:  # noqa: BLE001
        return f"parse_group raised {type(exc).__name__}: {exc} on {spec!r}"[:2000]
    if view.spec is None and not view.error:
        return f"invalid spec without a reason: {spec!r}"
    return None


def _hypothesis(trial_seed: int, examples: int) -> Any:
    def wrap(fn: Any) -> Any:
        return seed(trial_seed)(
            settings(
                max_examples=examples,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(fn)
        )

    return wrap


def planner_inputs(examples: int) -> Any:
    def run_trial(t: Trial) -> None:
        problems: list[str] = []
        counts = {"pods": 0, "unreadable": 0, "groups": 0, "invalid_groups": 0}

        @_hypothesis(t.seed, examples)
        @given(st.lists(raw_pods(), min_size=1, max_size=6), group_specs())
        def check(raw: list[dict[str, Any]], spec: dict[str, Any]) -> None:
            counts["pods"] += len(raw)
            counts["groups"] += 1
            for obj in raw:
                try:
                    if parse_pod(obj).error:
                        counts["unreadable"] += 1
                except Exception:  # noqa: BLE001 - check_planner_pods reports it
                    pass
            problem = check_planner_pods(raw)
            if problem:
                problems.append(problem)
            problem = check_group_spec(spec)
            if problem:
                problems.append(problem)
            if parse_group({"metadata": {"name": "g"}, "spec": spec}).spec is None:
                counts["invalid_groups"] += 1

        check()
        t.result.details.update(counts)
        t.result.pods = counts["pods"]
        t.result.failures += problems[:10]
        t.result.crashes += len(problems)

    return run_trial


def _status_reported(t: Trial, name: str) -> dict[str, Any] | None:
    obj = t.kube.get(ngp_path(name))
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return None
    ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), None)
    return ready


def groups_through_apiserver(examples: int) -> Any:
    def run_trial(t: Trial) -> None:
        t.setup()
        t.allow_idle = True
        t.operator(scale_down_enabled=True)
        t.current.wait_for_log("caches synced", 60)
        counts = {"rejected": 0, "accepted": 0, "reported": 0, "not_ready": 0}
        unclear: list[str] = []
        problems: list[str] = []
        index = {"i": 0}

        @_hypothesis(t.seed, examples)
        @given(group_specs())
        def check(spec: dict[str, Any]) -> None:
            index["i"] += 1
            name = f"{t.prefix}-b{index['i']}"
            try:
                t.kube.create(ngp_path(), group_body(name, [], **{}) | {"spec": spec})
            except KubeError as exc:
                if exc.status not in (400, 422):
                    problems.append(f"{name}: unexpected HTTP {exc.status}: {exc}")
                    return
                counts["rejected"] += 1
                if "spec" not in str(exc) or len(str(exc)) < 20:
                    unclear.append(f"{exc.status}: {exc}")
                return
            counts["accepted"] += 1
            t.groups.add(name)
            try:
                ready = t.wait(
                    f"{name} reported in its status", lambda: _status_reported(t, name), 30
                )
                counts["reported"] += 1
                if ready.get("status") != "True":
                    counts["not_ready"] += 1
            except TrialFailed as exc:
                problems.append(f"{name} (spec {spec!r}) never reported: {exc}")
            t.delete_group(name)
            try:
                t.wait(f"{name} gone", lambda: _gone(t, name), 60)
            except TrialFailed as exc:
                problems.append(f"{name}: deleting it did not finish: {exc}")

        check()
        t.result.details.update(counts, unclear_messages=unclear[:10])
        t.result.failures += problems[:10]
        if unclear:
            t.result.failures.append(
                f"{len(unclear)} rejection(s) without a clear message: {unclear[:3]}"
            )
        t.settle(timeout=120)

    return run_trial


def _gone(t: Trial, name: str) -> bool:
    try:
        t.kube.get(ngp_path(name))
    except KubeError as exc:
        return exc.status == 404
    return False


def pods_through_apiserver(examples: int, batch: int = 8) -> Any:
    def run_trial(t: Trial) -> None:
        t.setup()
        g = t.group(
            "g",
            [
                {"provider": "kwok", "serverType": ["cx32"], "priority": 90},
                {"provider": "kwok", "serverType": ["wx-widget-2"], "priority": 50},
                {"provider": "kwok", "serverType": ["gx-l4-1"], "priority": 40},
            ],
            locations=["fsn1", "nbg1"],
            scaleDown={"enabled": True, "unneededTime": "2s"},
            maxNodes=6,
        )
        t.operator()
        t.current.wait_for_log("caches synced", 60)
        counts = {
            "rejected": 0,
            "accepted": 0,
            "unreadable": 0,
            "with_event": 0,
            "running": 0,
            "silent": 0,
        }
        problems: list[str] = []
        pending: list[dict[str, Any]] = []
        index = {"i": 0}

        @_hypothesis(t.seed, examples)
        @given(pod_specs(g))
        def check(spec: dict[str, Any]) -> None:
            index["i"] += 1
            name = f"bad-{index['i']}"
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": t.ns},
                "spec": spec,
            }
            try:
                created = t.kube.create(f"/api/v1/namespaces/{t.ns}/pods", body)
            except KubeError as exc:
                if exc.status not in (400, 403, 422):
                    problems.append(f"{name}: unexpected HTTP {exc.status}: {exc}")
                counts["rejected"] += 1
                return
            counts["accepted"] += 1
            pending.append(created)
            if len(pending) >= batch:
                _judge(t, pending, counts, problems)
                pending.clear()

        check()
        if pending:
            _judge(t, pending, counts, problems)
        t.result.details.update(counts)
        t.result.failures += problems[:10]
        t.settle(timeout=150)

    return run_trial


def _judge(
    t: Trial, created: list[dict[str, Any]], counts: dict[str, int], problems: list[str]
) -> None:
    """Give each pod of a batch up to 40 s for an outcome: Running, a GrowthRS Event, or a
    NodeRequest that lists it; an unreadable one must get InvalidPodSpec. Then delete them."""
    deadline = time.monotonic() + 40
    names = {p["metadata"]["name"]: p for p in created}
    outcome: dict[str, str] = {}
    while time.monotonic() < deadline and len(outcome) < len(names):
        t._check_operator()
        events: dict[str, set[str]] = {}
        try:
            for e in t.pod_events():
                events.setdefault(e["involvedObject"]["name"], set()).add(e["reason"])
        except KubeError:
            pass
        assert t.recorder is not None
        listed = {p for r in t.recorder.live_requests(t.groups) for p in r.pods}
        for name, obj in names.items():
            if name in outcome:
                continue
            current = t.recorder.pod_objects.get(obj["metadata"]["uid"]) or obj
            info = parse_pod(current)
            if info.error:
                if "InvalidPodSpec" in events.get(name, set()):
                    outcome[name] = "unreadable"
                continue
            if (current.get("status") or {}).get("phase") == "Running":
                outcome[name] = "running"
            elif events.get(name) or obj["metadata"]["uid"] in listed:
                outcome[name] = "with_event"
        time.sleep(1.0)
    for name, obj in names.items():
        kind = outcome.get(name)
        if kind is None:
            info = parse_pod(t.recorder.pod_objects.get(obj["metadata"]["uid"]) or obj)
            if info.error:
                problems.append(f"unreadable pod {name} ({info.error}) got no InvalidPodSpec event")
            counts["silent"] += 1
        else:
            counts[kind] += 1
        t.kube.delete(f"/api/v1/namespaces/{t.ns}/pods/{name}")
