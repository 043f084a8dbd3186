"""Pod records of one workload share what they repeat; errors are never cached."""

from __future__ import annotations

from typing import Any

from growthrs_core.cluster import parse_pod, pod_requests
from growthrs_core.domain import Resources


def pod(name: str, cpu: Any = "250m", memory: Any = "256Mi", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": name},
        "spec": {
            "containers": [
                {"name": "app", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
            ],
            **spec,
        },
    }


def test_identical_requests_parse_to_one_shared_record() -> None:
    a, b = parse_pod(pod("a")), parse_pod(pod("b"))
    assert a.requests == Resources(cpu_millis=250, memory_mib=256)
    assert a.requests is b.requests


def test_a_malformed_quantity_is_reported_every_time() -> None:
    for name in ("a", "b"):
        record = parse_pod(pod(name, cpu="lots"))
        assert record.error is not None and "lots" in record.error


def test_an_unhashable_quantity_is_an_error_not_a_crash() -> None:
    record = parse_pod(pod("a", cpu=["1"]))
    assert record.error is not None


def test_init_containers_and_overhead_still_count() -> None:
    spec = pod("a", cpu="1", memory="1Gi")["spec"]
    spec["initContainers"] = [
        {"name": "init", "resources": {"requests": {"cpu": "2", "memory": "512Mi"}}}
    ]
    spec["overhead"] = {"cpu": "100m", "memory": "64Mi"}
    assert pod_requests(spec) == Resources(cpu_millis=2100, memory_mib=1088)
    assert pod_requests({"containers": []}) == Resources(cpu_millis=0, memory_mib=0)


def test_repeated_strings_and_tolerations_are_kept_once() -> None:
    def raw(name: str) -> dict[str, Any]:
        body = pod(
            name,
            nodeName="".join(
                ["node", "-1"]
            ),  # equal strings, distinct objects, as orjson makes them
            tolerations=[{"key": "k", "operator": "Exists", "effect": "NoExecute"}],
        )
        body["metadata"]["labels"] = {"".join(["a", "pp"]): "".join(["we", "b"])}
        return body

    a, b = parse_pod(raw("a")), parse_pod(raw("b"))
    assert a.labels == b.labels == {"app": "web"}
    ((ka, va),), ((kb, vb),) = a.labels.items(), b.labels.items()
    assert ka is kb and va is vb
    assert a.node_name is b.node_name and a.namespace is b.namespace
    assert a.tolerations[0] is b.tolerations[0]
    assert a.labels is not b.labels  # each record still owns its dict
