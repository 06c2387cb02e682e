"""``goldentime mqtt``: MQTT accounts (a Mosquitto password file) and the Mosquitto ACL file.

``goldentime mqtt users create --role unit --name U01-0`` adds the account ``units/U01-0`` with a
fresh random password, printed once; only its hash is stored, in the format mosquitto_passwd
writes, so Mosquitto and the embedded broker (``GOLDENTIME_MQTT_PASSWORD_FILE``) both read the
file. ``goldentime mqtt acl`` writes the rules of :mod:`telemetry.access` as Mosquitto's ACL
file. deploy/mosquitto/README.md says how they fit together.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from goldentime.settings import Settings
from telemetry import access, passwords
from telemetry.access import Account, Role

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto"
#: The names deploy/mosquitto/mosquitto.conf reads (relative to the directory Mosquitto starts in).
PASSWORD_FILE_NAME, ACL_FILE_NAME = "passwd", "acl"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "mqtt",
        help="MQTT accounts and access rules (Mosquitto password and ACL files)",
        description="Create MQTT accounts and write the ACL file, for Mosquitto (deploy/mosquitto/) and the "
        "embedded broker (GOLDENTIME_MQTT_PASSWORD_FILE).",
    )
    actions = p.add_subparsers(dest="mqtt_command", required=True, metavar="ACTION", parser_class=type(p))
    users = actions.add_parser("users", help="MQTT accounts")
    user_actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION", parser_class=type(p))
    c = user_actions.add_parser(
        "create",
        help="add an account with a new random password, shown once",
        description="Add an account to the password file with a new random password, printed once; only its "
        "hash is stored. A unit logs in as units/{unit id}, a centre as hospitals/{hpid}; every other role has "
        "one account named after it. Mosquitto reads the file again on SIGHUP, the embedded broker at the next "
        "login.",
    )
    c.add_argument("--role", required=True, choices=[role.value for role in Role], help="what the account may do")
    c.add_argument("--name", help="the unit id (role unit) or the centre's hpid (role centre)")
    c.add_argument(
        "--password-file",
        type=Path,
        help="default: GOLDENTIME_MQTT_PASSWORD_FILE, else deploy/mosquitto/passwd",
    )
    c.add_argument("--replace", action="store_true", help="give an existing account a new password")
    c.set_defaults(func=cmd_users_create)
    c = actions.add_parser(
        "acl",
        help="write Mosquitto's ACL file from telemetry/access.py",
        description="Write the access rules of telemetry/access.py as a Mosquitto ACL file (acl_file).",
    )
    c.add_argument("--output", type=Path, default=DEPLOY / ACL_FILE_NAME, help="default: deploy/mosquitto/acl")
    c.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file is not up to date")
    c.set_defaults(func=cmd_acl)


def cmd_users_create(settings: Settings, args: argparse.Namespace) -> int:
    try:
        account = Account(Role(args.role), args.name)
    except access.AccessError as exc:
        print(f"goldentime mqtt users create: error: {exc}", file=sys.stderr)
        return 2
    path: Path = args.password_file or settings.mqtt_password_file or DEPLOY / PASSWORD_FILE_NAME
    try:
        existing = passwords.read(path) if path.exists() else {}
    except (OSError, passwords.PasswordFileError) as exc:
        print(f"goldentime mqtt users create: error: {exc}", file=sys.stderr)
        return 1
    if account.username in existing and not args.replace:
        print(
            f"goldentime mqtt users create: error: {account.username} already has an account in {path} "
            "(--replace gives it a new password)",
            file=sys.stderr,
        )
        return 1
    password = passwords.new_password()
    passwords.store(path, account.username, passwords.hash_password(password))
    print(f"MQTT account {account.username} (role {account.role}) stored in {path}")
    print(f"username: {account.username}")
    print(f"password: {password}")
    print(f"GOLDENTIME_MQTT_URL=mqtts://{userinfo(account.username, password)}@BROKER:8883")
    print("The password is shown only this once. Mosquitto reads the file again on SIGHUP.")
    return 0


def cmd_acl(settings: Settings, args: argparse.Namespace) -> int:
    rendered = access.render_acl()
    output: Path = args.output
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else None
        if current != rendered:
            print(f"{output} is not up to date: run goldentime mqtt acl --output {output}", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(rendered, encoding="utf-8")
    print(f"wrote {output}")
    return 0


def userinfo(username: str, password: str) -> str:
    """``user:password`` quoted for a broker URL (``units/U1`` becomes ``units%2FU1``)."""
    return f"{quote(username, safe='')}:{quote(password, safe='')}"


def write_broker_files(directory: Path, accounts: Iterable[Account]) -> dict[str, str]:
    """For a private broker (tests, benchmarks): write ``passwd``, a fresh password for each
    account, and ``acl`` into ``directory``, the files deploy/mosquitto/mosquitto.conf names when
    Mosquitto starts there. Returns username -> password."""
    made: dict[str, str] = {}
    for account in accounts:
        made[account.username] = passwords.new_password()
        passwords.store(
            directory / PASSWORD_FILE_NAME, account.username, passwords.hash_password(made[account.username])
        )
    (directory / ACL_FILE_NAME).write_text(access.render_acl(), encoding="utf-8")
    return made
