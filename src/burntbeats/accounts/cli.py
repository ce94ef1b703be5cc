"""`burntbeats users create | list | reset-password | disable | enable | keys`: accounts for operators (no mail
server is assumed: an operator sets or resets a password here)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from burntbeats.accounts import apikeys, users
from burntbeats.errors import DomainError
from burntbeats.settings import get_settings

users_app = typer.Typer(help="Accounts (AUTH_REQUIRED=1): create, list, reset a password, disable, API keys.",
                        no_args_is_help=True)
console = Console(stderr=True)
T = TypeVar("T")

PASSWORD_STDIN = typer.Option(False, "--password-stdin", help="Read the password from standard input (scripts).")


def _in_database(work: Callable[[Session], T]) -> T:
    """`work(session)` on the configured database (migrated first), committed; a refusal exits 1 with its sentence."""
    from burntbeats.db import migrate, session_scope
    from burntbeats.jobs.service import ensure_local_user

    settings = get_settings()
    url = settings.resolved_database_url
    migrate(url)
    try:
        with session_scope(url) as session:
            ensure_local_user(session)
            return work(session)
    except DomainError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(code=1) from None


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("create")
def create(
    email: str = typer.Argument(..., help="The account's email (its sign-in name)."),
    name: str | None = typer.Option(None, "--name", help="Display name."),
    admin: bool = typer.Option(False, "--admin", help="Mark the account as an administrator."),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Create a local account."""
    password = _password(password_stdin)
    user = _in_database(lambda s: users.create_user(s, email, password, name, is_admin=admin))
    typer.echo(f"created {user.email} ({user.id})")


@users_app.command("list")
def list_users() -> None:
    """Every account, oldest first."""
    rows = _in_database(lambda s: [(u.id, u.email or "-", u.display_name or "-", "admin" if u.is_admin else "",
                                    "disabled" if u.disabled_at else "active") for u in users.list_users(s)])
    table = Table("id", "email", "name", "role", "state")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@users_app.command("reset-password")
def reset_password(email: str = typer.Argument(...), password_stdin: bool = PASSWORD_STDIN) -> None:
    """Set a new password (the account's sign-ins end)."""
    password = _password(password_stdin)
    _in_database(lambda s: users.set_password(s, users.require_by_email(s, email), password))
    typer.echo(f"password changed for {email}")


@users_app.command("disable")
def disable(email: str = typer.Argument(...)) -> None:
    """Disable an account: its sign-ins end, its API keys and sign-in stop working (its jobs are kept)."""
    _in_database(lambda s: users.set_disabled(s, users.require_by_email(s, email), True))
    typer.echo(f"disabled {email}")


@users_app.command("enable")
def enable(email: str = typer.Argument(...)) -> None:
    """Enable a disabled account again."""
    _in_database(lambda s: users.set_disabled(s, users.require_by_email(s, email), False))
    typer.echo(f"enabled {email}")


@users_app.command("create-key")
def create_key(email: str = typer.Argument(...), name: str = typer.Option("cli", "--name")) -> None:
    """Create an API key for the account and print it (shown only once)."""
    key = _in_database(lambda s: apikeys.create_key(s, users.require_by_email(s, email), name)[1])
    typer.echo(key)
