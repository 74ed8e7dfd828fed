-- notices_trim.lua (after lua/lib/prelude.lua): trims ota:notices to
-- what every consumer group on it has been delivered and acknowledged:
-- below the oldest pending entry of any group, or below each group's last
-- delivered one.  Nothing unread or
-- unacknowledged is ever trimmed.  Returns the entries removed.

local ok, groups = pcall(call, 'XINFO', 'GROUPS', S_NOTICES)
if not ok or #groups == 0 then return 0 end

local function older(a, b)
  if not a then return b end
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  if bm < am or (bm == am and bs < as) then return b end
  return a
end

local min
for _, g in ipairs(groups) do
  local h = {}
  for i = 1, #g, 2 do h[g[i]] = g[i + 1] end
  local keep = h['last-delivered-id']
  if tonumber(h.pending) > 0 then
    local p = call('XPENDING', S_NOTICES, h.name, '-', '+', 1)
    if p[1] then keep = p[1][1] end
  end
  min = older(min, keep)
end

if not min or min == '0-0' then return 0 end
return call('XTRIM', S_NOTICES, 'MINID', min)
