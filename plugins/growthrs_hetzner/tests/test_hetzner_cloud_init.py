"""The built-in templates, rendered: valid cloud-config, and scripts that do what they say.

* Every rendering is checked against cloud-init's own cloud-config schema (release 26.2,
  vendored in ``cloud_init/``: cloud-init is not on PyPI), and with ``cloud-init schema``
  too where that executable is installed.
* Every rendered script is run by ``/bin/sh`` with stub commands (``curl``, ``ip``,
  ``apt-get``, ``kubeadm``, ...) and its ``/etc`` and ``/run`` moved under a temporary
  directory, to see what it installs, from where, and with which flags.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hetzner_support import JOIN, JOIN_SECRET, create_request, k3s_class

from growthrs_core import Taint
from growthrs_hetzner.provider import HetznerProvider
from hcloud_standin import StandIn

SCHEMA_FILE = Path(__file__).parent / "cloud_init" / "schema-cloud-config-v1.json"
KUBEADM_CLASS = {
    "userData": {"kind": "kubeadm"},
    "joinSecretRef": {"namespace": JOIN[0], "name": JOIN[1]},
}
LABELS = {"pool": "fast", "team": "a b", "node-role.kubernetes.io/worker": ""}
TAINTS = (Taint("dedicated", "gpu", "NoSchedule"), Taint("spot", "", "NoExecute"))

Render = Callable[..., str]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


@pytest.fixture
def render(
    api: StandIn, provider: HetznerProvider, secrets: dict[tuple[str, str, str], str]
) -> Render:
    """User data of a server created with ``node_class`` and join Secret changes ``join``."""
    count = iter(range(1, 100))

    def make(
        node_class: dict[str, Any],
        *,
        instance_type: str = "cx22",
        labels: dict[str, str] | None = None,
        taints: tuple[Taint, ...] = (),
        **join: str | None,
    ) -> str:
        for key, value in join.items():
            if value is None:
                secrets.pop((*JOIN, key), None)
            else:
                secrets[(*JOIN, key)] = value
        name = f"node-{next(count)}"
        provider.create(
            create_request(
                provider,
                name,
                instance_type,
                node_class=node_class,
                labels=labels,
                taints=taints,
            )
        )
        text = api.user_data(name)
        assert text is not None
        return text

    return make


RENDERINGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "k3s": (k3s_class(), {}),
    "k3s-arm64-labels-private-net": (
        k3s_class(),
        {
            "instance_type": "cax11",
            "labels": LABELS,
            "taints": TAINTS,
            "privateInterface": "enp7s0",
        },
    ),
    "k3s-latest-channel": (k3s_class(), {"version": "latest"}),
    "kubeadm": (KUBEADM_CLASS, {}),
    "kubeadm-arm64-labels-private-net-pinned": (
        KUBEADM_CLASS,
        {
            "instance_type": "cax11",
            "labels": LABELS,
            "taints": TAINTS,
            "privateInterface": "enp7s0",
            "kubernetesVersion": "v1.33.4",
        },
    ),
}


@pytest.mark.parametrize("case", list(RENDERINGS))
def test_rendered_templates_are_valid_cloud_config(
    case: str, render: Render, validator: jsonschema.Draft4Validator, tmp_path: Path
) -> None:
    node_class, options = RENDERINGS[case]
    text = render(node_class, **options)
    assert text.startswith("#cloud-config\n")  # cloud-init's marker for this format
    assert "{{" not in text and "}}" not in text
    config = yaml.safe_load(text)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors] == []
    cloud_init = shutil.which("cloud-init")
    if cloud_init is not None:  # the distribution's own check, when installed
        path = tmp_path / "user-data"
        path.write_text(text)
        done = subprocess.run(
            [cloud_init, "schema", "--config-file", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_mistakes(validator: jsonschema.Draft4Validator) -> None:
    """The vendored schema is strict: the check above would see a broken template."""
    assert list(validator.iter_errors({"runcmd": [["sh", "-c", "x"]]})) == []
    assert list(validator.iter_errors({"write_file": []}))  # a misspelt module
    assert list(validator.iter_errors({"write_files": [{"path": "/x", "permissions": 600}]}))
    assert list(validator.iter_errors({"runcmd": "echo hi"}))


# -- running the scripts ------------------------------------------------------------------

STUBS = {
    # curl: the metadata service answers 4711; downloads go to -o.
    "curl": r"""
