-- cancel_chunk.lua: cancels the open tasks of one slice of the batch.
-- ARGV: id now start count
-- Returns how many devices the slice had.

local id, now = ARGV[1], ARGV[2]
local b = load_batch(id)
local start, count = tonumber(ARGV[3]), tonumber(ARGV[4])
-- with their ranks: a batch with waves counts its cancelled tasks per wave
local r = call('ZRANGE', fmt(K_BDEVS, id), start, start + count - 1,
  'WITHSCORES')
local devs, rank = {}, {}
for i = 1, #r, 2 do devs[#devs + 1] = r[i] rank[#devs] = tonumber(r[i + 1]) end
if not b or #devs == 0 then return #devs end
local bnd = (b.wave_bounds or '') ~= '' and wave_bounds(b)
local wd = {}
local st = column(fmt(K_BSTATE, id), devs)
local sset, uset, zrem, dec, n = {}, {}, {}, {}, 0
for k, dev in ipairs(devs) do
  local s = st[k] or ST_PENDING
  if not FINAL[s] then
    sset[#sset + 1] = dev sset[#sset + 1] = ST_CANCELLED
    uset[#uset + 1] = dev uset[#uset + 1] = now
    dec[s] = (dec[s] or 0) + 1
    if bnd then
      local w = wave_of(bnd, rank[k])
      if s ~= ST_PENDING then
        wd[w .. ':' .. s] = (wd[w .. ':' .. s] or 0) - 1 end
      wd[w .. ':' .. ST_CANCELLED] = (wd[w .. ':' .. ST_CANCELLED] or 0) + 1
    end
    n = n + 1
    local ok = fmt(K_DEVOPEN, dev)
    if call('HGET', ok, b.module) == id then call('HDEL', ok, b.module) end
    call('HSET', fmt(K_DEVLAST, dev), b.module, id)
    zrem[#zrem + 1] = id .. ':' .. dev
  end
end
if n > 0 then
  hset(fmt(K_BSTATE, id), sset)
  hset(fmt(K_BUPDATED, id), uset)
  local ck = fmt(K_COUNTS, id)
  for s, d in pairs(dec) do call('HINCRBY', ck, s, -d) end
  call('HINCRBY', ck, ST_CANCELLED, n)
  vcall('ZREM', K_DEADLINES, zrem)
  local wk = fmt(K_BWAVES, id)
  for f, d in pairs(wd) do call('HINCRBY', wk, f, d) end
end
return #devs
