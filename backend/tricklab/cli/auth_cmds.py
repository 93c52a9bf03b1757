"""Accounts and tokens from the command line: user add (direct database access), token create|list|revoke, login."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

import httpx

from tricklab import credentials
from tricklab.cli.remote_cmds import run_remote
from tricklab.client import ApiError, TricklabClient, default_url
from tricklab.config import Settings, get_settings
from tricklab.db.migrate import upgrade
from tricklab.db.session import is_sqlite, make_engine, make_session_factory, unit_of_work
from tricklab.services import teams
from tricklab.services.errors import ConflictError

MIN_PASSWORD = 8


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("password (again): ") != first:
        print("error: the passwords differ", file=sys.stderr)
        return None
    return first


def _settings() -> Settings:
    get_settings.cache_clear()
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def cmd_user_add(args: argparse.Namespace) -> int:
    """Create a user straight in the database, like Django's createsuperuser (no server needed)."""
    password = _read_password(args)
    if password is None:
        return 2
    if len(password) < MIN_PASSWORD:
        print(f"error: the password needs at least {MIN_PASSWORD} characters", file=sys.stderr)
        return 2
    settings = _settings()
    if is_sqlite(settings.resolved_database_url):
        upgrade(settings.resolved_database_url)  # an embedded store may not have been started yet
    engine = make_engine(settings.resolved_database_url)
    try:
        with unit_of_work(make_session_factory(engine), write=True) as db_session:
            team = teams.get_or_create_team(db_session=db_session, name=args.team)
            user = teams.create_user(
                db_session=db_session, username=args.name, password=password, team_id=team.id, role=args.role
            )
            print(f"created user {user.username} ({args.role} of team {team.name})")
    except ConflictError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    with TricklabClient(args.url) as client:
        created = client.create_token(args.name, worker=args.worker, expires_in_days=args.expires_days)
    kind = created["kind"]
    print(f"{kind} token {created['id']} ({created['name']}); shown once, keep it safe:", file=sys.stderr)
    print(created["token"])
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    with TricklabClient(args.url) as client:
        page = client.tokens()
    for t in page["items"]:
        state = "revoked" if t["revoked_at"] else f"expires {t['expires_at']}" if t["expires_at"] else "active"
        used = t["last_used_at"] or "never"
        print(
            f"{t['id']:>5}  {t['prefix']}...  {t['kind']:<8} {t['username']:<16} {t['name']:<24} {state}  used {used}"
        )
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    with TricklabClient(args.url) as client:
        revoked = client.revoke_token(args.id)
    print(f"revoked token {revoked['id']} ({revoked['name']})")
    return 0


def _token_from_password(url: str, username: str, password: str) -> str:
    # Log in like the dashboard (session cookie + CSRF), then mint a personal token for this machine.
    with httpx.Client(base_url=url.rstrip("/"), timeout=30.0) as http:
        r = http.post("/api/v1/auth/login", json={"username": username, "password": password})
        if r.status_code != 200:
            raise ApiError(r.status_code, _detail(r), "POST", "/api/v1/auth/login")
        csrf = r.json()["csrf_token"]
        body: dict[str, Any] = {"name": f"tricklab login ({getpass.getuser()})"}
        r = http.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": csrf})
        if r.status_code != 201:
            raise ApiError(r.status_code, _detail(r), "POST", "/api/v1/tokens")
        token = str(r.json()["token"])
        http.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        return token


def _detail(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail", response.text)
    except ValueError:
        return response.text


def cmd_login(args: argparse.Namespace) -> int:
    url = args.url
    if args.token:
        token = args.token
    else:
        username = args.username or input("username: ")
        password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else getpass.getpass("password: ")
        token = _token_from_password(url, username, password)
    with TricklabClient(url, token=token) as client:
        me = client.me()  # checks the token before saving it
    path = credentials.save(credentials.Credentials(url=url, token=token))
    print(f"logged in to {url} as {me['user']['username']} ({me['role']} of {me['team']['name']}); saved to {path}")
    return 0


def add_auth_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def with_url(p: argparse.ArgumentParser, func: Any) -> None:
        p.add_argument("--url", default=default_url(), help="server URL (env TRICKLAB_URL; default %(default)s)")
        p.set_defaults(func=run_remote, remote_func=func)

    user = sub.add_parser("user", help="manage accounts in the database directly")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    p = user_sub.add_parser("add", help="create a user (password from a prompt or --password-stdin)")
    p.add_argument("name")
    p.add_argument("--team", default="default", help="team to join (created when missing; default %(default)s)")
    p.add_argument("--role", choices=["viewer", "member", "admin"], default="member")
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    p.set_defaults(func=cmd_user_add)

    token = sub.add_parser("token", help="create, list and revoke API tokens (uses your current token)")
    token_sub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    p = token_sub.add_parser("create", help="create a token; prints it once")
    p.add_argument("--name", default="api token")
    p.add_argument("--worker", action="store_true", help="a worker token: can only report runs (admins only)")
    p.add_argument("--expires-days", type=float, default=None, help="expire after this many days")
    with_url(p, cmd_token_create)
    p = token_sub.add_parser("list", help="your tokens (admins: the team's)")
    with_url(p, cmd_token_list)
    p = token_sub.add_parser("revoke", help="revoke a token by id; it stops working at once")
    p.add_argument("id", type=int)
    with_url(p, cmd_token_revoke)

    p = sub.add_parser("login", help="log in to a server and save a token for the CLI and the Python client")
    p.add_argument("--username", default=None)
    p.add_argument("--token", default=None, help="save this token instead of logging in with a password")
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    with_url(p, cmd_login)
