-- batch_state.lua: pause, resume or cancel a batch (the record only: the
-- open tasks of a cancelled batch go by cancel_chunk.lua).
-- ARGV: id op now (op: pause resume cancel)
-- Returns {'ok', state} or {'error', reason}.

local id, op, now = ARGV[1], ARGV[2], ARGV[3]
local bk = fmt(K_BATCH, id)
local b = call('HMGET', bk, 'state', 'type', 'package', 'product', 'module')
local st = b[1]
if not st then return {'error', 'no batch ' .. id} end
if op == 'pause' then
  if st == 'paused' then return {'ok', st} end
  if st ~= 'running' then return {'error', 'batch ' .. id .. ' is ' .. st
    .. ': only a running batch can be paused'} end
  call('HSET', bk, 'state', 'paused')
  return {'ok', 'paused'}
elseif op == 'resume' then
  if st == 'running' then return {'ok', st} end
  if st ~= 'paused' then return {'error', 'batch ' .. id .. ' is ' .. st
    .. ': only a paused batch can be resumed'} end
  call('HSET', bk, 'state', 'running')
  check_finish(id, now)
  st = call('HGET', bk, 'state')
  if st == 'running' then wake_module(b[4], b[5]) end
  return {'ok', st}
elseif op == 'cancel' then
  if st == 'cancelled' then return {'ok', st} end
  if st == 'finished' then return {'error', 'batch ' .. id
    .. ' is finished: nothing to cancel'} end
  call('HSET', bk, 'state', 'cancelled', 'finished', now)
  call('SREM', fmt(K_DYNAMIC, b[4]), id)
  if b[2] == 'verify' then
    local pk = fmt(K_PKG, b[3])
    local p = call('HMGET', pk, 'verify_batch', 'verify')
    if p[1] == id then
      call('HSET', pk, 'state', p[2] == '1' and PKG_UNVERIFIED or PKG_READY)
    end
  end
  return {'ok', 'cancelled'}
end
return {'error', 'unknown operation ' .. op}
