-- apply.lua: writes the tasks the worker decided on a read of events,
-- with their counters, and acknowledges the read, in one atomic step.
-- Layout of the arguments and of the reply: worker/daemon/worker_wire.h
-- (OTA_APPLY_*, OTA_ACK_*).
--
-- ARGV: now, timeout (ms), nack, then nack acknowledgement arguments, then
-- per task OTA_APPLY_TASK_N values: device batch expected new covered
-- step desc kind more; more is "" or pkg saved psize reason joined by
-- OTA_APPLY_MORE_SEP (values most tasks never carry: one argument for
-- them, made for speed).  pkg: the package covered counts now
-- (a diff id, OTA_APPLY_PKG_FULL the batch's again; covered is then
-- written as it is, even smaller: it counts another package); saved: the
-- bytes a diff saved a task that succeeds on it (summed into the batch's
-- OTA_B_BYTES_SAVED, with OTA_B_DIFF_SUCCEEDED, when the move is
-- written); psize: with a diff id in pkg, its bytes (the column
-- readers measure covered against).  kind: OTA_APPLY_K_TIMEOUT a due deadline,
-- OTA_APPLY_K_CACHED a task the worker decided on its cache,
-- OTA_APPLY_K_SPEC a task assumed pending from its batch alone (checked to
-- be a member of the batch), OTA_APPLY_K_LOOKED a task a lookup found.
-- The acknowledgement is either the entry ids (XACK: entries read from
-- the pending list) or OTA_ACK_CURSOR reader from to count (entries read
-- after the group's cursor by the reader: first checked that the lease is
-- still the reader's and the cursor still at from, else nothing is done
-- and OTA_APPLY_LOST returned; then the cursor moves to to).
--
-- Tasks are read and written by column (ota_keys.h), one HMGET or HSET
-- per column and batch for the whole call.  A device of the batch without
-- a state is pending: the worker only applies events to tasks a lookup
-- found, and tasks are never deleted.
--
-- Compare and set: a task no longer in the expected state is left alone
-- and its state returned, so the caller reads again and decides again.
-- A timeout is applied only when the task really did not move for the
-- timeout.  Batch counters and failure reasons are summed over the call
-- and written once per (batch, state) before the script ends, so they
-- change in the same atomic step as the tasks.  When every task was
-- written as expected the entries are acknowledged in the same step too
-- (effect and acknowledgement together); else nothing is acknowledged and
-- the caller decides the moved tasks again.  Returns {acked, {n, result,
-- ...}}: the tasks (n-th of the call) whose result is not "ok".
--
-- A batch's own --timeout (minutes, OTA_F_TIMEOUT) replaces the worker's
-- for its tasks; 0 means its tasks never time out.  A rollout batch
-- (docs/rollouts.md) also has its tasks counted per wave and its rules
-- checked (rollout_check) in the same step.
--
-- Deadlines are written lazily: once when a task leaves pending, removed
-- when it ends.  A due deadline whose task moved since is pushed to
-- updated + timeout by the timeout pass, so a deadline may be early, never
-- late.
--
-- The loops run once per task of every read: no tonumber() on the way
-- (Lua converts a string twice), covered compared as decimal strings,
-- arrays filled through counters.

-- made for speed: a local, not a global looked up at every use
local ARGV = ARGV
local now = tonumber(ARGV[OTA_APPLY_NOW])
local tmo = tonumber(ARGV[OTA_APPLY_TIMEOUT])
local nack = tonumber(ARGV[OTA_APPLY_NACK])
-- ARGV index of the acknowledgement's first value, of the first task
local ack1 = OTA_APPLY_HEAD + 1
local task1 = ack1 + nack
local cursor, ents = nack > 0 and ARGV[ack1] == OTA_ACK_CURSOR
if cursor then
  local ok
  ok, ents = reader_at(ARGV[ack1 + OTA_ACK_READER], ARGV[ack1 + OTA_ACK_FROM])
  if not ok then return {OTA_APPLY_LOST, {}} end
end
local DEVOPEN1, DEVOPEN2 = key_parts(K_DEVOPEN)
-- OTA_APPLY_MORE: pkg saved psize reason (the reason last, any byte)
local MORE = '^([^' .. OTA_APPLY_MORE_SEP .. ']*)' .. OTA_APPLY_MORE_SEP
  .. '([^' .. OTA_APPLY_MORE_SEP .. ']*)' .. OTA_APPLY_MORE_SEP
  .. '([^' .. OTA_APPLY_MORE_SEP .. ']*)' .. OTA_APPLY_MORE_SEP .. '(.*)$'
