"""The dispatcher's leadership and decision state: a lease per region, each patient's decision state, each
region's state (telemetry.leader, telemetry.decision_store).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SECONDS = sa.Float(precision=53)  # seconds since 1970 (the lease's clock: the database server's, or this host's)


def upgrade() -> None:
    op.create_table(
        "dispatch_leases",
        sa.Column("region", sa.String(64), primary_key=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", _SECONDS, nullable=False),
        sa.Column("acquired_at", _SECONDS, nullable=False),
        sa.Column("renewed_at", _SECONDS, nullable=False),
        # PostgreSQL: the server process of the holder's session, which holds the advisory lock (a standby ends
        # that session when the lease expired: a frozen holder keeps its connection, and so its lock)
        sa.Column("backend_pid", sa.Integer(), nullable=True),
    )
    op.create_table(
        "dispatch_patients",
        sa.Column("region", sa.String(64), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("advice_version", sa.BigInteger(), nullable=False),
        sa.Column("owned", sa.Boolean(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
    )
    op.create_table(
        "dispatch_regions",
        sa.Column("region", sa.String(64), primary_key=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dispatch_regions")
    op.drop_table("dispatch_patients")
    op.drop_table("dispatch_leases")
