"""Login throttling: too many failures for one username, or from one client, wait a while.

Attempts are counted in the database, so the limit holds across every frontend instance behind the
load balancer. Each attempt is recorded (as a failure) and committed *before* its password is
verified, then the failures are counted: parallel guesses see each other's records, so however many
arrive at once, only as many as the limit allows are verified. A success clears the username's
count (not the client's: one address guessing many names stays throttled).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.frontend.accounts.account_store import AccountStore
from shared.events import utc_now


class LoginThrottled(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class LoginThrottle:
    store: AccountStore
    window: timedelta = timedelta(minutes=15)
    per_username: int = 5
    per_client: int = 20

    def begin(self, username: str, client: str) -> int:
        """Record an attempt, then admit it: its id, or `LoginThrottled` (the attempt forgotten)."""
        attempt_id = self.store.begin_login(username, client)
        now = utc_now()
        since = now - self.window
        # Each list holds this attempt too: one more than the limit means the limit was reached.
        wait_s = max(
            _wait(
                self.store.failures_since(since, username=username), self.per_username + 1, self.window, now
            ),
            _wait(self.store.failures_since(since, client=client), self.per_client + 1, self.window, now),
        )
        if wait_s:
            self.store.drop_login(attempt_id)
            raise LoginThrottled(wait_s)
        return attempt_id

    def finish(self, attempt_id: int, succeeded: bool) -> None:
        self.store.finish_login(attempt_id, succeeded)
        self.store.forget_attempts_before(utc_now() - 2 * self.window)


def _wait(failures: list[datetime], limit: int, window: timedelta, now: datetime) -> int:
    if len(failures) < limit:
        return 0
    # Allowed again once enough of the failures have left the window.
    oldest_that_counts = failures[-limit]
    return max(1, int((oldest_that_counts + window - now).total_seconds()) + 1)
