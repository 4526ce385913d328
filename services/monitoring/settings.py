"""The monitoring service's knobs (MONITORING_*): how often it looks, and how long it waits to alert."""

from __future__ import annotations

from shared.frame.config import HttpSettings


class MonitoringSettings(HttpSettings, env_prefix="MONITORING_"):
    port: int = 8002
    #: How often Kafka, the database and storage are examined (and the page is refreshed).
    poll_interval_s: float = 5.0
    #: A watcher that takes longer than this counts as a failed look (the system is not hung on it).
    probe_timeout_s: float = 10.0
    #: An instance silent for longer than this is reported down (heartbeats come every 5 s).
    down_after_s: float = 15.0
    #: A down instance is forgotten (and its alert cleared) after this long: it was scaled away.
    forget_after_s: float = 600.0
    #: A consumer group whose lag stays above zero without one commit for this long is stuck.
    #: Keep it above the longest image job a worker may hold (a job in hand is not committed); a
    #: video task reports progress, which keeps its partitions busy rather than stuck.
    lag_window_s: float = 120.0
    #: Samples needed inside the window before a partition is judged at all.
    lag_min_samples: int = 3
    #: Rows kept for the page: log lines, activity events, alert changes.
    log_history: int = 5000
    activity_history: int = 2000
    alert_history: int = 500
    slow_queries: int = 10
    #: Object listing stops here per bucket (the count is then a lower bound, marked truncated).
    max_objects_per_bucket: int = 100_000
    #: Buckets' object counts and bytes are recounted this often (health is checked at every look).
    bucket_refresh_s: float = 30.0
    #: The scaling advisor sizes the workers to clear the queued work within this many seconds,
    #: from the rates it measured over the last `scale_window_s`.
    scale_target_s: float = 300.0
    scale_window_s: float = 60.0
