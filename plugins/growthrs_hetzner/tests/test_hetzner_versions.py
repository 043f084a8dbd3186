"""The versions a new node installs: the server's, or a refusal before anything is created.

A k3s agent newer than its server, or a kubeadm whose config API does not read the
template's ``JoinConfiguration``, makes a server that is paid for and never joins.
Both are refused before any Hetzner call (``create``) and reported by ``validate_pool``;
neither message carries a value read from the join Secret.
"""

from __future__ import annotations

import logging

import pytest
import yaml
from hetzner_support import JOIN, JOIN_SECRET, create_request, k3s_class

from growthrs_core import MissingConfig, PoolCheck, ProviderError
from growthrs_hetzner import userdata
from growthrs_hetzner.provider import HetznerProvider
from hcloud_standin import StandIn

Secrets = dict[tuple[str, str, str], str]
KUBEADM_CLASS = {
    "userData": {"kind": "kubeadm"},
    "joinSecretRef": {"namespace": JOIN[0], "name": JOIN[1]},
}
SENTINEL = "K10-looks-like-a-token::server:0ff1ce"
"""A wrong value that must not be echoed: users paste tokens into the wrong key."""


def pool(node_class: dict[str, object]) -> PoolCheck:
    return PoolCheck(
        group="default",
        pool_index=0,
        instance_types=("cx22",),
        locations=("fsn1",),
        node_class=node_class,
        node_class_ref="HetznerNodeClass/workers",
    )


def refused(api: StandIn, provider: HetznerProvider, node_class: dict[str, object]) -> str:
    """``create``'s MissingConfig, checked to come before any Hetzner call."""
    request = create_request(provider, "node-1", node_class=node_class)  # reads offerings
    api.exchanges.clear()
    with pytest.raises(MissingConfig) as info:
        provider.create(request)
    assert api.exchanges == []
    assert info.value.retryable is False
    return info.value.message


# -- k3s -------------------------------------------------------------------------------------


def test_k3s_without_a_version_is_refused(
    api: StandIn, provider: HetznerProvider, secrets: Secrets
) -> None:
    del secrets[(*JOIN, "version")]
    message = refused(api, provider, k3s_class())
    assert message.startswith(
        "HetznerNodeClass (inline): joinSecretRef: Secret kube-system/growthrs-join has no "
        "key 'version': the k3s agent would install the newest k3s release, not the server's"
    )
    assert "`kubectl version`" in message and "v1.33.4+k3s1" in message
    assert "'stable' or 'latest'" in message
    problems = provider.validate_pool(pool(k3s_class()))
    assert problems == [message.replace("(inline)", "workers")]


@pytest.mark.parametrize(
    "version",
    ["", "  ", "1.33.4", "v1.33.4", "v1.33", "v1.33.4-k3s1", "v1.33.4+k3s1\nx", SENTINEL],
)
def test_k3s_with_something_else_than_a_release_is_refused(
    api: StandIn, provider: HetznerProvider, secrets: Secrets, version: str
) -> None:
    secrets[(*JOIN, "version")] = version
    message = refused(api, provider, k3s_class())
    assert ("is not a k3s release like v1.33.4+k3s1" in message) or (
        "has no key 'version'" in message and not version.strip()
    )
    (problem,) = provider.validate_pool(pool(k3s_class()))
    assert problem == message.replace("(inline)", "workers")
    assert SENTINEL not in message


@pytest.mark.parametrize(
    "version", ["v1.33.4+k3s1", "v1.30.14+k3s2", "v1.34.0-rc1+k3s1", "latest", "stable"]
)
def test_k3s_releases_and_explicit_channels_are_accepted(
    api: StandIn, provider: HetznerProvider, secrets: Secrets, version: str
) -> None:
    secrets[(*JOIN, "version")] = version
    provider.create(create_request(provider, "node-1", node_class=k3s_class()))
    script = yaml.safe_load(api.user_data("node-1") or "")["runcmd"][0][2]
    assert f"K3S_VERSION={version}\n" in script
    assert provider.validate_pool(pool(k3s_class())) == []


def test_join_values_lose_the_newline_a_file_brings(
    api: StandIn, provider: HetznerProvider, secrets: Secrets
) -> None:
    """``kubectl create secret --from-file=token=/var/lib/rancher/k3s/server/node-token``
    keeps the file's last newline; the built-in templates take one-line values."""
    for key in ("server", "token", "version"):
        secrets[(*JOIN, key)] = JOIN_SECRET[key] + "\n"
    provider.create(create_request(provider, "node-1", node_class=k3s_class()))
    config = yaml.safe_load(api.user_data("node-1") or "")
    k3s = yaml.safe_load(config["write_files"][0]["content"])
    assert k3s["token"] == JOIN_SECRET["token"] and k3s["server"] == JOIN_SECRET["server"]
    assert f"K3S_VERSION={JOIN_SECRET['version']}\n" in config["runcmd"][0][2]


def test_a_custom_template_is_not_held_to_the_built_in_rules(
    api: StandIn,
    provider: HetznerProvider,
    secrets: Secrets,
    config_maps: dict[tuple[str, str, str], str],
) -> None:
    del secrets[(*JOIN, "version")]
    config_maps[("ops", "init", "template")] = (
        "#cloud-config\nruncmd: [[install, {{ secret.token | json }}, {{ secret.version? | json }}]]"
    )
    node_class = {
        "userData": {"kind": "custom", "templateRef": {"namespace": "ops", "name": "init"}},
        "joinSecretRef": {"namespace": JOIN[0], "name": JOIN[1]},
    }
    provider.create(create_request(provider, "node-1", node_class=node_class))
    assert provider.validate_pool(pool(node_class)) == []


