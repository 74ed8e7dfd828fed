-- batch.lua: helpers of the worker's scripts (after prelude.lua): load a
-- batch with its package, insert one task, variadic commands in slices, the event group's cursor and the reader
-- lease, a batch's history, cancel a batch's record, close a batch whose
-- tasks are all final.
--
-- Each of the worker's scripts is one atomic step: a task moves and its
-- batch counters change together, or nothing happens.  The decisions
-- (which state comes next) are taken in C by ota_task_apply(); the
-- scripts check that the task is still in the state C read (compare and
-- set) so two workers, or a replayed entry, can never count twice.

-- Made for speed: a key of one device or task is the halves of its
-- format around the %s joined with the name (one concatenation, where
-- string.format parses the format again at every call); the event
-- scripts split the formats they use per device once per call
local function key_parts(f) return string.match(f, '^(.-)%%s(.*)$') end
local function load_batch(bid, cache)
  if cache and cache[bid] ~= nil then return cache[bid] end
  local r = call('HGETALL', fmt(K_BATCH, bid))
  local b = {}
  for i = 1, #r, 2 do b[r[i]] = r[i + 1] end
  if not b.id then if cache then cache[bid] = false end return false end
  local p = call('HMGET', fmt(K_PKG, b.package), 'type', 'from', 'size',
    'sign_method', 'sign', 'ext')
  b.pkg_type = p[1] or 'full'
  b.pkg_from = p[2] or ''
  b.size = p[3] or '0'
  b.sign_method = p[4] or ''
  b.sign = p[5] or ''
  b.ext = p[6] or '{}'
  b.need_from = b.from_version or ''
  if b.pkg_type == 'diff' and b.pkg_from ~= '' then
    b.need_from = b.pkg_from end
  if cache then cache[bid] = b end
  return b
end
local function notice(b, dev)
  local ok, ext = pcall(cjson.decode, b.ext)
  if not ok then ext = {} end
  return cjson.encode({device = dev, batch = b.id, package = b.package,
    module = b.module, version = b.version, type = b.pkg_type,
    from = b.pkg_from, size = tonumber(b.size), sign_method = b.sign_method,
    sign = b.sign, protocol = b.protocol, ext = ext})
end
-- a push batch's notice to a device: the long-poll/HTTP channel and the
-- MQTT bridges' copy, kept until delivered (no bridge: no stream)
local function push_notice(b, dev, now)
  call('PUBLISH', fmt(K_PUSH, dev), notice(b, dev))
  call('XADD', S_NOTICES, 'NOMKSTREAM', '*', 'device', dev, 'product',
    b.product, 'module', b.module, 'batch', b.id, 'ts', now)
