-- batch_state.lua: pause, resume or cancel a batch (the record only: the
-- open tasks of a cancelled batch go by cancel_chunk.lua).  A resume after
-- an automatic pause (error threshold) marks that wave's pause as seen, so
-- its threshold does not pause the batch again; the rollout's rules are
-- then checked at once (the success threshold may have been met while
-- the batch was paused).
-- ARGV: id op now (op: pause resume cancel)
-- Returns {'ok', state} or {'error', reason}.

local id, op, now = ARGV[1], ARGV[2], ARGV[3]
local bk = fmt(K_BATCH, id)
local b = call('HMGET', bk, 'state', 'pause_kind', 'pause_wave')
local st = b[1]
if not st then return {'error', 'no batch ' .. id} end
if op == 'pause' then
  if st == 'paused' then return {'ok', st} end
  if st ~= 'running' then return {'error', 'batch ' .. id .. ' is ' .. st
    .. ': only a running batch can be paused'} end
  call('HSET', bk, 'state', 'paused', 'pause_kind', 'admin', 'pause_reason',
    'paused by an admin')
  history(id, now, 'pause', {kind = 'admin'})
  return {'ok', 'paused'}
elseif op == 'resume' then
  if st == 'running' then return {'ok', st} end
  if st ~= 'paused' then return {'error', 'batch ' .. id .. ' is ' .. st
    .. ': only a paused batch can be resumed'} end
  if b[2] == 'error_threshold' then call('HSET', bk, 'wave_ack', b[3]) end
  call('HSET', bk, 'state', 'running')
  call('HDEL', bk, 'pause_kind', 'pause_reason', 'pause_wave')
  history(id, now, 'resume')
  rollout_check(id, now)
  check_finish(id, now)
  return {'ok', call('HGET', bk, 'state')}
elseif op == 'cancel' then
  if st == 'cancelled' then return {'ok', st} end
  if st == 'finished' then return {'error', 'batch ' .. id
    .. ' is finished: nothing to cancel'} end
  cancel_record(id, now)
  history(id, now, 'cancel')
  return {'ok', 'cancelled'}
end
return {'error', 'unknown operation ' .. op}
