-- merge.lua (ngx_ota_module, ngx_ota_progress.c): adds ranges a download
-- delivered to the device's coverage of the package in Redis.
--
-- KEYS[1] coverage ZSET (OTA_KEY_COVERAGE: member "start-end", score
-- start, disjoint, merged), KEYS[2] covered byte count (OTA_KEY_COVERED);
-- ARGV[1] package size, ARGV[2] the most members the set may hold
-- (OTA_COV_STORED_MAX), then pairs of start, end (exclusive).  Returns
-- {covered, added, dropped}.  The same rule as ota_cov_add() with a
-- limit (include/ota_cov.c; t/38-merge-lua.t checks that both give the
-- same answers): touching ranges merge, re-sent bytes add nothing, and a
-- range that would need a member of its own in a full set is not recorded
-- (dropped): the set never grows past the bound, and what it says was
-- delivered always was (a range that extends, joins or swallows members
-- is always taken, so a resumed or sequential download still completes).

local function parse(m)
  local a, b = string.match(m, '^(%d+)-(%d+)$')
  return tonumber(a), tonumber(b)
end
local size, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local covered = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local n = redis.call('ZCARD', KEYS[1])
local added, dropped = 0, 0
for i = 3, #ARGV - 1, 2 do
  local s, e = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if s < 0 then s = 0 end
  if e > size then e = size end
  if e > s then
    local ns, ne, gone, rm = s, e, 0, {}
    local prev = redis.call('ZREVRANGEBYSCORE', KEYS[1], s, '-inf',
                            'LIMIT', 0, 1)
    if prev[1] then
      local ps, pe = parse(prev[1])
      if pe and pe >= s then
        if ps < ns then ns = ps end
        if pe > ne then ne = pe end
        gone = gone + (pe - ps)
        rm[#rm + 1] = prev[1]
      end
    end
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], s, e)) do
      if m ~= rm[1] then
        local ms, me = parse(m)
        if me then
          if me > ne then ne = me end
          gone = gone + (me - ms)
        end
        rm[#rm + 1] = m
      end
    end
    if #rm == 0 and n >= cap then
      dropped = dropped + 1
    else
      if #rm > 0 then redis.call('ZREM', KEYS[1], unpack(rm)) end
      redis.call('ZADD', KEYS[1], string.format('%d', ns),
                 string.format('%d-%d', ns, ne))
      n = n - #rm + 1
      added = added + (ne - ns) - gone
    end
  end
end
covered = covered + added
redis.call('SET', KEYS[2], string.format('%d', covered))
return {covered, added, dropped}
