-- create_finish.lua: creating -> running, or scheduled until its
-- --start-at (dynamic batches start taking devices when running).  The
-- wave bounds, computed by the worker from the batch's total
-- (ota_waves_bounds()), are stored here once.
-- ARGV: id now wave_bounds
-- Returns {state, total, skipped_current, skipped_busy, skipped_version}.

local id, now, bounds = ARGV[1], ARGV[2], ARGV[3] or ''
local bk = fmt(K_BATCH, id)
local b = hash(bk)
if not b.state then return {'gone'} end
if b.state == 'creating' then
  call('HSET', bk, 'cursor', 'end')
  if bounds ~= '' then
    call('HSET', bk, 'wave_bounds', bounds)
    b.wave_bounds = bounds
  end
  if b.method == 'dynamic' then call('SADD', fmt(K_DYNAMIC, b.product), id) end
  local at = tonumber(b.start_at)
  if at and at > tonumber(now) then
    call('HSET', bk, 'state', OTA_BATCH_SCHEDULED)
    call('ZADD', K_SCHED, at, id)
    history(id, now, OTA_BATCH_SCHEDULED, {start_at = at})
  else
    rollout_start(id, b, now)
    rollout_check(id, now)
    check_finish(id, now)
  end
end
return call('HMGET', bk, 'state', 'total', 'skipped_current',
  'skipped_busy', 'skipped_version')
