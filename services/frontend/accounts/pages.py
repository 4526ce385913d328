"""The HTML side of accounts: sign-up, sign-in, profile and sign-out forms, rendered on the server.

Forms shown before signing in are protected by a double-submit cookie (a random token in an
HttpOnly, SameSite=Strict cookie that the form must echo); forms after signing in by the session's
own CSRF token. Jinja escapes everything it prints, so a name like `<script>` stays text.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from services.frontend.accounts.account_store import AccountTaken, IssuedSession
from services.frontend.accounts.activity_events import report
from services.frontend.accounts.api import client_address
from services.frontend.accounts.dependencies import CSRF_FIELD, SESSION_COOKIE, get_accounts
from services.frontend.accounts.passwords import WeakPassword
from services.frontend.accounts.schemas import Registration
from services.frontend.accounts.service import (
    Accounts,
    LoginRefused,
    LoginThrottled,
    RegistrationThrottled,
)
from services.frontend.api.deps import AccountsDep, OptionalCaller, PageCaller
from services.frontend.api.webhooks import profile_section
from shared.events import ActivityKind

FORM_CSRF_COOKIE = "reencode_form_csrf"
FRONTEND_DIR = Path(__file__).resolve().parents[1]
templates = Jinja2Templates(directory=FRONTEND_DIR / "templates")
router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only local paths: `?next=https://evil.example` must not turn sign-in into a redirector."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _secure(request: Request, accounts: Accounts) -> bool:
    return accounts.settings.secure_cookies or request.url.scheme == "https"


def _form_page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """A sign-in or sign-up form with a fresh double-submit CSRF token."""
    token = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request, template, {"csrf_token": token, **values}, status_code=status_code
    )
    accounts = get_accounts(request)
    response.set_cookie(
        FORM_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request, accounts)
    )
    return response


def _form_csrf_ok(request: Request, sent: str) -> bool:
    expected = request.cookies.get(FORM_CSRF_COOKIE, "")
    return bool(expected) and secrets.compare_digest(sent, expected)


def _signed_in(request: Request, accounts: Accounts, issued: IssuedSession, target: str) -> Response:
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=accounts.settings.session_ttl_s,
        httponly=True,
        samesite="lax",
        secure=_secure(request, accounts),
    )
    response.delete_cookie(FORM_CSRF_COOKIE)
    return response


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return _form_page(request, "login.html", next=safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    accounts: AccountsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    if not _form_csrf_ok(request, csrf_token):
        return _form_page(request, "login.html", 403, error="The form expired; please try again.", next=next)
    try:
        user, issued = await accounts.sign_in(username, password, client_address(request), "browser")
    except LoginThrottled as throttled:
        return _form_page(request, "login.html", 429, error=str(throttled).capitalize() + ".", next=next)
    except LoginRefused:
        report(request, ActivityKind.LOGIN_FAILED, None, subject=f"user:{username.strip().lower()[:64]}")
        return _form_page(
            request, "login.html", 401, error="Wrong username or password.", username=username, next=next
        )
    report(request, ActivityKind.LOGGED_IN, user.id)
    return _signed_in(request, accounts, issued, next)


@router.get("/register")
async def register_page(request: Request) -> HTMLResponse:
    return _form_page(request, "register.html")


@router.post("/register")
async def register(
    request: Request,
    accounts: AccountsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
) -> Response:
    if not _form_csrf_ok(request, csrf_token):
        return _form_page(request, "register.html", 403, error="The form expired; please try again.")
    again = {"username": username, "email": email}
    try:
        registration = Registration(username=username, email=email, password=password)
        user = await accounts.register(registration, client_address(request))
    except ValidationError as invalid:
        message = "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in invalid.errors())
        return _form_page(request, "register.html", 422, error=message, **again)
    except WeakPassword as weak:
        return _form_page(request, "register.html", 422, error=str(weak).capitalize() + ".", **again)
    except AccountTaken as taken:
        return _form_page(request, "register.html", 409, error=str(taken).capitalize() + ".", **again)
    except RegistrationThrottled as throttled:
        return _form_page(request, "register.html", 429, error=str(throttled).capitalize() + ".", **again)
    report(request, ActivityKind.REGISTERED, user.id)
    # The new user just chose this password: a session, without a second hash or the login throttle.
    issued = await accounts.open_session(user, "browser")
    return _signed_in(request, accounts, issued, "/")


@router.get("/", response_model=None)
async def upload_page(caller: PageCaller) -> Response:
    """The upload page is for signed-in users; everyone else signs in first and comes back."""
    if caller is None:
        return RedirectResponse("/login?next=/", status_code=303)
    return FileResponse(FRONTEND_DIR / "static" / "index.html", headers={"Cache-Control": "no-store"})


@router.get("/profile", response_model=None)
async def profile(request: Request, caller: PageCaller, accounts: AccountsDep) -> Response:
    if caller is None:
        return RedirectResponse(f"/login?next={quote('/profile')}", status_code=303)
    stats = await asyncio.to_thread(accounts.store.stats, caller.user.id)
    webhooks = await profile_section(request, caller.user.id)
    return templates.TemplateResponse(
        request,
        "profile.html",
        {"user": caller.user, "stats": stats, "csrf_token": caller.csrf_token, "webhooks": webhooks},
    )


@router.post("/logout")
async def logout(request: Request, caller: OptionalCaller, accounts: AccountsDep) -> Response:
    # optional_caller has checked the form's CSRF token against the session already.
    if caller is not None:
        await asyncio.to_thread(accounts.store.close_session, caller.token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
