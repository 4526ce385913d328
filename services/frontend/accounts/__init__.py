"""User accounts: registration, login, sessions and tokens, CSRF and login rate limiting.

Browsers hold a session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) and send a CSRF token with
every change; scripts and the simulator use OAuth2 bearer tokens from `POST /api/auth/token`. Both
resolve to the same `UserRow` through `dependencies.current_user`.
"""
