-- rollout.lua: the rules of a safe rollout (docs/rollouts.md), after
-- batch.lua.  A batch with waves, an error threshold or an abort rule has
-- "rollout" = "1" in its record; the scripts that move its tasks (apply,
-- cancel_chunk) keep per-wave counters (OTA_KEY_BATCH_WAVES) and call
-- rollout_check() in the same atomic step, so a threshold crossed by many
-- events at once, by several workers, or again after a worker was killed
-- acts once: each decision is a change of the record that the next check
-- reads (the wave number, the state), never a counter of its own.
--
-- Arithmetic as include/ota_rollout.c: percentages in hundredths, wave
-- bounds computed there once when the batch starts ("wave_bounds").

-- "12.5" -> 1250 (two decimals at most: exact after rounding)
local function pct(s)
  local v = tonumber(s)
  if not v then return nil end
  return math.floor(v * 100 + 0.5)
end
-- the bounds of the batch's waves as numbers (cached in b)
local function wave_bounds(b)
  if b.bnd then return b.bnd end
  local t = {}
  for x in string.gmatch(b.wave_bounds or '', '%d+') do t[#t + 1] = tonumber(x) end
  b.bnd = t
  return t
end
-- the wave of a device of rank r (1..#bounds + 1)
local function wave_of(bnd, r)
  for k = 1, #bnd do if r <= bnd[k] then return k end end
  return #bnd + 1
end
-- devices in wave k; the last wave takes every rank above the last bound
local function wave_size(bnd, k, total)
  local lo = bnd[k - 1] or 0
  local hi = bnd[k] or total
  return hi > lo and hi - lo or 0
end
-- the offers of wave k are open: devices of rank <= wave_upto (none: all)
local function open_wave(bid, b, k, now)
  local bk = fmt(K_BATCH, bid)
  local bnd = wave_bounds(b)
  if bnd[k] then call('HSET', bk, 'wave', k, 'wave_upto', bnd[k])
  else
    call('HSET', bk, 'wave', k)
    call('HDEL', bk, 'wave_upto')
  end
  b.wave = tostring(k)
  b.wave_upto = bnd[k] and tostring(bnd[k]) or nil
  call('HSET', fmt(K_BWAVES, bid), k .. ':' .. OTA_R_WAVE_OPENED, now)
  if b.push == '1' then call('SADD', K_NOTIFY, bid) end
  if k > 1 then history(bid, now, 'wave', {wave = k}) end
end
-- --ramp "BASE,FACTOR": the per-minute limit once succeeded devices
-- succeeded: r0 = base, r(i+1) = max(r(i) + 1, floor(r(i) * factor)),
-- i = floor(succeeded / base) steps, never above max (at most a few
-- hundred steps: the rate at least grows by 10 % a step)
local function ramp_rate(b, succeeded)
  local max = tonumber(b.max_per_minute)
  local base, f = string.match(b.ramp or '', '^(%d+),([%d.]+)$')
  if not max or not base then return max end
  local r, fac = tonumber(base), pct(f)
  for _ = 1, math.floor(succeeded / tonumber(base)) do
    if r >= max then break end
    local nx = math.floor(r * fac / 100)
    r = nx > r and nx or r + 1
  end
  return math.min(r, max)
end
-- a batch starts running (now, or at its --start-at)
local function rollout_start(bid, b, now)
  local bk = fmt(K_BATCH, bid)
  call('HSET', bk, 'state', 'running', 'started', now)
  local rate = ramp_rate(b, 0)
  if rate then call('HSET', bk, 'rate', rate) end
  b.state = 'running'
  history(bid, now, 'start')
  if (b.wave_bounds or '') ~= '' then open_wave(bid, b, 1, now)
  else
    if b.waves then
      -- waves that all reach the batch's size: one wave, offered to all
      call('HSET', bk, 'wave', 1)
      call('HSET', fmt(K_BWAVES, bid), '1:' .. OTA_R_WAVE_OPENED, now)
    end
    -- a scheduled push batch's notices go out now
    if b.push == '1' and (b.waves or b.start_at) then
      call('SADD', K_NOTIFY, bid)
    end
  end
end
-- "flash_failed 3, timeout 2" of a wave (or of the batch: w nil)
local function reasons(bid, w)
  local h, out = {}, {}
  if w then
    local pre = w .. ':r:'
    for k, v in pairs(hash(fmt(K_BWAVES, bid))) do
      if string.sub(k, 1, #pre) == pre then h[string.sub(k, #pre + 1)] = v end
    end
  else h = hash(fmt(K_FAILS, bid)) end
  for k, v in pairs(h) do
    if tonumber(v) > 0 then out[#out + 1] = k .. ' ' .. v end end
  table.sort(out)
  return table.concat(out, ', ')
end
local function pct_text(n, d)
  return string.format('%.2f', d > 0 and n * 100 / d or 0)
end
-- the abort rule: the batch is cancelled, its open tasks go by the cancel
-- job queued here (worker_jobs.c, cancel_chunk.lua) in the same step
local function abort(bid, b, s, f, now)
  local why = string.format('abort rule: %d of %d finished devices failed '
    .. '(%s %% >= %s %%, at least %s finished)', f, s + f,
    pct_text(f, s + f), b.abort_failure_rate, b.abort_min)
  local r = reasons(bid)
  if r ~= '' then why = why .. ': ' .. r end
  cancel_record(bid, now)
  call('HSET', fmt(K_BATCH, bid), 'abort', why, 'aborted', now)
  history(bid, now, 'abort', {reason = why})
  call('XADD', S_JOBS, '*', OTA_F_TYPE, OTA_JOB_BATCH_CANCEL, OTA_F_ID, bid,
    OTA_F_JOB, '', OTA_F_TS, now)
end
local function pause(bid, w, nw, fw, size, thr, now)
  local why
  if nw > 1 then
    why = string.format('error threshold: wave %d of %d: %d of its %d '
      .. 'devices failed (%s %% > %s %%)', w, nw, fw, size,
      pct_text(fw, size), thr)
  else
    why = string.format('error threshold: %d of %d devices failed '
      .. '(%s %% > %s %%)', fw, size, pct_text(fw, size), thr)
  end
  local r = reasons(bid, nw > 1 and w or nil)
  if r ~= '' then why = why .. ': ' .. r end
  why = why .. '; otactl batch resume goes on'
  call('HSET', fmt(K_BATCH, bid), 'state', 'paused', 'pause_kind',
    'error_threshold', 'pause_wave', w, 'pause_reason', why)
  history(bid, now, 'pause', {kind = 'error_threshold', wave = w,
    reason = why})
end
-- the rules of a running rollout, from its counters: O(waves), never a
-- scan of tasks.  Abort first (it ends the batch), then the error
-- threshold of each open wave not yet resumed past, then the success
-- threshold of the last open wave (which may open several in a row).
local function rollout_check(bid, now)
  local b = hash(fmt(K_BATCH, bid))
  if b.state ~= 'running' or b.rollout ~= '1' then return end
  local c = hash(fmt(K_COUNTS, bid))
  local total = tonumber(b.total) or 0
  local s, f = tonumber(c[ST_SUCCEEDED]) or 0, tonumber(c[ST_FAILED]) or 0
  local ar = pct(b.abort_failure_rate)
  if ar and s + f >= (tonumber(b.abort_min) or 0)
    and f * OTA_PCT_FULL >= ar * (s + f) then
    abort(bid, b, s, f, now)
    return
  end
  if b.ramp then
    local rate = ramp_rate(b, s)
    if tostring(rate) ~= b.rate then
      call('HSET', fmt(K_BATCH, bid), 'rate', rate)
      history(bid, now, 'rate', {rate = rate})
    end
  end
  local bnd = wave_bounds(b)
  local nw = #bnd + 1
  local w = tonumber(b.wave) or 1
  local wc = nw > 1 and hash(fmt(K_BWAVES, bid)) or nil
  local function cnt(k, st)
    if wc then return tonumber(wc[k .. ':' .. st]) or 0 end
    return tonumber(c[st]) or 0
  end
  local et = pct(b.error_threshold)
  if et then
    for k = (tonumber(b.wave_ack) or 0) + 1, w do
      local size = wave_size(bnd, k, total)
      local fk = cnt(k, ST_FAILED)
      if fk * OTA_PCT_FULL > et * size then
        pause(bid, k, nw, fk, size, b.error_threshold, now)
        return
      end
    end
  end
  local st = pct(b.success_threshold)
  while st and w < nw
    and cnt(w, ST_SUCCEEDED) * OTA_PCT_FULL >= st * wave_size(bnd, w, total) do
    w = w + 1
    open_wave(bid, b, w, now)
  end
end