end
-- one task; the caller made sure the device has none in this batch.
-- cur: the device's version of the module ('' if it never reported).
-- Tasks are stored by column (ota_keys.h): a new task is its open entry,
-- its batch membership (the caller's ZADD) and its source version; every
-- other column keeps its default until the task moves.  With fr (batch
-- creation) the source version is appended to fr for one HSET per
-- chunk; without (a device joining a dynamic batch) it is written now,
-- with the task's own created time.
local function insert_task(b, dev, now, cur, fr)
  if cur == b.version then return 'current' end
  if b.need_from ~= '' and cur ~= b.need_from then return 'version' end
  if call('HSETNX', fmt(K_DEVOPEN, dev), b.module, b.id) == 0 then
    return 'busy' end
  if fr then
    if cur ~= '' then fr[#fr + 1] = dev fr[#fr + 1] = cur end
  else
    if cur ~= '' then call('HSET', fmt(K_BFROM, b.id), dev, cur) end
    call('HSET', fmt(K_BCREATED, b.id), dev, now)
  end
  -- a batch with waves or a start time offers the upgrade later: its
  -- notices go out as its waves open (notify.lua), except for a device
  -- that joins once every wave is open (docs/rollouts.md, "Push")
  if b.push == '1' and (not (b.waves or b.start_at)
    or (b.state == 'running' and not b.wave_upto)) then
    push_notice(b, dev, now)
  end
  -- a device joining a running dynamic batch can fetch its task now (a
  -- batch being created wakes its devices when it starts running)
  if not fr and b.state == 'running' then wake_devices(b.module, {dev}) end
  return 'ok'
end
-- a variadic command over the list in slices of 4000 arguments (an
-- even number: pairs stay whole), since unpack stops near 8000; the
-- replies of the slices joined
local function vcall(cmd, key, list)
  local out, n = {}, #list
  if n == 0 then return out end
  if n <= 4000 then
    -- one slice (made for speed: its reply as it is, not copied)
    local r = call(cmd, key, unpack(list, 1, n))
    if type(r) == 'table' then return r end
    return out
  end
  for i = 1, n, 4000 do
    local r = call(cmd, key, unpack(list, i, math.min(i + 3999, n)))
    if type(r) == 'table' then
      for k = 1, #r do out[i + k - 1] = r[k] end end
  end
  return out
end
-- HMGET of one column for a list of devices (false for none)
local function column(key, devs) return vcall('HMGET', key, devs) end
-- variadic HSET of {field, value, ...}
local function hset(key, kv) vcall('HSET', key, kv) end
-- Made for speed: a task column (one hash per batch and column, a field
-- per device) of a batch of more tasks than a listpack holds
-- (hash-max-listpack-entries, 128 by default) is a hash table from its
-- first write.  Redis starts every hash as a listpack, searched field by
-- field: while a column filled up to 128 devices every HMGET and HSET of
-- a read scanned it (a quarter of Redis's instructions in the first
-- 2000 sessions of a batch: bench/README.md, "The worker's scripts per
-- event").  A value longer than hash-max-listpack-value makes Redis
-- convert the hash before it writes; that field (COLUMN_PAD, no device
-- name: none starts with a dot) is deleted in the same step, so no reader
-- ever sees it, and a hash table stays one.  One OBJECT ENCODING per
-- column and call.  big: the batch has more than COLUMN_LISTPACK tasks.
local COLUMN_PAD, COLUMN_LISTPACK = '.pad', 128
local COLUMN_PAD_VALUE = string.rep('-', 512)
local function column_set(key, kv, big)
  local n = #kv
  if n == 0 then return end
  if big and call('OBJECT', 'ENCODING', key) ~= 'hashtable' then
    kv[n + 1] = COLUMN_PAD kv[n + 2] = COLUMN_PAD_VALUE
    vcall('HSET', key, kv)
    call('HDEL', key, COLUMN_PAD)
    kv[n + 1] = nil kv[n + 2] = nil
    return
  end
  vcall('HSET', key, kv)
end
-- the event group's last-delivered id and entries-read (false: none)
local function group_cursor()
  for _, g in ipairs(call('XINFO', 'GROUPS', S_EVENTS)) do
    local h = {}
    for i = 1, #g, 2 do h[g[i]] = g[i + 1] end
    if h.name == GROUP then
      return h['last-delivered-id'], h['entries-read'] end
  end
  return false
end
-- the reader lease is me and the group's cursor is at from: the
-- entries after from are mine to apply; returns the group's entries-read
local function reader_at(me, from)
  if call('GET', K_READER) ~= me then return false end
  local at, ents = group_cursor()
  return at == from, ents
end
-- HGETALL as a table
local function hash(key)
  local r = call('HGETALL', key)
  local h = {}
  for i = 1, #r, 2 do h[r[i]] = r[i + 1] end
  return h
end
-- one line of the batch's history (OTA_KEY_BATCH_HISTORY), bounded
local function history(bid, now, ev, more)
  local h = more or {}
  h.at = tonumber(now)
  h.event = ev
  local k = fmt(K_BHIST, bid)
  call('RPUSH', k, cjson.encode(h))
  call('LTRIM', k, -OTA_HISTORY_MAX, -1)
end
-- the record of a batch that is cancelled (by an admin or an abort rule):
-- nothing is added behind it; its open tasks go by cancel_chunk.lua
local function cancel_record(bid, now)
  local bk = fmt(K_BATCH, bid)
  local b = call('HMGET', bk, 'type', 'package', 'product')
  call('HSET', bk, 'state', 'cancelled', 'finished', now)
  call('SREM', fmt(K_DYNAMIC, b[3]), bid)
  call('ZREM', K_SCHED, bid)
  if b[1] == 'verify' then
    local pk = fmt(K_PKG, b[2])
    local p = call('HMGET', pk, 'verify_batch', 'verify')
    if p[1] == bid then
      call('HSET', pk, 'state', p[2] == '1' and PKG_UNVERIFIED or PKG_READY)
    end
  end
end
-- true when the batch is finished now
local function check_finish(bid, now)
  local bk = fmt(K_BATCH, bid)
  local b = call('HMGET', bk, 'state', 'method', 'type', 'package',
    'total')
  if b[1] ~= 'running' or b[2] == 'dynamic' then return false end
  local c = call('HMGET', fmt(K_COUNTS, bid), ST_SUCCEEDED, ST_FAILED,
    ST_CANCELLED)
  local succ = tonumber(c[1]) or 0
  local total = tonumber(b[5]) or 0
  if succ + (tonumber(c[2]) or 0) + (tonumber(c[3]) or 0) < total then
    return false end
  call('HSET', bk, 'state', 'finished', 'finished', now)
  history(bid, now, 'finish')
  if b[3] == 'verify' then
    local pk = fmt(K_PKG, b[4])
    if call('HGET', pk, 'verify_batch') == bid then
      call('HSET', pk, 'state', (total > 0 and succ == total)
        and PKG_VERIFIED or PKG_VERIFY_FAILED)
    end
  end
  return true
end
