"""GrowthRS's reliability trials: never leak, never churn, never touch what isn't ours.

``python -m reliability`` (``make reliability``) runs them against a real local
control plane: SIGKILLs of the operator at random moments of scale-up,
scale-down, group edits and deletion (KWOK and the Hetzner API stand-in), an
apiserver killed, frozen and behind a stale watch, every provider fault,
group edits, hypothesis-generated bad input, and a search for secrets in
everything a run writes. See RELIABILITY.md for the bounds and the figures.
"""
