-- 0003_limits_audit: per-org rate-limit overrides and the audit log (issue 7 §3, §4). Forward-only.

-- Requests per minute for the whole org (0: unlimited) and the bucket's capacity; null → the deployment's
-- MCPGATE_RATE_LIMIT_ORG_PER_MIN / _BURST (docs/security.md "Rate limits").
alter table orgs
  add column rate_limit_per_minute integer check (rate_limit_per_minute >= 0),
  add column rate_limit_burst integer check (rate_limit_burst >= 1);

-- One row per JSON-RPC request (never a body or a secret). No foreign keys: the record outlives its brain
-- and token. `session` is a hash of the session id, not the id. Written in batches off the request path
-- (src/audit/queue.ts); old rows are pruned by MCPGATE_AUDIT_RETENTION_DAYS.
create table audit_log (
  id          bigint generated always as identity primary key,
  at          timestamptz not null,
  org         text not null,
  brain       text not null,
  token_id    text not null,
  session     text,
  face        text not null,
  method      text,
  name        text,
  status      integer not null,
  latency_ms  double precision not null,
  request_id  text not null
);
-- `GET /admin/v1/audit?org=&brain=&since=` pages by id within an org; pruning goes by time.
create index audit_log_org_id_idx on audit_log (org, id);
create index audit_log_at_idx on audit_log (at);