local DEVLAST1, DEVLAST2 = key_parts(K_DEVLAST)
-- written as strings: a Lua number is formatted again at every call
local snow, sdue = ARGV[OTA_APPLY_NOW], tostring(now + tmo)
local touched, cnt, fails, bcache, wcnt, rtouch = {}, {}, {}, {}, {}, {}
local saved = {}
-- res: the results other than ok, by ARGV index of the task (most calls
-- have none: the tasks are not walked again then)
local zadd, zrem, res, groups = {}, {}, {}, {}
local nz, nr, nbad, clean = 0, 0, 0, true
local function add(tab, bid, k, d)
  local h = tab[bid]
  if not h then h = {} tab[bid] = h end
  h[k] = (h[k] or 0) + d
end
local function bad(i, r)
  res[i] = r nbad = nbad + 1
  if r ~= OTA_APPLY_R_FRESH and r ~= OTA_APPLY_R_PAUSED
    and r ~= OTA_APPLY_R_GONE then clean = false end
end
-- decimal strings without leading zeros: a > b
local function gt(a, b)
  local la, lb = #a, #b
  return la > lb or (la == lb and a > b)
end
-- the tasks by batch, in one walk (made for speed): the ARGV index of
-- each, its device, and in the order of the tasks the devices whose
-- covered, deadline or membership is read (their answers are taken by
-- counters in the same order, not through a table by device)
for i = task1, #ARGV, OTA_APPLY_TASK_N do
  local bid, dev = ARGV[i + OTA_APPLY_BATCH], ARGV[i + OTA_APPLY_DEVICE]
  local g = groups[bid]
  if not g then
    g = {n = 0, devs = {}, covd = {}, tmod = {}, spec = {}, nc = 0, nt = 0,
      nsp = 0}
    groups[bid] = g
  end
  local n = g.n + 1
  g[n] = i g.n = n g.devs[n] = dev
  if ARGV[i + OTA_APPLY_COVERED] ~= '' then
    local c = g.nc + 1 g.nc = c g.covd[c] = dev end
  local kind = ARGV[i + OTA_APPLY_KIND]
  if kind == OTA_APPLY_K_TIMEOUT then
    local c = g.nt + 1 g.nt = c g.tmod[c] = dev
  elseif kind == OTA_APPLY_K_SPEC then
    local c = g.nsp + 1 g.nsp = c g.spec[c] = dev
  end
