"""feed status: the running engine's health of each feed connection, for viewer consoles

A console without an engine of its own (a shared deployment's viewer) cannot ask the engine for its connection
health; the engine writes it here every few seconds, and ``updated_utc`` tells a viewer whether the engine is
still alive.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "feed_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("since_utc", utc, nullable=False),
        sa.Column("last_packet_utc", utc, nullable=True),
        sa.Column("packets", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("engine", sa.String(length=256), nullable=False),
        sa.Column("updated_utc", utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_status")),
        sa.UniqueConstraint("connection", name=op.f("uq_feed_status_connection")),
    )
    with op.batch_alter_table("feed_status", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feed_status_updated_utc"), ["updated_utc"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feed_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_status_updated_utc"))
    op.drop_table("feed_status")
