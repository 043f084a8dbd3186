"""The decision layer: every choice the operator loop makes, as pure functions.

Each module answers one question over a :class:`~.snapshot.Snapshot` of the
cluster and the loop's :class:`~.memory.LoopMemory` (see docs/architecture.md):

- :mod:`.batching` — when to plan, and which watch events open a batch;
- :mod:`.candidates` — which offering a NodeRequest asks for next (fallback);
- :mod:`.usage` — nodes per group and pool against their limits;
- :mod:`.node_request` — the NodeRequest lifecycle, one module per phase;
- :mod:`.scale_down` — which empty nodes to mark and remove;
- :mod:`.orphans` — which provider instances nothing accounts for;
- :mod:`.group_status` — a group's counts and conditions;
- :mod:`.deletes` and :mod:`.backoff` — when to try a failed call again;
- :mod:`.identity` — which pool and provider a node belongs to after edits;
- :mod:`.reconcile` — one pass: the planner, then the steps above.

The planner itself (:mod:`growthrs_core.planner`) sits one layer below.
"""
