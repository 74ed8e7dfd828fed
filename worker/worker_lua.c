/*
 * The worker's Redis scripts.  Each script is one atomic step: a task
 * moves and its batch counters change together, or nothing happens.  The
 * decisions (which state comes next) are taken in C by ota_task_apply();
 * the scripts check that the task is still in the state C read (compare
 * and set) so two workers, or a replayed entry, can never count twice.
 */

#include "ota_worker.h"

#include "ota_lua.h"

/* shared helpers: load a batch with its package, insert one task, close a
 * batch whose tasks are all final */
#define OTA_LUA_LIB                                                          \
"local function load_batch(bid, cache)\n"                                    \
"  if cache and cache[bid] ~= nil then return cache[bid] end\n"              \
"  local r = call('HGETALL', fmt(K_BATCH, bid))\n"                           \
"  local b = {}\n"                                                           \
"  for i = 1, #r, 2 do b[r[i]] = r[i + 1] end\n"                             \
"  if not b.id then if cache then cache[bid] = false end return false end\n" \
"  local p = call('HMGET', fmt(K_PKG, b.package), 'type', 'from', 'size',\n" \
"    'sign_method', 'sign', 'ext')\n"                                        \
"  b.pkg_type = p[1] or 'full'\n"                                            \
"  b.pkg_from = p[2] or ''\n"                                                \
"  b.size = p[3] or '0'\n"                                                   \
"  b.sign_method = p[4] or ''\n"                                             \
"  b.sign = p[5] or ''\n"                                                    \
"  b.ext = p[6] or '{}'\n"                                                   \
"  b.need_from = b.from_version or ''\n"                                     \
"  if b.pkg_type == 'diff' and b.pkg_from ~= '' then\n"                      \
"    b.need_from = b.pkg_from end\n"                                         \
"  if cache then cache[bid] = b end\n"                                       \
"  return b\n"                                                               \
"end\n"                                                                      \
"local function notice(b, dev)\n"                                            \
"  local ok, ext = pcall(cjson.decode, b.ext)\n"                             \
"  if not ok then ext = {} end\n"                                            \
"  return cjson.encode({device = dev, batch = b.id, package = b.package,\n"  \
"    module = b.module, version = b.version, type = b.pkg_type,\n"           \
"    from = b.pkg_from, size = tonumber(b.size), sign_method = b.sign_method,\n" \
"    sign = b.sign, protocol = b.protocol, ext = ext})\n"                    \
"end\n"                                                                      \
"-- one task; the caller made sure the device has none in this batch.\n"    \
"-- cur: the device's version of the module ('' if it never reported).\n" \
"-- Tasks are stored by column (ota_keys.h): a new task is its open entry,\n" \
"-- its batch membership (the caller's ZADD) and its source version; every\n" \
"-- other column keeps its default until the task moves.  With fr (batch\n" \
"-- creation) the source version is appended to fr for one HSET per\n"     \
"-- chunk; without (a device joining a dynamic batch) it is written now,\n" \
"-- with the task's own created time.\n"                                    \
"local function insert_task(b, dev, now, cur, fr)\n"                       \
"  if cur == b.version then return 'current' end\n"                         \
"  if b.need_from ~= '' and cur ~= b.need_from then return 'version' end\n" \
"  if call('HSETNX', fmt(K_DEVOPEN, dev), b.module, b.id) == 0 then\n"      \
"    return 'busy' end\n"                                                    \
"  if fr then\n"                                                             \
"    if cur ~= '' then fr[#fr + 1] = dev fr[#fr + 1] = cur end\n"           \
"  else\n"                                                                   \
"    if cur ~= '' then call('HSET', fmt(K_BFROM, b.id), dev, cur) end\n"    \
"    call('HSET', fmt(K_BCREATED, b.id), dev, now)\n"                       \
"  end\n"                                                                    \
"  if b.push == '1' then call('PUBLISH', fmt(K_PUSH, dev), notice(b, dev))\n"\
"    -- the MQTT bridges' copy, kept until delivered (no bridge: no stream)\n" \
"    call('XADD', S_NOTICES, 'NOMKSTREAM', '*', 'device', dev, 'product',\n" \
"      b.product, 'module', b.module, 'batch', b.id, 'ts', now)\n"          \
"  end\n"                                                                    \
"  return 'ok'\n"                                                            \
"end\n"                                                                      \
"-- a variadic command over the list in slices of 4000 arguments (an\n"    \
"-- even number: pairs stay whole), since unpack stops near 8000; the\n"   \
"-- replies of the slices joined\n"                                        \
"local function vcall(cmd, key, list)\n"                                    \
"  local out, n = {}, #list\n"                                               \
"  for i = 1, n, 4000 do\n"                                                  \
"    local r = call(cmd, key, unpack(list, i, math.min(i + 3999, n)))\n"    \
"    if type(r) == 'table' then\n"                                           \
"      for k = 1, #r do out[i + k - 1] = r[k] end end\n"                     \
"  end\n"                                                                    \
"  return out\n"                                                             \
"end\n"                                                                      \
"-- HMGET of one column for a list of devices (false for none)\n"          \
"local function column(key, devs) return vcall('HMGET', key, devs) end\n"  \
"-- variadic HSET of {field, value, ...}\n"                                 \
"local function hset(key, kv) vcall('HSET', key, kv) end\n"                \
"-- the event group's last-delivered id and entries-read (false: none)\n" \
"local function group_cursor()\n"                                          \
"  for _, g in ipairs(call('XINFO', 'GROUPS', S_EVENTS)) do\n"             \
"    local h = {}\n"                                                        \
"    for i = 1, #g, 2 do h[g[i]] = g[i + 1] end\n"                          \
"    if h.name == GROUP then\n"                                             \
"      return h['last-delivered-id'], h['entries-read'] end\n"              \
"  end\n"                                                                   \
"  return false\n"                                                          \
"end\n"                                                                     \
"-- the reader lease is me and the group's cursor is at from: the\n"     \
"-- entries after from are mine to apply; returns the group's entries-read\n" \
"local function reader_at(me, from)\n"                                     \
"  if call('GET', K_READER) ~= me then return false end\n"                 \
"  local at, ents = group_cursor()\n"                                      \
"  return at == from, ents\n"                                               \
"end\n"                                                                     \
"local function check_finish(bid, now)\n"                                    \
"  local bk = fmt(K_BATCH, bid)\n"                                           \
"  local b = call('HMGET', bk, 'state', 'method', 'type', 'package',\n"      \
"    'total')\n"                                                             \
"  if b[1] ~= 'running' or b[2] == 'dynamic' then return end\n"              \
"  local c = call('HMGET', fmt(K_COUNTS, bid), ST_SUCCEEDED, ST_FAILED,\n"   \
"    ST_CANCELLED)\n"                                                        \
"  local succ = tonumber(c[1]) or 0\n"                                       \
"  local total = tonumber(b[5]) or 0\n"                                      \
"  if succ + (tonumber(c[2]) or 0) + (tonumber(c[3]) or 0) < total then\n"   \
"    return end\n"                                                           \
"  call('HSET', bk, 'state', 'finished', 'finished', now)\n"                 \
"  if b[3] == 'verify' then\n"                                               \
"    local pk = fmt(K_PKG, b[4])\n"                                          \
"    if call('HGET', pk, 'verify_batch') == bid then\n"                      \
"      call('HSET', pk, 'state', (total > 0 and succ == total)\n"            \
"        and PKG_VERIFIED or PKG_VERIFY_FAILED)\n"                           \
"    end\n"                                                                  \
"  end\n"                                                                    \
"end\n"

