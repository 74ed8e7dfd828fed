-- create_chunk.lua: one chunk of tasks, and where the next chunk starts,
-- in one step (a crash resumes exactly there).  Set operations per chunk,
-- not per device: one ZMSCORE finds the devices that already have a task
-- in the batch (a resumed chunk, a device listed twice, SSCAN returning
-- one twice), one ZADD records the new members, one SMISMEMBER per known
-- version of the module gives each device's version (a module with more
-- than 64 versions falls back to one HGET per device).
-- ARGV: id now cursor_after device...
-- Returns {'ok', made, dup, current, busy, version}, or {'gone'} or
-- {'stopped', state}.

local id, now, cursor = ARGV[1], ARGV[2], ARGV[3]
local b = load_batch(id)
if not b then return {'gone'} end
if b.state ~= 'creating' then return {'stopped', b.state} end
local total = tonumber(b.total) or 0
local c = {ok = 0, dup = 0, current = 0, version = 0, busy = 0}
local bd = fmt(K_BDEVS, id)
local have = {}
if #ARGV >= 4 then
  local sc = call('ZMSCORE', bd, unpack(ARGV, 4))
  for i = 4, #ARGV do if sc[i - 3] then have[ARGV[i]] = true end end
end
-- each device's version from the version sets, one SMISMEMBER per
-- version the module has (a handful), not one HGET per device; the sets
-- change with the versions in one script, so they agree
local cur
local vers = call('HKEYS', fmt(K_VERDIST, b.product, b.module))
if #vers <= 64 and #ARGV >= 4 then
  cur = {}
  for _, v in ipairs(vers) do
    local m = call('SMISMEMBER', fmt(K_VERSET, b.product, b.module, v),
      unpack(ARGV, 4))
    for i = 4, #ARGV do if m[i - 3] == 1 then cur[ARGV[i]] = v end end
  end
end
local z, fr = {}, {}
for i = 4, #ARGV do
  local dev = ARGV[i]
  local r
  if have[dev] then r = 'dup'
  else
    have[dev] = true
    local v
    if cur then v = cur[dev] or ''
    else v = call('HGET', fmt(K_DEVVER, dev), b.module) or '' end
    r = insert_task(b, dev, now, v, fr)
  end
  c[r] = c[r] + 1
  if r == 'ok' then
    z[#z + 1] = total + c.ok z[#z + 1] = dev
  end
end
local bk = fmt(K_BATCH, id)
if c.ok > 0 then
  call('ZADD', bd, unpack(z))
  if #fr > 0 then call('HSET', fmt(K_BFROM, id), unpack(fr)) end
  call('HINCRBY', bk, 'total', c.ok)
  call('HINCRBY', fmt(K_COUNTS, id), ST_PENDING, c.ok)
end
if c.current > 0 then call('HINCRBY', bk, 'skipped_current', c.current) end
if c.busy > 0 then call('HINCRBY', bk, 'skipped_busy', c.busy) end
if c.version > 0 then call('HINCRBY', bk, 'skipped_version', c.version) end
call('HSET', bk, 'cursor', cursor)
return {'ok', c.ok, c.dup, c.current, c.busy, c.version}
