"""The trials: what each does to the operator and what it expects afterwards.

Every scenario takes a :class:`~reliability.trial.Trial` (its world, its seeded
RNG) and drives it; the bounds are checked by :meth:`Trial.evaluate` for every
trial alike. Pods are 1 CPU / 1 GiB pause pods pinned to the trial's group.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from growthrs_core.controller.kube import ngp_path
from hcloud_standin import Fault
from reliability.trial import Trial, TrialFailed, nodes_for, per_node

Scenario = Callable[[Trial], None]


@dataclass(frozen=True)
class Profile:
    """Which provider a crash trial runs on, and its two instance types."""

    provider: str
    top: str
    second: str

    @property
    def hetzner(self) -> bool:
        return self.provider == "hetzner"

    def pool(self, t: Trial, server_type: str, priority: int, **extra: Any) -> dict[str, Any]:
        if self.hetzner:
            assert t.hetzner is not None
            return t.hetzner.pool(server_type, priority, **extra)
        return {"provider": "kwok", "serverType": [server_type], "priority": priority, **extra}

    def offering(self, server_type: str) -> str:
        return f"{self.provider}:{server_type}@fsn1"

    def per_node(self, t: Trial, server_type: str) -> int:
        return per_node(self.provider, server_type, t.op_env, 1000, 1024)

    def unavailable(self, t: Trial, server_type: str) -> None:
        """``server_type`` has no capacity in fsn1 (for the whole trial)."""
        if self.hetzner:
            assert t.hetzner is not None and t.hetzner.api is not None
            t.hetzner.api.inject(
                Fault(
                    code="resource_unavailable",
                    server_type=server_type,
                    location="fsn1",
                    times=None,
                )
            )
        else:
            t.kwok_faults(unavailable=f"{server_type}@fsn1")


KWOK = Profile("kwok", "cx32", "cpx31")
HETZNER = Profile("hetzner", "cx33", "cpx32")


def _boot_env(t: Trial, profile: Profile) -> dict[str, str]:
    if profile.hetzner:
        return {}
    return {"GROWTHRS_KWOK_BOOT_DELAY": str(t.rng.choice([2, 3, 4, 5]))}


def _existing(t: Trial, group: str) -> int:
    return len(t.group_nodes(group))


# -- crash trials -------------------------------------------------------------------------


def crash_scale_up(profile: Profile, *, crash: bool = True) -> Scenario:
    def run(t: Trial) -> None:
        t.setup(hetzner=profile.hetzner)
        fallback = t.rng.random() < 0.35
        if fallback:
            profile.unavailable(t, profile.top)
        g = t.group(
            "g",
            [profile.pool(t, profile.top, 90), profile.pool(t, profile.second, 50)],
            scaleDown={"enabled": False},
        )
        t.operator(env=_boot_env(t, profile))
        n = t.rng.randint(6, 18)
        used = profile.second if fallback else profile.top
        t.needed_nodes = nodes_for(n, profile.per_node(t, used))
        t.log(f"scale-up: {n} pods, need {t.needed_nodes} {used} node(s), fallback={fallback}")
        if fallback:
            t.bound_creates(profile.offering(profile.top), 60.0)
        t.deploy("web", n, g)
        if crash:
            # Planning, creates and boots (2-5 s) take about this long.
            t.kill_and_restart(6.0)
        t.settle()
        nodes = _existing(t, g)
        t.result.details["nodes"] = nodes
        if nodes > t.needed_nodes:
            t.result.failures.append(
                f"{nodes} nodes for {n} pods where {t.needed_nodes} hold them (over-provisioned)"
            )

    return run


def crash_scale_down(profile: Profile, *, crash: bool = True) -> Scenario:
    def run(t: Trial) -> None:
        t.setup(hetzner=profile.hetzner)
        unneeded = t.rng.randint(2, 5)
        g = t.group(
            "g",
            [profile.pool(t, profile.top, 90)],
            scaleDown={"enabled": True, "unneededTime": f"{unneeded}s"},
        )
        t.operator()
        n = t.rng.randint(6, 14)
        t.needed_nodes = nodes_for(n, profile.per_node(t, profile.top))
        t.deploy("web", n, g)
        t.wait_running("web", n)
        m = t.rng.randint(0, n // 2)
        t.log(f"scale-down: {n} → {m} pods on {_existing(t, g)} node(s)")
        t.scale("web", m)
        t.disturbed_at = time.time()
        if crash:
            # Marked after the scale-down, removed unneededTime later, then deleted.
            t.kill_and_restart(unneeded + 2.0)
        t.settle()

    return run


EDITS = ("reorder", "shrink", "remove-pool", "change-provider")


def crash_group_edit(profile: Profile, kind: str | None = None, *, crash: bool = True) -> Scenario:
    def run(t: Trial) -> None:
        edit = kind or t.rng.choice(EDITS)
        t.result.details["edit"] = edit
        other = KWOK if profile.hetzner else HETZNER
        t.setup(hetzner=profile.hetzner or edit == "change-provider")
        g = t.group(
            "g",
            [profile.pool(t, profile.top, 90), profile.pool(t, profile.second, 50)],
            scaleDown={"enabled": True, "unneededTime": "4s"},
        )
        t.operator()
        n = t.rng.randint(3, 8)
        per_top = profile.per_node(t, profile.top)
        per_second = profile.per_node(t, profile.second)
        t.deploy("web", n, g)
        t.wait_running("web", n)
        have = _existing(t, g)
        # Enough new pods that the room left on the nodes there are cannot take them all.
        k = have * per_top - n + t.rng.randint(1, 4)
        expect = n + k
        t.needed_nodes = nodes_for(n, per_top)
        if edit == "reorder":

            def change(spec: dict[str, Any]) -> None:
                spec["pools"][0]["priority"], spec["pools"][1]["priority"] = 50, 90

            spare = have * per_top - n
            t.needed_nodes = have + nodes_for(max(0, k - spare), per_second)
        elif edit == "shrink":

            def change(spec: dict[str, Any]) -> None:
                spec["maxNodes"] = have

            expect = min(n + k, have * per_top)
            t.needed_nodes = have
        elif edit == "remove-pool":

            def change(spec: dict[str, Any]) -> None:
                spec["pools"] = spec["pools"][1:]

            spare = have * per_top - n
            t.needed_nodes = have + nodes_for(max(0, k - spare), per_second)
        else:
            new_type = other.top

            def change(spec: dict[str, Any]) -> None:
                spec["pools"] = [other.pool(t, new_type, 90)]

            t.needed_nodes = have + nodes_for(k, other.per_node(t, new_type))
        t.log(
            f"edit {edit}: {n} pods on {have} node(s), then {n + k} pods (expect {expect} Running)"
        )
        t.edit_group(g, change)
        t.scale("web", n + k, expect=expect)
        t.disturbed_at = time.time()
        if crash:
            t.kill_and_restart(5.0)
        if edit == "shrink":
            t.allow_idle = False
        t.settle()
        if edit == "shrink":
            nodes = _existing(t, g)
            if nodes > have:
                t.result.failures.append(f"{nodes} nodes after maxNodes was shrunk to {have}")

    return run


def crash_group_delete(profile: Profile, *, crash: bool = True) -> Scenario:
    def run(t: Trial) -> None:
        t.setup(hetzner=profile.hetzner)
        g = t.group(
            "g",
            [profile.pool(t, profile.top, 90)],
            scaleDown={"enabled": False},
            nodesOnDeletion="Remove",
        )
        t.operator()
        n = t.rng.randint(3, 9)
        t.needed_nodes = nodes_for(n, profile.per_node(t, profile.top))
        t.deploy("web", n, g)
        t.wait_running("web", n)
        t.wait(
            "the group's finalizer",
            lambda: (
                "growthrs.io/nodes" in (t.kube.get(ngp_path(g))["metadata"].get("finalizers") or [])
            ),
            30,
        )
        t.log(f"delete group: {n} pods on {_existing(t, g)} node(s)")
        t.delete_group(g)
        t.expect_running["web"] = 0  # pinned to a group that is gone: nothing can run them
        t.disturbed_at = time.time()
        if crash:
            # Evictions and deletes take 2-3 s (Hetzner: a delete action takes 1 s).
            t.kill_and_restart(4.0 if profile.hetzner else 2.5)
        t.settle()

    return run


def crash_mix(profile: Profile) -> list[tuple[str, Scenario]]:
    return [
        ("scale-up", crash_scale_up(profile)),
        ("scale-down", crash_scale_down(profile)),
        ("group-edit", crash_group_edit(profile)),
        ("group-delete", crash_group_delete(profile)),
    ]


# -- the apiserver --------------------------------------------------------------------------


def apiserver_kill(*, during: str = "scale-up") -> Scenario:
    """SIGKILL the kube-apiserver at a random moment of a scale-up (or scale-down), keep it
    down for a few seconds, start it again; the operator must live through it."""

    def run(t: Trial) -> None:
        from growthrs_testkit import controlplane

        if t.env.cluster is None:
            raise TrialFailed("needs a control plane started by this run (not --kubeconfig)")
        t.setup()
        g = t.group(
            "g",
            [KWOK.pool(t, KWOK.top, 90)],
            scaleDown={"enabled": during == "scale-down", "unneededTime": "3s"},
        )
        # A node booted while the apiserver was away may be missed by the kwok controller
        # (it adopts only Nodes it sees created) and never turn Ready: the operator's join
        # timeout must replace it, so keep that timeout within the settling time.
        t.operator(env={"GROWTHRS_KWOK_BOOT_DELAY": "2"}, readiness_wait=45)
        n = t.rng.randint(6, 15)
        t.needed_nodes = nodes_for(n, KWOK.per_node(t, KWOK.top))
        t.deploy("web", n, g)
        if during == "scale-down":
            t.wait_running("web", n)
            m = t.rng.randint(0, n // 2)
            t.scale("web", m)
        at = t.rng.uniform(0, 6)
        down = t.rng.uniform(3, 12)
        t.log(f"apiserver: SIGKILL in {at:.1f}s, down for {down:.1f}s")
        time.sleep(at)
        controlplane.kill_component(t.env.cluster, "kube-apiserver")
        time.sleep(down)
        restarted = t.restart_control_plane(fresh=("kwok-controller", "kube-scheduler"))
        t.restarted_at = time.time()
        t.log(f"apiserver back; restarted {restarted}")
        t.result.details.update(kill_at_s=round(at, 1), down_s=round(down, 1), restarted=restarted)
        # What dies later (a component whose lease lapsed) is restarted while settling.
        t.settle()

    return run


def apiserver_freeze() -> Scenario:
    """SIGSTOP the kube-apiserver mid scale-up (connections stay open, nothing answers),
    SIGCONT it after a while."""

    def run(t: Trial) -> None:
        import signal

        from growthrs_testkit import controlplane

        if t.env.cluster is None:
            raise TrialFailed("needs a control plane started by this run (not --kubeconfig)")
        t.setup()
        g = t.group("g", [KWOK.pool(t, KWOK.top, 90)], scaleDown={"enabled": False})
        t.operator(env={"GROWTHRS_KWOK_BOOT_DELAY": "2"}, readiness_wait=45)
        n = t.rng.randint(6, 15)
        t.needed_nodes = nodes_for(n, KWOK.per_node(t, KWOK.top))
        t.deploy("web", n, g)
        at = t.rng.uniform(0, 5)
        frozen = t.rng.uniform(5, 15)
        t.log(f"apiserver: SIGSTOP in {at:.1f}s for {frozen:.1f}s")
        time.sleep(at)
        controlplane.signal_component(t.env.cluster, "kube-apiserver", signal.SIGSTOP)
        try:
            time.sleep(frozen)
        finally:
            controlplane.signal_component(t.env.cluster, "kube-apiserver", signal.SIGCONT)
        t.restarted_at = time.time()
        restarted = t.restart_control_plane()
        if restarted:
            t.result.notes.append(f"restarted after the freeze: {restarted}")
        t.result.details.update(stop_at_s=round(at, 1), frozen_s=round(frozen, 1))
        t.settle()

    return run


def stale_watch(relist: float = 10.0) -> Scenario:
    """Watches that deliver nothing (a proxy swallows their events): the operator must
    still see new pods within one ``relist_interval``."""

    def run(t: Trial) -> None:
        from reliability.proxy import WatchProxy

        t.setup()
        g = t.group("g", [KWOK.pool(t, KWOK.top, 90)], scaleDown={"enabled": False})
        proxy = WatchProxy(t.env.kubeconfig).start()
        t.cleanups.append(proxy.stop)
        op = t.operator(kubeconfig=proxy.kubeconfig(), relist_interval=relist)
        op.wait_for_log("caches synced", 60)
        time.sleep(t.rng.uniform(0, relist / 2))
        proxy.stale.set()
        stale_at = time.time()
        n = t.rng.randint(3, 9)
        t.needed_nodes = nodes_for(n, KWOK.per_node(t, KWOK.top))
        assert t.recorder is not None
        rv = t.recorder.max_rv
        t.deploy("web", n, g)
        created = time.time()
        first = t.wait(
            "a NodeRequest for the new pods",
            lambda: t.recorder.first_request_after({g}, rv) if t.recorder else None,
            relist * 3 + 30,
        )
        noticed = time.time() - created
        bound = relist + 2.0 + 3.0  # relist, batch_max, a pass and the write
        t.result.details.update(
            noticed_after_s=round(noticed, 1),
            bound_s=bound,
            relist_interval_s=relist,
            swallowed_events=proxy.swallowed,
            first_request=first.name,
        )
        t.log(f"stale watch: noticed after {noticed:.1f}s (bound {bound:.0f}s)")
        if noticed > bound:
            t.result.failures.append(
                f"new pods noticed {noticed:.1f}s after creation behind a stale watch "
                f"(relist_interval {relist:.0f}s, bound {bound:.0f}s)"
            )
        if proxy.swallowed == 0:
            t.result.failures.append("the proxy swallowed no event: the watch was not stale")
        proxy.stale.clear()
        t.disturbed_at = stale_at
        t.settle()

    return run


# -- provider faults: KWOK ------------------------------------------------------------------


def kwok_create_error(window: float = 40.0) -> Scenario:
    """Every pool's create fails (retryable) for ``window`` seconds, then works again."""

    def run(t: Trial) -> None:
        t.setup()
        t.kwok_faults(create_error="*@fsn1")
        g = t.group(
            "g",
            [KWOK.pool(t, "cx32", 90), KWOK.pool(t, "cpx31", 50)],
            scaleDown={"enabled": False},
        )
        t.operator(failure_backoff=5, backoff_max=20, group_backoff=10, unmet_ttl=15)
        n = t.rng.randint(4, 9)
        t.needed_nodes = nodes_for(n, KWOK.per_node(t, "cx32"))
        bounds = [t.bound_creates(KWOK.offering(s), 5.0, cap=20.0) for s in ("cx32", "cpx31")]
        t.deploy("web", n, g)
        time.sleep(window)
        for b in bounds:
            t.close_bound(b)
        t.kwok_faults()
        t.disturbed_at = time.time()
        t.settle()

    return run


