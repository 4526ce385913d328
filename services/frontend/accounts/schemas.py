"""What registration accepts and what the auth API returns."""

from __future__ import annotations

import re
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, Field, field_validator

from services.frontend.accounts.passwords import MAX_LENGTH

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
USERNAME_RULE = "3 to 32 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"


def normalise_username(value: str) -> str:
    """Lower-case and checked; `ValueError` with the rule otherwise."""
    username = value.strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValueError(f"username must be {USERNAME_RULE}")
    return username


def normalise_email(value: str) -> str:
    try:
        # No DNS lookup: registration must not depend on the network, and tests run offline.
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise ValueError(f"email address is not valid: {error}") from None


class Registration(BaseModel):
    username: str = Field(max_length=64, examples=["ada"])
    email: str = Field(max_length=254, examples=["ada@example.org"])
    password: str = Field(max_length=MAX_LENGTH, examples=["correct horse battery staple"])

    _username = field_validator("username")(normalise_username)
    _email = field_validator("email")(normalise_email)


class UserOut(BaseModel):
    user_id: str
    username: str
    email: str
    created_at: datetime
    uploads: int = 0
    upload_bytes: int = 0


class TokenOut(BaseModel):
    """RFC 6749 token response, as FastAPI's OAuth2 password flow expects."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class SessionInfo(BaseModel):
    """`GET /api/auth/me`: who is signed in, and the CSRF token a browser script must send back."""

    user: UserOut
    csrf_token: str | None = None
