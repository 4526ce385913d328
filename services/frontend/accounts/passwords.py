"""Password rules and hashing (Argon2id, the OWASP recommendation, through argon2-cffi)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
#: Long enough for any passphrase, short enough that hashing it cannot be used to burn CPU.
MAX_LENGTH = 128
#: The most common choices that pass the length rule; a real deployment would add a breach list.
_COMMON = frozenset(
    {
        "1234567890",
        "12345678910",
        "0123456789",
        "1111111111",
        "password123",
        "password1234",
        "passwordpassword",
        "qwertyuiop",
        "qwertyuiop123",
        "iloveyou123",
        "letmein1234",
        "welcome1234",
        "administrator",
        "abcdefghij",
        "abc1234567",
    }
)

_hasher = PasswordHasher()


class WeakPassword(ValueError):
    """The password breaks a rule; the message says which, in words a user understands."""


def check_strength(password: str, username: str = "", email: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password must be at most {MAX_LENGTH} characters long")
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 4:
        raise WeakPassword("password is too easy to guess")
    if username and username.lower() in lowered:
        raise WeakPassword("password must not contain the username")
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 4 and local_part in lowered:
        raise WeakPassword("password must not contain the email address")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


#: Verified against when the username does not exist, so both cases take the same time.
DUMMY_HASH = _hasher.hash("not a real password, only a timing decoy")
