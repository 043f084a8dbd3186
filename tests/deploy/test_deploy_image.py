"""The operator image (deploy/Dockerfile), checked without a container engine.

No engine runs here and no registry is reachable, so the image itself cannot be
built. This runs the image's exact install step instead: the build stage's COPY
lines (with .dockerignore applied) into a fresh directory, then the same
deploy/install.sh with the Dockerfile's default PROVIDERS, into a clean venv;
and checks what the production image would hold. The only difference from a
real build is the Python (this machine's python3, not the base image's) and
that pip may use its download cache here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
FORBIDDEN = re.compile(r"kwok|standin|testkit|jsonschema|openapi", re.I)
"""Distributions the production image must not contain."""


@dataclass
class Stage:
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, name: str) -> list[str]:
        return [rest for op, rest in self.instructions if op == name]


def stages() -> list[Stage]:
    """The Dockerfile's stages, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        if op.upper() == "FROM":
            out.append(Stage(rest.split()[0]))
        elif out:
            out[-1].instructions.append((op.upper(), rest.strip()))
    return out


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``path`` (relative, posix) out of the build context."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        regex = re.escape(pattern.strip("/"))
        regex = regex.replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, p) for p in prefixes):
            return True
    return False


def dockerignore() -> list[str]:
    lines = [ln.strip() for ln in DOCKERIGNORE.read_text().splitlines()]
    patterns = [ln for ln in lines if ln and not ln.startswith("#")]
    assert not [p for p in patterns if p.startswith("!")], "exceptions are not modelled here"
    return patterns


def copy_context(stage: Stage, into: Path) -> None:
    """Carry out the stage's COPY lines from the build context (the repository root)."""
    patterns = dockerignore()
    workdir = stage.args("WORKDIR")[-1]
    for rest in stage.args("COPY"):
        *sources, dest = shlex.split(rest)
        assert not [s for s in sources if s.startswith("--")], rest
        target = into / Path(workdir, dest).relative_to(workdir)
        for src in sources:
            origin = REPO / src
            if origin.is_dir():
                for file in sorted(origin.rglob("*")):
                    rel = file.relative_to(REPO).as_posix()
                    if file.is_file() and not ignored(rel, patterns):
                        out = target / file.relative_to(origin)
                        out.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(file, out)
            else:
                assert not ignored(src, patterns), f"{src} is COPYed but .dockerignored"
                out = target / origin.name if dest.endswith("/") or len(sources) > 1 else target
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, out)


def default_arg(stage: Stage, name: str) -> str:
    for rest in stage.args("ARG"):
        key, _, value = rest.partition("=")
        if key == name:
            return value.strip('"')
    raise AssertionError(f"no ARG {name} in the build stage")


@dataclass
class Installed:
    venv: Path
    env: dict[str, str]

    def run(self, *args: str) -> str:
        proc = subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.venv,  # never the checkout, whose packages python -c would see
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, f"{' '.join(args)}: {proc.returncode}\n{proc.stderr}"
        return proc.stdout

    def distributions(self) -> list[str]:
        code = "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))"
        return sorted(self.run("python", "-c", code).split())


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    build = stages()[0]
    run = build.args("RUN")
    assert run == ["sh deploy/install.sh /opt/growthrs /src ${PROVIDERS}"], run
    providers = default_arg(build, "PROVIDERS").split()
    root = tmp_path_factory.mktemp("image")
    src, venv = root / "src", root / "opt-growthrs"
    copy_context(build, src)
    # pip keeps this machine's index, certificates and timeouts; nothing that would
    # install elsewhere, and no Python or GrowthRS settings of the caller.
    elsewhere = {"PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_USER", "PIP_EDITABLE"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in elsewhere and not k.startswith(("PYTHON", "VIRTUAL_ENV", "GROWTHRS_"))
    }
    env |= {"PYTHONNOUSERSITE": "1", "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.run(
        ["sh", str(src / "deploy" / "install.sh"), str(venv), str(src), *providers],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=900,
    )
    assert proc.returncode == 0, f"install.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return Installed(venv, env)


def test_the_default_build_installs_the_core_and_hetzner_only() -> None:
    assert default_arg(stages()[0], "PROVIDERS") == "hetzner"


def test_growthrs_plugins_lists_hetzner_and_not_kwok(image: Installed) -> None:
    out = image.run("growthrs", "plugins")
    assert "hetzner" in out and "growthrs-hetzner" in out, out
    assert "kwok" not in out, out


def test_no_test_or_simulation_packages_and_no_installer(image: Installed) -> None:
    names = image.distributions()
    assert {"growthrs-core", "growthrs-hetzner", "hcloud", "kubernetes"} <= set(names), names
    assert not [n for n in names if FORBIDDEN.search(n)], names
    assert "pip" not in names, "the image's environment should carry no installer"


def test_the_operator_imports_whole_without_the_pruned_asyncio_client(image: Installed) -> None:
    code = (
        "import importlib.util, sys\n"
        "import growthrs_core.cli, growthrs_core.controller.loop, growthrs_hetzner.plugin\n"
        "from growthrs_core.plugins.manager import get_plugin_manager\n"
        "get_plugin_manager().crds()\n"
        "assert importlib.util.find_spec('kubernetes.aio') is None\n"
        "assert not [m for m in sys.modules if m.startswith(('kubernetes.aio', 'aiohttp'))]\n"
        "print(growthrs_core.__file__)\n"
    )
    where = image.run("python", "-c", code)
    assert where.startswith(str(image.venv)), f"imported from {where}, not the image's venv"


def test_the_cli_works(image: Installed) -> None:
    assert "Usage: growthrs" in image.run("growthrs", "--help")
    assert "--leader-election" in image.run("growthrs", "run", "--help")
    crds = image.run("growthrs", "crds")
    assert "kind: HetznerNodeClass" in crds and "kind: NodeRequest" in crds


def test_the_final_stage_is_the_base_and_the_venv_run_as_non_root() -> None:
    build, final = stages()
    assert final.base == build.base == "${PYTHON_IMAGE}"
    ops = {op for op, _ in final.instructions}
    assert ops <= {"COPY", "ENV", "USER", "EXPOSE", "ENTRYPOINT", "CMD"}, ops  # no RUN, no tools
    assert final.args("COPY") == ["--from=build /opt/growthrs /opt/growthrs"]
    (user,) = final.args("USER")
    assert user.split(":")[0] not in ("0", "root")
    assert final.args("ENTRYPOINT") == ['["growthrs"]']


def test_the_build_context_leaves_out_tests_and_test_only_distributions() -> None:
    patterns = dockerignore()
    for path in (
        "testing/hcloud_standin/pyproject.toml",
        "tests/conftest.py",
        "plugins/growthrs_kwok/tests/x.py",
        ".venv/bin/python",
        ".git/HEAD",
        "growthrs_core.egg-info/PKG-INFO",
        "growthrs_core/__pycache__/x.pyc",
    ):
        assert ignored(path, patterns), path
    for path in (
        "pyproject.toml",
        "README.md",
        "growthrs_core/cli/__init__.py",
        "plugins/growthrs_hetzner/pyproject.toml",
        "deploy/install.sh",
    ):
        assert not ignored(path, patterns), path