/* ARGV: id package batch_type name from_version protocol method push now
 *       job.  Creates the batch record in state "creating" unless it
 * exists; refuses what the package does not allow. */
static const char  ota_lua_batch_init[] =
OTA_LUA_PRELUDE OTA_LUA_LIB
"local id, pkg, btype, name, fromv, proto, method, push, now, job =\n"
"  unpack(ARGV)\n"
"local bk = fmt(K_BATCH, id)\n"
"local st = call('HGET', bk, 'state')\n"
"if st then return {'exists', st} end\n"
"local pk = fmt(K_PKG, pkg)\n"
"local p = call('HMGET', pk, 'product', 'module', 'version', 'type', 'from',\n"
"  'verify', 'state', 'verify_batch', 'size')\n"
"if not p[1] then return {'error', 'no package ' .. pkg} end\n"
"if btype == 'upgrade' and p[6] == '1' and p[7] ~= PKG_VERIFIED then\n"
"  return {'error', 'package ' .. pkg .. ' must be verified first: create a '\n"
"    .. 'verify batch and let it succeed on all its devices (package state: '\n"
"    .. tostring(p[7]) .. ')'}\n"
"end\n"
"if btype == 'verify' and p[7] == PKG_VERIFYING then\n"
"  return {'error', 'package ' .. pkg .. ' is being verified by batch '\n"
"    .. tostring(p[8]) .. '; wait for it or cancel it'}\n"
"end\n"
"if p[4] == 'diff' and fromv ~= '' and fromv ~= p[5] then\n"
"  return {'error', 'package ' .. pkg .. ' is a diff from ' .. tostring(p[5])\n"
"    .. ': --from-version ' .. fromv .. ' cannot match any device'}\n"
"end\n"
"call('HSET', bk, 'id', id, 'name', name, 'type', btype, 'package', pkg,\n"
"  'product', p[1], 'module', p[2], 'version', p[3], 'from_version', fromv,\n"
"  'protocol', proto, 'method', method, 'push', push, 'state', 'creating',\n"
"  'size', p[9] or '0',\n"
"  'total', 0, 'created', now, 'finished', 0, 'cursor', '', 'job', job,\n"
"  'skipped_current', 0, 'skipped_busy', 0, 'skipped_version', 0)\n"
"local ck = fmt(K_COUNTS, id)\n"
"for _, s in ipairs(STATES) do call('HSET', ck, s, 0) end\n"
"call('ZADD', K_BATCHES, now, id)\n"
"if btype == 'verify' then\n"
"  call('HSET', pk, 'state', PKG_VERIFYING, 'verify_batch', id)\n"
"end\n"
"return {'created', 'creating'}\n";

