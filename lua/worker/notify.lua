-- notify.lua: publishes the upgrade notices of active-push batches with
-- waves or a start time (ota:notify), as their waves open: the pending
-- tasks of rank up to the open waves (all of them once the last wave is
-- open), after the batch's notice_rank, at most max per call (the
-- worker's tick calls it again while it answers more).  A batch leaves
-- ota:notify when it is published up to its open waves, or is no longer
-- running (a pause keeps it: it goes on after the resume).
-- ARGV: now max
-- Returns {published, more}.

local now, max = ARGV[1], tonumber(ARGV[2])
local n, more = 0, 0
for _, bid in ipairs(call('SRANDMEMBER', K_NOTIFY, 16)) do
  local b = load_batch(bid)
  if not b or (b.state ~= 'running' and b.state ~= 'paused') then
    call('SREM', K_NOTIFY, bid)
  elseif b.state == 'running' and n < max then
    local upto = b.wave_upto or b.total
    local from = b.notice_rank or '0'
    local r = call('ZRANGEBYSCORE', fmt(K_BDEVS, bid), '(' .. from, upto,
      'WITHSCORES', 'LIMIT', 0, max - n)
    local devs, last = {}, nil
    for i = 1, #r, 2 do devs[#devs + 1] = r[i] last = r[i + 1] end
    if #devs > 0 then
      local st = column(fmt(K_BSTATE, bid), devs)
      for k, dev in ipairs(devs) do
        if not st[k] then
          push_notice(b, dev, now)
          n = n + 1
        end
      end
      call('HSET', fmt(K_BATCH, bid), 'notice_rank', last)
    end
    if #devs == 0 or tonumber(last) >= tonumber(upto) then
      call('SREM', K_NOTIFY, bid)
    else more = 1 end
  elseif b.state == 'running' then more = 1 end
end
return {n, more}
