-- create_finish.lua: creating -> running (dynamic batches start taking
-- devices).
-- ARGV: id now
-- Returns {state, total, skipped_current, skipped_busy, skipped_version}.

local id, now = ARGV[1], ARGV[2]
local bk = fmt(K_BATCH, id)
local b = call('HMGET', bk, 'state', 'method', 'product', 'module')
if not b[1] then return {'gone'} end
if b[1] == 'creating' then
  call('HSET', bk, 'state', 'running', 'cursor', 'end')
  if b[2] == 'dynamic' then call('SADD', fmt(K_DYNAMIC, b[3]), id) end
  check_finish(id, now)
  -- its tasks can be fetched now: waiting devices re-check
  if call('HGET', bk, 'state') == 'running' then wake_module(b[3], b[4]) end
end
return call('HMGET', bk, 'state', 'total', 'skipped_current',
  'skipped_busy', 'skipped_version')
