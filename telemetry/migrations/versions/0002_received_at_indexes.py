"""Indexes on received_at: the retention purge deletes by age.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_telemetry_messages_received_at", "telemetry_messages", ["received_at"])
    op.create_index("ix_telemetry_rejected_received_at", "telemetry_rejected", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_telemetry_rejected_received_at", table_name="telemetry_rejected")
    op.drop_index("ix_telemetry_messages_received_at", table_name="telemetry_messages")
