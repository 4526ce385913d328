"""GET /uploads/{job_id}: one upload's own page (templates/upload.html, live in static/upload.js).

The page is the caller's own job only: anyone else's, or a missing one, is a 404 page, like the API.
Without a session the page sends the visitor to /login and back here afterwards.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.frontend.accounts.pages import templates
from services.frontend.api.deps import Context, PageCaller

router = APIRouter(include_in_schema=False)


@router.get("/uploads/{job_id}", response_model=None)
async def upload_page(job_id: str, request: Request, caller: PageCaller, context: Context) -> Response:
    if caller is None:
        return RedirectResponse(f"/login?next={quote(f'/uploads/{job_id}')}", status_code=303)
    job = await asyncio.to_thread(context.jobs.get, job_id, caller.user.id)
    if job is None:
        return templates.TemplateResponse(
            request, "not_found.html", {"what": "upload", "job_id": job_id}, status_code=404
        )
    return templates.TemplateResponse(
        request, "upload.html", {"job": job, "user": caller.user, "csrf_token": caller.csrf_token or ""}
    )
