-- batch_start.lua: scheduled batches whose --start-at has come start
-- running (the worker's tick, once a second; any worker may run it: a
-- batch starts only from state scheduled, so once).
-- ARGV: now max
-- Returns how many batches started.

local now, max = ARGV[1], tonumber(ARGV[2])
local due = call('ZRANGEBYSCORE', K_SCHED, '-inf', now, 'LIMIT', 0, max)
local n = 0
for _, id in ipairs(due) do
  call('ZREM', K_SCHED, id)
  local b = hash(fmt(K_BATCH, id))
  if b.state == OTA_BATCH_SCHEDULED then
    rollout_start(id, b, now)
    rollout_check(id, now)
    check_finish(id, now)
    n = n + 1
  end
end
return n