def kwok_unavailable(*, everything: bool, window: float = 40.0) -> Scenario:
    """No capacity: in the top pool (fallback to the next at once), or everywhere for
    ``window`` seconds."""

    def run(t: Trial) -> None:
        t.setup()
        t.kwok_faults(unavailable="*@fsn1" if everything else "cx32@fsn1")
        g = t.group(
            "g",
            [KWOK.pool(t, "cx32", 90), KWOK.pool(t, "cpx31", 50)],
            scaleDown={"enabled": False},
        )
        t.operator(offering_backoff=30, backoff_max=60, group_backoff=10, unmet_ttl=15)
        n = t.rng.randint(4, 9)
        t.needed_nodes = nodes_for(n, KWOK.per_node(t, "cpx31"))
        b = [t.bound_creates(KWOK.offering("cx32"), 30.0, cap=60.0)]
        if everything:
            b.append(t.bound_creates(KWOK.offering("cpx31"), 30.0, cap=60.0))
        t.deploy("web", n, g)
        if everything:
            time.sleep(window)
            for i in b:
                t.close_bound(i)
            t.kwok_faults()
            t.disturbed_at = time.time()
            t.needed_nodes = nodes_for(n, KWOK.per_node(t, "cx32"))
        t.settle()

    return run


def kwok_never_ready() -> Scenario:
    """The top pool's nodes never become Ready: join timeout, instance deleted, retried,
    then the next pool."""

    def run(t: Trial) -> None:
        t.setup()
        t.kwok_faults(never_ready="cx32@fsn1")
        g = t.group(
            "g",
            [KWOK.pool(t, "cx32", 90), KWOK.pool(t, "cpx31", 50)],
            scaleDown={"enabled": False},
        )
        t.operator(readiness_wait=10, max_attempts=2, failure_backoff=10)
        n = t.rng.randint(3, 8)
        t.needed_nodes = nodes_for(n, KWOK.per_node(t, "cpx31"))
        t.bound_creates(KWOK.offering("cx32"), 10.0)
        t.deploy("web", n, g)
        t.settle()

    return run