# -- kubeadm ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1.30", "v1.30.14", "v1.22.0"])
def test_kubeadm_older_than_its_config_api_is_refused(
    api: StandIn, provider: HetznerProvider, secrets: Secrets, version: str
) -> None:
    secrets[(*JOIN, "kubernetesVersion")] = version
    message = refused(api, provider, KUBEADM_CLASS)
    minor = ".".join(version.split(".")[:2])
    assert message == (
        "HetznerNodeClass (inline): joinSecretRef: Secret kube-system/growthrs-join key "
        f"'kubernetesVersion' is {minor}: the built-in kubeadm template writes a "
        "kubeadm.k8s.io/v1beta4 JoinConfiguration, which kubeadm reads from v1.31 on; "
        "upgrade the cluster, or use userData kind custom with a kubeadm.k8s.io/v1beta3 template"
    )
    assert provider.validate_pool(pool(KUBEADM_CLASS)) == [message.replace("(inline)", "workers")]


@pytest.mark.parametrize(
    "version", ["1.33", "v1.33.4+k3s1", "latest", "v2.0", "v1.33.4\nx", SENTINEL]
)
def test_kubeadm_with_something_else_than_a_version_is_refused(
    api: StandIn, provider: HetznerProvider, secrets: Secrets, version: str
) -> None:
    secrets[(*JOIN, "kubernetesVersion")] = version
    message = refused(api, provider, KUBEADM_CLASS)
    assert "key 'kubernetesVersion' is not a Kubernetes version like v1.33 or v1.33.4" in message
    (problem,) = provider.validate_pool(pool(KUBEADM_CLASS))
    assert problem == message.replace("(inline)", "workers")
    assert SENTINEL not in message


@pytest.mark.parametrize("version", ["v1.31", "v1.33", "v1.33.4", "v1.36.0", "v1.40"])
def test_kubeadm_versions_its_config_api_serves_are_accepted(
    api: StandIn, provider: HetznerProvider, secrets: Secrets, version: str
) -> None:
    secrets[(*JOIN, "kubernetesVersion")] = version
    provider.create(create_request(provider, "node-1", node_class=KUBEADM_CLASS))
    script = yaml.safe_load(api.user_data("node-1") or "")["runcmd"][0][2]
    assert f"KVER={version}\n" in script
    assert provider.validate_pool(pool(KUBEADM_CLASS)) == []


def test_kubeadm_version_constants_match_the_template() -> None:
    template = userdata.builtin_template("kubeadm")
    assert f"apiVersion: {userdata.KUBEADM_API_VERSION}\n" in template
    assert userdata.KUBEADM_MIN_MINOR == 31  # v1beta4 came with kubeadm 1.31


# -- the private interface ---------------------------------------------------------------------


@pytest.mark.parametrize("kind_class", [k3s_class(), KUBEADM_CLASS], ids=["k3s", "kubeadm"])
@pytest.mark.parametrize("interface", ["enp7s0; reboot", "a" * 16, "eth 0", "../x", SENTINEL])
def test_a_private_interface_that_is_no_interface_name_is_refused(
    api: StandIn,
    provider: HetznerProvider,
    secrets: Secrets,
    kind_class: dict[str, object],
    interface: str,
) -> None:
    secrets[(*JOIN, "privateInterface")] = interface
    message = refused(api, provider, kind_class)
    assert "key 'privateInterface' is not a network interface name like enp7s0" in message
    (problem,) = provider.validate_pool(pool(kind_class))
    assert interface not in message and interface not in problem


@pytest.mark.parametrize("interface", ["enp7s0", "ens10", "eth1"])
def test_private_interface_names_are_accepted(
    provider: HetznerProvider, secrets: Secrets, interface: str
) -> None:
    secrets[(*JOIN, "privateInterface")] = interface
    assert provider.validate_pool(pool(k3s_class())) == []
    assert provider.validate_pool(pool(KUBEADM_CLASS)) == []


# -- nothing leaks ---------------------------------------------------------------------------


def test_join_values_never_leak_from_refusals(
    api: StandIn, provider: HetznerProvider, secrets: Secrets, caplog: pytest.LogCaptureFixture
) -> None:
    """Every refusal above, in one session: logs, errors and problems carry no value
    read from the join Secret."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    settings = [
        ("version", SENTINEL, k3s_class()),
        ("version", None, k3s_class()),
        ("privateInterface", SENTINEL, k3s_class()),
        ("kubernetesVersion", SENTINEL, KUBEADM_CLASS),
        ("kubernetesVersion", "v1.29", KUBEADM_CLASS),
        ("privateInterface", SENTINEL, KUBEADM_CLASS),
    ]
    for key, value, node_class in settings:
        saved = dict(secrets)
        if value is None:
            del secrets[(*JOIN, key)]
        else:
            secrets[(*JOIN, key)] = value
        try:
            provider.create(create_request(provider, "node-1", node_class=node_class))
        except ProviderError as exc:
            texts += [str(exc), repr(exc), exc.message]
        else:
            raise AssertionError(f"{key}={value!r} was accepted")
        texts += provider.validate_pool(pool(node_class))
        secrets.clear()
        secrets.update(saved)
    texts += [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    assert len(texts) >= 12
    secret_values = [SENTINEL, JOIN_SECRET["token"], JOIN_SECRET["caCertHash"]]
    assert [t for t in texts if any(v in t for v in secret_values)] == []
