-- bridge.lua: one round trip of ota-mqtt (mqtt/ota_mqtt_bridge.h), after
-- lua/lib/prelude.lua.
--
-- ARGV: now (ms), then 6 values per operation: kind device product
-- module a b.  An upper-case kind (I P G) says the bridge found the device
-- in the product less than a minute ago: its record is not read again.
--
--   i  inform     a version            -> the inform event; the offer of an
--                                         open task of an active-push batch
--   p  progress   a step, b desc       -> the progress event
--   g  get        (firmware/get)       -> the offer of the open task, or n
--   q  (an inform ota-mqtt stored itself, of a device with an open task)
--                 a version            -> the offer as for i, or k
--   o  notice     a batch              -> the offer of that batch's task,
--                                         l while the batch is being
--                                         created, or n
--
-- Reports are checked as the HTTP API checks them: the device must exist
-- in the topic's product and the module in the product; else the answer
-- is the reason (D unknown_device, M unknown_module), counted in
-- K_MQTT_DROPPED, and nothing else changes.  Events have the fields of
-- the module's, in the order of include/ota_event.c (the encoder of every
-- C producer, ota-mqtt's own XADDs included), so the worker cannot tell
-- the channels apart.  An offer handed out for a pending task appends the
-- 'notified' event, as the HTTP upgrade answer does; a notice's does so
-- only after the broker took the publish (ota-mqtt appends it then).
--
-- The answer: a string of one letter per operation, k (done), n (none),
-- l (later), D (unknown_device), M (unknown_module) or O (an offer, the
-- next of the offers that follow the string); one element per operation
-- cost Redis as much as a command.  An offer is one array: batch package
-- pending(1/0) task_from version type pkg_from sign_method sign size files
-- ext manifest signature; a diff offered in place of the batch's full
-- package (docs/delta.md: the index K_PKGDIFFS has one from the device's
-- version, ready, and the task counts no bytes of the full package yet)
-- adds the full package as its fallback: package sign_method sign size
-- files manifest signature version.

local K_MQTT_DROPPED=OTA_KEY_MQTT_DROPPED
local F_TYPE, F_TS=OTA_F_TYPE, OTA_F_TS
local F_DEVICE, F_PRODUCT=OTA_F_DEVICE, OTA_F_PRODUCT
local F_MODULE, F_VERSION=OTA_F_MODULE, OTA_F_VERSION
local F_STEP, F_DESC=OTA_F_STEP, OTA_F_DESC
local F_BATCH, F_PACKAGE=OTA_F_BATCH, OTA_F_PACKAGE
local EV_INFORM, EV_PROGRESS=OTA_EV_INFORM, OTA_EV_PROGRESS
local EV_NOTIFIED=OTA_EV_NOTIFIED

local now = ARGV[1]
local status, out, drops = {}, {''}, {}
local LETTER = {unknown_device = 'D', unknown_module = 'M'}

local function drop(why)
  drops[why] = (drops[why] or 0) + 1
  return why
end

local function known(dev, prod, mod, trusted)
  if not trusted and call('HGET', fmt(K_DEVICE, dev), 'product') ~= prod then
    return 'unknown_device'
  end
  if mod ~= 'default'
     and call('HEXISTS', fmt(K_PRODMOD, prod), mod) == 0 then
    return 'unknown_module'
  end
  return nil
end

local function event(kind, ...)
  call('XADD', S_EVENTS, '*', F_TYPE, kind, F_TS, now, ...)
end

local PKG_FIELDS = {'id', 'version', 'type', 'from', 'sign_method', 'sign',
  'size', 'files', 'ext', 'manifest', 'signature', 'module', 'state'}
-- the diff to offer in place of the full package p (fields PKG_FIELDS),
-- as the HTTP upgrade answer chooses it: a ready diff from the device's
-- version (version: the one it reports now, else the one it reported)
-- to p's, unless the task already counts bytes of the full package
local function diff_of(dev, mod, bid, full, p, version)
  if p[3] == 'diff' then return nil end
  local ver = version or call('HGET', fmt(K_DEVVER, dev), mod)
  if not ver then return nil end
  local did = call('HGET', fmt(K_PKGDIFFS, full), ver)
  if not did then return nil end
  local cov = call('HGET', fmt(K_BCOVERED, bid), dev)
  if cov and cov ~= '0' and not call('HGET', fmt(K_BPKG, bid), dev) then
    return nil end
  local d = call('HMGET', fmt(K_PKG, did), unpack(PKG_FIELDS))
  if d[1] ~= did or d[3] ~= 'diff' or d[4] ~= ver or d[2] ~= p[2]
    or d[12] ~= mod or (d[13] ~= PKG_READY and d[13] ~= PKG_VERIFIED) then
    return nil end
  return d
end