def kwok_failed_after_ready() -> Scenario:
    """Nodes are Ready and busy when their type starts reporting Failed: they are never
    removed with pods on them, and new nodes come from the next pool."""

    def run(t: Trial) -> None:
        t.setup()
        g = t.group(
            "g",
            [KWOK.pool(t, "cx32", 90), KWOK.pool(t, "cpx31", 50)],
            scaleDown={"enabled": True, "unneededTime": "5s"},
        )
        t.operator(failure_backoff=10, readiness_wait=20)
        n = t.rng.randint(3, 8)
        t.deploy("web", n, g)
        t.wait_running("web", n)
        have = _existing(t, g)
        t.kwok_faults(failed="cx32@fsn1")
        k = t.rng.randint(3, 6)
        spare = have * KWOK.per_node(t, "cx32") - n
        t.needed_nodes = have + nodes_for(max(0, k - spare), KWOK.per_node(t, "cpx31"))
        t.bound_creates(KWOK.offering("cx32"), 10.0)
        t.scale("web", n + k)
        t.disturbed_at = time.time()
        t.settle()

    return run


# -- provider faults: Hetzner ----------------------------------------------------------------


def _hz_group(t: Trial, *, scale_down: bool = False, **spec: Any) -> str:
    return t.group(
        "g",
        [HETZNER.pool(t, "cx33", 90), HETZNER.pool(t, "cpx32", 50)],
        scaleDown={"enabled": scale_down, "unneededTime": "3s"},
        **spec,
    )


