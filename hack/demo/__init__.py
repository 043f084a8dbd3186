"""``make demo``: GrowthRS autoscaling a real workload on a local control plane, live.

One module per concern: ``cli`` (flags and the entry point), ``scenario`` (the
run: set up, scale out, scale in, summarise, clean up), ``cluster`` (which
cluster, and what the demo puts in it and takes out again), ``tracking`` (what
it observes) and ``rendering`` (the live view, plain lines and the summary).
The local control plane, the Kubernetes client, the CRDs and the operator
launcher are the test kit's (``growthrs_testkit``).
"""