/* ARGV: id now cursor_after device...: one chunk of tasks, and where the
 * next chunk starts, in one step (a crash resumes exactly there).  Set
 * operations per chunk, not per device: one ZMSCORE finds the devices that
 * already have a task in the batch (a resumed chunk, a device listed
 * twice, SSCAN returning one twice), one ZADD records the new members,
 * one SMISMEMBER per known version of the module gives each device's
 * version (a module with more than 64 versions falls back to one HGET per
 * device). */
static const char  ota_lua_create_chunk[] =
OTA_LUA_PRELUDE OTA_LUA_LIB
"local id, now, cursor = ARGV[1], ARGV[2], ARGV[3]\n"
"local b = load_batch(id)\n"
"if not b then return {'gone'} end\n"
"if b.state ~= 'creating' then return {'stopped', b.state} end\n"
"local total = tonumber(b.total) or 0\n"
"local c = {ok = 0, dup = 0, current = 0, version = 0, busy = 0}\n"
"local bd = fmt(K_BDEVS, id)\n"
"local have = {}\n"
"if #ARGV >= 4 then\n"
"  local sc = call('ZMSCORE', bd, unpack(ARGV, 4))\n"
"  for i = 4, #ARGV do if sc[i - 3] then have[ARGV[i]] = true end end\n"
"end\n"
"-- each device's version from the version sets, one SMISMEMBER per\n"
"-- version the module has (a handful), not one HGET per device; the sets\n"
"-- change with the versions in one script, so they agree\n"
"local cur\n"
"local vers = call('HKEYS', fmt(K_VERDIST, b.product, b.module))\n"
"if #vers <= 64 and #ARGV >= 4 then\n"
"  cur = {}\n"
"  for _, v in ipairs(vers) do\n"
"    local m = call('SMISMEMBER', fmt(K_VERSET, b.product, b.module, v),\n"
"      unpack(ARGV, 4))\n"
"    for i = 4, #ARGV do if m[i - 3] == 1 then cur[ARGV[i]] = v end end\n"
"  end\n"
"end\n"
"local z, fr = {}, {}\n"
"for i = 4, #ARGV do\n"
"  local dev = ARGV[i]\n"
"  local r\n"
"  if have[dev] then r = 'dup'\n"
"  else\n"
"    have[dev] = true\n"
"    local v\n"
"    if cur then v = cur[dev] or ''\n"
"    else v = call('HGET', fmt(K_DEVVER, dev), b.module) or '' end\n"
"    r = insert_task(b, dev, now, v, fr)\n"
"  end\n"
"  c[r] = c[r] + 1\n"
"  if r == 'ok' then\n"
"    z[#z + 1] = total + c.ok z[#z + 1] = dev\n"
"  end\n"
"end\n"
"local bk = fmt(K_BATCH, id)\n"
"if c.ok > 0 then\n"
"  call('ZADD', bd, unpack(z))\n"
"  if #fr > 0 then call('HSET', fmt(K_BFROM, id), unpack(fr)) end\n"
"  call('HINCRBY', bk, 'total', c.ok)\n"
"  call('HINCRBY', fmt(K_COUNTS, id), ST_PENDING, c.ok)\n"
"end\n"
"if c.current > 0 then call('HINCRBY', bk, 'skipped_current', c.current) end\n"
"if c.busy > 0 then call('HINCRBY', bk, 'skipped_busy', c.busy) end\n"
"if c.version > 0 then call('HINCRBY', bk, 'skipped_version', c.version) end\n"
"call('HSET', bk, 'cursor', cursor)\n"
"return {'ok', c.ok, c.dup, c.current, c.busy, c.version}\n";

/* ARGV: id now: creating -> running (dynamic batches start taking
 * devices); returns state total skipped_current skipped_busy
 * skipped_version */
static const char  ota_lua_create_finish[] =
OTA_LUA_PRELUDE OTA_LUA_LIB
"local id, now = ARGV[1], ARGV[2]\n"
"local bk = fmt(K_BATCH, id)\n"
"local b = call('HMGET', bk, 'state', 'method', 'product')\n"
"if not b[1] then return {'gone'} end\n"
"if b[1] == 'creating' then\n"
"  call('HSET', bk, 'state', 'running', 'cursor', 'end')\n"
"  if b[2] == 'dynamic' then call('SADD', fmt(K_DYNAMIC, b[3]), id) end\n"
"  check_finish(id, now)\n"
"end\n"
"return call('HMGET', bk, 'state', 'total', 'skipped_current',\n"
"  'skipped_busy', 'skipped_version')\n";