def _hz_scale_up(t: Trial, *, n: int | None = None, server_type: str = "cx33") -> tuple[str, int]:
    n = n or t.rng.randint(3, 8)
    t.needed_nodes = nodes_for(n, HETZNER.per_node(t, server_type))
    return "web", n


def hetzner_fault(kind: str) -> Scenario:
    """One Hetzner API fault during a scale-up (or scale-down for failing deletes)."""

    def run(t: Trial) -> None:
        t.setup(hetzner=True)
        assert t.hetzner is not None and t.hetzner.api is not None
        api = t.hetzner.api
        env: dict[str, str] = {}
        flags: dict[str, Any] = {}
        if kind == "429":
            api.inject(Fault(code="rate_limit_exceeded", method="POST", path="/servers", times=2))
            api.inject(
                Fault(code="rate_limit_exceeded", method="POST", path="/servers", retry_after=4.0)
            )
            api.inject(
                Fault(code="rate_limit_exceeded", method="GET", path=r"/servers/\d+/actions")
            )
            env["GROWTHRS_HETZNER_MAX_RETRY_WAIT"] = "2"
        elif kind == "5xx":
            api.inject(Fault(code="server_error", method="POST", path="/servers", times=3))
            api.inject(Fault(code="unavailable", method="GET", path="/servers", times=2))
            api.inject(Fault(code="bad_gateway", method="GET", path=r"/actions.*", times=2))
            api.inject(Fault(code="timeout", method="GET", path=r"/servers/\d+", times=2))
        elif kind == "stuck-actions":
            api.inject(
                Fault(code="slow_actions", method="POST", path="/servers", delay=3600, times=2)
            )
            flags.update(readiness_wait=15, max_attempts=2)
        elif kind == "failing-actions":
            api.inject(
                Fault(
                    code="failing_actions", command="create_server", message="host on fire", times=2
                )
            )
        elif kind == "unavailable":
            api.inject(
                Fault(code="resource_unavailable", server_type="cx33", location="fsn1", times=None)
            )
        elif kind == "quota":
            api.world.server_limit = 2
            flags.update(unmet_ttl=15, group_backoff=10, failure_backoff=10, offering_backoff=30)
        elif kind == "401":
            wrong = "hz-wrong-" + t.prefix + "-0123456789abcdef"
            t.extra_secrets.append(wrong)
            env.update(t.hetzner.env(token=wrong))
        elif kind == "403":
            api.inject(Fault(code="forbidden", method="POST", path="/servers", times=None))
            flags.update(unmet_ttl=20, group_backoff=10)
        elif kind == "failing-deletes":
            pass
        else:
            raise ValueError(kind)
        g = _hz_group(t, scale_down=kind == "failing-deletes")
        if t.recorder is not None:
            t.recorder.secrets = t.secrets()
        app, n = _hz_scale_up(t, server_type="cpx32" if kind == "unavailable" else "cx33")
        t.operator(env=env, **flags)
        since = time.time()
        if kind == "unavailable":
            t.bound_creates(HETZNER.offering("cx33"), 60.0, since=since)
        if kind == "quota":
            per = HETZNER.per_node(t, "cx33")
            n = 2 * per + t.rng.randint(1, per)
            t.needed_nodes = nodes_for(n, per)
            t.deploy(app, n, g, expect=2 * per)
            b = t.bound_creates(HETZNER.offering("cx33"), 10.0, since=since)
            t.allow_idle = True
            t.settle(timeout=120)
            time.sleep(30)
            t.close_bound(b)
            t.log("quota raised")
            api.world.server_limit = 100
            t.expect_running[app] = n
            t.allow_idle = False
            t.disturbed_at = time.time()
            t.settle()
            return
        if kind in ("401", "403"):
            t.deploy(app, n, g, expect=0)
            b = t.bound_creates(HETZNER.offering("cx33"), 10.0, since=since)
            t.bound_creates(HETZNER.offering("cpx32"), 10.0, since=since)
            blocked = t.wait(
                "the group to say why it creates nothing",
                lambda: _condition(t, g, "ScaleUpBlocked"),
                60,
            )
            t.result.details["condition"] = blocked
            time.sleep(20)
            created = [e for e in api.requests("POST", "/servers") if e.status == 201]
            if created:
                t.result.failures.append(f"{len(created)} server(s) created with a refused token")
            t.settle(timeout=60)
            if kind == "403":
                t.close_bound(b)
                api.clear_faults()
                # The pool stays blocked until its configuration changes: edit the group.
                t.edit_group(g, lambda spec: spec.setdefault("labels", {}).update(touched="yes"))
                t.expect_running[app] = n
                t.disturbed_at = time.time()
                t.settle()
            return
        t.deploy(app, n, g)
        if kind == "failing-deletes":
            t.wait_running(app, n)
            api.inject(
                Fault(code="server_error", method="DELETE", path=r"/servers/\d+", times=None)
            )
            t.scale(app, 0)  # every node empties: every delete meets the fault
            time.sleep(15)
            failed = [e for e in api.requests("DELETE", r"/servers/\d+") if e.status == 500]
            t.result.details["failed_deletes"] = len(failed)
            api.clear_faults()
            t.disturbed_at = time.time()
        t.settle()

    return run


def _condition(t: Trial, group: str, type_: str) -> dict[str, Any] | None:
    status = t.kube.get(ngp_path(group)).get("status") or {}
    for cond in status.get("conditions") or ():
        if cond.get("type") == type_ and cond.get("status") == "True":
            return {"reason": cond.get("reason"), "message": cond.get("message")}
    return None
