-- reader.lua: the reader lease (docs/worker.md, "One reader").
-- ARGV: consumer ttl_ms op.  op "hold": takes the lease when it is free or
-- already ours (renewing it) and returns {1, cursor} (the group's
-- last-delivered id), else {0, holder}; op "release": gives it up if it
-- is ours.

local me, ttl, op = ARGV[1], ARGV[2], ARGV[3]
local v = call('GET', K_READER)
if op == 'release' then
  if v == me then call('DEL', K_READER) end
  return {0, ''}
end
if v and v ~= me then return {0, v} end
local at = group_cursor()
if not at then
  return redis.error_reply('NOGROUP no group ' .. GROUP .. ' on ' .. S_EVENTS)
end
call('SET', K_READER, me, 'PX', ttl)
return {1, at}
