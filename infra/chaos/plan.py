"""What a chaos run does: how many faults of each kind, how long the outages last, how much load."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChaosPlan:
    """The parameters of one run; `make chaos` uses the defaults, the system test a short plan."""

    #: SIGKILLs of a worker while it holds a job.
    kills: int = 100
    #: SIGKILLs of the frontend while an upload is in flight.
    frontend_kills: int = 5
    #: How long the broker leading `jobs.requested`, MinIO and PostgreSQL each stay down.
    outage_s: float = 30.0
    #: Reencoder worker processes (at most the six partitions of `jobs.requested` do work).
    workers: int = 4
    #: Users uploading in the background, one after another, `load_pause_s` apart.
    users: int = 3
    load_pause_s: float = 2.0
    #: Every how many background uploads one is a short video (0: images only).
    video_every: int = 8
    #: Every how many worker kills the job in hand is a video (0: images only).
    video_victim_every: int = 4
    #: How long a fault may take to recover (a probe upload done) before it counts as not recovered,
    #: and how long the invariants may take to hold once the faults are over.
    recovery_s: float = 300.0
    seed: int = 1

    def describe(self) -> str:
        return (
            f"{self.kills} worker kills, {self.frontend_kills} frontend kills, "
            f"{self.outage_s:.0f} s outages, {self.workers} workers, "
            f"{self.users} users uploading every {self.load_pause_s:g} s, seed {self.seed}"
        )
