"""Which trials a run has, in which order, and how their results add up."""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reliability import badinput, scenarios
from reliability.scenarios import HETZNER, KWOK, Scenario
from reliability.trial import Env, Trial, TrialResult, guarded

CATEGORIES = (
    "crash-kwok",
    "crash-hetzner",
    "apiserver",
    "faults-kwok",
    "faults-hetzner",
    "group-edits",
    "bad-input",
)


@dataclass(frozen=True)
class Spec:
    category: str
    name: str
    scenario: Scenario
    needs_cluster: bool = False
    """Needs a control plane this run started (the apiserver is killed)."""


def full_suite(kwok_crashes: int = 32, hetzner_crashes: int = 16) -> list[Spec]:
    specs: list[Spec] = []
    for provider, count, category in (
        (KWOK, kwok_crashes, "crash-kwok"),
        (HETZNER, hetzner_crashes, "crash-hetzner"),
    ):
        mix = scenarios.crash_mix(provider)
        for i in range(count):
            name, scenario = mix[i % len(mix)]
            specs.append(Spec(category, f"{name}-{i // len(mix) + 1}", scenario))
    specs += [
        Spec(
            "apiserver", "kill-during-scale-up", scenarios.apiserver_kill(during="scale-up"), True
        ),
        Spec(
            "apiserver",
            "kill-during-scale-down",
            scenarios.apiserver_kill(during="scale-down"),
            True,
        ),
        Spec("apiserver", "freeze-sigstop", scenarios.apiserver_freeze(), True),
        Spec("apiserver", "stale-watch", scenarios.stale_watch(10.0)),
        Spec("faults-kwok", "create-error", scenarios.kwok_create_error(40.0)),
        Spec("faults-kwok", "unavailable-top-pool", scenarios.kwok_unavailable(everything=False)),
        Spec("faults-kwok", "unavailable-everywhere", scenarios.kwok_unavailable(everything=True)),
        Spec("faults-kwok", "never-ready", scenarios.kwok_never_ready()),
        Spec("faults-kwok", "failed-after-ready", scenarios.kwok_failed_after_ready()),
    ]
    for kind in (
        "429",
        "5xx",
        "stuck-actions",
        "failing-actions",
        "failing-deletes",
        "quota",
        "unavailable",
        "401",
        "403",
    ):
        specs.append(Spec("faults-hetzner", kind, scenarios.hetzner_fault(kind)))
    for kind in scenarios.EDITS:
        specs.append(
            Spec("group-edits", f"kwok-{kind}", scenarios.crash_group_edit(KWOK, kind, crash=False))
        )
    specs += [
        Spec(
            "group-edits",
            "hetzner-change-provider",
            scenarios.crash_group_edit(HETZNER, "change-provider", crash=False),
        ),
        Spec("group-edits", "kwok-delete-group", scenarios.crash_group_delete(KWOK, crash=False)),
        Spec(
            "group-edits",
            "hetzner-delete-group",
            scenarios.crash_group_delete(HETZNER, crash=False),
        ),
        Spec("bad-input", "planner-pods-and-groups", badinput.planner_inputs(400)),
        Spec("bad-input", "group-specs-via-apiserver", badinput.groups_through_apiserver(60)),
        Spec("bad-input", "pod-specs-via-apiserver", badinput.pods_through_apiserver(48)),
    ]
    return specs


def quick_suite() -> list[Spec]:
    """A couple of minutes: what ``make test`` runs (tests/e2e/test_reliability_quick.py)."""
    return [
        Spec("crash-kwok", "scale-up", scenarios.crash_scale_up(KWOK)),
        Spec("crash-hetzner", "scale-down", scenarios.crash_scale_down(HETZNER)),
        # The apiserver trials stay in the full suite only: after an apiserver restart the
        # local control plane's own clients (kube-scheduler, the kwok controller) do not
        # always recover, which made them fail `make test` on the substrate, not on us.
        Spec("faults-kwok", "never-ready", scenarios.kwok_never_ready()),
        Spec("bad-input", "group-specs-via-apiserver", badinput.groups_through_apiserver(6)),
    ]


def run_one(env: Env, spec: Spec, seed: int, index: int) -> TrialResult:
    trial = Trial(env, spec.category, spec.name, seed, index)
    if spec.needs_cluster and env.cluster is None:
        trial.result.notes.append("skipped: needs a control plane started by this run")
        trial.result.details["skipped"] = True
        return trial.result
    if env.cluster is not None:
        from growthrs_testkit import controlplane

        dead = controlplane.dead_components(env.cluster)
        if dead:
            print(f"    control plane: restarting {dead} before the trial", flush=True)
            controlplane.restart_components(env.cluster)
    with guarded(trial):
        spec.scenario(trial)
    try:
        result = trial.evaluate() if trial.recorder is not None else trial.result
    except Exception as exc:  # noqa: BLE001 - report, do not stop the run
        trial.result.failures.append(f"evaluation error: {exc}\n{traceback.format_exc(limit=5)}")
        result = trial.result
    problems = trial.cleanup()
    if problems:
        result.notes += problems
    result.ok = not result.failures
    result.details["log_dir"] = str(trial.log_dir)
    return result


def trial_seeds(master: int, count: int) -> list[int]:
    rng = random.Random(master)
    return [rng.randrange(1, 2**31) for _ in range(count)]


# -- figures ------------------------------------------------------------------------------