/* ARGV: id op now (op: pause resume cancel) */
static const char  ota_lua_batch_state[] =
OTA_LUA_PRELUDE OTA_LUA_LIB
"local id, op, now = ARGV[1], ARGV[2], ARGV[3]\n"
"local bk = fmt(K_BATCH, id)\n"
"local b = call('HMGET', bk, 'state', 'type', 'package', 'product')\n"
"local st = b[1]\n"
"if not st then return {'error', 'no batch ' .. id} end\n"
"if op == 'pause' then\n"
"  if st == 'paused' then return {'ok', st} end\n"
"  if st ~= 'running' then return {'error', 'batch ' .. id .. ' is ' .. st\n"
"    .. ': only a running batch can be paused'} end\n"
"  call('HSET', bk, 'state', 'paused')\n"
"  return {'ok', 'paused'}\n"
"elseif op == 'resume' then\n"
"  if st == 'running' then return {'ok', st} end\n"
"  if st ~= 'paused' then return {'error', 'batch ' .. id .. ' is ' .. st\n"
"    .. ': only a paused batch can be resumed'} end\n"
"  call('HSET', bk, 'state', 'running')\n"
"  check_finish(id, now)\n"
"  return {'ok', call('HGET', bk, 'state')}\n"
"elseif op == 'cancel' then\n"
"  if st == 'cancelled' then return {'ok', st} end\n"
"  if st == 'finished' then return {'error', 'batch ' .. id\n"
"    .. ' is finished: nothing to cancel'} end\n"
"  call('HSET', bk, 'state', 'cancelled', 'finished', now)\n"
"  call('SREM', fmt(K_DYNAMIC, b[4]), id)\n"
"  if b[2] == 'verify' then\n"
"    local pk = fmt(K_PKG, b[3])\n"
"    local p = call('HMGET', pk, 'verify_batch', 'verify')\n"
"    if p[1] == id then\n"
"      call('HSET', pk, 'state', p[2] == '1' and PKG_UNVERIFIED or PKG_READY)\n"
"    end\n"
"  end\n"
"  return {'ok', 'cancelled'}\n"
"end\n"
"return {'error', 'unknown operation ' .. op}\n";

/* ARGV: id now start count: cancels the open tasks of one slice of the
 * batch; returns how many devices the slice had */
static const char  ota_lua_cancel_chunk[] =
OTA_LUA_PRELUDE OTA_LUA_LIB
"local id, now = ARGV[1], ARGV[2]\n"
"local b = load_batch(id)\n"
"local start, count = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
"local devs = call('ZRANGE', fmt(K_BDEVS, id), start, start + count - 1)\n"
"if not b or #devs == 0 then return #devs end\n"
"local st = column(fmt(K_BSTATE, id), devs)\n"

"local sset, uset, zrem, dec, n = {}, {}, {}, {}, 0\n"
"for k, dev in ipairs(devs) do\n"
"  local s = st[k] or ST_PENDING\n"
"  if not FINAL[s] then\n"

"    sset[#sset + 1] = dev sset[#sset + 1] = ST_CANCELLED\n"
"    uset[#uset + 1] = dev uset[#uset + 1] = now\n"
"    dec[s] = (dec[s] or 0) + 1\n"
"    n = n + 1\n"
"    local ok = fmt(K_DEVOPEN, dev)\n"
"    if call('HGET', ok, b.module) == id then call('HDEL', ok, b.module) end\n"
"    zrem[#zrem + 1] = id .. ':' .. dev\n"
"  end\n"
"end\n"
"if n > 0 then\n"
"  hset(fmt(K_BSTATE, id), sset)\n"
"  hset(fmt(K_BUPDATED, id), uset)\n"
"  local ck = fmt(K_COUNTS, id)\n"
"  for s, d in pairs(dec) do call('HINCRBY', ck, s, -d) end\n"
"  call('HINCRBY', ck, ST_CANCELLED, n)\n"
"  vcall('ZREM', K_DEADLINES, zrem)\n"
"end\n"
"return #devs\n";

/* ARGV: now ninform, then ninform reports (device product module version
 * ts), then (device module batch)...
 *
 * Reports first: the device's version, the distribution counters and
 * version sets move together, only when the version changes and only for
 * a report not older (ts, kept beside the version) than the one applied;
 * running dynamic batches of the product then take the device if it
 * matches.  Distribution deltas and set changes are summed over the whole
 * read and written once per (key, version) at the end: one command per
 * key, not per report.  Replays change nothing.
 *
 * Then the task each event is about: the one named by batch, else the
 * device's open task of the module; its columns are read with one HMGET
 * per column and batch for the whole read.  Returns {joined, batches,
 * task...}: batches = {id size version package module, ...} of the
 * batches found, task = "g<TAB>state<TAB>covered<TAB>step<TAB>from" (g:
 * the task's batch in batches, from 1; an empty field is the column's
 * default) or 0 when there is none. */