end
local function batch(bid, g)
  local tmo, sdue = tmo, sdue
  local b = load_batch(bid, bcache)
  if not b then
    for k = 1, g.n do
      local i = g[k]
      nr = nr + 1 zrem[nr] = bid .. ':' .. ARGV[i + OTA_APPLY_DEVICE]
      bad(i, ARGV[i + OTA_APPLY_KIND] == OTA_APPLY_K_CACHED
        and OTA_APPLY_R_MISSING or OTA_APPLY_R_GONE)
    end
    return
  end
  if b.timeout then
    tmo = tonumber(b.timeout) * 60000
    sdue = tostring(now + tmo)
  end
  -- moves of a batch with waves: device, from, to, reason
  local waved = (b.wave_bounds or '') ~= ''
  local rollout = b.rollout == '1'
  local mv, nmv = {}, 0
  local devs, nt, nsp = g.devs, g.nt, g.nsp
  -- tasks assumed pending: the device must be in the batch
  local member = nsp > 0 and vcall('ZMSCORE', fmt(K_BDEVS, bid), g.spec)
  local st = column(fmt(K_BSTATE, bid), devs)
  local covs = column(fmt(K_BCOVERED, bid), g.covd)
  local upds = {}
  if nt > 0 then
    local tmod = g.tmod
    local v = column(fmt(K_BUPDATED, bid), tmod)
    local c = column(fmt(K_BCREATED, bid), tmod)
    for n = 1, nt do
      upds[tmod[n]] = tonumber(v[n] or c[n] or b.created) or 0 end
  end
  local S, C, P, R, D, U, K, KD = {}, {}, {}, {}, {}, {}, {}, {}
  local bc
  local KS = {}
  local ns, nc2, np, nrs, nd, nu, cn, sn = 0, 0, 0, 0, 0, 0, 0, 0
  for k = 1, g.n do
    local i = g[k]
    local dev, exp = devs[k], ARGV[i + OTA_APPLY_EXPECTED]
    local new, cov = ARGV[i + OTA_APPLY_NEW], ARGV[i + OTA_APPLY_COVERED]
    local step, desc = ARGV[i + OTA_APPLY_STEP], ARGV[i + OTA_APPLY_DESC]
    local kind, more = ARGV[i + OTA_APPLY_KIND], ARGV[i + OTA_APPLY_MORE]
    -- the rare values, in one argument (worker_wire.h)
    local pkg, sv, psz, reason = '', '', '', ''
    if more ~= '' then pkg, sv, psz, reason = string.match(more, MORE) end
    local cur = st[k] or ST_PENDING
    local r, timeout
    -- the covered read of this task, if it has one (the same order)
    local had
    if cov ~= '' then cn = cn + 1 had = covs[cn] or '0' end
    -- the special kinds first; the common ones (looked up, cached) go
    -- straight to the compare and set (made for speed)
    if kind == OTA_APPLY_K_SPEC then
      sn = sn + 1
      if not member[sn] then r = OTA_APPLY_R_MISSING end
    elseif kind == OTA_APPLY_K_TIMEOUT then
      timeout = tmo > 0
      if tmo == 0 or not st[k] then
        -- deadlines are set when a task leaves pending: none to time out
        nr = nr + 1 zrem[nr] = bid .. ':' .. dev r = OTA_APPLY_R_GONE
      end
    end
    if r then bad(i, r)
    elseif cur ~= exp then bad(i, cur)
    elseif timeout and b.state == 'paused' then
      nz = nz + 1 zadd[nz] = now + tmo
      nz = nz + 1 zadd[nz] = bid .. ':' .. dev
      bad(i, OTA_APPLY_R_PAUSED)
    elseif timeout and now - upds[dev] < tmo then
      nz = nz + 1 zadd[nz] = upds[dev] + tmo
      nz = nz + 1 zadd[nz] = bid .. ':' .. dev
      bad(i, OTA_APPLY_R_FRESH)
    -- (a task decided on the worker's cache without a change needs
    -- nothing but the check of its state above)
    elseif new ~= exp or cov ~= '' or step ~= '' or desc ~= ''
      or pkg ~= '' then
      nu = nu + 1 U[nu] = dev nu = nu + 1 U[nu] = snow
      local moved = new ~= exp
      if moved then
        if rollout then rtouch[bid] = true end
        if waved then
          mv[nmv + 1] = dev mv[nmv + 2] = exp mv[nmv + 3] = new
          mv[nmv + 4] = reason nmv = nmv + 4
        end
        ns = ns + 1 S[ns] = dev ns = ns + 1 S[ns] = new
        -- the batch's counts, summed in place (made for speed)
        if not bc then bc = {} cnt[bid] = bc end
        bc[exp] = (bc[exp] or 0) - 1
        bc[new] = (bc[new] or 0) + 1
        if sv ~= '' and new == ST_SUCCEEDED then
          add(saved, bid, OTA_B_BYTES_SAVED, tonumber(sv))
          add(saved, bid, OTA_B_DIFF_SUCCEEDED, 1)
        end
        if reason ~= '' then
          nrs = nrs + 1 R[nrs] = dev nrs = nrs + 1 R[nrs] = reason
          add(fails, bid, reason, 1)
        end
      end
      if cov ~= '' and (pkg ~= '' or gt(cov, had)) then
        nc2 = nc2 + 1 C[nc2] = dev nc2 = nc2 + 1 C[nc2] = cov end
      if pkg == '' then
      elseif pkg == OTA_APPLY_PKG_FULL then KD[#KD + 1] = dev
      else
        K[#K + 1] = dev K[#K + 1] = pkg
        KS[#KS + 1] = dev KS[#KS + 1] = psz
      end
      if step ~= '' then np = np + 1 P[np] = dev np = np + 1 P[np] = step
      end
      if desc ~= '' then
        -- without its mark (OTA_APPLY_DESC_MARK, one byte)
        nd = nd + 1 D[nd] = dev nd = nd + 1 D[nd] = string.sub(desc, 2)
      end
      if FINAL[new] then
        if moved then
          local ok = DEVOPEN1 .. dev .. DEVOPEN2
          if call('HGET', ok, b.module) == bid then
            call('HDEL', ok, b.module) end
          -- a later download event still finds the task (lookup)
          call('HSET', DEVLAST1 .. dev .. DEVLAST2, b.module, bid)
          if exp ~= ST_PENDING then
            nr = nr + 1 zrem[nr] = bid .. ':' .. dev end
          touched[bid] = true
        end
      elseif tmo > 0 and (exp == ST_PENDING or timeout)
        and new ~= ST_PENDING then
        nz = nz + 1 zadd[nz] = sdue nz = nz + 1 zadd[nz] = bid .. ':' .. dev
      end
    end
  end
  if nmv > 0 then
    -- the wave of each moved task from its rank (one ZMSCORE per batch);
    -- pending is not counted per wave (the wave's size less the others)
    local md = {}
    for n = 1, nmv, 4 do md[#md + 1] = mv[n] end
    local rk = vcall('ZMSCORE', fmt(K_BDEVS, bid), md)
    local bnd = wave_bounds(b)
    for n = 1, #md do
      local w = wave_of(bnd, tonumber(rk[n]) or 0)
      local e, t, why = mv[4 * n - 2], mv[4 * n - 1], mv[4 * n]
      if e ~= ST_PENDING then add(wcnt, bid, w .. ':' .. e, -1) end
      add(wcnt, bid, w .. ':' .. t, 1)
      if why ~= '' then add(wcnt, bid, w .. ':r:' .. why, 1) end
    end
  end
  local big = (tonumber(b.total) or 0) > COLUMN_LISTPACK
  column_set(fmt(K_BSTATE, bid), S, big)
  column_set(fmt(K_BCOVERED, bid), C, big)
  column_set(fmt(K_BSTEP, bid), P, big)
  column_set(fmt(K_BREASON, bid), R, big)
  column_set(fmt(K_BDESC, bid), D, big)
  column_set(fmt(K_BUPDATED, bid), U, big)
  column_set(fmt(K_BPKG, bid), K, big)
  column_set(fmt(K_BPSIZE, bid), KS, big)
  vcall('HDEL', fmt(K_BPKG, bid), KD)
  vcall('HDEL', fmt(K_BPSIZE, bid), KD)
end
for bid, g in pairs(groups) do batch(bid, g) end
vcall('ZADD', K_DEADLINES, zadd)
vcall('ZREM', K_DEADLINES, zrem)
-- the sums of the call, one HINCRBY per (batch, field)
local function incr(tab, kf)
  for bid, h in pairs(tab) do
    local k = fmt(kf, bid)
    for f, d in pairs(h) do
      if d ~= 0 then call('HINCRBY', k, f, d) end
    end
  end
end
incr(cnt, K_COUNTS)
incr(fails, K_FAILS)
incr(wcnt, K_BWAVES)
incr(saved, K_BATCH)
-- the rules first: an abort ends the batch before it could finish
for bid in pairs(rtouch) do rollout_check(bid, now) end
for bid in pairs(touched) do check_finish(bid, now) end
-- only the results other than ok go back (most calls: none, and the
-- tasks are not walked again)
local out, no, k = {}, 0, 0
if nbad > 0 then
  for i = task1, #ARGV, OTA_APPLY_TASK_N do
    k = k + 1
    local r = res[i]
    if r then no = no + 1 out[no] = k no = no + 1 out[no] = r end
  end
end
local acked = 0
if clean and cursor then
  -- the group's count of entries read stays exact (XINFO shows the lag)
  if type(ents) == 'number' then
    call('XGROUP', 'SETID', S_EVENTS, GROUP, ARGV[ack1 + OTA_ACK_TO],
      'ENTRIESREAD', ents + tonumber(ARGV[ack1 + OTA_ACK_COUNT]))
  else call('XGROUP', 'SETID', S_EVENTS, GROUP, ARGV[ack1 + OTA_ACK_TO]) end
  acked = 1
elseif clean and nack > 0 then
  for i = ack1, task1 - 1, 4000 do
    call('XACK', S_EVENTS, GROUP, unpack(ARGV, i, math.min(i + 3999, task1 - 1)))
  end
  acked = 1
end
return {acked, out}
