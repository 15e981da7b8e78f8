-- Vigil on PostgreSQL: the grants that separate the migration OWNER from the RUNTIME role.
--
-- Why: the role that owns a table can disable its triggers. If the application's own role
-- owned audit_log it could switch off the append-only trigger, edit an entry and recompute every
-- later hash. So the owner role only runs migrations; the dashboard, the scheduler and the jobs
-- connect as the runtime role, which may read and append to audit_log and nothing else there
-- (no UPDATE, DELETE or TRUNCATE; not the owner, so no ALTER TABLE ... DISABLE TRIGGER).
-- See README, "Production database roles", for the whole procedure (roles, first migration).
--
-- Run AFTER every `python -m jobs.migrate` (idempotent), as the owner role or a superuser:
--   psql "postgresql://vigil_owner@db.example/vigil" -v ON_ERROR_STOP=1 \
--        -v owner=vigil_owner -v app=vigil_app -v schema=public -f deploy/postgres/roles.sql

-- only the owner creates objects in the application's schema
GRANT USAGE, CREATE ON SCHEMA :"schema" TO :"owner";
REVOKE CREATE ON SCHEMA :"schema" FROM PUBLIC;
GRANT USAGE ON SCHEMA :"schema" TO :"app";

-- the runtime role: ordinary reads and writes on every table and sequence of the application ...
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA :"schema" TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA :"schema" TO :"app";

-- ... except the audit log, which it may only read and append to ...
REVOKE ALL ON TABLE :"schema".audit_log FROM :"app";
GRANT SELECT, INSERT ON TABLE :"schema".audit_log TO :"app";

-- ... and the schema version, which only migrations change (the runtime role reads it to check
-- that the schema is current)
REVOKE ALL ON TABLE :"schema".alembic_version FROM :"app";
GRANT SELECT ON TABLE :"schema".alembic_version TO :"app";

-- tables and sequences that later migrations create get the same ordinary privileges (a new
-- append-only table needs its own REVOKE line above)
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA :"schema"
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
