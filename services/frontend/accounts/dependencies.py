"""Who is calling: a bearer token or a browser session, resolved for every protected route.

Unsafe requests (POST, PUT, PATCH, DELETE) that ride on the session cookie must also carry the
session's CSRF token, in the `X-CSRF-Token` header (scripts) or a `csrf_token` form field (HTML
forms): a cookie alone proves nothing, since the browser attaches it to forged requests too. Bearer
tokens are not sent automatically by browsers, so they need no CSRF token.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer

from services.frontend.accounts.service import Accounts
from shared.database import UserRow

SESSION_COOKIE = "reencode_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
OPERATORS_ONLY = (
    "monitoring is for operators; an administrator grants it with `reencode users grant-operator`"
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


@dataclass(frozen=True)
class Caller:
    user: UserRow
    #: "api" (bearer token) or "browser" (session cookie).
    kind: str
    token: str
    csrf_token: str | None


def get_accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def _signed_in(request: Request, accounts: Accounts, secret: str, kind: str) -> Caller | None:
    """The caller a bearer token (`kind` "api") or session cookie ("browser") stands for, if valid."""
    resolved = await asyncio.to_thread(accounts.store.resolve, secret, kind)
    if resolved is None:
        return None
    user, session = resolved
    # Read by the activity middleware, which reports who did what.
    request.state.user_id = user.id
    return Caller(user, kind, secret, session.csrf_token)


async def optional_caller(
    request: Request,
    token: Annotated[str | None, Depends(bearer_scheme)],
    accounts: Annotated[Accounts, Depends(get_accounts)],
) -> Caller | None:
    """The caller, or None when the request carries no credentials at all."""
    if token:
        caller = await _signed_in(request, accounts, token, "api")
        if caller is None:
            raise unauthorized("the bearer token is invalid or has expired; get a new one")
        return caller
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    caller = await _signed_in(request, accounts, cookie, "browser")
    if caller is None:
        raise unauthorized("your session has expired; sign in again")
    if request.method in UNSAFE_METHODS:
        await _check_csrf(request, caller.csrf_token)
    return caller


async def current_caller(caller: Annotated[Caller | None, Depends(optional_caller)]) -> Caller:
    if caller is None:
        raise unauthorized(
            "sign in first: send a bearer token from POST /api/auth/token, or a session cookie"
        )
    return caller


async def current_user(caller: Annotated[Caller, Depends(current_caller)]) -> UserRow:
    return caller.user


async def current_operator(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
    """Monitoring shows every user's activity and every service's logs: operators only (a role
    stored with the user, read afresh with the session on every request)."""
    if not caller.user.is_operator:
        raise HTTPException(403, OPERATORS_ONLY)
    return caller


async def _check_csrf(request: Request, expected: str | None) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        # Small forms only: never parse a multipart upload just to look for a token.
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not expected or not sent or not secrets.compare_digest(sent, expected):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")


async def page_caller(
    request: Request,
    token: Annotated[str | None, Depends(bearer_scheme)],
    accounts: Annotated[Accounts, Depends(get_accounts)],
) -> Caller | None:
    """For pages (GET): the signed-in user, or None (also when the session expired), so the page can
    send them to /login instead of answering an error."""
    caller = await _signed_in(request, accounts, token, "api") if token else None
    cookie = request.cookies.get(SESSION_COOKIE)
    if caller is None and cookie:
        caller = await _signed_in(request, accounts, cookie, "browser")
    return caller