out=""; url=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out="$2"; shift 2 ;;
    --retry|--retry-delay) shift 2 ;;
    -*) shift ;;
    *) url="$1"; shift ;;
  esac
done
case "$url" in
  http://169.254.169.254/hetzner/v1/metadata/instance-id) printf 4711 ;;
  https://get.k3s.io) cp "$STUB_DIR/k3s-installer" "$out" ;;
  https://pkgs.k8s.io/*/Release.key) echo KEY > "$out" ;;
  *) exit 22 ;;
esac
""",
    # ip -4 -o addr show dev IFACE: an address only on $PRIVATE_DEV, when $PRIVATE_IP is set.
    "ip": r"""
dev=""; prev=""
for a in "$@"; do [ "$prev" = dev ] && dev="$a"; prev="$a"; done
if [ -n "${PRIVATE_IP:-}" ] && [ "$dev" = "${PRIVATE_DEV:-}" ]; then
  printf '3: %s    inet %s/32 brd %s scope global dynamic %s\\       valid_lft 86000sec\n' \
    "$dev" "$PRIVATE_IP" "$PRIVATE_IP" "$dev"
  exit 0
fi
echo "Device \"$dev\" does not exist." >&2
exit 1
""",
    "gpg": r"""
prev=""
for a in "$@"; do [ "$prev" = -o ] && echo KEYRING > "$a"; prev="$a"; done
""",
    "containerd": r"""
[ "$*" = "config default" ] && echo '            SystemdCgroup = false'
exit 0
""",
    "kubeadm": r"""
