"""A client of the site's direct, resumable uploads (POST /api/uploads/multipart and friends).

The site signs, this client PUTs each part straight to storage, a few at a time. What it needs to
resume (the job id and the file's identity) is saved in the user's cache directory as soon as the
upload is started; a rerun for the same file asks the site which parts storage already holds and
sends only the others. Used by `reencode upload` and the upload benchmark.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

#: Parts in flight at once.
PARALLEL_PARTS = 4
#: Part URLs asked for per request: few enough that each is used well before it expires.
SIGN_BATCH = 16
TERMINAL = ("done", "failed")


class UploadFailed(Exception):
    """The site refused a step of the upload; the message is its reason."""


def cache_dir() -> Path:
    """Where resumable uploads' state is kept: $XDG_CACHE_HOME/reencode/uploads (~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reencode" / "uploads"


@dataclass
class UploadState:
    """What a rerun needs to resume: saved once the site has created the upload."""

    site: str
    path: str
    size: int
    mtime_ns: int
    job_id: str
    part_size: int
    part_count: int


@dataclass(frozen=True)
class UploadOutcome:
    job_id: str
    parts_sent: int
    parts_already_stored: int
    part_count: int


def content_type_of(path: Path) -> str:
    """The type to declare (the site checks the stored bytes themselves)."""
    import mimetypes

    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