def summarise(results: list[TrialResult]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for category in dict.fromkeys([r.category for r in results]):
        rs = [r for r in results if r.category == category and not r.details.get("skipped")]
        if not rs:
            continue
        calls = [r.api_calls_per_node for r in rs if r.creates or r.deletes]
        epp = [r.events_per_pod for r in rs if r.pods]
        rec = [r.recovery_s for r in rs if r.recovery_s is not None]
        tokens = [r.token_hits for r in rs if r.token_hits is not None]
        out[category] = {
            "trials": len(rs),
            "failed": sum(1 for r in rs if not r.ok),
            "duplicates": sum(r.duplicates for r in rs),
            "leaked": sum(r.leaked for r in rs),
            "busy_removed": sum(r.busy_removed for r in rs),
            "crashes": sum(r.crashes for r in rs),
            "pods_never_running": sum(r.pods_never_running for r in rs),
            "api_calls_per_node_mean": round(statistics.mean(calls), 2) if calls else None,
            "api_calls_per_node_max": max(calls) if calls else None,
            "events_per_pod_mean": round(statistics.mean(epp), 2) if epp else None,
            "events_per_pod_max": max(epp) if epp else None,
            "max_events_per_pod_reason": max((r.max_events_per_pod_reason for r in rs), default=0),
            "recovery_s_median": round(statistics.median(rec), 1) if rec else None,
            "recovery_s_max": max(rec) if rec else None,
            "kills": sum(r.kills for r in rs),
            "kills_mid_work": sum(
                sum(1 for k in r.details.get("at_kill", ()) if k.get("unsettled")) for r in rs
            ),
            "token_searches": len(tokens),
            "token_hits": sum(tokens),
        }
    return out


def _fmt(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value}{unit}"


def markdown(report: dict[str, Any]) -> str:
    """The figures section of RELIABILITY.md."""
    lines = [
        f"Run of {report['started']} on {report['machine']['host']} "
        f"({report['machine']['cpus']} CPUs, {report['machine']['platform']}, "
        f"Python {report['machine']['python']}, load average at start "
        f"{report['machine']['load_at_start']}): master seed **{report['seed']}**, "
        f"{len(report['trials'])} trials in {report['duration_s'] / 60:.1f} min, "
        f"**{report['failed']} failed**.",
        "",
        "| category | trials | failed | duplicates | leaks | busy nodes removed | crashes | "
        "pods never Running | API calls / needed node (mean, max) | events / pod (mean, max) | "
        "max events / pod / reason | recovery (median, max) | token hits | SIGKILLs (mid-work) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for category, s in report["categories"].items():
        tokens = f"{s['token_hits']} in {s['token_searches']}" if s["token_searches"] else "-"
        lines.append(
            f"| {category} | {s['trials']} | {s['failed']} | {s['duplicates']} | {s['leaked']} | "
            f"{s['busy_removed']} | {s['crashes']} | {s['pods_never_running']} | "
            f"{_fmt(s['api_calls_per_node_mean'])}, {_fmt(s['api_calls_per_node_max'])} | "
            f"{_fmt(s['events_per_pod_mean'])}, {_fmt(s['events_per_pod_max'])} | "
            f"{s['max_events_per_pod_reason']} | "
            f"{_fmt(s['recovery_s_median'], ' s')}, {_fmt(s['recovery_s_max'], ' s')} | {tokens} | "
            f"{s['kills']} ({s['kills_mid_work']}) |"
        )
    failed = [t for t in report["trials"] if not t["ok"]]
    if failed:
        lines += ["", "Failed trials:", ""]
        for t in failed:
            first = t["failures"][0].splitlines()[0][:300] if t["failures"] else "?"
            lines.append(f"- `{t['category']}/{t['name']}` (seed {t['seed']}): {first}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def write_doc(doc: Path, section: str) -> None:
    begin, end = "<!-- figures:begin -->", "<!-- figures:end -->"
    text = doc.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{doc} has no {begin} ... {end} section")
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    doc.write_text(f"{head}{begin}\n{section}\n{end}{tail}")


def run_suite(
    env: Env,
    specs: list[Spec],
    master_seed: int,
    *,
    seeds: list[int] | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    seeds = seeds if seeds is not None else trial_seeds(master_seed, len(specs))
    started = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results: list[TrialResult] = []
    progress(f"reliability: {len(specs)} trials, master seed {master_seed}, logs in {env.log_dir}")
    for i, (spec, seed) in enumerate(zip(specs, seeds, strict=True)):
        progress(f"[{i + 1}/{len(specs)}] {spec.category}/{spec.name} seed={seed} ...")
        t0 = time.monotonic()
        result = run_one(env, spec, seed, i)
        results.append(result)
        verdict = "ok" if result.ok else "FAILED"
        if result.details.get("skipped"):
            verdict = "skipped"
        progress(
            f"[{i + 1}/{len(specs)}] {spec.category}/{spec.name} {verdict} "
            f"({time.monotonic() - t0:.0f}s): {result.line()}"
        )
        for failure in result.failures[:6]:
            progress(f"      ! {failure.splitlines()[0][:400]}")
        sys.stdout.flush()
    report = {
        "started": stamp,
        "machine": machine(),
        "seed": master_seed,
        "duration_s": round(time.time() - started, 1),
        "failed": sum(1 for r in results if not r.ok),
        "categories": summarise(results),
        "trials": [r.to_dict() for r in results],
    }
    return report


def dump(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
