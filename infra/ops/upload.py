"""`reencode upload FILE... [--url URL] [--wait]`: resumable uploads from the command line.

Signs in with a bearer token from `REENCODE_TOKEN`, or with `--username` and a password prompt,
then sends each file straight to storage in parts (infra/ops/upload_client.py) with a progress bar
per file. Ctrl-C or a lost network leaves the upload open: run the same command again and only the
parts storage does not hold yet are sent (the state is kept in ~/.cache/reencode/uploads).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from infra.ops.upload_client import PARALLEL_PARTS, ResumableUploader, UploadFailed

console = Console()

#: Tests' hook: the process kills itself (SIGKILL, like a crash) once this many parts are sent.
KILL_AFTER_PARTS_ENV = "REENCODE_UPLOAD_KILL_AFTER_PARTS"


def upload(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    url: Annotated[
        str, typer.Option(envvar="REENCODE_URL", help="The site's address")
    ] = "http://127.0.0.1:8000",
    username: Annotated[str | None, typer.Option(help="Sign in as this user (asks the password)")] = None,
    wait: Annotated[bool, typer.Option(help="Wait for each job to end and print its status")] = False,
    parallel: Annotated[int, typer.Option(min=1, max=16, help="Parts sent at once")] = PARALLEL_PARTS,
) -> None:
    """Upload images and videos, resumably: rerun after Ctrl-C or a network loss to continue."""
    with httpx.Client(base_url=url, timeout=60) as http:
        http.headers["Authorization"] = f"Bearer {_token(http, username)}"
        uploader = ResumableUploader(http, parallel=parallel)
        failed = 0
        for path in files:
            try:
                job_id = _send(uploader, path)
            except UploadFailed as error:
                console.print(f"[red]{path.name}: {error}[/red]")
                failed += 1
                continue
            except KeyboardInterrupt:
                console.print(
                    f"[yellow]{path.name}: interrupted; run the same command again to resume[/yellow]"
                )
                raise typer.Exit(130) from None
            console.print(f"{path.name}: job {job_id}")
            if wait:
                job = uploader.wait(job_id)
                reason = f" ({job['error']})" if job.get("error") else ""
                style = "green" if job["status"] == "done" else "red"
                console.print(f"{path.name}: job {job_id} [{style}]{job['status']}[/{style}]{reason}")
                failed += job["status"] != "done"
    if failed:
        raise typer.Exit(1)


def _send(uploader: ResumableUploader, path: Path) -> str:
    kill_after = int(os.environ.get(KILL_AFTER_PARTS_ENV, "0"))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(path.name, total=None)

        def planned(total: int, stored: int) -> None:
            progress.update(task, total=total, completed=stored)

        def after_part(sent: int) -> None:
            if kill_after and sent >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

        outcome = uploader.upload(
            path,
            on_bytes=lambda sent: progress.advance(task, sent),
            on_plan=planned,
            after_part=after_part,
        )
    console.print(
        f"{path.name}: sent {outcome.parts_sent} of {outcome.part_count} parts "
        f"({outcome.parts_already_stored} already stored)"
    )
    return outcome.job_id


def _token(http: httpx.Client, username: str | None) -> str:
    if username is None:
        token = os.environ.get("REENCODE_TOKEN", "").strip()
        if not token:
            console.print("[red]set REENCODE_TOKEN to an API token, or pass --username[/red]")
            raise typer.Exit(2)
        return token
    password = typer.prompt("password", hide_input=True)
    answer = http.post("/api/auth/token", data={"username": username, "password": password})
    if answer.status_code != 200:
        console.print(f"[red]sign-in refused ({answer.status_code})[/red]")
        raise typer.Exit(2)
    issued: str = answer.json()["access_token"]
    return issued


def register(app: typer.Typer) -> None:
    app.command("upload")(upload)
