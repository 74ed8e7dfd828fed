-- lookup.lua: a read's version reports, then the task of each event.
-- Layout of the arguments and of the reply: worker/daemon/worker_wire.h
-- (OTA_LOOKUP_*).
--
-- ARGV: now ninform, then ninform reports (device product module version
-- ts), then one question (device module batch) per task to look up (batch
-- OTA_LOOKUP_Q_OPEN: the device's open task of the module;
-- OTA_LOOKUP_Q_OPEN_OR_LAST: a download is among the question's events,
-- so without an open task the device's last closed task of the module,
-- OTA_KEY_DEVICE_LAST).
--
-- Reports first: the device's version, the distribution counters and
-- version sets move together, only when the version changes and only for
-- a report not older (ts, kept beside the version) than the one applied;
-- running dynamic batches of the product then take the device if it
-- matches.  Distribution deltas and set changes are summed over the whole
-- read and written once per (key, version) at the end: one command per
-- key, not per report.  Replays change nothing.
--
-- Then the task each question is about: the one of the batch named, else
-- the device's open task of the module; its columns are read with one
-- HMGET per column and batch for the whole read.  Returns {joined,
-- batches, task...}: batches = {id size version package module diffs,
-- ...} of the batches found (diffs: "<id> <size>" of each diff of the
-- package, from its index K_PKGDIFFS, joined by OTA_LOOKUP_DSEP), task =
-- "g<SEP>state<SEP>covered<SEP>step<SEP>from<SEP>pkg<SEP>pkgsize" (g: the
-- task's batch in batches, from 1; pkg: the diff its covered counts, with
-- its size; an empty field is the column's default) or 0 when there is
-- none.

-- made for speed: a local, not a global looked up at every use
local ARGV = ARGV
local now, ninf = ARGV[OTA_LOOKUP_NOW], tonumber(ARGV[OTA_LOOKUP_NINFORM])
-- ARGV index of the first report, of the first question
local inf1 = OTA_LOOKUP_HEAD + 1
local ask1 = inf1 + ninf * OTA_LOOKUP_INFORM_N
local concat = table.concat
local DEVVER1, DEVVER2 = key_parts(K_DEVVER)
local DEVOPEN1, DEVOPEN2 = key_parts(K_DEVOPEN)
local DEVLAST1, DEVLAST2 = key_parts(K_DEVLAST)
local cache, dyn, acc = {}, {}, {}
local joined = 0
-- what the reports of one (product, module) change, keyed by plain
-- names: the keys are formatted once per read, not per report
local function pm(prod, mod)
  local p = acc[prod]
  if not p then p = {} acc[prod] = p end
  local m = p[mod]
  if not m then m = {ts = mod .. VER_TS, dist = {}, sets = {}} p[mod] = m end
  return m
end
local function member(m, ver, dev, on)
  local s = m.sets[ver]
  if not s then s = {} m.sets[ver] = s end
  s[dev] = on
  m.dist[ver] = (m.dist[ver] or 0) + (on and 1 or -1)
end
-- made for speed: the (product, module) of the last report kept (a
-- read's reports are mostly of one), the dynamic batches walked only
-- when there are some
local lprod, lmod, m
for i = inf1, ask1 - 1, OTA_LOOKUP_INFORM_N do
  local dev, prod = ARGV[i + OTA_LOOKUP_I_DEVICE], ARGV[i + OTA_LOOKUP_I_PRODUCT]
  local mod, ver = ARGV[i + OTA_LOOKUP_I_MODULE], ARGV[i + OTA_LOOKUP_I_VERSION]
  local sts = ARGV[i + OTA_LOOKUP_I_TS]
  local ts = tonumber(sts) or 0
  if prod ~= lprod or mod ~= lmod then m = pm(prod, mod) lprod, lmod = prod, mod end
  local vk = DEVVER1 .. dev .. DEVVER2
  local cur = call('HMGET', vk, mod, m.ts)
  local old, last = cur[1], tonumber(cur[2] or '-1') or -1
  if ts >= last then
    if old ~= ver then
      if old then member(m, old, dev, false) end
      member(m, ver, dev, true)
      if ts > last then call('HSET', vk, m.ts, sts, mod, ver)
      else call('HSET', vk, mod, ver) end
    elseif ts > last then call('HSET', vk, m.ts, sts) end
    local dl = dyn[prod]
    if dl == nil then dl = call('SMEMBERS', fmt(K_DYNAMIC, prod)) dyn[prod] = dl end
    for x = 1, #dl do
      local bid = dl[x]
      local b = load_batch(bid, cache)
      if b and b.module == mod and b.state == 'running' then
        local bk = fmt(K_BATCH, bid)
        local n = (tonumber(call('HGET', bk, 'total')) or 0) + 1
        local bd = fmt(K_BDEVS, bid)
        if not call('ZSCORE', bd, dev)
          and insert_task(b, dev, now, ver) == 'ok' then
          call('ZADD', bd, n, dev)
          call('HINCRBY', bk, 'total', 1)
          call('HINCRBY', fmt(K_COUNTS, bid), ST_PENDING, 1)
          joined = joined + 1
        end
      end
    end
  end
end
for prod, p in pairs(acc) do
  for mod, m in pairs(p) do
    local dk = fmt(K_VERDIST, prod, mod)
    for ver, d in pairs(m.dist) do
      if d ~= 0 and call('HINCRBY', dk, ver, d) <= 0 then
        call('HDEL', dk, ver) end
    end
    for ver, s in pairs(m.sets) do
      local add, rem = {}, {}
      for dev, on in pairs(s) do
        if on then add[#add + 1] = dev else rem[#rem + 1] = dev end
      end
      local key = fmt(K_VERSET, prod, mod, ver)
      vcall('SADD', key, add)
      vcall('SREM', key, rem)
    end
  end
end
-- each lookup's batch (an open entry names one), grouped by batch
local binfo, nb = {}, 0
local out, groups, no = {}, {}, OTA_LOOKUP_R_TASKS
out[1 + OTA_LOOKUP_R_JOINED] = joined
out[1 + OTA_LOOKUP_R_BATCHES] = binfo
for i = ask1, #ARGV, OTA_LOOKUP_ASK_N do
  local dev, mod = ARGV[i + OTA_LOOKUP_Q_DEVICE], ARGV[i + OTA_LOOKUP_Q_MODULE]
  local bid = ARGV[i + OTA_LOOKUP_Q_BATCH]
  no = no + 1
  out[no] = 0
  local opened = bid == OTA_LOOKUP_Q_OPEN or bid == OTA_LOOKUP_Q_OPEN_OR_LAST
  if opened then
    local late = bid == OTA_LOOKUP_Q_OPEN_OR_LAST
    bid = call('HGET', DEVOPEN1 .. dev .. DEVOPEN2, mod)
    -- a download after the task closed: the last closed task of the
    -- module takes the larger coverage (its state does not move)
    if not bid and late then bid = call('HGET', DEVLAST1 .. dev .. DEVLAST2, mod) end
  end
  if bid then
    local g = groups[bid]
    if not g then g = {devs = {}, at = {}, mods = {}, n = 0} groups[bid] = g end
    local n = g.n + 1
    g.n = n g.devs[n] = dev g.at[n] = no
    g.mods[n] = opened and mod or false
  end
end
-- a package's bytes, once per call
local sizes = {}
local function psize(id)
  local z = sizes[id]
  if not z then z = call('HGET', fmt(K_PKG, id), 'size') or '0' sizes[id] = z end
  return z
end
-- the diffs of a full package, for the worker to take their downloads
local function diffs(pkg)
  local ids, l = call('HVALS', fmt(K_PKGDIFFS, pkg)), {}
  for k = 1, #ids do l[k] = ids[k] .. OTA_LOOKUP_DSEP .. psize(ids[k]) end
  return concat(l, OTA_LOOKUP_DSEP)
end
for bid, g in pairs(groups) do
  local b = load_batch(bid, cache)
  if b then
    local st = column(fmt(K_BSTATE, bid), g.devs)
    local cov = column(fmt(K_BCOVERED, bid), g.devs)
    local stp = column(fmt(K_BSTEP, bid), g.devs)
    local fr = column(fmt(K_BFROM, bid), g.devs)
    local pk = column(fmt(K_BPKG, bid), g.devs)
    -- no state: pending if the device is in the batch, sure when its
    -- open entry named the batch, else asked of the batch's devices
    local ask, na = {}, 0
    for n = 1, g.n do
      if not st[n] and not g.mods[n] then na = na + 1 ask[na] = g.devs[n] end
    end
    local in_batch = {}
    if na > 0 then
      local sc = vcall('ZMSCORE', fmt(K_BDEVS, bid), ask)
      for n = 1, na do in_batch[ask[n]] = sc[n] and true end
    end
    local gi, row = nil, {}
    for n = 1, g.n do
      local ok, m = nil, g.mods[n]
      if m then ok = m == b.module
      else ok = st[n] or in_batch[g.devs[n]] end
      if ok then
        if not gi then
          binfo[nb + (1 + OTA_LOOKUP_B_ID)] = bid
          binfo[nb + (1 + OTA_LOOKUP_B_SIZE)] = b.size
          binfo[nb + (1 + OTA_LOOKUP_B_VERSION)] = b.version or ''
          binfo[nb + (1 + OTA_LOOKUP_B_PACKAGE)] = b.package or ''
          binfo[nb + (1 + OTA_LOOKUP_B_MODULE)] = b.module or ''
          binfo[nb + (1 + OTA_LOOKUP_B_DIFFS)] = b.pkg_type == 'diff' and ''
            or diffs(b.package)
          nb = nb + OTA_LOOKUP_B_N
          gi = tostring(nb / OTA_LOOKUP_B_N)
        end
        -- one string per task (a reply element costs Redis more than
        -- the concatenation); empty fields are the columns' defaults
        row[1 + OTA_LOOKUP_T_BATCH] = gi
        row[1 + OTA_LOOKUP_T_STATE] = st[n] or ''
        row[1 + OTA_LOOKUP_T_COVERED] = cov[n] or ''
        row[1 + OTA_LOOKUP_T_STEP] = stp[n] or ''
        row[1 + OTA_LOOKUP_T_FROM] = fr[n] or ''
        row[1 + OTA_LOOKUP_T_PKG] = pk[n] or ''
        row[1 + OTA_LOOKUP_T_PKGSIZE] = pk[n] and psize(pk[n]) or ''
        out[g.at[n]] = concat(row, OTA_LOOKUP_SEP)
      end
    end
  end
end
return out
