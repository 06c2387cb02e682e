"""Bed ledger: beds of border centres reserved by the regions' dispatchers (telemetry/bed_ledger.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bed_ledger_centres",
        sa.Column("hpid", sa.String(16), primary_key=True),
        sa.Column("free_beds", sa.Integer(), nullable=False),
        sa.Column("report_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "bed_ledger_reservations",
        sa.Column("region", sa.String(64), primary_key=True),
        sa.Column("patient_id", sa.String(64), primary_key=True),
        sa.Column("hpid", sa.String(16), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_bed_ledger_reservations_hpid", "bed_ledger_reservations", ["hpid"])
    op.create_table(
        "bed_ledger_regions",
        sa.Column("region", sa.String(64), primary_key=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bed_ledger_regions")
    op.drop_index("ix_bed_ledger_reservations_hpid", table_name="bed_ledger_reservations")
    op.drop_table("bed_ledger_reservations")
    op.drop_table("bed_ledger_centres")
