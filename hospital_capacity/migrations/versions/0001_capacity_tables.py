"""Capacity tables: centres with their current state, every update, API tokens.

Revision ID: c0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "capacity_hospitals",
        sa.Column("hpid", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("trauma_centre", sa.Boolean(), nullable=False),
        sa.Column("region", sa.String(40), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=False),
    )
    op.create_table(
        "capacity_updates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("hpid", sa.String(16), sa.ForeignKey("capacity_hospitals.hpid"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
    )
    op.create_index("ix_capacity_updates_hpid_received_at", "capacity_updates", ["hpid", "received_at"])
    op.create_table(
        "capacity_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("hpid", sa.String(16), sa.ForeignKey("capacity_hospitals.hpid"), nullable=True),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("capacity_tokens")
    op.drop_index("ix_capacity_updates_hpid_received_at", table_name="capacity_updates")
    op.drop_table("capacity_updates")
    op.drop_table("capacity_hospitals")