static const char  ota_lua_lookup[] =
OTA_LUA_PRELUDE OTA_LUA_LIB
"local now, ninf = ARGV[1], tonumber(ARGV[2])\n"
"local cache, dyn, acc = {}, {}, {}\n"
"local joined = 0\n"
"-- what the reports of one (product, module) change, keyed by plain\n"
"-- names: the keys are formatted once per read, not per report\n"
"local function pm(prod, mod)\n"
"  local p = acc[prod]\n"
"  if not p then p = {} acc[prod] = p end\n"
"  local m = p[mod]\n"
"  if not m then m = {ts = mod .. VER_TS, dist = {}, sets = {}} p[mod] = m end\n"
"  return m\n"
"end\n"
"local function member(m, ver, dev, on)\n"
"  local s = m.sets[ver]\n"
"  if not s then s = {} m.sets[ver] = s end\n"
"  s[dev] = on\n"
"  m.dist[ver] = (m.dist[ver] or 0) + (on and 1 or -1)\n"
"end\n"
"for i = 3, 2 + ninf * 5, 5 do\n"
"  local dev, prod, mod, ver = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]\n"
"  local ts = tonumber(ARGV[i + 4]) or 0\n"
"  local m = pm(prod, mod)\n"
"  local vk = fmt(K_DEVVER, dev)\n"
"  local cur = call('HMGET', vk, mod, m.ts)\n"
"  local old, last = cur[1], tonumber(cur[2] or '-1') or -1\n"
"  if ts >= last then\n"
"    if old ~= ver then\n"
"      if old then member(m, old, dev, false) end\n"
"      member(m, ver, dev, true)\n"
"      if ts > last then call('HSET', vk, m.ts, ARGV[i + 4], mod, ver)\n"
"      else call('HSET', vk, mod, ver) end\n"
"    elseif ts > last then call('HSET', vk, m.ts, ARGV[i + 4]) end\n"
"    if dyn[prod] == nil then dyn[prod] = call('SMEMBERS', fmt(K_DYNAMIC, prod))\n"
"    end\n"
"    for _, bid in ipairs(dyn[prod]) do\n"
"      local b = load_batch(bid, cache)\n"
"      if b and b.module == mod and b.state == 'running' then\n"
"        local bk = fmt(K_BATCH, bid)\n"
"        local n = (tonumber(call('HGET', bk, 'total')) or 0) + 1\n"
"        local bd = fmt(K_BDEVS, bid)\n"
"        if not call('ZSCORE', bd, dev)\n"
"          and insert_task(b, dev, now, ver) == 'ok' then\n"
"          call('ZADD', bd, n, dev)\n"
"          call('HINCRBY', bk, 'total', 1)\n"
"          call('HINCRBY', fmt(K_COUNTS, bid), ST_PENDING, 1)\n"
"          joined = joined + 1\n"
"        end\n"
"      end\n"
"    end\n"
"  end\n"
"end\n"
"for prod, p in pairs(acc) do\n"
"  for mod, m in pairs(p) do\n"
"    local dk = fmt(K_VERDIST, prod, mod)\n"
"    for ver, d in pairs(m.dist) do\n"
"      if d ~= 0 and call('HINCRBY', dk, ver, d) <= 0 then\n"
"        call('HDEL', dk, ver) end\n"
"    end\n"
"    for ver, s in pairs(m.sets) do\n"
"      local add, rem = {}, {}\n"
"      for dev, on in pairs(s) do\n"
"        if on then add[#add + 1] = dev else rem[#rem + 1] = dev end\n"
"      end\n"
"      local key = fmt(K_VERSET, prod, mod, ver)\n"
"      vcall('SADD', key, add)\n"
"      vcall('SREM', key, rem)\n"
"    end\n"
"  end\n"
"end\n"
"-- each lookup's batch (an open entry names one), grouped by batch\n"
"local binfo, nb = {}, 0\n"
"local out, groups, no = {joined, binfo}, {}, 2\n"
"for i = 3 + ninf * 5, #ARGV, 3 do\n"
"  local dev, mod, bid = ARGV[i], ARGV[i + 1], ARGV[i + 2]\n"
"  no = no + 1\n"
"  out[no] = 0\n"
"  local opened = bid == ''\n"
"  if opened then bid = call('HGET', fmt(K_DEVOPEN, dev), mod) end\n"
"  if bid then\n"
"    local g = groups[bid]\n"
"    if not g then g = {devs = {}, at = {}, mods = {}, n = 0} groups[bid] = g end\n"
"    local n = g.n + 1\n"
"    g.n = n g.devs[n] = dev g.at[n] = no\n"
"    g.mods[n] = opened and mod or false\n"
"  end\n"
"end\n"
"for bid, g in pairs(groups) do\n"
"  local b = load_batch(bid, cache)\n"
"  if b then\n"
"    local st = column(fmt(K_BSTATE, bid), g.devs)\n"
"    local cov = column(fmt(K_BCOVERED, bid), g.devs)\n"
"    local stp = column(fmt(K_BSTEP, bid), g.devs)\n"
"    local fr = column(fmt(K_BFROM, bid), g.devs)\n"
"    -- no state: pending if the device is in the batch, sure when its\n"
"    -- open entry named the batch, else asked of the batch's devices\n"
"    local ask, na = {}, 0\n"
"    for n = 1, g.n do\n"
"      if not st[n] and not g.mods[n] then na = na + 1 ask[na] = g.devs[n] end\n"
"    end\n"
"    local in_batch = {}\n"
"    if na > 0 then\n"
"      local sc = vcall('ZMSCORE', fmt(K_BDEVS, bid), ask)\n"
"      for n = 1, na do in_batch[ask[n]] = sc[n] and true end\n"
"    end\n"
"    local gi\n"
"    for n = 1, g.n do\n"
"      local ok, m = nil, g.mods[n]\n"
"      if m then ok = m == b.module\n"
"      else ok = st[n] or in_batch[g.devs[n]] end\n"
"      if ok then\n"
"        if not gi then\n"
"          binfo[nb + 1] = bid binfo[nb + 2] = b.size\n"
"          binfo[nb + 3] = b.version or '' binfo[nb + 4] = b.package or ''\n"
"          binfo[nb + 5] = b.module or ''\n"
"          nb = nb + 5\n"
"          gi = tostring(nb / 5)\n"
"        end\n"
"        -- one string per task (a reply element costs Redis more than\n"
"        -- the concatenation); empty fields are the columns' defaults\n"
"        out[g.at[n]] = gi .. '\\t' .. (st[n] or '') .. '\\t' .. (cov[n] or '')\n"
"          .. '\\t' .. (stp[n] or '') .. '\\t' .. (fr[n] or '')\n"
"      end\n"
"    end\n"
"  end\n"
"end\n"
"return out\n";

