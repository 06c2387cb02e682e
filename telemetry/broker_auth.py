"""amqtt plugins that make the embedded broker enforce :mod:`telemetry.access` with a Mosquitto
password file, as a Mosquitto started with ``deploy/mosquitto/`` does.

amqtt calls ``authenticate`` once per CONNECT (all auth plugins must say yes) and
``topic_filtering`` for every SUBSCRIBE filter, every PUBLISH it receives and every message it is
about to deliver (``Action.RECEIVE``). A refused publish is dropped without closing the
connection (the QoS 1 PUBACK is still sent), a refused filter gets the SUBACK failure code 0x80,
and a refused delivery is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from telemetry import access, passwords

log = logging.getLogger("telemetry.broker")


class PasswordFilePlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Lets in the accounts of a Mosquitto password file whose username is one of
    :mod:`telemetry.access`'s, with the right password and a Last Will they may publish.

    The file is read again whenever it changes, so ``goldentime mqtt users create`` takes effect
    without a restart (Mosquitto needs a SIGHUP). A file that cannot be read refuses everyone
    until it can. Sessions are not marked anonymous, so persistent sessions keep their queues."""

    @dataclass
    class Config:
        password_file: str = ""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._path = Path(self.config.password_file)
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, str] = {}
        self._reload()
        if self._stamp is None:
            raise passwords.PasswordFileError(f"cannot read the MQTT password file {self._path}")

    def _reload(self) -> None:
        try:
            stat = self._path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                self._users, self._stamp = passwords.read(self._path), stamp
                log.info("embedded broker: %d MQTT account(s) from %s", len(self._users), self._path)
        except (OSError, ValueError) as exc:
            log.error("embedded broker: cannot read %s (%s); refusing every login until it can", self._path, exc)
            self._users, self._stamp = {}, None

    async def authenticate(self, *, session: Any) -> bool:
        self._reload()
        username, password = session.username, session.password
        if isinstance(password, bytes):
            try:
                password = password.decode()
            except UnicodeDecodeError:
                password = None
        encoded = self._users.get(username or "")
        account = access.account_of(username)
        if account is None or encoded is None or password is None or not passwords.verify(password, encoded):
            log.warning("embedded broker: refused login of %r as %r: unknown account or wrong password",
                        session.client_id, username)  # fmt: skip
            return False
        if session.will_flag and not account.may_publish(session.will_topic or ""):
            log.warning("embedded broker: refused %r (%s): may not publish its Last Will on %r",
                        session.client_id, username, session.will_topic)  # fmt: skip
            return False
        return True


class AccessRulesPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Applies :mod:`telemetry.access` to every subscription, publish and delivery."""

    @dataclass
    class Config:
        pass

    async def topic_filtering(self, *, session: Any = None, topic: str | None = None, action: Any = None) -> bool:
        account = access.account_of(session.username if session is not None else None)
        if account is None or not topic:
            return False
        if action == Action.PUBLISH:
            allowed = account.may_publish(topic)
            if not allowed:
                log.warning("embedded broker: dropped a publish of %s on %s: not allowed", account.username, topic)
            return allowed
        if action == Action.SUBSCRIBE:
            return account.may_subscribe(topic)
        return bool(action == Action.RECEIVE and account.may_read(topic))
