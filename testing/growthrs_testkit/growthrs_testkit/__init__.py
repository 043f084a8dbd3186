"""The GrowthRS test kit: what the tests, the benchmarks and the demo share.

- :mod:`growthrs_testkit.controlplane` — the local control plane (build, up, down),
  also ``python -m growthrs_testkit.controlplane``.
- :mod:`growthrs_testkit.pytest_plugin` — the ``kube_cluster``, ``kubeconfig``,
  ``kube``, ``ns`` and ``operators`` fixtures and the ``e2e`` marker, loaded by
  pytest through the ``pytest11`` entry point.
- :mod:`growthrs_testkit.kube` — a client for a kubeconfig, waits, the CRDs, and
  builders and queries for the objects tests make.
- :mod:`growthrs_testkit.operator` — ``growthrs run`` as a child process, and the
  end-to-end tests' helpers around it (start, stop, free port, metrics).
- :mod:`growthrs_testkit.planning` — builders for the planner's pure inputs, and
  random packing instances with their exact optimum.

Nothing is imported here, so loading the pytest plugin stays cheap.
"""
