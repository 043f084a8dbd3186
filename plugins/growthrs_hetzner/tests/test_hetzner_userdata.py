"""Cloud-init user data: rendered per node from a template and the join Secret."""

from __future__ import annotations

import logging

import pytest
import yaml
from hetzner_support import JOIN, JOIN_SECRET, create_request, k3s_class

from growthrs_core import CreationFailed, MissingConfig, Taint
from growthrs_hetzner import userdata
from growthrs_hetzner.provider import HetznerProvider
from hcloud_standin import StandIn


def _config(text: str) -> dict[str, object]:
    assert text.startswith("#cloud-config\n")
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def test_k3s_agent_join(api: StandIn, provider: HetznerProvider) -> None:
    request = create_request(
        provider,
        "node-1",
        "cax11",
        node_class=k3s_class(),
        labels={
            "growthrs.io/node-group": "default",
            "team": "a b",
            "node-role.kubernetes.io/worker": "",
        },
        taints=(Taint("dedicated", "gpu", "NoSchedule"), Taint("spot", "", "NoExecute")),
    )
    provider.create(request)
    text = api.user_data("node-1") or ""
    config = _config(text)
    files = {f["path"]: f for f in config["write_files"]}  # type: ignore[attr-defined]
    k3s = yaml.safe_load(files["/etc/rancher/k3s/config.yaml"]["content"])
    assert k3s == {
        "server": JOIN_SECRET["server"],
        "token": JOIN_SECRET["token"],
        "node-name": "node-1",
    }
    assert files["/etc/rancher/k3s/config.yaml"]["permissions"] == "0600"
    script = config["runcmd"][0][2]  # type: ignore[index]
    assert "sh /run/k3s-install.sh agent" in script
    assert "--kubelet-arg cloud-provider=external" in script
    assert "--node-label growthrs.io/node-group=default" in script
    assert "--node-label 'team=a b'" in script
    assert "--node-taint dedicated=gpu:NoSchedule" in script
    assert "--node-taint spot:NoExecute" in script
    assert "provider-id=hcloud://${INSTANCE_ID}" in script
    assert "169.254.169.254/hetzner/v1/metadata/instance-id" in script
    assert "node-role.kubernetes.io" not in script  # a kubelet may not set it: it would not start
    # The server's version, installed exactly (test_hetzner_cloud_init runs the script).
    assert f"K3S_VERSION={JOIN_SECRET['version']}\n" in script
    assert 'export INSTALL_K3S_VERSION="$K3S_VERSION"' in script
    assert "{{" not in text


def test_kubeadm_join(api: StandIn, provider: HetznerProvider) -> None:
    node_class = {
        "userData": {"kind": "kubeadm"},
        "joinSecretRef": {"namespace": JOIN[0], "name": JOIN[1]},
    }
    provider.create(
        create_request(
            provider,
            "node-1",
            node_class=node_class,
            labels={"pool": "fast", "topology.kubernetes.io/region": "fsn1"},
            taints=(Taint("dedicated", "db"),),
        )
    )
    config = _config(api.user_data("node-1") or "")
    files = {f["path"]: f for f in config["write_files"]}  # type: ignore[attr-defined]
    join = yaml.safe_load(files["/etc/growthrs/kubeadm-join.yaml"]["content"])
    assert join["kind"] == "JoinConfiguration"
    discovery = join["discovery"]["bootstrapToken"]
    assert discovery == {
        "apiServerEndpoint": JOIN_SECRET["endpoint"],
        "token": JOIN_SECRET["token"],
        "caCertHashes": [JOIN_SECRET["caCertHash"]],
    }
    args = {a["name"]: a["value"] for a in join["nodeRegistration"]["kubeletExtraArgs"]}
    assert join["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert args == {
        "cloud-provider": "external",
        "provider-id": "hcloud://__INSTANCE_ID__",
        "node-labels": "pool=fast,topology.kubernetes.io/region=fsn1",
        "register-with-taints": "dedicated=db:NoSchedule",
    }
    script = config["runcmd"][0][2]  # type: ignore[index]
    assert "KVER=v1.33" in script and "kubeadm join --config" in script


