"""audit seal

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 09:00:00.000000

The one-row ``audit_seal`` table holds the audit log's sealed head (last id, last hash,
entry count, HMAC). Existing entries are not touched here: a migration has no access
to the server secret, so a log written before this revision keeps its unkeyed sha256
chain, under a *legacy* seal naming its newest entry and size (mac
``legacy-unkeyed``), until the first audited change after the upgrade re-chains it
under the audit key and signs the seal, in that change's transaction (see
``modelyard.domain.audit``). Only that mark is adopted: a seal deleted later is
reported, never recreated.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_seal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    bind = op.get_bind()
    count, last_id = bind.execute(sa.text("SELECT COUNT(*), MAX(id) FROM audit_log")).one()
    if count:
        last_hash = bind.execute(
            sa.text("SELECT hash FROM audit_log WHERE id = :id"), {"id": last_id}
        ).scalar_one()
        bind.execute(
            sa.text(
                "INSERT INTO audit_seal (id, last_id, last_hash, count, mac) "
                "VALUES (1, :last_id, :last_hash, :count, 'legacy-unkeyed')"
            ),
            {"last_id": last_id, "last_hash": last_hash, "count": count},
        )


def downgrade() -> None:
    # Entries stay keyed: modelyard before 0008 would report every one as modified.
    op.drop_table("audit_seal")
