"""The accounts JSON API: FastAPI's OAuth2 password flow plus registration and sign-out."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from services.frontend.accounts.account_store import AccountTaken
from services.frontend.accounts.activity_events import report
from services.frontend.accounts.dependencies import SESSION_COOKIE
from services.frontend.accounts.limits import TooMany
from services.frontend.accounts.passwords import WeakPassword
from services.frontend.accounts.schemas import Registration, SessionInfo, TokenOut, UserOut
from services.frontend.accounts.service import (
    Accounts,
    LoginRefused,
    LoginThrottled,
    RegistrationThrottled,
)
from services.frontend.api.deps import AccountsDep, CurrentCaller
from services.frontend.api.schemas import Problem
from shared.database import UserRow
from shared.events import ActivityKind

router = APIRouter(prefix="/api/auth", tags=["accounts"])


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def too_many(refusal: LoginThrottled | TooMany) -> HTTPException:
    """429 with the reason and, when known, a `Retry-After`."""
    headers = {"Retry-After": str(refusal.retry_after_s)} if refusal.retry_after_s else None
    return HTTPException(429, str(refusal), headers=headers)


async def user_out(accounts: Accounts, user: UserRow) -> UserOut:
    stats = await asyncio.to_thread(accounts.store.stats, user.id)
    return UserOut(
        user_id=user.id,
        username=user.username,
        email=user.email,
        created_at=user.created_at,
        uploads=stats.uploads,
        upload_bytes=stats.bytes,
    )


@router.post(
    "/register",
    status_code=201,
    response_model=UserOut,
    responses={409: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem}},
    summary="Create an account",
)
async def register(registration: Registration, request: Request, accounts: AccountsDep) -> UserOut:
    try:
        user = await accounts.register(registration, client_address(request))
    except WeakPassword as weak:
        raise HTTPException(422, str(weak)) from None
    except AccountTaken as taken:
        raise HTTPException(409, str(taken)) from None
    except RegistrationThrottled as throttled:
        raise too_many(throttled) from None
    report(request, ActivityKind.REGISTERED, user.id)
    return await user_out(accounts, user)


@router.post(
    "/token",
    response_model=TokenOut,
    responses={401: {"model": Problem}, 429: {"model": Problem}},
    summary="Exchange username and password for a bearer token (OAuth2 password flow)",
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    accounts: AccountsDep,
) -> TokenOut:
    try:
        user, issued = await accounts.sign_in(form.username, form.password, client_address(request), "api")
    except LoginThrottled as throttled:
        raise too_many(throttled) from None
    except LoginRefused as refused:
        report(request, ActivityKind.LOGIN_FAILED, None, subject=f"user:{form.username.strip().lower()[:64]}")
        raise HTTPException(401, str(refused), headers={"WWW-Authenticate": "Bearer"}) from None
    report(request, ActivityKind.LOGGED_IN, user.id)
    return TokenOut(access_token=issued.token, expires_in=accounts.settings.token_ttl_s)


@router.get(
    "/me", response_model=SessionInfo, responses={401: {"model": Problem}}, summary="Who is signed in"
)
async def me(caller: CurrentCaller, accounts: AccountsDep) -> SessionInfo:
    return SessionInfo(user=await user_out(accounts, caller.user), csrf_token=caller.csrf_token)


@router.post(
    "/logout", status_code=204, responses={401: {"model": Problem}}, summary="End this session or token"
)
async def logout(response: Response, caller: CurrentCaller, accounts: AccountsDep) -> Response:
    await asyncio.to_thread(accounts.store.close_session, caller.token)
    response.status_code = 204
    response.delete_cookie(SESSION_COOKIE)
    return response
