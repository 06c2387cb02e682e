"""amqtt is patched by the embedded broker's own start, never by importing telemetry.broker.

Each check runs in a fresh interpreter: in the test process a broker has usually started already.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PATCHED_NAMES = ("handle_read_timeout", "_handle_qos1_message_flow", "_retry_deliveries")


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_broker_modules_leaves_amqtt_as_it_ships() -> None:
    out = _run(
        f"""
        from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler as H
        before = {{name: getattr(H, name) for name in {PATCHED_NAMES!r}}}
        import telemetry.broker, telemetry.broker_delivery, telemetry.broker_auth
        changed = [name for name, value in before.items() if getattr(H, name) is not value]
        print(changed, telemetry.broker.amqtt_patched())
        """
    )
    assert out == "[] False"


@pytest.mark.integration
def test_starting_the_embedded_broker_patches_amqtt_once() -> None:
    out = _run(
        f"""
        from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler as H
        from telemetry.broker import EmbeddedBroker, amqtt_patched, patch_amqtt
        before = {{name: getattr(H, name) for name in {PATCHED_NAMES!r}}}
        with EmbeddedBroker() as first:
            after = {{name: getattr(H, name) for name in {PATCHED_NAMES!r}}}
            with EmbeddedBroker():
                patch_amqtt()
                again = {{name: getattr(H, name) for name in {PATCHED_NAMES!r}}}
        print(sorted(n for n in before if before[n] is not after[n]), after == again, amqtt_patched())
        """
    )
    assert out == f"{sorted(PATCHED_NAMES)} True True"
