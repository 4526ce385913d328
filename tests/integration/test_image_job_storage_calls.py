"""What an image job asks of storage, counted on the session's real MinIO (issue #18).

Every call is a `storage.audit` record that MinIO publishes to Kafka and monitoring reads, the
largest topic per job. The calls are counted where they leave the process: the minio SDK's HTTP
client, wrapped as the store builds it. Before: a first delivery asked for the manifest and the
failed marker (two GETs), then stat the original twice (the handler, then the SDK's `fget_object`)
before its GET: 14 calls for a job of seven renditions, now 11.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from minio.error import S3Error
from urllib3.exceptions import ProtocolError

import shared.storage
from infra.local.stack import LocalStack
from services.reencoder.job_handler import ImageJobHandler
from services.reencoder.job_outcome import JobAnnouncer
from services.reencoder.pool import EncoderPool
from services.reencoder.renditions import manifest_key
from services.reencoder.timing import TimingReporter
from services.reencoder.video.keys import failed_marker_key
from shared.events import JOBS_STATUS, JobRequested, JobStatus, JobStatusChanged, new_id
from shared.kafka import Delivery
from shared.storage import MediaStore
from shared.storage_correlation import CorrelatedPoolManager, minio_http_client
from tests.media_samples import image_bytes
from tests.stored_jobs import stored_image_job
from tests.video_completion_doubles import Producer


@dataclass(frozen=True)
class Call:
    """One request to storage: `LIST bucket/prefix`, or METHOD bucket/key."""

    method: str
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{self.method} {self.bucket}/{self.key}"


def _call(method: str, url: str) -> Call:
    parts = urlsplit(url)
    bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
    query = parse_qs(parts.query)
    if method == "GET" and not key and "prefix" in query:
        return Call("LIST", bucket, query["prefix"][0])
    return Call(method, bucket, key)


@dataclass
class CountedStore:
    store: MediaStore
    calls: list[Call]

    def described(self) -> list[str]:
        return [str(call) for call in self.calls]


@pytest.fixture
def counted(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> CountedStore:
    """A store on the session's MinIO whose every request is recorded as it is sent."""
    calls: list[Call] = []

    def counting_client() -> CorrelatedPoolManager:
        client = minio_http_client()
        send = client.urlopen

        def urlopen(method: str, url: str, *args: Any, **kw: Any) -> Any:
            calls.append(_call(method, url))
            return send(method, url, *args, **kw)

        client.urlopen = urlopen  # type: ignore[method-assign]
        return client

    monkeypatch.setattr(shared.storage, "minio_http_client", counting_client)
    return CountedStore(MediaStore(stack.config.storage), calls)


def _run(store: MediaStore, producer: Producer, *jobs: JobRequested) -> None:
    """Each job handled once, in order, as the consumer loop would hand them over."""

    async def scenario() -> None:
        pool = EncoderPool()
        try:
            announcer = JobAnnouncer(store, producer, "w")  # type: ignore[arg-type]
            handler = ImageJobHandler(
                announcer,
                pool,
                50_000_000,
                120,
                TimingReporter(producer, "w"),  # type: ignore[arg-type]
            )
            for job in jobs:
                await handler(job, Delivery("jobs.requested", 0, 0, None, 1))
        finally:
            pool.close()

    asyncio.run(scenario())


def _statuses(producer: Producer, job_id: str) -> list[JobStatusChanged]:
    return [
        event
        for topic, event in producer.published
        if topic == JOBS_STATUS.name and event.job_id == job_id and event.status != JobStatus.PROCESSING
    ]


def test_an_image_job_asks_storage_once_per_output_plus_three_calls(counted: CountedStore) -> None:
    """A LIST (finished before?), one GET of the original, a stat of the manifest (a late
    duplicate?), then the renditions' and the manifest's PUTs; nothing else."""
    store, producer = counted.store, Producer()
    job = stored_image_job(store)
    counted.calls.clear()

    _run(store, producer, job)

    [done] = _statuses(producer, job.job_id)
    assert done.status == JobStatus.DONE
    bucket = store.renditions_bucket
    assert counted.described() == [
        f"LIST {bucket}/{job.job_id}/",
        f"GET {store.uploads_bucket}/{job.source_key}",
        f"HEAD {bucket}/{manifest_key(job.job_id)}",
        *(f"PUT {bucket}/{rendition.key}" for rendition in done.renditions),
        f"PUT {bucket}/{manifest_key(job.job_id)}",
    ]


def test_a_redelivered_finished_job_is_announced_again_after_one_list_and_one_get(
    counted: CountedStore,
) -> None:
    store, producer = counted.store, Producer()
    job = stored_image_job(store)
    _run(store, producer, job)
    counted.calls.clear()

    _run(store, producer, job)

    first, again = _statuses(producer, job.job_id)
    assert again.status == JobStatus.DONE
    assert again.renditions == first.renditions
    assert counted.described() == [
        f"LIST {store.renditions_bucket}/{job.job_id}/",
        f"GET {store.renditions_bucket}/{manifest_key(job.job_id)}",
    ]


