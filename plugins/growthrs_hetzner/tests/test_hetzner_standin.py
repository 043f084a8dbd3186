"""The stand-in itself: the real hcloud client and plain HTTP see Hetzner's behaviour."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import hcloud
import pytest
import requests
from hcloud.images import Image
from hcloud.server_types import ServerType
from hetzner_support import TOKEN

from hcloud_standin import Exchange, StandIn
from hcloud_standin.contract import Contract
from hcloud_standin.labelselector import matches


def _get(api: StandIn, path: str, token: str = TOKEN, **params: Any) -> requests.Response:
    return requests.get(
        f"{api.url}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )


def _client(api: StandIn) -> hcloud.Client:
    return hcloud.Client(token=api.token, api_endpoint=api.url)


def test_wrong_token_is_401_unauthorized(api: StandIn) -> None:
    answer = _get(api, "/servers", token="nope")
    assert answer.status_code == 401
    assert answer.json() == {
        "error": {"code": "unauthorized", "message": "unable to authenticate", "details": None}
    }
    assert "nope" not in answer.text


def test_catalog_looks_like_hetzner(api: StandIn) -> None:
    types = {t.name: t for t in _client(api).server_types.get_all()}
    assert {
        "cx22",
        "cx32",
        "cx42",
        "cx52",
        "cpx11",
        "cpx51",
        "cax11",
        "cax41",
        "ccx13",
        "ccx63",
    } <= set(types)
    assert {"cx23", "cx33", "cx53", "cpx12", "cpx32", "cpx62"} <= set(types)  # current generation
    assert types["cax11"].architecture == "arm" and types["ccx13"].cpu_type == "dedicated"
    assert {loc.location.name for loc in types["cpx11"].locations} == {
        "fsn1",
        "nbg1",
        "hel1",
        "ash",
        "hil",
        "sin",
    }
    assert {p["location"] for p in types["cx22"].prices} == {"fsn1", "nbg1", "hel1"}
    deprecated = [name for name, t in types.items() if all(loc.deprecation for loc in t.locations)]
    assert deprecated == ["cx11"]
    assert [loc.network_zone for loc in _client(api).locations.get_all()][:4] == [
        "eu-central"
    ] * 3 + ["us-east"]


def test_pagination_meta(api: StandIn) -> None:
    for i in range(7):
        api.world.create_server({"name": f"s{i}", "server_type": "cx22", "image": "ubuntu-24.04"})
    body = _get(api, "/servers", page=2, per_page=3).json()
    assert [s["name"] for s in body["servers"]] == ["s3", "s4", "s5"]
    assert body["meta"]["pagination"] == {
        "page": 2,
        "per_page": 3,
        "previous_page": 1,
        "next_page": 3,
        "last_page": 3,
        "total_entries": 7,
    }
    assert _get(api, "/servers", per_page=500).json()["meta"]["pagination"]["per_page"] == 50


def test_label_selector_filters(api: StandIn) -> None:
    api.world.create_server(
        {
            "name": "a",
            "server_type": "cx22",
            "image": "ubuntu-24.04",
            "labels": {"env": "prod", "tier": "web"},
        }
    )
    api.world.create_server(
        {"name": "b", "server_type": "cx22", "image": "ubuntu-24.04", "labels": {"env": "dev"}}
    )
    api.world.create_server({"name": "c", "server_type": "cx22", "image": "ubuntu-24.04"})

    def names(selector: str) -> list[str]:
        return [s["name"] for s in _get(api, "/servers", label_selector=selector).json()["servers"]]

    assert names("env=prod") == ["a"]
    assert names("env==prod,tier") == ["a"]
    assert names("env!=prod") == ["b", "c"]
    assert names("!env") == ["c"]
    assert names("env in (prod,dev)") == ["a", "b"]
    assert names("env notin (prod)") == ["b", "c"]


def test_label_selector_language() -> None:
    labels = {"a": "1", "b": "2"}
    assert matches("a=1,b in (2, 3)", labels) and not matches("a=1,!b", labels)
    assert matches(None, labels) and matches("c notin (1)", labels)


@pytest.mark.invalid_requests
def test_bad_label_selector_is_invalid_input(api: StandIn) -> None:
    answer = _get(api, "/servers", label_selector="a==(")
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_input"


def test_images_filter_by_type_architecture_and_labels(api: StandIn) -> None:
    api.add_image(description="snap", architecture="arm", labels={"role": "node"})
    client = _client(api)
    snaps = client.images.get_all(
        type=["snapshot"], architecture=["arm"], label_selector="role=node"
    )
    assert [i.description for i in snaps] == ["snap"]
    assert client.images.get_all(type=["snapshot"], architecture=["x86"]) == []
    systems = client.images.get_all(type=["system"], name="ubuntu-24.04")
    assert sorted(i.architecture for i in systems) == ["arm", "x86"]


def test_server_create_picks_the_image_of_the_types_architecture(api: StandIn) -> None:
    result = _client(api).servers.create(
        name="arm", server_type=ServerType(name="cax11"), image=Image(name="ubuntu-24.04")
    )
    assert result.server.image.architecture == "arm"
    assert [a.command for a in result.next_actions] == ["start_server"]
    assert result.action.status == "running"


def test_actions_progress_with_the_clock(api: StandIn) -> None:
    client = _client(api)
    result = client.servers.create(
        name="s", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04")
    )
    assert client.actions.get_by_id(result.action.id).status == "running"  # 30 s
    api.advance(30.01)
    assert client.actions.get_by_id(result.action.id).status == "success"
    assert client.servers.get_by_id(result.server.id).status == "starting"  # 60 s
    api.advance(30.0)
    assert client.servers.get_by_id(result.server.id).status == "running"


@pytest.mark.invalid_requests
def test_request_validation_like_hetzner(api: StandIn) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def post(body: object) -> dict[str, Any]:
        answer = requests.post(f"{api.url}/servers", json=body, headers=headers, timeout=5)
        assert answer.status_code in (400, 409, 422)
        error: dict[str, Any] = answer.json()["error"]
        return error

    base = {"name": "ok", "server_type": "cx22", "image": "ubuntu-24.04"}
    assert post({**base, "name": "not_a_hostname"})["details"]["fields"][0]["name"] == "name"
    assert post({**base, "user_data": "x" * 40000})["details"]["fields"][0]["name"] == "user_data"
    assert post({**base, "labels": {"hetzner.cloud/x": "y"}})["code"] == "invalid_input"
    assert post({**base, "ssh_keys": ["ghost"]})["details"]["fields"][0]["name"] == "ssh_keys"
    assert (
        post({**base, "server_type": "cax11", "location": "ash"})["details"]["fields"][0]["name"]
        == "location"
    )
    bad_json = requests.post(
        f"{api.url}/servers",
        data=b"{",
        headers={**headers, "Content-Type": "application/json"},
        timeout=5,
    )
    assert bad_json.json()["error"]["code"] == "json_error"


def test_faults_one_shot_and_sticky(api: StandIn) -> None:
    client = _client(api)
    api.inject(code="server_error")
    with pytest.raises(hcloud.APIException) as info:
        client.locations.get_all()
    assert info.value.code == "server_error"
    assert client.locations.get_all()  # one-shot: gone
    sticky = api.inject(code="unavailable", path="/locations", times=None)
    for _ in range(3):
        assert _get(api, "/locations").status_code == 503
    assert _get(api, "/server_types").status_code == 200
    assert sticky.hits == 3
    api.clear_faults()
    assert _get(api, "/locations").status_code == 200


def test_rate_limit_fault_sends_hetzner_headers(api: StandIn) -> None:
    api.inject(code="rate_limit_exceeded", reset_in=30, retry_after=7)
    answer = _get(api, "/servers")
    assert answer.status_code == 429
    assert answer.headers["RateLimit-Remaining"] == "0"
    assert answer.headers["Retry-After"] == "7"
    reset = int(answer.headers["RateLimit-Reset"])
    assert 29 <= reset - api.world.now() <= 31
    assert "RateLimit-Limit" in _get(api, "/servers").headers


def test_http_control_api(api: StandIn) -> None:
    added = requests.post(
        f"{api.control_url}/faults",
        json={"code": "resource_unavailable", "server_type": "cx22", "location": "fsn1"},
        timeout=5,
    )
    assert added.status_code == 201
    assert (
        requests.get(f"{api.control_url}/faults", timeout=5).json()["faults"][0]["code"]
        == "resource_unavailable"
    )
    client = _client(api)
    with pytest.raises(hcloud.APIException) as info:
        client.servers.create(
            name="s",
            server_type=ServerType(name="cx22"),
            image=Image(name="ubuntu-24.04"),
            location=hcloud.locations.Location(name="fsn1"),
        )
    assert info.value.code == "resource_unavailable"
    assert (
        requests.post(f"{api.control_url}/faults", json={"code": "bogus"}, timeout=5).status_code
        == 400
    )
    snap = requests.post(
        f"{api.control_url}/images", json={"description": "golden", "labels": {"a": "b"}}, timeout=5
    ).json()
    assert snap["image"]["type"] == "snapshot"
    server = client.servers.create(
        name="s",
        server_type=ServerType(name="cx22"),
        image=Image(name="ubuntu-24.04"),
        user_data="#cloud-config\n",
    ).server
    requests.post(f"{api.control_url}/clock", json={"finish_actions": True}, timeout=5)
    assert client.servers.get_by_id(server.id).status == "running"
    meta = requests.get(f"{api.control_url}/metadata/{server.id}", timeout=5).json()
    assert meta["instance-id"] == str(server.id) and meta["availability-zone"] == "fsn1-dc14"
    assert (
        requests.get(f"{api.control_url}/metadata/{server.id}/userdata", timeout=5).text
        == "#cloud-config\n"
    )
    assert len(requests.get(f"{api.control_url}/exchanges", timeout=5).json()["exchanges"]) == len(
        api.exchanges
    )
    requests.post(
        f"{api.control_url}/availability",
        json={"server_type": "cx32", "location": "hel1", "available": False},
        timeout=5,
    )
    cx32 = client.server_types.get_by_name("cx32")
    assert [loc.available for loc in cx32.locations if loc.location.name == "hel1"] == [False]


def test_runs_as_a_process_and_prints_its_url(contract: Contract) -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hcloud_standin",
            "--port",
            "0",
            "--token",
            "proc-token",
            "--action-delay",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        _check_process(proc, contract)


def _check_process(proc: subprocess.Popen[str], contract: Contract) -> None:
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        client = hcloud.Client(token="proc-token", api_endpoint=url)
        server = client.servers.create(
            name="p", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04")
        ).server
        deadline = time.monotonic() + 5
        while client.servers.get_by_id(server.id).status != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        control = url.removesuffix("/v1") + "/__standin"
        served = requests.get(f"{control}/exchanges", timeout=5).json()["exchanges"]
        assert len(served) >= 2
        assert contract.check_all(Exchange.from_dict(e) for e in served) == []
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_create_faults_match_ids_as_well_as_names(api: StandIn) -> None:
    api.inject(code="resource_unavailable", server_type="cx22", location="nbg1")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"name": "s", "server_type": "104", "image": "ubuntu-24.04", "location": "2"}
    answer = requests.post(f"{api.url}/servers", json=body, headers=headers, timeout=5)
    assert answer.status_code == 412
    assert answer.json()["error"]["message"] == "server type cx22 is currently unavailable in nbg1"


def test_record_limit_keeps_the_newest() -> None:
    with StandIn(token=TOKEN, record_limit=2) as api:
        for path in ("/locations", "/server_types", "/datacenters"):
            _get(api, path)
        assert [e.path for e in api.exchanges] == ["/server_types", "/datacenters"]
