"""The contract check catches wrong shapes, so a green run means something."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import hcloud
import pytest
from hcloud.images import Image
from hcloud.server_types import ServerType

from hcloud_standin import Exchange, StandIn
from hcloud_standin import server as standin_server
from hcloud_standin.contract import Contract, load_spec, strict_schema


def _served(api: StandIn, method: str, path: str) -> Exchange:
    found = api.requests(method, path)
    assert found, f"nothing served for {method} {path}"
    return found[-1]


@pytest.fixture
def served(api: StandIn) -> dict[str, Exchange]:
    client = hcloud.Client(token=api.token, api_endpoint=api.url)
    created = client.servers.create(
        name="s", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04")
    )
    client.servers.get_by_id(created.server.id)
    client.server_types.get_all()
    return {
        "create": _served(api, "POST", "/servers"),
        "get": _served(api, "GET", r"/servers/\d+"),
        "types": _served(api, "GET", "/server_types"),
    }


def _with(exchange: Exchange, **changes: Any) -> Exchange:
    data = exchange.to_dict()
    data.update(changes)
    return Exchange.from_dict(data)


def test_what_the_stand_in_served_is_valid(contract: Contract, served: dict[str, Exchange]) -> None:
    for exchange in served.values():
        assert contract.check(exchange) == []


def test_missing_required_field_is_caught(contract: Contract, served: dict[str, Exchange]) -> None:
    body = copy.deepcopy(served["get"].response_body)
    del body["server"]["primary_disk_size"]
    problems = contract.check(_with(served["get"], response_body=body))
    assert any("'primary_disk_size' is a required property" in p for p in problems)


def test_wrong_type_is_caught(contract: Contract, served: dict[str, Exchange]) -> None:
    body = copy.deepcopy(served["types"].response_body)
    body["server_types"][0]["cores"] = "two"
    body["meta"]["pagination"]["page"] = None
    problems = contract.check(_with(served["types"], response_body=body))
    assert any(
        "server_types[0].cores" in p and "'two' is not of type 'number'" in p for p in problems
    )
    assert any("pagination.page" in p for p in problems)


def test_bad_enum_and_date_are_caught(contract: Contract, served: dict[str, Exchange]) -> None:
    body = copy.deepcopy(served["create"].response_body)
    body["server"]["status"] = "booting"
    body["action"]["started"] = "yesterday"
    problems = contract.check(_with(served["create"], response_body=body))
    assert any("'booting' is not one of" in p for p in problems)
    assert any("'yesterday' is not a 'date-time'" in p for p in problems)


def test_invented_field_is_caught_in_strict_mode(
    contract: Contract, served: dict[str, Exchange]
) -> None:
    body = copy.deepcopy(served["get"].response_body)
    body["server"]["public_net"]["ipv4"]["reverse_dns"] = "x"
    problems = contract.check(_with(served["get"], response_body=body))
    assert any("'reverse_dns' was unexpected" in p for p in problems)
    lenient = Contract(contract.spec, strict=False)
    assert lenient.check(_with(served["get"], response_body=body)) == []


def test_undocumented_status_and_error_body_are_caught(
    contract: Contract, served: dict[str, Exchange]
) -> None:
    assert any(
        "status 302 is not documented" in p
        for p in contract.check(_with(served["get"], status=302))
    )
    bad_error = _with(served["get"], status=404, response_body={"error": {"code": "not_found"}})
    assert any("'message' is a required property" in p for p in contract.check(bad_error))


def test_bad_requests_are_caught(contract: Contract, served: dict[str, Exchange]) -> None:
    create = served["create"]
    body = {**create.request_body, "ssh_keys": [42], "server_typ": "cx22"}
    problems = contract.check(_with(create, request_body=body))
    assert any("request $.ssh_keys[0]: 42 is not of type 'string'" in p for p in problems)
    assert any("'server_typ' was unexpected" in p for p in problems)
    listing = _with(served["types"], query={"status": ["50"], "per_page": ["x"]})
    problems = contract.check(listing)
    assert any("'status' is not declared" in p for p in problems)
    assert any("per_page" in p for p in problems)


def test_unknown_path_is_caught(contract: Contract) -> None:
    exchange = Exchange("GET", "/serverz", {}, None, 200, {"serverz": []})
    assert contract.check(exchange) == [
        "GET /serverz -> 200: no operation GET /serverz in the description"
    ]


def test_a_stand_in_that_answers_wrongly_fails_the_check(
    api: StandIn, contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Break the stand-in on purpose: the recorded exchange must be flagged."""
    real = standin_server.World.location_dict

    def broken(loc: Any) -> dict[str, Any]:
        out = real(loc)
        out["latitude"] = str(out["latitude"])
        del out["network_zone"]
        return out

    monkeypatch.setattr(standin_server.World, "location_dict", staticmethod(broken))
    hcloud.Client(token=api.token, api_endpoint=api.url).locations.get_all()
    problems = contract.check_all(api.requests("GET", "/locations"))
    assert any("latitude" in p and "is not of type 'number'" in p for p in problems)
    assert any("'network_zone' is a required property" in p for p in problems)
    api.exchanges.clear()  # keep the fixture's own check from failing this test


def test_nullable_enum_accepts_null() -> None:
    schema = strict_schema({"type": "string", "enum": ["a"], "nullable": True})
    assert schema["enum"] == ["a", None]


def test_parsed_description_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROWTHRS_CACHE", str(tmp_path))
    source = tmp_path / "tiny.yml"
    source.write_text("openapi: 3.0.3\npaths: {}\n")
    load_spec.cache_clear()
    try:
        assert load_spec(str(source)) == {"openapi": "3.0.3", "paths": {}}
        cached = list(tmp_path.glob("hcloud-openapi-*.json"))
        assert len(cached) == 1 and json.loads(cached[0].read_text())["openapi"] == "3.0.3"
    finally:
        load_spec.cache_clear()


def test_loading_the_real_description_is_fast() -> None:
    Contract.load()  # warm: the session fixture already did
    start = time.perf_counter()
    load_spec.cache_clear()
    load_spec()
    assert time.perf_counter() - start < 2.0  # JSON cache, not 66k lines of YAML