def test_a_job_failed_before_is_announced_failed_again_without_any_work(counted: CountedStore) -> None:
    store, producer = counted.store, Producer()
    job = stored_image_job(store)
    marker = failed_marker_key(job.job_id)
    store.put_json(store.renditions_bucket, marker, {"job_id": job.job_id, "reason": "too long"})
    counted.calls.clear()

    _run(store, producer, job)

    [failed] = _statuses(producer, job.job_id)
    assert (failed.status, failed.error) == (JobStatus.FAILED, "too long")
    assert counted.described() == [
        f"LIST {store.renditions_bucket}/{job.job_id}/",
        f"GET {store.renditions_bucket}/{marker}",
    ]


def test_the_failed_marker_of_a_job_with_sub_folders_is_found_by_one_list(counted: CountedStore) -> None:
    """A video job keeps most of its objects in sub-folders: the listing stops at the top level."""
    store, bucket, job_id = counted.store, counted.store.renditions_bucket, new_id()
    for key in ("hls/360p/seg_00000.m4s", "hls/360p/seg_00001.m4s", "tasks/chunk-0000.json", "plan.json"):
        store.put_json(bucket, f"{job_id}/{key}", {})
    store.put_json(bucket, failed_marker_key(job_id), {"job_id": job_id, "reason": "bad input"})

    assert store.top_level_keys(bucket, f"{job_id}/") == {
        f"{job_id}/hls/",
        f"{job_id}/tasks/",
        f"{job_id}/plan.json",
        failed_marker_key(job_id),
    }


def test_a_missing_original_fails_the_job_with_a_clear_reason(counted: CountedStore) -> None:
    store, producer = counted.store, Producer()
    job = stored_image_job(store, uploaded=False)

    _run(store, producer, job)

    [failed] = _statuses(producer, job.job_id)
    assert (failed.status, failed.error) == (
        JobStatus.FAILED,
        "the uploaded original is missing from storage",
    )
    assert f"HEAD {store.uploads_bucket}/{job.source_key}" not in counted.described()


def test_download_if_exists_of_a_missing_object_is_false_and_writes_nothing(
    counted: CountedStore, tmp_path: Path
) -> None:
    store = counted.store

    assert not store.download_if_exists(store.uploads_bucket, f"{new_id()}/original.jpg", tmp_path / "o")

    assert list(tmp_path.iterdir()) == []
    assert [call.method for call in counted.calls] == ["GET"]


def test_download_writes_the_whole_object_with_one_get_and_leaves_no_partial_file(
    counted: CountedStore, tmp_path: Path
) -> None:
    store, key, data = counted.store, f"{new_id()}/original.jpg", image_bytes()
    store.put_stream(store.uploads_bucket, key, io.BytesIO(data), len(data), "image/jpeg")
    counted.calls.clear()

    store.download(store.uploads_bucket, key, tmp_path / "in" / "original")

    assert (tmp_path / "in" / "original").read_bytes() == data
    assert list((tmp_path / "in").iterdir()) == [tmp_path / "in" / "original"]
    assert counted.described() == [f"GET {store.uploads_bucket}/{key}"]


def test_download_of_a_missing_object_still_raises_for_the_video_tasks(
    counted: CountedStore, tmp_path: Path
) -> None:
    store = counted.store

    with pytest.raises(S3Error) as raised:
        store.download(store.renditions_bucket, f"{new_id()}/hls/360p/init.mp4", tmp_path / "part")

    assert raised.value.code == "NoSuchKey"
    assert list(tmp_path.iterdir()) == []


def test_a_download_cut_short_leaves_no_file_that_looks_complete(
    counted: CountedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops after the first MiB: nothing at the path, no partial file beside it."""
    store, key, data = counted.store, f"{new_id()}/original.bin", bytes(3 * 1024 * 1024)
    store.put_stream(store.uploads_bucket, key, io.BytesIO(data), len(data), "application/octet-stream")
    get_object = store._client.get_object

    def dropping(*args: Any, **kw: Any) -> Any:
        response = get_object(*args, **kw)
        stream = response.stream

        def first_chunk_then_drop(*args: Any, **kw: Any) -> Iterator[bytes]:
            yield next(iter(stream(*args, **kw)))
            raise ProtocolError("Connection broken: IncompleteRead")

        monkeypatch.setattr(response, "stream", first_chunk_then_drop)
        return response

    monkeypatch.setattr(store._client, "get_object", dropping)

    with pytest.raises(ProtocolError):
        store.download_if_exists(store.uploads_bucket, key, tmp_path / "original")

    assert list(tmp_path.iterdir()) == []
