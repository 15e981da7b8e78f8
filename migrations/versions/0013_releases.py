"""releases: release requests, approval decisions and alias history (governance.release_tables)

Revision ID: 0013_releases
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_releases"
down_revision = "0012_locks"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "release_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("version_author", sa.String(256), nullable=True),
        sa.Column("opened_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("open_model", sa.String(128), nullable=True),
        sa.Column("gates", sa.Text(), nullable=False),
        sa.Column("stages", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("closed_reason", sa.Text(), nullable=True),
        sa.UniqueConstraint("open_model"),
    )
    op.create_index("ix_release_requests_model", "release_requests", ["model"])
    op.create_index("ix_release_requests_state", "release_requests", ["state"])
    op.create_table(
        "release_decisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("release_requests.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("approver", sa.String(128), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("decided_at", _TS, nullable=False),
        sa.UniqueConstraint("request_id", "approver", name="uq_release_decisions_one_per_person"),
        sa.UniqueConstraint("request_id", "ordinal", name="uq_release_decisions_ordinal"),
    )
    op.create_index("ix_release_decisions_request_id", "release_decisions", ["request_id"])
    op.create_table(
        "alias_moves",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("from_version", sa.String(64), nullable=True),
        sa.Column("to_version", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("release_requests.id"), nullable=True),
        sa.Column("moved_at", _TS, nullable=False),
    )
    op.create_index("ix_alias_moves_model", "alias_moves", ["model"])
    op.create_index("ix_alias_moves_moved_at", "alias_moves", ["moved_at"])


def downgrade() -> None:
    op.drop_index("ix_alias_moves_moved_at", table_name="alias_moves")
    op.drop_index("ix_alias_moves_model", table_name="alias_moves")
    op.drop_table("alias_moves")
    op.drop_index("ix_release_decisions_request_id", table_name="release_decisions")
    op.drop_table("release_decisions")
    op.drop_index("ix_release_requests_state", table_name="release_requests")
    op.drop_index("ix_release_requests_model", table_name="release_requests")
    op.drop_table("release_requests")
