# Start a local PostgreSQL for the test suite and export AISPEND_CI_PG_URL and PGPASSWORD.
# Sourced by .ci/run (Debian's postgresql-common tools; runs as root, the server as postgres).
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version main" || pg_createcluster "$version" main >/dev/null
pg_ctlcluster "$version" main start 2>/dev/null || pg_ctlcluster "$version" main status >/dev/null
for _ in $(seq 50); do pg_isready -q -h localhost && break; sleep 0.2; done
PGPASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
export PGPASSWORD
su postgres -c "psql -q -v ON_ERROR_STOP=1" <<SQL
ALTER SYSTEM SET fsync = off;
ALTER SYSTEM SET synchronous_commit = off;
ALTER SYSTEM SET full_page_writes = off;
ALTER SYSTEM SET max_connections = 300;
SELECT pg_reload_conf();
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aispend_ci') THEN CREATE ROLE aispend_ci LOGIN SUPERUSER; END IF;
END \$\$;
ALTER ROLE aispend_ci PASSWORD '$PGPASSWORD';
SQL
# max_connections takes a restart
pg_ctlcluster "$version" main restart
for _ in $(seq 50); do pg_isready -q -h localhost && break; sleep 0.2; done
export AISPEND_CI_PG_URL="postgresql://aispend_ci@localhost:5432/postgres"
