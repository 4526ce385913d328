"""Login throttling: too many failures for one username, or from one client, wait a while.

Failures are counted in the database, so the limit holds across every frontend instance behind the
load balancer. A success clears the username's count (not the client's: one address guessing many
names stays throttled).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.frontend.accounts.account_store import AccountStore
from shared.events import utc_now


@dataclass(frozen=True)
class LoginThrottle:
    store: AccountStore
    window: timedelta = timedelta(minutes=15)
    per_username: int = 5
    per_client: int = 20

    def retry_after_s(self, username: str, client: str) -> int:
        """Seconds to wait before another attempt may be made; 0 when allowed now."""
        now = utc_now()
        since = now - self.window
        waits = [
            _wait(self.store.failures_since(since, username=username), self.per_username, self.window, now),
            _wait(self.store.failures_since(since, client=client), self.per_client, self.window, now),
        ]
        return max(waits)

    def record(self, username: str, client: str, succeeded: bool) -> None:
        self.store.record_login(username, client, succeeded)
        self.store.forget_attempts_before(utc_now() - 2 * self.window)


def _wait(failures: list[datetime], limit: int, window: timedelta, now: datetime) -> int:
    if len(failures) < limit:
        return 0
    # Allowed again once enough of the failures have left the window.
    oldest_that_counts = failures[-limit]
    return max(1, int((oldest_that_counts + window - now).total_seconds()) + 1)
