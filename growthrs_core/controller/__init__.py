"""The imperative shell: watches, API writes, provider calls and timers.

It only executes what the pure planner, state machine and scale-down code decide.
"""
