"""What a route needs, declared by type: `context: Context`, `user: CurrentUser`, `job: OwnedJob`.

Every route takes its clients and its caller from these aliases, so a signature reads as what the
route needs. Who the caller is gets resolved in `accounts.dependencies` (bearer token or session
cookie, CSRF on unsafe requests); FastAPI resolves each dependency once per request, however many
aliases lead to it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, HTTPException

from services.frontend.accounts.dependencies import (
    Caller,
    current_caller,
    current_user,
    get_accounts,
    optional_caller,
    page_caller,
)
from services.frontend.accounts.service import Accounts
from services.frontend.context import FrontendContext, get_context
from shared.database import JobRow, UserRow

#: The running process's clients: producer, object store, job store, limits.
Context = Annotated[FrontendContext, Depends(get_context)]
#: Registration, sign-in and the sessions table.
AccountsDep = Annotated[Accounts, Depends(get_accounts)]

#: The signed-in caller (401 otherwise), with how they signed in and their session's CSRF token.
CurrentCaller = Annotated[Caller, Depends(current_caller)]
#: The signed-in user (401 otherwise).
CurrentUser = Annotated[UserRow, Depends(current_user)]
#: The caller, or None when the request carries no credentials (invalid ones are still a 401).
OptionalCaller = Annotated[Caller | None, Depends(optional_caller)]
#: For pages: the caller, or None (also when the session expired), so the page can redirect to /login.
PageCaller = Annotated[Caller | None, Depends(page_caller)]


async def owned_job(job_id: str, context: Context, user: CurrentUser) -> JobRow:
    """The caller's job with the path's `job_id`, or 404.

    Someone else's job is answered exactly like a missing one, so ids cannot be probed.
    """
    job = await asyncio.to_thread(context.jobs.get, job_id, user.id)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    return job


#: The caller's own job named by the path's `{job_id}`; 404 when it is missing or someone else's.
OwnedJob = Annotated[JobRow, Depends(owned_job)]