def test_custom_template_from_a_config_map(
    api: StandIn, provider: HetznerProvider, config_maps: dict[tuple[str, str, str], str]
) -> None:
    config_maps[("ops", "node-init", "template")] = (
        "#cloud-config\nruncmd:\n  - [echo, {{ node_name }}, {{ instance_type }}, {{ region }}, "
        "{{ arch }}, {{ node_labels | json }}, {{ secret.token | base64 }}]\n"
    )
    node_class = {
        "userData": {"kind": "custom", "templateRef": {"namespace": "ops", "name": "node-init"}},
        "joinSecretRef": {"namespace": JOIN[0], "name": JOIN[1]},
    }
    provider.create(
        create_request(
            provider, "node-1", "cax21", "hel1", node_class=node_class, labels={"a": "b"}
        )
    )
    config = _config(api.user_data("node-1") or "")
    assert config["runcmd"] == [
        [
            "echo",
            "node-1",
            "cax21",
            "hel1",
            "arm64",
            "a=b",
            "SzEwam9pbi1TRUNSRVQtdmFsdWU6OnNlcnZlcjphYmMxMjM=",
        ]
    ]


def test_custom_template_without_secret_needs_no_secret(
    api: StandIn, provider: HetznerProvider, config_maps: dict[tuple[str, str, str], str]
) -> None:
    config_maps[("ops", "plain", "init")] = "#!/bin/sh\necho {{ node_name | shell }}\n"
    node_class = {
        "userData": {
            "kind": "custom",
            "templateRef": {"namespace": "ops", "name": "plain", "key": "init"},
        }
    }
    provider.create(create_request(provider, "node-1", node_class=node_class))
    assert api.user_data("node-1") == "#!/bin/sh\necho node-1\n"


def test_over_32_kib_fails_before_any_api_call(
    api: StandIn, provider: HetznerProvider, config_maps: dict[tuple[str, str, str], str]
) -> None:
    config_maps[("ops", "big", "template")] = "#cloud-config\n# " + "x" * (32 * 1024) + "\n"
    node_class = {
        "userData": {"kind": "custom", "templateRef": {"namespace": "ops", "name": "big"}}
    }
    request = create_request(provider, "node-1", node_class=node_class)  # reads offerings
    api.exchanges.clear()
    with pytest.raises(CreationFailed, match=r"32 KiB") as info:
        provider.create(request)
    assert info.value.retryable is False
    assert api.exchanges == []


def test_missing_secret_key_is_missing_config_before_any_api_call(
    api: StandIn, provider: HetznerProvider, secrets: dict[tuple[str, str, str], str]
) -> None:
    del secrets[(*JOIN, "token")]
    request = create_request(provider, "node-1", node_class=k3s_class())
    api.exchanges.clear()
    with pytest.raises(MissingConfig, match=r"growthrs-join has no key 'token'"):
        provider.create(request)
    assert api.exchanges == []


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(MissingConfig, match=r"unknown placeholder 'nodename'"):
        userdata.render("{{ nodename }}", {"node_name": "n"}, {}, source="test")
    with pytest.raises(MissingConfig, match=r"unknown filter 'upper'"):
        userdata.render("{{ node_name | upper }}", {"node_name": "n"}, {}, source="test")


def test_secret_keys_are_found_in_templates() -> None:
    # version is read as optional so that its absence gets its own message (refused
    # all the same: test_hetzner_versions).
    assert userdata.secret_keys(userdata.builtin_template("k3s")) == (
        {"server", "token"},
        {"version", "privateInterface"},
    )
    assert userdata.secret_keys(userdata.builtin_template("kubeadm")) == (
        {"endpoint", "token", "caCertHash", "kubernetesVersion"},
        {"privateInterface"},
    )


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("team", True),
        ("example.com/role", True),
        ("node.kubernetes.io/instance-type", True),
        ("topology.kubernetes.io/zone", True),
        ("node.kubernetes.io/pool", True),
        ("node-role.kubernetes.io/worker", False),
        ("kubernetes.io/role", False),
        ("k8s.io/anything", False),
    ],
)
def test_kubelet_label_restrictions(key: str, allowed: bool) -> None:
    assert userdata.kubelet_may_set(key) is allowed


def test_secret_values_are_not_logged(
    api: StandIn, provider: HetznerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider.create(create_request(provider, "node-1", node_class=k3s_class()))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert JOIN_SECRET["token"] not in logged and "created Hetzner server node-1" in logged