/* ARGV: now timeout_ms nack, nack acknowledgement arguments, then per
 * task: device batch expected new reason covered step desc kind (kind
 * "t": a timeout, "c": a task the worker decided on its cache, "s": a
 * task assumed pending from its batch alone, checked to be a member of
 * the batch, "": a task a lookup found).  The acknowledgement is either the entry ids
 * (XACK: entries read from the pending list) or "cursor" reader from to
 * count (entries read after the group's cursor by the reader: first
 * checked that the lease is still the reader's and the cursor still at
 * from, else nothing is done and -1 returned; then the cursor moves to
 * to).
 *
 * Tasks are read and written by column (ota_keys.h), one HMGET or HSET
 * per column and batch for the whole call.  A device of the batch without
 * a state is pending: the worker only applies events to tasks a lookup
 * found, and tasks are never deleted.
 *
 * Compare and set: a task no longer in the expected state is left alone
 * and its state returned, so the caller reads again and decides again.
 * A timeout is applied only when the task really did not move for
 * timeout_ms.  Batch counters and failure reasons are summed over the call
 * and written once per (batch, state) before the script ends, so they
 * change in the same atomic step as the tasks.  When every task was
 * written as expected the entries are acknowledged in the same step too
 * (effect and acknowledgement together); else nothing is acknowledged and
 * the caller decides the moved tasks again.  Returns {acked, {n, result,
 * ...}}: the tasks (n-th of the call) whose result is not "ok".
 *
 * Deadlines are written lazily: once when a task leaves pending, removed
 * when it ends.  A due deadline whose task moved since is pushed to
 * updated + timeout by the timeout pass, so a deadline may be early, never
 * late.
 *
 * The loops run once per task of every read: no tonumber() on the way
 * (Lua converts a string twice), covered compared as decimal strings,
 * arrays filled through counters. */
