-- 0004_instance_machine_id: owner routing on Fly (issue 5 §2). Forward-only.

-- The Fly Machine id of the instance (FLY_MACHINE_ID), the value `fly-replay: instance=` takes; null off Fly.
-- A restarted Machine keeps its Machine id but gets a new instance id, so this is not the key.
alter table instances add column machine_id text;
