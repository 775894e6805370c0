"""group list index: (ignored, last_received_utc) on event_group

The groups list opens on the groups that are not ignored, newest first. Without this index SQLite (with no
ANALYZE statistics, as in a fresh installation) reads every not-ignored group through ``ix_event_group_ignored``
and sorts them all for one page; with it, a page is read in index order (``bench/db_scale.py``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 02:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("event_group", schema=None) as batch_op:
        batch_op.create_index("ix_event_group_ignored_last_received", ["ignored", "last_received_utc"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event_group", schema=None) as batch_op:
        batch_op.drop_index("ix_event_group_ignored_last_received")