[ "$1" = join ] && cp "$3" "$STUB_DIR/joined.yaml"
exit 0
""",
    **{name: "" for name in ("sleep", "apt-get", "apt-mark", "modprobe", "sysctl", "systemctl")},
}
INSTALLER = """#!/bin/sh
{
  echo "INSTALL_K3S_VERSION=${INSTALL_K3S_VERSION-<unset>}"
  echo "INSTALL_K3S_CHANNEL=${INSTALL_K3S_CHANNEL-<unset>}"
  for a in "$@"; do echo "$a"; done
} > "$STUB_DIR/installed"
"""


@dataclass
class Run:
    returncode: int
    stderr: str
    root: Path
    stubs: Path

    @property
    def calls(self) -> list[str]:
        path = self.stubs / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def installed(self) -> list[str]:
        """What the k3s installer got: its two variables, then its arguments."""
        return (self.stubs / "installed").read_text().splitlines()


@pytest.fixture
def run_script(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    """Run user data's script as cloud-init would, but with stubs and under ``tmp_path``."""

    def run(text: str, **env: str) -> Run:
        root, stubs = tmp_path / "root", tmp_path / "stubs"
        for directory in ("etc/apt/sources.list.d", "etc/default", "run"):
            (root / directory).mkdir(parents=True, exist_ok=True)
        stubs.mkdir(exist_ok=True)
        for name, body in STUBS.items():
            stub = stubs / name
            stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "$STUB_DIR/calls"\n{body}')
            stub.chmod(0o755)
        (stubs / "k3s-installer").write_text(INSTALLER)
        config = yaml.safe_load(text)

        def moved(path_or_script: str) -> str:
            return path_or_script.replace("/etc/", f"{root}/etc/").replace("/run/", f"{root}/run/")

        for entry in config.get("write_files", []):  # cloud-init's write_files, moved
            target = Path(moved(entry["path"]))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(entry["content"])
        (command,) = config["runcmd"]
        assert command[:2] == ["sh", "-c"]
        done = subprocess.run(
            ["/bin/sh", "-c", moved(command[2])],
            env={"PATH": f"{stubs}:/usr/bin:/bin", "STUB_DIR": str(stubs), **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return Run(done.returncode, done.stderr, root, stubs)

    yield run


def test_k3s_installs_exactly_the_servers_version(
    render: Render, run_script: Callable[..., Run]
) -> None:
    run = run_script(render(k3s_class(), labels=LABELS, taints=TAINTS))
    assert run.returncode == 0, run.stderr
    assert run.installed() == [
        f"INSTALL_K3S_VERSION={JOIN_SECRET['version']}",
        "INSTALL_K3S_CHANNEL=<unset>",
        "agent",
        "--kubelet-arg",
        "cloud-provider=external",
        "--kubelet-arg",
        "provider-id=hcloud://4711",
        "--node-label",
        "pool=fast",
        "--node-label",
        "team=a b",
        "--node-taint",
        "dedicated=gpu:NoSchedule",
        "--node-taint",
        "spot:NoExecute",
    ]
    assert not any(call.startswith("ip ") for call in run.calls)  # no privateInterface


@pytest.mark.parametrize("channel", ["latest", "stable"])
def test_k3s_installs_a_channel_only_when_asked_to(
    channel: str, render: Render, run_script: Callable[..., Run]
) -> None:
    run = run_script(render(k3s_class(), version=channel))
    assert run.returncode == 0, run.stderr
    assert run.installed()[:2] == ["INSTALL_K3S_VERSION=<unset>", f"INSTALL_K3S_CHANNEL={channel}"]


def test_k3s_on_a_private_network(render: Render, run_script: Callable[..., Run]) -> None:
    text = render(k3s_class(), privateInterface="enp7s0")
    run = run_script(text, PRIVATE_DEV="enp7s0", PRIVATE_IP="10.0.0.5")
    assert run.returncode == 0, run.stderr
    args = run.installed()[2:]
    assert args[5:] == ["--node-ip", "10.0.0.5", "--flannel-iface", "enp7s0"]


def test_k3s_stops_when_the_private_interface_never_gets_an_address(
    render: Render, run_script: Callable[..., Run]
) -> None:
    run = run_script(render(k3s_class(), privateInterface="ens10"), PRIVATE_DEV="enp7s0")
    assert run.returncode != 0
    assert "no IPv4 address on ens10 (privateInterface)" in run.stderr
    assert run.calls.count("sleep 2") == 90  # three minutes on a real server
    assert not (run.stubs / "installed").exists()


@pytest.mark.parametrize(
    ("version", "repo", "packages"),
    [
        ("v1.33.4", "v1.33", ["kubelet=1.33.4-*", "kubeadm=1.33.4-*"]),  # exactly the cluster's
        ("v1.33", "v1.33", ["kubelet", "kubeadm"]),  # the newest patch of the minor
    ],
)
def test_kubeadm_installs_the_clusters_version_and_joins(
    version: str,
    repo: str,
    packages: list[str],
    render: Render,
    run_script: Callable[..., Run],
) -> None:
    run = run_script(render(KUBEADM_CLASS, kubernetesVersion=version, labels={"pool": "fast"}))
    assert run.returncode == 0, run.stderr
    sources = (run.root / "etc/apt/sources.list.d/kubernetes.list").read_text()
    assert f"https://pkgs.k8s.io/core:/stable:/{repo}/deb/ /" in sources
    assert f"apt-get install -y {' '.join(packages)}" in run.calls
    assert "apt-mark hold kubelet kubeadm" in run.calls
    joined = yaml.safe_load((run.stubs / "joined.yaml").read_text())
    assert joined["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    args = {a["name"]: a["value"] for a in joined["nodeRegistration"]["kubeletExtraArgs"]}
    assert args["cloud-provider"] == "external"
    assert args["provider-id"] == "hcloud://4711"
    assert args["node-labels"] == "pool=fast"
    assert not (run.root / "etc/growthrs/kubeadm-join.yaml").exists()  # the token is not kept
    assert not (run.root / "etc/default/kubelet").exists()  # no privateInterface
    assert "SystemdCgroup = true" in (run.root / "etc/containerd/config.toml").read_text()


def test_kubeadm_on_a_private_network(render: Render, run_script: Callable[..., Run]) -> None:
    text = render(KUBEADM_CLASS, privateInterface="enp7s0")
    run = run_script(text, PRIVATE_DEV="enp7s0", PRIVATE_IP="10.0.0.7")
    assert run.returncode == 0, run.stderr
    kubelet = (run.root / "etc/default/kubelet").read_text()
    assert kubelet == "KUBELET_EXTRA_ARGS=--node-ip=10.0.0.7\n"
