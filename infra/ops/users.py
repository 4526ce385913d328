"""`reencode users grant-operator|revoke-operator|operators`: who may see monitoring at the site's
address (every user's activity, every service's log). The role is stored with the user in the
database the settings point at (`DATABASE_URL`), never claimed by registering a name."""

from __future__ import annotations

import typer
from rich.console import Console

from services.frontend.accounts.account_store import AccountStore
from shared.database import create_schema, make_engine
from shared.settings import DatabaseSettings

console = Console()
users_app = typer.Typer(help="Users' roles: who is an operator.", no_args_is_help=True)

DATABASE = typer.Option(
    None, "--database-url", envvar="DATABASE_URL", help="The site's database [default: the settings']."
)


def _store(database_url: str | None) -> AccountStore:
    settings = DatabaseSettings(url=database_url) if database_url else DatabaseSettings()
    engine = make_engine(settings)
    create_schema(engine)  # idempotent: brings an older database to the role's column
    return AccountStore(engine)


def _set(name: str, operator: bool, database_url: str | None) -> None:
    if not _store(database_url).set_operator(name, operator):
        console.print(f"[red]no user named {name!r}[/]")
        raise typer.Exit(1)
    console.print(f"{name.strip().lower()} is {'now' if operator else 'no longer'} an operator")


@users_app.command("grant-operator")
def grant_operator(
    name: str = typer.Argument(..., help="The username."), database_url: str | None = DATABASE
) -> None:
    """Let NAME see /monitoring and /api/monitoring/* (every user's activity, every log)."""
    _set(name, True, database_url)


@users_app.command("revoke-operator")
def revoke_operator(
    name: str = typer.Argument(..., help="The username."), database_url: str | None = DATABASE
) -> None:
    """Take the operator role from NAME (their next request is refused with 403)."""
    _set(name, False, database_url)


@users_app.command("operators")
def list_operators(database_url: str | None = DATABASE) -> None:
    """The users who are operators."""
    names = _store(database_url).operators()
    console.print("\n".join(names) if names else "no operators")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
