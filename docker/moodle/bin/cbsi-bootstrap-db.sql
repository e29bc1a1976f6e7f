-- Create one academy's role and database on the shared PostgreSQL, idempotently.
-- Run by cbsi-bootstrap as the RDS master user (CREATEROLE, CREATEDB; not a superuser):
--   psql -v role=... -v db=... -v pass=... -f cbsi-bootstrap-db.sql
\set ON_ERROR_STOP on
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'pass')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
-- Re-applied each start, so a rotated password in Secrets Manager takes effect.
SELECT format('ALTER ROLE %I PASSWORD %L', :'role', :'pass') \gexec
-- The master must be a member to create a database owned by the role (PostgreSQL 15+).
SELECT format('GRANT %I TO CURRENT_USER', :'role')
 WHERE NOT pg_has_role(CURRENT_USER, :'role', 'MEMBER') \gexec
SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8'' TEMPLATE template0', :'db', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
-- Sites must not reach each other's databases: only the owner may connect.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
