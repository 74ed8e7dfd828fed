-- batch_init.lua: creates the batch record in state "creating" unless it
-- exists; refuses what the package does not allow.
-- ARGV: id package batch_type name from_version protocol method push now
--       job, then the rollout's fields as name value pairs (checked by
--       include/ota_rollout.c: docs/rollouts.md)

local id, pkg, btype, name, fromv, proto, method, push, now, job =
  unpack(ARGV)
local bk = fmt(K_BATCH, id)
local st = call('HGET', bk, 'state')
if st then return {'exists', st} end
local pk = fmt(K_PKG, pkg)
local p = call('HMGET', pk, 'product', 'module', 'version', 'type', 'from',
  'verify', 'state', 'verify_batch', 'size')
if not p[1] then return {'error', 'no package ' .. pkg} end
if p[7] == PKG_UNSIGNED then
  return {'error', 'package ' .. pkg .. ' waits for its signature (uploaded '
    .. 'with sign_later): POST packages/' .. pkg .. '/signature, or run '
    .. 'otactl package add ... --sign-key KEY again'}
end
if btype == 'upgrade' and p[6] == '1' and p[7] ~= PKG_VERIFIED then
  return {'error', 'package ' .. pkg .. ' must be verified first: create a '
    .. 'verify batch and let it succeed on all its devices (package state: '
    .. tostring(p[7]) .. ')'}
end
if btype == 'verify' and p[7] == PKG_VERIFYING then
  return {'error', 'package ' .. pkg .. ' is being verified by batch '
    .. tostring(p[8]) .. '; wait for it or cancel it'}
end
if p[4] == 'diff' and fromv ~= '' and fromv ~= p[5] then
  return {'error', 'package ' .. pkg .. ' is a diff from ' .. tostring(p[5])
    .. ': --from-version ' .. fromv .. ' cannot match any device'}
end
call('HSET', bk, 'id', id, 'name', name, 'type', btype, 'package', pkg,
  'product', p[1], 'module', p[2], 'version', p[3], 'from_version', fromv,
  'protocol', proto, 'method', method, 'push', push, 'state', 'creating',
  'size', p[9] or '0',
  'total', 0, 'created', now, 'finished', 0, 'cursor', '', 'job', job,
  'skipped_current', 0, 'skipped_busy', 0, 'skipped_version', 0)
if #ARGV > 10 then call('HSET', bk, unpack(ARGV, 11)) end
local ck = fmt(K_COUNTS, id)
for _, s in ipairs(STATES) do call('HSET', ck, s, 0) end
call('ZADD', K_BATCHES, now, id)
if btype == 'verify' then
  call('HSET', pk, 'state', PKG_VERIFYING, 'verify_batch', id)
end
return {'created', 'creating'}
