"""Recorder tables: every accepted message and every refused one.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "telemetry_messages",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("msg_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.UniqueConstraint("topic", "msg_id", name="uq_telemetry_messages_topic_msg_id"),
    )
    op.create_index("ix_telemetry_messages_kind_key_ts", "telemetry_messages", ["kind", "key", "ts"])
    op.create_table(
        "telemetry_rejected",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(1024), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload_excerpt", sa.Text(), nullable=False),
        sa.Column("payload_bytes", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("telemetry_rejected")
    op.drop_index("ix_telemetry_messages_kind_key_ts", table_name="telemetry_messages")
    op.drop_table("telemetry_messages")
