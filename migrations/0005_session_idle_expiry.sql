-- 0005_session_idle_expiry: idle pass-through and translated sessions are expired (MCPGATE_SESSION_IDLE_TTL_MS).
-- Forward-only.

-- The expiry pass deletes by age; legacy sessions are never idle-expired (their owner's liveness decides).
create index sessions_idle_idx on sessions (last_seen_at) where kind <> 'legacy';
