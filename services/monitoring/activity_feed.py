"""The live stream of user activity, filterable, and each user's recent timeline."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from shared.events import ActivityKind, UserActivity


@dataclass
class ActivityFeed:
    capacity: int = 2000
    per_user: int = 100
    #: Users whose timelines are kept; the least recently active are dropped beyond this.
    max_users: int = 10_000
    _recent: deque[UserActivity] = field(init=False)
    _timelines: OrderedDict[str, deque[UserActivity]] = field(default_factory=OrderedDict)
    counts: dict[ActivityKind, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._recent = deque(maxlen=self.capacity)

    def add(self, event: UserActivity) -> None:
        self._recent.appendleft(event)
        self.counts[event.kind] = self.counts.get(event.kind, 0) + 1
        if event.user_id is None:
            return
        timeline = self._timelines.pop(event.user_id, None) or deque(maxlen=self.per_user)
        timeline.appendleft(event)
        self._timelines[event.user_id] = timeline
        while len(self._timelines) > self.max_users:
            self._timelines.popitem(last=False)

    def recent(
        self,
        kinds: set[ActivityKind] | None = None,
        user_id: str | None = None,
        limit: int = 100,
    ) -> list[UserActivity]:
        """Newest first, optionally only some kinds or one user."""
        found = []
        for event in self._recent:
            if kinds and event.kind not in kinds:
                continue
            if user_id is not None and event.user_id != user_id:
                continue
            found.append(event)
            if len(found) >= limit:
                break
        return found

    def timeline(self, user_id: str) -> list[UserActivity]:
        """One user's recent activity, newest first (empty for an unknown user)."""
        return list(self._timelines.get(user_id, ()))
