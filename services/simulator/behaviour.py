"""One simulated user: signs up, then browses, uploads, watches jobs and clicks, with human pauses.

Each user picks its next action by weight and waits a random think time between actions
(exponential, so most pauses are short and a few are long, as with people). It talks only to the
public HTTP API, like a browser or a script would; a refusal is counted, never fatal.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from services.simulator.media import Sample
from services.simulator.tally import Tally
from shared.events import new_id

#: Relative weights of what a user does next.
ACTIONS: dict[str, int] = {
    "browse": 30,
    "view_job": 20,
    "upload_image": 12,
    "upload_video": 2,
    "download": 10,
    "click": 16,
    "dashboard": 5,
    "home": 5,
}
#: Links users click on the pages (reported as tracked clicks).
LINKS = ("/docs", "/dashboard", "/", "/api/jobs", "/monitoring", "/media")
PASSWORD = "simulated users' passphrase"


@dataclass
class Behaviour:
    pool: list[Sample]
    video: Sample | None
    think_s: float
    tally: Tally
    rng: random.Random
    my_jobs: list[str] = field(default_factory=list)
    seen_urls: list[str] = field(default_factory=list)


async def register(client: httpx.AsyncClient, tally: Tally) -> str | None:
    """The sign-up hook: register through the public API and use the bearer token from now on.

    A site without accounts (404 on the route) is fine: the user stays anonymous.
    """
    username = f"sim-{new_id()[:12]}"
    started = time.perf_counter()
    created = await client.post(
        "/api/auth/register",
        json={"username": username, "email": f"{username}@example.org", "password": PASSWORD},
    )
    if created.status_code == 404:
        return None
    tally.record("register", created.status_code, (time.perf_counter() - started) * 1000)
    if created.status_code != 201:
        return None
    token = await client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
    if token.status_code != 200:
        tally.fail("register", f"token HTTP {token.status_code}")
        return None
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    tally.users_registered += 1
    user_id: str | None = created.json().get("user_id")
    return user_id


async def run_user(client: httpx.AsyncClient, behaviour: Behaviour, until: float) -> None:
    """Act until the monotonic clock passes `until`."""
    try:
        await register(client, behaviour.tally)
    except httpx.HTTPError as error:
        behaviour.tally.fail("register", type(error).__name__)
    steps: dict[str, Callable[[httpx.AsyncClient, Behaviour], Awaitable[httpx.Response | None]]] = {
        "browse": _browse,
        "view_job": _view_job,
        "upload_image": _upload_image,
        "upload_video": _upload_video,
        "download": _download,
        "click": _click,
        "dashboard": _dashboard,
        "home": _home,
    }
    names, weights = list(ACTIONS), list(ACTIONS.values())
    while time.monotonic() < until:
        action = behaviour.rng.choices(names, weights)[0]
        started = time.perf_counter()
        try:
            response = await steps[action](client, behaviour)
        except httpx.HTTPError as error:
            behaviour.tally.fail(action, type(error).__name__)
        else:
            if response is not None:
                behaviour.tally.record(action, response.status_code, (time.perf_counter() - started) * 1000)
        pause = behaviour.rng.expovariate(1 / behaviour.think_s) if behaviour.think_s > 0 else 0
        await asyncio.sleep(min(pause, max(0.0, until - time.monotonic())))


async def _browse(client: httpx.AsyncClient, behaviour: Behaviour) -> httpx.Response:
    offset = behaviour.rng.choice([0, 0, 0, 20])
    response = await client.get("/api/jobs", params={"limit": 20, "offset": offset})
    if response.status_code == 200:
        body = response.json()
        jobs = body if isinstance(body, list) else body.get("jobs", body.get("items", []))
        for job in jobs[:5]:
            for rendition in job.get("renditions", [])[:2]:
                if rendition.get("url"):
                    behaviour.seen_urls.append(rendition["url"])
        del behaviour.seen_urls[:-50]
    return response


async def _view_job(client: httpx.AsyncClient, behaviour: Behaviour) -> httpx.Response | None:
    if not behaviour.my_jobs:
        return await _browse(client, behaviour)
    response = await client.get(f"/api/jobs/{behaviour.rng.choice(behaviour.my_jobs)}")
    if response.status_code == 200:
        behaviour.seen_urls.extend(r["url"] for r in response.json().get("renditions", []) if r.get("url"))
    return response


async def _upload(client: httpx.AsyncClient, behaviour: Behaviour, sample: Sample) -> httpx.Response:
    filename = f"{new_id()[:8]}-{sample.filename}"
    response = await client.post("/api/uploads", files={"file": (filename, sample.data, sample.content_type)})
    if response.status_code == 202:
        behaviour.my_jobs.append(response.json()["job_id"])
    return response


async def _upload_image(client: httpx.AsyncClient, behaviour: Behaviour) -> httpx.Response:
    return await _upload(client, behaviour, behaviour.rng.choice(behaviour.pool))


async def _upload_video(client: httpx.AsyncClient, behaviour: Behaviour) -> httpx.Response | None:
    if behaviour.video is None or behaviour.tally.videos_refused:
        return await _upload_image(client, behaviour)
    response = await _upload(client, behaviour, behaviour.video)
    if response.status_code == 415:
        behaviour.tally.videos_refused = True  # this site takes no videos yet: stop offering them
    return response


async def _download(client: httpx.AsyncClient, behaviour: Behaviour) -> httpx.Response | None:
    if not behaviour.seen_urls:
        return await _browse(client, behaviour)
    return await client.get(behaviour.rng.choice(behaviour.seen_urls))


async def _click(client: httpx.AsyncClient, behaviour: Behaviour) -> httpx.Response:
    link = behaviour.rng.choice(LINKS)
    return await client.post("/api/clicks", json={"link": link, "page": "/"})


async def _dashboard(client: httpx.AsyncClient, behaviour: Behaviour) -> httpx.Response:
    return await client.get("/api/metrics/summary")


async def _home(client: httpx.AsyncClient, behaviour: Behaviour) -> httpx.Response:
    return await client.get("/")