static const char  ota_lua_apply[] =
OTA_LUA_PRELUDE OTA_LUA_LIB
"local now, tmo = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
"local nack = tonumber(ARGV[3])\n"
"local cursor, ents = nack > 0 and ARGV[4] == 'cursor'\n"
"if cursor then\n"
"  local ok\n"
"  ok, ents = reader_at(ARGV[5], ARGV[6])\n"
"  if not ok then return {-1, {}} end\n"
"end\n"
"-- written as strings: a Lua number is formatted again at every call\n"
"local snow, sdue = ARGV[1], tostring(now + tmo)\n"
"local touched, cnt, fails, bcache = {}, {}, {}, {}\n"
"local zadd, zrem, res, groups = {}, {}, {}, {}\n"
"local nz, nr = 0, 0\n"
"local function add(tab, bid, k, d)\n"
"  local h = tab[bid]\n"
"  if not h then h = {} tab[bid] = h end\n"
"  h[k] = (h[k] or 0) + d\n"
"end\n"
"-- decimal strings without leading zeros: a > b\n"
"local function gt(a, b)\n"
"  local la, lb = #a, #b\n"
"  return la > lb or (la == lb and a > b)\n"
"end\n"
"-- the tasks by batch: ARGV index of each\n"
"for i = 4 + nack, #ARGV, 9 do\n"
"  local bid = ARGV[i + 1]\n"
"  local g = groups[bid]\n"
"  if not g then g = {n = 0} groups[bid] = g end\n"
"  local n = g.n + 1\n"
"  g[n] = i g.n = n\n"
"end\n"
"local function batch(bid, g)\n"
"  local b = load_batch(bid, bcache)\n"
"  if not b then\n"
"    for k = 1, g.n do\n"
"      local i = g[k]\n"
"      nr = nr + 1 zrem[nr] = bid .. ':' .. ARGV[i]\n"
"      res[i] = ARGV[i + 8] == 'c' and 'missing' or 'gone'\n"
"    end\n"
"    return\n"
"  end\n"
"  local devs, covd, tmod, spec, nc, nt, nsp = {}, {}, {}, {}, 0, 0, 0\n"
"  for k = 1, g.n do\n"
"    local i = g[k]\n"
"    local dev, kind = ARGV[i], ARGV[i + 8]\n"
"    devs[k] = dev\n"
"    if ARGV[i + 5] ~= '' then nc = nc + 1 covd[nc] = dev end\n"
"    if kind == 't' then nt = nt + 1 tmod[nt] = dev\n"
"    elseif kind == 's' then nsp = nsp + 1 spec[nsp] = dev end\n"
"  end\n"
"  -- tasks assumed pending: the device must be in the batch\n"
"  local member = {}\n"
"  if nsp > 0 then\n"
"    local sc = vcall('ZMSCORE', fmt(K_BDEVS, bid), spec)\n"
"    for n = 1, nsp do member[spec[n]] = sc[n] and true end\n"
"  end\n"
"  local st = column(fmt(K_BSTATE, bid), devs)\n"
"  local covs, upds = {}, {}\n"
"  local v = column(fmt(K_BCOVERED, bid), covd)\n"
"  for n = 1, nc do covs[covd[n]] = v[n] or '0' end\n"
"  if nt > 0 then\n"
"    v = column(fmt(K_BUPDATED, bid), tmod)\n"
"    local c = column(fmt(K_BCREATED, bid), tmod)\n"
"    for n = 1, nt do\n"
"      upds[tmod[n]] = tonumber(v[n] or c[n] or b.created) or 0 end\n"
"  end\n"
"  local S, C, P, R, D, U = {}, {}, {}, {}, {}, {}\n"
"  local ns, nc2, np, nrs, nd, nu = 0, 0, 0, 0, 0, 0\n"
"  for k = 1, g.n do\n"
"    local i = g[k]\n"
"    local dev, exp, new, reason = ARGV[i], ARGV[i + 2], ARGV[i + 3],\n"
"      ARGV[i + 4]\n"
"    local cov, step, desc = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]\n"
"    local timeout = ARGV[i + 8] == 't' and tmo > 0\n"
"    local cur = st[k] or ST_PENDING\n"
"    local r = 'ok'\n"
"    if ARGV[i + 8] == 's' and not member[dev] then r = 'missing'\n"
"    elseif timeout and not st[k] then\n"
"      -- deadlines are set when a task leaves pending: none to time out\n"
"      nr = nr + 1 zrem[nr] = bid .. ':' .. dev r = 'gone'\n"
"    elseif cur ~= exp then r = cur\n"
"    elseif timeout and b.state == 'paused' then\n"
"      nz = nz + 1 zadd[nz] = now + tmo\n"
"      nz = nz + 1 zadd[nz] = bid .. ':' .. dev\n"
"      r = 'paused'\n"
"    elseif timeout and now - upds[dev] < tmo then\n"
"      nz = nz + 1 zadd[nz] = upds[dev] + tmo\n"
"      nz = nz + 1 zadd[nz] = bid .. ':' .. dev\n"
"      r = 'fresh'\n"
"    -- (a task decided on the worker's cache without a change needs\n"
"    -- nothing but the check of its state above)\n"
"    elseif new ~= exp or cov ~= '' or step ~= '' or desc ~= '' then\n"
"      nu = nu + 1 U[nu] = dev nu = nu + 1 U[nu] = snow\n"
"      local moved = new ~= exp\n"
"      if moved then\n"
"        ns = ns + 1 S[ns] = dev ns = ns + 1 S[ns] = new\n"
"        add(cnt, bid, exp, -1)\n"
"        add(cnt, bid, new, 1)\n"
"        if reason ~= '' then\n"
"          nrs = nrs + 1 R[nrs] = dev nrs = nrs + 1 R[nrs] = reason\n"
"          add(fails, bid, reason, 1)\n"
"        end\n"
"      end\n"
"      if cov ~= '' and gt(cov, covs[dev]) then\n"
"        nc2 = nc2 + 1 C[nc2] = dev nc2 = nc2 + 1 C[nc2] = cov end\n"
"      if step ~= '' then np = np + 1 P[np] = dev np = np + 1 P[np] = step\n"
"      end\n"
"      if desc ~= '' then\n"
"        nd = nd + 1 D[nd] = dev nd = nd + 1 D[nd] = string.sub(desc, 2)\n"
"      end\n"
"      if FINAL[new] then\n"
"        if moved then\n"
"          local ok = fmt(K_DEVOPEN, dev)\n"
"          if call('HGET', ok, b.module) == bid then\n"
"            call('HDEL', ok, b.module) end\n"
"          if exp ~= ST_PENDING then\n"
"            nr = nr + 1 zrem[nr] = bid .. ':' .. dev end\n"
"          touched[bid] = true\n"
"        end\n"
"      elseif tmo > 0 and (exp == ST_PENDING or timeout)\n"
"        and new ~= ST_PENDING then\n"
"        nz = nz + 1 zadd[nz] = sdue nz = nz + 1 zadd[nz] = bid .. ':' .. dev\n"
"      end\n"
"    end\n"
"    res[i] = r\n"
"  end\n"
"  hset(fmt(K_BSTATE, bid), S)\n"
"  hset(fmt(K_BCOVERED, bid), C)\n"
"  hset(fmt(K_BSTEP, bid), P)\n"
"  hset(fmt(K_BREASON, bid), R)\n"
"  hset(fmt(K_BDESC, bid), D)\n"
"  hset(fmt(K_BUPDATED, bid), U)\n"
"end\n"
"for bid, g in pairs(groups) do batch(bid, g) end\n"
"vcall('ZADD', K_DEADLINES, zadd)\n"
"vcall('ZREM', K_DEADLINES, zrem)\n"
"for bid, h in pairs(cnt) do\n"
"  local ck = fmt(K_COUNTS, bid)\n"
"  for s, d in pairs(h) do\n"
"    if d ~= 0 then call('HINCRBY', ck, s, d) end\n"
"  end\n"
"end\n"
"for bid, h in pairs(fails) do\n"
"  local fk = fmt(K_FAILS, bid)\n"
"  for s, d in pairs(h) do call('HINCRBY', fk, s, d) end\n"
"end\n"
"for bid in pairs(touched) do check_finish(bid, now) end\n"
"-- only the results other than ok go back (most calls: none)\n"
"local out, no, clean, k = {}, 0, true, 0\n"
"for i = 4 + nack, #ARGV, 9 do\n"
"  k = k + 1\n"
"  local r = res[i]\n"
"  if r ~= 'ok' then\n"
"    if r ~= 'fresh' and r ~= 'paused' and r ~= 'gone' then\n"
"      clean = false end\n"
"    no = no + 1 out[no] = k no = no + 1 out[no] = r\n"
"  end\n"
"end\n"
"local acked = 0\n"
"if clean and cursor then\n"
"  -- the group's count of entries read stays exact (XINFO shows the lag)\n"
"  if type(ents) == 'number' then\n"
"    call('XGROUP', 'SETID', S_EVENTS, GROUP, ARGV[7], 'ENTRIESREAD',\n"
"      ents + tonumber(ARGV[8]))\n"
"  else call('XGROUP', 'SETID', S_EVENTS, GROUP, ARGV[7]) end\n"
"  acked = 1\n"
"elseif clean and nack > 0 then\n"
"  for i = 4, 3 + nack, 4000 do\n"
"    call('XACK', '" OTA_STREAM_EVENTS "', '" OTA_GROUP "',\n"
"      unpack(ARGV, i, math.min(i + 3999, 3 + nack)))\n"
"  end\n"
"  acked = 1\n"
"end\n"
"return {acked, out}\n";

