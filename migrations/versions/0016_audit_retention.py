"""audit retention: purges of old audit entries with the signed checkpoint of the cut (governance.audit_retention)

Revision ID: 0016_audit_retention

Creates ``audit_purges`` and narrows the append-only triggers of migration 0001: a DELETE on
``audit_log`` is allowed only for entries at or below the highest recorded cut
(``audit_purges.cut_seq``), so a purge records its cut first and deletes in the same
transaction; UPDATE and TRUNCATE stay refused. (With the PostgreSQL role split of
deploy/postgres/roles.sql the runtime role still has no DELETE on audit_log: purges run as the
owner role.)
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_audit_retention"
down_revision = "0015_auto_rollback"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)

SQLITE_DELETE_TRIGGER = (
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "WHEN OLD.seq > (SELECT COALESCE(MAX(cut_seq), 0) FROM audit_purges) "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END"
)
SQLITE_DELETE_TRIGGER_0001 = (
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END"
)
PG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "IF TG_OP = 'DELETE' THEN "
    "IF OLD.seq <= (SELECT COALESCE(MAX(cut_seq), 0) FROM audit_purges) THEN RETURN OLD; END IF; "
    "END IF; "
    "RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP; END $$"
)
PG_FUNCTION_0001 = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP; END $$"
)


def upgrade() -> None:
    op.create_table(
        "audit_purges",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("cut_seq", sa.Integer(), nullable=False, unique=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("purged_count", sa.Integer(), nullable=False),
        sa.Column("before", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("purged_at", _TS, nullable=False),
        sa.Column("checkpoint_ts", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        op.execute(SQLITE_DELETE_TRIGGER)
    else:
        op.execute(PG_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        op.execute(SQLITE_DELETE_TRIGGER_0001)
    else:
        op.execute(PG_FUNCTION_0001)
    op.drop_table("audit_purges")
