-- 0002_era_translation: protocol eras (issue 6). Forward-only.

-- What the gateway speaks to the brain's upstream: 'auto' probes it (a 2026-07-28 `server/discover`
-- first, spec2026.md §1.7), '2025' and '2026' pin it (src/era/probe.ts).
alter table brains
  add column era text not null default 'auto' check (era in ('auto', '2025', '2026'));

-- 'translated': a session the gateway holds itself for a 2025-era Streamable HTTP client of a 2026-only
-- upstream (the upstream has no sessions). Any instance serves it, as a pass-through session.
alter table sessions drop constraint sessions_kind_check;
alter table sessions
  add constraint sessions_kind_check check (kind in ('passthrough', 'legacy', 'translated'));
