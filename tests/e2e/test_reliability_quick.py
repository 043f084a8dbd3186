"""A few reliability trials, quick enough for ``make test`` (about two minutes).

The operator is SIGKILLed at a random moment of a KWOK scale-up and of a
Hetzner (stand-in) scale-down, a KWOK type's nodes never join (its offering
must back off for every request), and generated group specs go through the
apiserver to a running operator. The apiserver trials are in the full suite
only (see RELIABILITY.md). Each trial checks the
bounds of the full suite (``make reliability``, ``RELIABILITY.md``): no
duplicate, no leaked instance, no busy node removed, no operator crash, creates
within the backoff, one Event per pod and reason.

The seed is printed; ``GROWTHRS_RELIABILITY_SEED=<seed>`` repeats a run's choices.
Under CI it is fixed, like hypothesis's examples (tests/conftest.py).
"""

from __future__ import annotations

import os
import random
from typing import Any

import pytest

from growthrs_testkit.kube import install_crds, kube_for
from reliability.suite import Spec, quick_suite, run_one
from reliability.trial import Env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SPECS = quick_suite()


def master_seed() -> int:
    if os.environ.get("GROWTHRS_RELIABILITY_SEED"):
        return int(os.environ["GROWTHRS_RELIABILITY_SEED"])
    return 20261130 if os.environ.get("CI") else random.SystemRandom().randrange(1, 10**6)


SEED = master_seed()


@pytest.fixture(scope="module")
def env(kube_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Env:
    kube = kube_for(str(kube_cluster.kubeconfig))
    install_crds(kube)
    return Env(
        kube=kube,
        kubeconfig=str(kube_cluster.kubeconfig),
        cluster=kube_cluster.name if kube_cluster.started_here else None,
        log_dir=tmp_path_factory.mktemp("reliability"),
        quick=True,
    )


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.category}/{s.name}" for s in SPECS])
def test_quick_trial(env: Env, spec: Spec) -> None:
    index = SPECS.index(spec)
    seed = random.Random(SEED).randrange(1, 2**31) + index
    print(f"master seed {SEED} (GROWTHRS_RELIABILITY_SEED={SEED}); trial seed {seed}")
    result = run_one(env, spec, seed, index)
    if result.details.get("skipped"):
        pytest.skip("; ".join(result.notes))
    print(f"{spec.category}/{spec.name}: {result.line()}")
    print(f"details: {result.details}")
    assert result.ok, "\n".join(f.splitlines()[0][:600] for f in result.failures)