-- the device's open task of the module, if it is to be offered: its batch
-- runs (and pushes, for push), its task is not final, and a reported
-- version is neither the target nor (when known) other than the task's
-- source, since then the task is over
local function offer(dev, mod, only_batch, push, version)
  local bid = call('HGET', fmt(K_DEVOPEN, dev), mod)
  if not bid or (only_batch ~= '' and bid ~= only_batch) then return nil end
  local b = call('HMGET', fmt(K_BATCH, bid), 'state', 'package', 'push',
    'version', OTA_R_WAVE_UPTO, OTA_R_RATE)
  if b[1] ~= 'running' or (push and b[3] ~= '1') then return nil end
  if version and version == b[4] then return nil end
  local st = call('HGET', fmt(K_BSTATE, bid), dev)
  if st and FINAL[st] then return nil end
  -- a rollout's waves (docs/rollouts.md): a pending task is offered only
  -- when the device's rank is within the open waves, as over HTTP
  if b[5] and (not st or st == ST_PENDING) then
    local rank = tonumber(call('ZSCORE', fmt(K_BDEVS, bid), dev) or '0')
    if rank <= 0 or rank > tonumber(b[5]) then return nil end
  end
  local from = call('HGET', fmt(K_BFROM, bid), dev) or ''
  if version and from ~= '' and version ~= from then return nil end
  local p = call('HMGET', fmt(K_PKG, b[2]), unpack(PKG_FIELDS))
  if not p[1] then return nil end
  -- a rollout's rate, checked last so that only an offer handed out is
  -- charged: a pending task newly offered is charged to the batch's
  -- sliding minute, the one the HTTP upgrade answer charges, so the limit
  -- holds across nodes and channels; over it: later
  local rate = tonumber(b[6] or '')
  if rate and rate > 0 and (not st or st == ST_PENDING) then
    local ok = fmt(OTA_KEY_BATCH_OFFERS, bid)
    call('ZREMRANGEBYSCORE', ok, '-inf', '(' .. (tonumber(now) - 60000))
    call('ZADD', ok, 'NX', now, dev)
    if call('ZRANK', ok, dev) >= rate then
      call('ZREM', ok, dev)
      return nil, true
    end
  end
  local pending = (not st or st == ST_PENDING) and '1' or '0'
  local d = diff_of(dev, mod, bid, b[2], p, version)
  if d then
    return {bid, d[1], pending, from, d[2] or '', d[3] or '', d[4] or '',
      d[5] or '', d[6] or '', d[7] or '0', d[8] or '', d[9] or '',
      d[10] or '', d[11] or '', b[2], p[5] or '', p[6] or '', p[7] or '0',
      p[8] or '', p[10] or '', p[11] or '', p[2] or ''}
  end
  return {bid, b[2], pending, from, p[2] or '', p[3] or '', p[4] or '',
    p[5] or '', p[6] or '', p[7] or '0', p[8] or '', p[9] or '',
    p[10] or '', p[11] or ''}
end

local function notified(dev, mod, o)
  if o and o[3] == '1' then
    event(EV_NOTIFIED, F_DEVICE, dev, F_MODULE, mod, F_BATCH, o[1],
      F_PACKAGE, o[2])
  end
end

for i = 2, #ARGV, 6 do
  local kind, dev, prod, mod, a, b = ARGV[i], ARGV[i + 1], ARGV[i + 2],
    ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local trusted = kind == 'I' or kind == 'P' or kind == 'G'
  local r, o
  if trusted then kind = string.lower(kind) end

  if kind == 'q' then
    o = offer(dev, mod, '', true, a)
    if o then notified(dev, mod, o) end
    r = 'k'
  elseif kind == 'o' then
    local later
    o, later = offer(dev, mod, a, false, nil)
    if not o then
      -- the worker appends notices while it creates the batch's tasks:
      -- such a notice is handed out once the batch runs; one over the
      -- rollout's rate once the minute has room
      local st = call('HGET', fmt(K_BATCH, a), 'state')
      r = (later or st == 'creating') and 'l' or 'n'
    end
  else
    local bad = known(dev, prod, mod, trusted)
    if bad then
      r = LETTER[drop(bad)]
    elseif kind == 'i' then
      event(EV_INFORM, F_DEVICE, dev, F_PRODUCT, prod, F_MODULE, mod,
        F_VERSION, a)
      o = offer(dev, mod, '', true, a)
      r = 'k'
    elseif kind == 'p' then
      event(EV_PROGRESS, F_DEVICE, dev, F_PRODUCT, prod, F_MODULE, mod,
        F_STEP, a, F_DESC, b)
      r = 'k'
    else
      o = offer(dev, mod, '', false, nil)
      r = 'n'
    end
    if o and kind ~= 'o' then notified(dev, mod, o) end
  end

  if o then
    status[#status + 1] = 'O'
    out[#out + 1] = o
  else
    status[#status + 1] = r
  end
end

for why, n in pairs(drops) do
  call('HINCRBY', K_MQTT_DROPPED, why, n)
end

out[1] = table.concat(status)
return out
