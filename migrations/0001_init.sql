-- 0001_init: the gateway's shared state (DESIGN.md §4). Applied by src/store/migrate.ts in one transaction.
-- Forward-only: once released, change the schema with a new NNNN_*.sql file, never by editing this one.

create table orgs (
  slug        text primary key,
  name        text,
  created_at  timestamptz not null default now()
);

-- Brain ids are global (they appear in /brains/:brain/... URLs), not per org.
create table brains (
  id                     text primary key,
  org                    text not null references orgs (slug),
  upstream_url           text not null,
  -- JWE of the upstream headers (src/auth/secrets.ts); the plaintext is never stored.
  upstream_headers_enc   text,
  upstream_header_names  text[] not null default '{}',
  connect_timeout_ms     integer,
  first_byte_timeout_ms  integer,
  created_at             timestamptz not null default now(),
  updated_at             timestamptz not null default now()
);
create index brains_org_idx on brains (org);

create table tokens (
  id          text primary key,
  org         text not null references orgs (slug),
  name        text,
  -- hex sha-256 of the plaintext token (DESIGN.md §5).
  hash        text not null unique,
  -- null: every brain of the org.
  brains      text[],
  expires_at  timestamptz,
  revoked_at  timestamptz,
  created_at  timestamptz not null default now()
);
create index tokens_org_idx on tokens (org);

-- Live sessions, keyed by brain because a session id is only meaningful on its brain's URL.
create table sessions (
  brain_id             text not null references brains (id) on delete cascade,
  id                   text not null,
  kind                 text not null check (kind in ('passthrough', 'legacy')),
  org                  text not null,
  token_id             text not null,
  owner_instance       text not null,
  upstream_session_id  text,
  protocol_version     text,
  -- SQL null means "not set" (undefined), as opposed to a JSON null.
  init_params          jsonb,
  created_at           timestamptz not null default now(),
  last_seen_at         timestamptz not null default now(),
  primary key (brain_id, id)
);
create index sessions_token_id_idx on sessions (token_id);
create index sessions_owner_instance_idx on sessions (owner_instance);
create index sessions_org_idx on sessions (org);

-- The client's last `initialize` per (token, brain), replayed upstream after a legacy reconnect.
create table last_init_params (
  token_id    text not null,
  brain_id    text not null,
  params      jsonb,
  updated_at  timestamptz not null default now(),
  primary key (token_id, brain_id)
);

-- Gateway instances for owner routing and the reaper (DESIGN.md §4).
create table instances (
  id            text primary key,
  url           text not null,
  boot_id       text not null,
  heartbeat_at  timestamptz not null default now(),
  draining      boolean not null default false,
  started_at    timestamptz not null default now()
);
