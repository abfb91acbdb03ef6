"""The `parley` command: serve, migrate, create users, and try Parley with demo data.

Settings come from `PARLEY_*` variables (and `.env`), as for the server itself; options
given here override them. In the embedded mode (a SQLite file in the data directory)
commands that need the schema bring it up to date first, so `parley serve` on a fresh
machine just works; against PostgreSQL migrations run only when asked (`parley migrate`
or `serve --migrate`), from one place, not from every replica at once.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from parley import __version__
from parley.platform import audit
from parley.platform.auth.passwords import MIN_PASSWORD_LENGTH, hash_password
from parley.platform.auth.passwords import configure as configure_password_hashing
from parley.platform.config import Settings
from parley.platform.db import Database, create_database
from parley.platform.db.migrate import current_revision, head_revision, upgrade
from parley.platform.demo import USERS, SeedReport, seed_demo
from parley.platform.i18n import LANGUAGES
from parley.platform.logs import configure_logging
from parley.platform.models import Role, User

DEMO_DATA_DIR = Path("data") / "demo"
# The name of the variable holding a password, not a password.
NEW_USER_PASSWORD_ENV = "PARLEY_NEW_USER_PASSWORD"  # noqa: S105
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the options that were given on top."""
    try:
        return Settings(**{name: value for name, value in overrides.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise click.UsageError(f"invalid settings: {problems}") from None


def _apply_password_cost(settings: Settings) -> None:
    """Hash with the configured Argon2 cost, as the server does, so passwords set here are
    not re-hashed at their first login."""
    configure_password_hashing(
        time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
    )


def _is_embedded(settings: Settings) -> bool:
    return settings.resolved_database_url.startswith("sqlite")


def _printable(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _migrate(database: Database) -> str | None:
    await upgrade(database)
    return await current_revision(database)


def _run_migrations(settings: Settings) -> None:
    settings.ensure_data_dir()
    url = settings.resolved_database_url
    click.echo(f"Migrating {_printable(url)} to revision {head_revision()}…")

    async def run() -> str | None:
        database = create_database(url)
        try:
            return await _migrate(database)
        finally:
            await database.dispose()

    revision = asyncio.run(run())
    click.echo(f"Database is at revision {revision} (head).")


def _display_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/"


def _exit_after_stop(_signal_number: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _serve(settings: Settings, *, migrate: bool | None) -> None:
    if migrate or (migrate is None and _is_embedded(settings)):
        _run_migrations(settings)
    # Imported here so `parley version` and `parley migrate` stay quick and do not
    # build the whole application.
    import uvicorn

    from parley.app import create_app

    app = create_app(settings)
    # After a graceful shutdown uvicorn re-raises the signal that stopped it, and with the
    # default handler SIGTERM would then kill the process (exit -15, as if it had crashed).
    # A stop that went well ends with status 0, as process supervisors expect.
    signal.signal(signal.SIGTERM, _exit_after_stop)
    # log_config=None: uvicorn keeps its hands off logging, so its lines go through
    # configure_logging's renderer like everything else.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="parley")
def main() -> None:
    """Parley: an open-source omnichannel contact center."""


@main.command()
@click.option("--host", help="Address to listen on (PARLEY_HOST).")
@click.option("--port", type=int, help="Port to listen on (PARLEY_PORT).")
@click.option("--roles", help="Comma-separated roles to run: web,engine,media (PARLEY_ROLES).")
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Bring the database schema up to date first (default: only for SQLite).",
)
def serve(host: str | None, port: int | None, roles: str | None, migrate: bool | None) -> None:
    """Run Parley: the web application and the roles chosen."""
    settings = _settings(host=host, port=port, roles=roles)
    configure_logging(settings.log_level, json=settings.log_json)
    _serve(settings, migrate=migrate)


@main.command()
def migrate() -> None:
    """Bring the database schema up to the latest revision."""
    _run_migrations(_settings())


def _new_password(password: str | None) -> str:
    """The new user's password: the option, else the environment, else a prompt."""
    if password is None:
        password = os.environ.get(NEW_USER_PASSWORD_ENV) or None
    if password is None:
        if not sys.stdin.isatty():
            raise click.UsageError(
                f"no password: set {NEW_USER_PASSWORD_ENV}, pass --password, "
                "or run in a terminal to be asked"
            )
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.UsageError(
            f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters"
        )
    return password


def _normal_email(email: str | None) -> str | None:
    if not email:
        return None
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="--email") from None


async def _store_user(settings: Settings, user: User) -> int:
    database = create_database(settings.resolved_database_url)
    try:
        async with database.transaction() as db:
            taken = await db.scalar(select(User.id).where(User.username == user.username))
            if taken is not None:
                raise click.ClickException(f"a user named {user.username!r} already exists")
            if user.email and await db.scalar(select(User.id).where(User.email == user.email)):
                raise click.ClickException(f"another user already has the email {user.email}")
            db.add(user)
            await db.flush()
            await audit.record(
                db,
                None,
                "create",
                "user",
                user.id,
                {"username": user.username, "role": user.role.value, "via": "cli"},
            )
            return user.id
    except IntegrityError as exc:
        # Someone created the same user between our check and our insert.
        raise click.ClickException(f"could not create the user: {exc.orig}") from None
    finally:
        await database.dispose()


@main.command("create-user")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    required=True,
    help="What the user may do.",
)
@click.option("--display-name", help="The name people see (default: the username).")
@click.option("--email", help="The user's email address.")
@click.option(
    "--language",
    type=click.Choice(LANGUAGES),
    help="Language of the user's pages (default: PARLEY_DEFAULT_LANGUAGE).",
)
@click.option(
    "--password",
    help=f"Visible in the process list and shell history: prefer {NEW_USER_PASSWORD_ENV} "
    "or the prompt.",
)
def create_user(
    username: str,
    role: str,
    display_name: str | None,
    email: str | None,
    language: str | None,
    password: str | None,
) -> None:
    """Create a user who can log in (an agent, a supervisor or an admin).

    The password comes from --password, else PARLEY_NEW_USER_PASSWORD, else a prompt.
    """
    # Logins are case-insensitive: usernames are stored the way login looks them up.
    username = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise click.BadParameter(
            "use 1-64 letters, digits and . _ @ - (starting with a letter or digit)",
            param_hint="USERNAME",
        )
    settings = _settings()
    _apply_password_cost(settings)
    normal_email = _normal_email(email)
    user = User(
        username=username,
        display_name=(display_name or username).strip(),
        email=normal_email,
        password_hash=hash_password(_new_password(password)),
        role=Role(role),
        language=language or settings.default_language,
    )
    if _is_embedded(settings):
        _run_migrations(settings)
    user_id = asyncio.run(_store_user(settings, user))
    click.echo(f"Created {role} {username!r} (id {user_id}).")


def _demo_settings(host: str | None, port: int | None) -> Settings:
    overrides: dict[str, Any] = {"host": host, "port": port}
    if "PARLEY_DATA_DIR" not in os.environ:
        overrides["data_dir"] = DEMO_DATA_DIR
    if "PARLEY_LOG_JSON" not in os.environ:
        # Someone is watching a terminal: readable lines rather than JSON.
        overrides["log_json"] = False
    return _settings(**overrides)


def _uses_demo_passwords(settings: Settings) -> bool:
    """Well-known passwords only in the demo's own SQLite file, never in real data."""
    return not settings.database_url and (settings.data_dir.resolve() == DEMO_DATA_DIR.resolve())


@main.command()
@click.option("--no-serve", is_flag=True, help="Only prepare the data; do not start the server.")
@click.option("--host", help="Address to listen on (PARLEY_HOST).")
@click.option("--port", type=int, help="Port to listen on (PARLEY_PORT).")
def demo(no_serve: bool, host: str | None, port: int | None) -> None:
    """Try Parley: a data directory with demo users, queues and skills, then serve it.

    Data lives in ./data/demo unless PARLEY_DATA_DIR is set. Running it again keeps
    what is there and adds only what is missing.
    """
    settings = _demo_settings(host, port)
    _apply_password_cost(settings)
    data_dir = settings.ensure_data_dir().resolve()
    click.echo(f"Parley {__version__} demo, data in {data_dir}")
    _run_migrations(settings)

    is_well_known = _uses_demo_passwords(settings)
    passwords: dict[str, str] = {}

    def password_for(username: str) -> str:
        passwords[username] = f"demo-{username}" if is_well_known else secrets.token_urlsafe(12)
        return passwords[username]

    click.echo("Seeding demo data…")

    async def seed() -> SeedReport:
        database = create_database(settings.resolved_database_url)
        try:
            return await seed_demo(database, password_for)
        finally:
            await database.dispose()

    report = asyncio.run(seed())
    if report.created_anything:
        created = ", ".join(f"{kind}: {count}" for kind, count in report.created.items() if count)
        click.echo(f"Created {created}.")
    else:
        click.echo("Demo data already in place; nothing to add.")

    click.echo("\nLogins:")
    for user in USERS:
        if is_well_known:
            shown = f"demo-{user.username}"
            if user.username not in passwords:
                shown += "  (unless changed since)"
        elif user.username in passwords:
            shown = f"{passwords[user.username]}  (shown once: note it now)"
        else:
            shown = "(set when it was created; not shown again)"
        label = f"{user.display_name} ({user.role.value})"
        click.echo(f"  {user.username:<11} {label:<30} password: {shown}")
    if is_well_known:
        click.secho(
            "  WARNING: these are well-known demo passwords, for this demo data directory "
            "only.\n  Never use them for real data.",
            fg="yellow",
        )
    url = _display_url(settings)
    desktop = f"{url.rstrip('/')}/agent"
    if no_serve:
        click.echo(f"\nReady. Start it with `parley demo`, then open {url}")
        click.echo(f"Agents (anna, piotr) work in the desktop at {desktop}")
        return
    click.echo(f"\nOpen {url} and log in with one of the users above. Ctrl+C stops it.")
    click.echo(f"Agents (anna, piotr) work in the desktop at {desktop}\n")
    configure_logging(settings.log_level, json=settings.log_json)
    _serve(settings, migrate=False)


@main.command("asterisk-config")
@click.option(
    "--dir",
    "base",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where Asterisk's configuration and working directories go.",
)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Its control socket (a short path); default: <dir>/run.",
)
@click.option("--ami-port", type=int, default=5038, show_default=True)
@click.option("--sip-port", type=int, default=5060, show_default=True)
@click.option(
    "--phone",
    "phones",
    multiple=True,
    metavar="NAME",
    help="An agent's SIP phone (repeatable); its password is generated and printed.",
)
@click.option("--trunk", metavar="HOST[:PORT]", help="The carrier's SIP address.")
@click.option(
    "--prefix",
    type=click.Path(path_type=Path),
    default=Path("/opt/parley-asterisk"),
    show_default=True,
    help="Where asterisk/install.sh installed Asterisk.",
)
def asterisk_config(
    base: Path,
    run_dir: Path | None,
    ami_port: int,
    sip_port: int,
    phones: tuple[str, ...],
    trunk: str | None,
    prefix: Path,
) -> None:
    """Write the Asterisk configuration this Parley drives (AMI user, FastAGI, dialplan).

    Prints the PARLEY_AMI_URL to set and the command that runs Asterisk with it."""
    from parley.telephony.asterisk_config import (
        AmiAccount,
        AsteriskConfig,
        AsteriskDirs,
        SipPhone,
        SipTrunk,
        render,
    )

    settings = _settings()
    secret = secrets.token_hex(16)
    passwords = {name: secrets.token_hex(12) for name in phones}
    carrier = None
    if trunk:
        host, _, port = trunk.partition(":")
        carrier = SipTrunk("carrier", host, int(port) if port else 5060)
    try:
        config = AsteriskConfig(
            dirs=AsteriskDirs(base=base.resolve(), run=(run_dir or base / "run").resolve()),
            ami=AmiAccount(port=ami_port, username="parley", secret=secret),
            sip_port=sip_port,
            prefix=prefix,
            phones=tuple(SipPhone(name, password) for name, password in passwords.items()),
            trunk=carrier,
            fastagi_url=f"agi://{settings.fastagi_host}:{settings.fastagi_port}/inbound",
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    conf = render(config)
    click.echo(f"Asterisk configuration written to {conf.parent}")
    click.echo(f"Run it:  {prefix}/sbin/asterisk -f -C {conf}")
    click.echo(f"Then set PARLEY_AMI_URL=ami://parley:{secret}@127.0.0.1:{ami_port}")
    for name, password in passwords.items():
        click.echo(f"SIP phone {name}: password {password} (its device in Parley: PJSIP/{name})")


@main.command()
def version() -> None:
    """Print Parley's version."""
    click.echo(f"parley {__version__}")


if __name__ == "__main__":
    main()