/* ARGV: consumer ttl_ms op.  op "hold": takes the reader lease when it is
 * free or already ours (renewing it) and returns {1, cursor} (the group's
 * last-delivered id), else {0, holder}; op "release": gives it up if it
 * is ours. */
static const char  ota_lua_reader[] =
OTA_LUA_PRELUDE OTA_LUA_LIB
"local me, ttl, op = ARGV[1], ARGV[2], ARGV[3]\n"
"local v = call('GET', K_READER)\n"
"if op == 'release' then\n"
"  if v == me then call('DEL', K_READER) end\n"
"  return {0, ''}\n"
"end\n"
"if v and v ~= me then return {0, v} end\n"
"local at = group_cursor()\n"
"if not at then\n"
"  return redis.error_reply('NOGROUP no group ' .. GROUP .. ' on ' .. S_EVENTS)\n"
"end\n"
"call('SET', K_READER, me, 'PX', ttl)\n"
"return {1, at}\n";

static ota_script_t  ota_scripts[OTA_LUA_COUNT] = {
    { "batch_init", ota_lua_batch_init, "" },
    { "create_chunk", ota_lua_create_chunk, "" },
    { "create_finish", ota_lua_create_finish, "" },
    { "batch_state", ota_lua_batch_state, "" },
    { "cancel_chunk", ota_lua_cancel_chunk, "" },
    { "lookup", ota_lua_lookup, "" },
    { "apply", ota_lua_apply, "" },
    { "reader", ota_lua_reader, "" },
};

ota_script_t *
ota_lua(ota_lua_id_t id)
{
    return &ota_scripts[id];
}

int
ota_lua_load_all(redisContext *rc)
{
    int  i;

    for (i = 0; i < OTA_LUA_COUNT; i++) {
        if (ota_script_load(rc, &ota_scripts[i]) != 0) {
            return -1;
        }
    }
    return 0;
}