class ResumableUploader:
    def __init__(
        self,
        http: httpx.Client,
        state_dir: Path | None = None,
        parallel: int = PARALLEL_PARTS,
        storage_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = http
        self.state_dir = state_dir or cache_dir()
        self.parallel = parallel
        #: How part PUTs reach storage (None: the network; tests give a transport of their own).
        self.storage_transport = storage_transport

    def upload(
        self,
        path: Path,
        on_bytes: Callable[[int], None] = lambda sent: None,
        on_plan: Callable[[int, int], None] = lambda total, stored: None,
        after_part: Callable[[int], None] = lambda sent: None,
    ) -> UploadOutcome:
        """Send `path` (resuming a previous run's upload of it), complete it; returns the job id.

        `on_plan(file size, bytes already stored)` is called once, `on_bytes(n)` as parts land,
        `after_part(parts sent so far)` after each part (the tests' hook to stop a run half-way).
        """
        state, stored = self._resume_or_start(path)
        missing = [n for n in range(1, state.part_count + 1) if n not in stored]
        on_plan(state.size, sum(size for _, size in stored.values()))
        etags = {n: etag for n, (etag, _) in stored.items()}
        sent = 0
        signer = _PartSigner(self, state, missing)
        # Storage gets no site credentials: a client of its own, its connections kept alive.
        with (
            path.open("rb") as file,
            httpx.Client(timeout=120, transport=self.storage_transport) as storage,
            ThreadPoolExecutor(self.parallel) as pool,
        ):
            # Each part is read by the thread that sends it: at most `parallel` parts in memory.
            futures = {pool.submit(self._send, storage, file.fileno(), state, n, signer): n for n in missing}
            try:
                for future in as_completed(futures):
                    number = futures[future]
                    etags[number] = future.result()
                    on_bytes(_part_length(state, number))
                    sent += 1
                    after_part(sent)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        self._complete(state.job_id, etags)
        self._state_path(path).unlink(missing_ok=True)
        return UploadOutcome(state.job_id, sent, len(stored), state.part_count)

    def wait(self, job_id: str, interval_s: float = 1.0, timeout_s: float = 3600.0) -> dict[str, Any]:
        """The job once it is done or failed."""
        import time

        deadline = time.monotonic() + timeout_s
        while True:
            job: dict[str, Any] = _ok(self.http.get(f"/api/jobs/{job_id}")).json()
            if job["status"] in TERMINAL or time.monotonic() > deadline:
                return job
            time.sleep(interval_s)

    # --- the protocol ----------------------------------------------------------------------------

    def _resume_or_start(self, path: Path) -> tuple[UploadState, dict[int, tuple[str, int]]]:
        info = path.stat()
        saved = self._load(path)
        if saved is not None and (saved.size, saved.mtime_ns) == (info.st_size, info.st_mtime_ns):
            listed = self.http.get(f"/api/uploads/multipart/{saved.job_id}/parts")
            if listed.status_code == 200:
                parts = {p["part_number"]: (p["etag"], p["size"]) for p in listed.json()["parts"]}
                part_size = _part_size_stored(saved, parts)
                if part_size is not None:
                    saved.part_size, saved.part_count = part_size, -(-saved.size // part_size)
                    return saved, parts
                # Parts no cut of the file explains: resuming would assemble a corrupt file.
                self.http.delete(f"/api/uploads/multipart/{saved.job_id}")
            # Completed, cancelled or expired meanwhile: start over.
        started = _ok(
            self.http.post(
                "/api/uploads/multipart",
                json={"filename": path.name, "size": info.st_size, "content_type": content_type_of(path)},
            )
        ).json()
        state = UploadState(
            site=str(self.http.base_url),
            path=str(path.resolve()),
            size=info.st_size,
            mtime_ns=info.st_mtime_ns,
            job_id=started["job_id"],
            part_size=started["part_size"],
            part_count=started["part_count"],
        )
        self._save(path, state)
        return state, {}

    def _sign(self, job_id: str, numbers: list[int], part_size: int) -> dict[int, str]:
        # The part size this client cuts the file in is signed into each URL's length: the site's
        # own preferred size may have changed since the upload started.
        body = {"part_numbers": numbers, "part_size": part_size}
        signed = _ok(self.http.post(f"/api/uploads/multipart/{job_id}/parts/sign", json=body))
        return {int(n): url for n, url in signed.json()["urls"].items()}

    def _send(
        self, storage: httpx.Client, fd: int, state: UploadState, number: int, signer: _PartSigner
    ) -> str:
        length = _part_length(state, number)
        data = os.pread(fd, length, (number - 1) * state.part_size)
        for attempt in range(3):
            try:
                answer = storage.put(signer.url(number), content=data)
            except httpx.TransportError:
                if attempt == 2:
                    raise
                continue
            if answer.status_code == 200:
                return answer.headers["ETag"]
            if attempt == 2 or answer.status_code < 500:
                raise UploadFailed(
                    f"storage refused part {number} ({answer.status_code}): {answer.text[:300]}"
                )
        raise AssertionError("unreachable")

    def _complete(self, job_id: str, etags: dict[int, str]) -> None:
        parts = [{"part_number": n, "etag": etag} for n, etag in sorted(etags.items())]
        _ok(self.http.post(f"/api/uploads/multipart/{job_id}/complete", json={"parts": parts}))

    # --- saved state -----------------------------------------------------------------------------

    def _state_path(self, path: Path) -> Path:
        identity = f"{self.http.base_url}|{path.resolve()}"
        return self.state_dir / f"{hashlib.sha256(identity.encode()).hexdigest()[:32]}.json"

    def _load(self, path: Path) -> UploadState | None:
        try:
            return UploadState(**json.loads(self._state_path(path).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _save(self, path: Path, state: UploadState) -> None:
        target = self._state_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(state)))
        temporary.replace(target)


class _PartSigner:
    """Presigned URLs asked for a batch at a time, as the sending threads reach their parts, so the
    threads never wait for a whole batch to finish and no URL waits long enough to expire."""

    def __init__(self, uploader: ResumableUploader, state: UploadState, numbers: list[int]) -> None:
        self._uploader, self._state, self._numbers = uploader, state, numbers
        self._urls: dict[int, str] = {}
        self._lock = threading.Lock()

    def url(self, number: int) -> str:
        with self._lock:
            if number not in self._urls:
                start = self._numbers.index(number)
                batch = self._numbers[start : start + SIGN_BATCH]
                self._urls.update(self._uploader._sign(self._state.job_id, batch, self._state.part_size))
            return self._urls.pop(number)


def _part_size_stored(state: UploadState, stored: dict[int, tuple[str, int]]) -> int | None:
    """The part size the stored parts were cut with: the saved one, or, when storage shows parts of
    another size (state saved by another version of this client), that size. None when no single
    part size explains every stored part's length."""
    candidates = [state.part_size, *sorted({size for _, size in stored.values()}, reverse=True)]
    for part_size in candidates:
        if part_size <= 0:
            continue
        cut = UploadState(**(asdict(state) | {"part_size": part_size}))
        count = -(-state.size // part_size)
        if all(n <= count and size == _part_length(cut, n) for n, (_, size) in stored.items()):
            return part_size
    return None


def _part_length(state: UploadState, number: int) -> int:
    return min(state.part_size, state.size - (number - 1) * state.part_size)


def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise UploadFailed(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {detail}"
        )
    return response
