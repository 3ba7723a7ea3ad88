#!/usr/bin/env bash
# `make migrate DB_ENDPOINT=... DB_SECRET_ARN=...`: applies migrations/ to the deployed database
# and grants the functions' role what it needs on the new tables.
#
# Run it against the database's own endpoint (RDS instance or Aurora writer), NOT the RDS Proxy:
# migrations use DDL and session state that would pin a proxy connection, and the proxy's
# IAM/secret set-up is for the application role, not the administrator.
#
# DB_ENDPOINT    the database endpoint host (required)
# DB_SECRET_ARN  Secrets Manager secret of an administrator ({"username","password"}), e.g. the
#                RDS-managed master user secret (required)
# DB_NAME        database (warp); created when missing
# DB_PORT        5432
# APP_USER       the role the functions log in as (warp_app); granted DML when it exists
# RDS_CA_BUNDLE  AWS's RDS CA bundle for verify-full (downloaded to target/ when missing)
# AWS_REGION / AWS_PROFILE as for any AWS CLI use.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DB_ENDPOINT:?set DB_ENDPOINT to the database endpoint (not the proxy)}"
: "${DB_SECRET_ARN:?set DB_SECRET_ARN to the administrator secret}"
DB_NAME="${DB_NAME:-warp}"
DB_PORT="${DB_PORT:-5432}"
APP_USER="${APP_USER:-warp_app}"
RDS_CA_BUNDLE="${RDS_CA_BUNDLE:-target/rds-global-bundle.pem}"

case "$DB_ENDPOINT" in
  *.proxy-*) echo "DB_ENDPOINT looks like an RDS Proxy endpoint; use the database endpoint" >&2; exit 1 ;;
esac

# RDS database certificates chain to AWS's RDS CAs, which system trust stores do not carry.
if [ ! -s "$RDS_CA_BUNDLE" ]; then
  mkdir -p "$(dirname "$RDS_CA_BUNDLE")"
  curl -fsS -o "$RDS_CA_BUNDLE" https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
fi

infra/scripts/ensure-venv.sh .venv-sam aws-sam-cli cfn-lint
# The URL (with the administrator's password) lives only in this process's environment.
DATABASE_URL="$(.venv-sam/bin/python - "$DB_SECRET_ARN" "$DB_ENDPOINT" "$DB_PORT" "$DB_NAME" \
  "$(realpath "$RDS_CA_BUNDLE")" <<'PY'
import json, sys, urllib.parse
import boto3
arn, host, port, name, ca = sys.argv[1:]
secret = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
q = lambda s: urllib.parse.quote(s, safe="")
print(f"postgres://{q(secret['username'])}:{q(secret['password'])}@{host}:{port}/{name}"
      f"?sslmode=verify-full&sslrootcert={ca}")
PY
)"
export DATABASE_URL

echo "== migrating $DB_NAME on $DB_ENDPOINT"
cargo run --quiet -p warp-cli --bin warp -- migrate

echo "== privileges for $APP_USER"
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -v app="$APP_USER" -q <<'SQL'
SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') AS app_exists \gset
\if :app_exists
  SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'app') \gexec
  SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', :'app') \gexec
  SELECT format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', :'app') \gexec
  -- WARP's own sessions are not change-captured (migration V22): the startup parameter says so,
  -- and this role default says it too, for proxies that do not pass startup parameters on.
  SELECT format('ALTER ROLE %I SET warp.writer = %L', :'app', 'warp') \gexec
  \echo granted
\else
  \echo 'role' :app 'does not exist yet: create it (README, Deployment) and run make migrate again'
\endif
SQL
