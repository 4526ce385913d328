"""Upload fuzz cases through the API and account for every one: what was answered, how each accepted
job ended, whether any process died, and how much memory the workers used at most.

The promise checked: no 5xx; every refusal a 4xx with a sentence; every accepted upload ends `done`
or `failed` with a reason (none stuck); no service process dies; the workers' memory stays bounded.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from infra.fuzz.mutations import FuzzCase, fuzz_cases
from infra.local.stack import LocalStack

TERMINAL = ("done", "failed")


@dataclass
class FuzzReport:
    cases: int = 0
    #: HTTP status of each upload answer.
    answers: Counter[int] = field(default_factory=Counter)
    #: Answers that broke the promise: 5xx, or a refusal without a sentence saying why.
    bad_answers: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    failure_reasons: Counter[str] = field(default_factory=Counter)
    #: Accepted uploads still queued or processing when the run gave up waiting.
    stuck: list[str] = field(default_factory=list)
    #: Encoding children killed (out of memory, crashed), from the failed jobs' reasons.
    worker_deaths: int = 0
    #: Service processes found dead at the end (a crash of the service itself).
    dead_services: list[str] = field(default_factory=list)
    peak_worker_rss_bytes: int = 0
    seconds: float = 0.0

    @property
    def promise_held(self) -> bool:
        return not (self.bad_answers or self.stuck or self.dead_services)


class FuzzRun:
    """One user's client of the site, uploading cases and tracking their jobs."""

    def __init__(self, http: httpx.Client, stack: LocalStack) -> None:
        self.http = http
        self.stack = stack
        self.report = FuzzReport()
        self._pending: dict[str, FuzzCase] = {}
        self._memory = WorkerMemory(stack)

    def upload(self, case: FuzzCase) -> None:
        self.report.cases += 1
        files = {"file": (case.filename, case.data, case.content_type)}
        response = self.http.post("/api/uploads", files=files)
        self.report.answers[response.status_code] += 1
        if response.status_code == 202:
            self._pending[response.json()["job_id"]] = case
        elif response.status_code >= 500 or not _has_sentence(response):
            self.report.bad_answers.append(
                f"{response.status_code} for {case.mutation}: {response.text[:200]}"
            )
        if len(self._pending) >= 20:
            self.settle(deadline_s=0)

    def settle(self, deadline_s: float) -> None:
        """Collect the jobs that ended; wait up to `deadline_s` for the rest, then count them stuck."""
        give_up = time.monotonic() + deadline_s
        while True:
            for job_id in list(self._pending)[:50]:
                job = self.http.get(f"/api/jobs/{job_id}").json()
                if job["status"] in TERMINAL:
                    self._ended(job)
                    del self._pending[job_id]
            if not self._pending or time.monotonic() >= give_up:
                break
            time.sleep(0.5)
        if deadline_s > 0:
            self.report.stuck += [f"{job_id}: {case.mutation}" for job_id, case in self._pending.items()]
            self._pending.clear()

    def _ended(self, job: dict[str, object]) -> None:
        status = str(job["status"])
        self.report.outcomes[status] += 1
        if status == "failed":
            reason = str(job.get("error") or "")
            if not reason:
                self.report.bad_answers.append(f"job {job['job_id']} failed without a reason")
            self.report.failure_reasons[reason.split(":")[0][:80]] += 1
            if "out of memory" in reason or "died" in reason or "killed" in reason:
                self.report.worker_deaths += 1

    def run(self, count: int, wait_s: float, seed: int | None = 0) -> FuzzReport:
        """Upload `count` generated cases (the same ones for the same `seed`; None: new ones)."""
        started = time.monotonic()
        with self._memory:
            upload_generated(self.upload, count, seed)
            self.settle(deadline_s=wait_s)
        self.report.peak_worker_rss_bytes = self._memory.peak_bytes
        self.report.dead_services = [name for name, p in self.stack.services.items() if not p.is_running]
        self.report.seconds = time.monotonic() - started
        return self.report


def upload_generated(upload: Callable[[FuzzCase], None], count: int, seed: int | None) -> None:
    """Hands `count` cases from the strategy to `upload`; Hypothesis only generates (no shrinking:
    a case that breaks the promise is reported with how it was made, and the run goes on)."""

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(fuzz_cases())
    def each(case: FuzzCase) -> None:
        upload(case)

    if seed is not None:
        each = hypothesis_seed(seed)(each)
    each()


def _has_sentence(response: httpx.Response) -> bool:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return False
    return isinstance(detail, str) and bool(detail.strip())


class WorkerMemory:
    """Samples the resident memory of every reencoder process and its encoding children."""

    def __init__(self, stack: LocalStack, interval_s: float = 0.2) -> None:
        self._roots: Callable[[], list[int]] = lambda: [
            p.pid for name, p in stack.services.items() if name.startswith("reencoder") and p.pid is not None
        ]
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="worker-memory", daemon=True)
        self.peak_bytes = 0

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval_s):
            for root in self._roots():
                for pid in [root, *_descendants(root)]:
                    self.peak_bytes = max(self.peak_bytes, _rss_bytes(pid))


def _descendants(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = [int(child) for child in children]
    for child in list(found):
        found += _descendants(child)
    return found


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
