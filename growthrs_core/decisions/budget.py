"""A request budget per provider: a token bucket, as a pure function of the clock.

Every provider call spends a token; tokens come back at ``rate`` per second up
to ``burst``. A call that finds the bucket empty waits for its token instead of
being sent, so the operator as a whole never asks a cloud faster than its
budget, whatever the loop decides at once (a large scale-up, many failing
deletes, orphan listings).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    """Tokens per second."""
    burst: float
    """Most tokens saved up."""
    clock: Callable[[], float]
    _tokens: float | None = field(default=None, init=False)
    _at: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def reserve(self) -> float:
        """Spend a token; the seconds to wait before the call may be made (0 if none).

        Reservations queue up: the n-th call beyond the burst waits n / rate seconds.
        """
        with self._lock:
            moment = self.clock()
            tokens = self.burst if self._tokens is None else self._tokens
            tokens = min(self.burst, tokens + (moment - self._at) * self.rate) - 1.0
            self._tokens, self._at = tokens, moment
            return 0.0 if tokens >= 0 else -tokens / self.rate
