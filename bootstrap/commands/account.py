"""Sign in and out, users and tokens: `canopy login|logout|whoami|user|token`."""

from __future__ import annotations

import sys

import click
from platform_sdk._client import ApiClient, default_client, save_token

from bootstrap.commands.output import print_table, reports_errors
from canopy.config import load_config
from canopy.roles import ALL_ROLES


def _read_password(password_stdin: bool, prompt: str, confirm: bool = False) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    from_env: str = load_config().password
    if from_env:
        return from_env
    password: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return password


@click.command()
@click.option("--user", "-u", "user", required=True, help="User name to sign in as.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@reports_errors
def login(user: str, password_stdin: bool) -> None:
    """Sign in and save an API token for later commands.

    The password comes from --password-stdin, else CANOPY_PASSWORD, else a prompt. The token is
    kept per CANOPY_API_URL under CANOPY_HOME; CANOPY_TOKEN, when set, takes precedence over it.
    """
    api_url = load_config().api_url.rstrip("/")
    password = _read_password(password_stdin, "Password")
    reply = ApiClient(api_url).post("/api/v1/auth/login", json={"user": user, "password": password})
    save_token(api_url, reply["token"])
    click.echo(
        f"Signed in to {api_url} as {reply['user']} ({reply['role']}); token expires {reply['expires_at']}."
    )


@click.command()
@reports_errors
def logout() -> None:
    """Revoke the current token and forget it."""
    client = default_client()
    client.post("/api/v1/auth/logout")
    save_token(client.api_url, None)
    click.echo("Signed out; the token is revoked.")


@click.command()
@reports_errors
def whoami() -> None:
    """Show the signed-in user and role."""
    reply = default_client().get("/api/v1/auth/whoami")
    click.echo(f"{reply['user']} ({reply['role']}), token {reply['token_id']}")


@click.group()
def user() -> None:
    """Manage users (platform_admin)."""


@user.command("add")
@click.argument("name")
@click.option(
    "--role", required=True, type=click.Choice(sorted(r.value for r in ALL_ROLES)), help="The user's role."
)
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@reports_errors
def user_add(name: str, role: str, password_stdin: bool) -> None:
    """Add user NAME with a role; the password comes from stdin, CANOPY_PASSWORD or a prompt."""
    password = _read_password(password_stdin, f"Password for {name}", confirm=True)
    default_client().post("/api/v1/users", json={"name": name, "role": role, "password": password})
    click.echo(f"Added {name} ({role}).")


@user.command("list")
@reports_errors
def user_list() -> None:
    """List users."""
    print_table(default_client().get("/api/v1/users")["users"], ["name", "role", "disabled", "created_at"])


@user.command("remove")
@click.argument("name")
@reports_errors
def user_remove(name: str) -> None:
    """Remove user NAME and revoke its tokens."""
    default_client().delete(f"/api/v1/users/{name}")
    click.echo(f"Removed {name}.")


@click.group()
def token() -> None:
    """List and revoke your API tokens."""


@token.command("list")
@reports_errors
def token_list() -> None:
    """List your tokens."""
    print_table(
        default_client().get("/api/v1/tokens")["tokens"],
        ["token_id", "label", "created_at", "expires_at", "revoked", "current"],
    )


@token.command("revoke")
@click.argument("token_id")
@reports_errors
def token_revoke(token_id: str) -> None:
    """Revoke token TOKEN_ID."""
    default_client().delete(f"/api/v1/tokens/{token_id}")
    click.echo(f"Revoked {token_id}.")
