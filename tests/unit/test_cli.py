"""The command line: machine-readable output, defaults in --help, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from growthrs_core.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_plugins_and_offerings_print_json_and_yaml() -> None:
    code, out = run("plugins", "-o", "json")
    assert code == 0
    plugins = {p["plugin"]: p for p in json.loads(out[out.index("[") :])}
    assert "priority" in plugins["growthrs-builtin"]["strategies"]
    assert plugins["kwok"]["providers"] == ["kwok"] and plugins["kwok"]["status"] == "ok"
    code, out = run("offerings", "-p", "kwok", "-r", "hel1", "-o", "yaml")
    assert code == 0
    rows = yaml.safe_load(out[out.index("- provider") :])
    assert {r["region"] for r in rows} == {"hel1"} and all(r["costPerHour"] > 0 for r in rows)
    assert {"type", "cpu", "memory", "zone", "arch", "extended"} <= set(rows[0])


def test_help_shows_defaults_and_variables() -> None:
    code, out = run("run", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "[default: 1.0; env GROWTHRS_BATCH_IDLE]" in text
    assert (
        "[default: priority,least-waste; env GROWTHRS_STRATEGIES]" in text
        or "GROWTHRS_STRATEGIES" in text
    )
    assert "[default: derived; env GROWTHRS_CLUSTER_NAME]" in text


@pytest.fixture
def unreachable(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "x", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
                "current-context": "x",
            }
        )
    )
    return str(path)


@pytest.mark.parametrize("command", [["plan"], ["nuke", "--yes"]])
def test_an_unreachable_cluster_is_one_line_naming_the_server(
    unreachable: str, command: list[str]
) -> None:
    code, out = run(*command, "--kubeconfig", unreachable)
    lines = [line for line in out.splitlines() if line.strip() and "testplugin" not in line]
    assert code == 1 and len(lines) == 1, out
    assert lines[0].startswith("error: cannot reach the Kubernetes API at https://127.0.0.1:1")
