-- device_add.lua (otactl device add, POST devices): registers one or more
-- devices and, the first time, each one's product with module "default",
-- all or nothing: nothing is written when any of them exists already or is
-- named twice.
-- ARGV: now default_module_json, then device product secret for each
-- Returns {'ok'}, {'exists', device, product} or {'twice', device}.

local now, defmod = ARGV[1], ARGV[2]
local seen = {}
for i = 3, #ARGV, 3 do
  local dev = ARGV[i]
  if seen[dev] then return {'twice', dev} end
  seen[dev] = true
  local have = call('HGET', fmt(K_DEVICE, dev), 'product')
  if have then return {'exists', dev, have} end
end
for i = 3, #ARGV, 3 do
  local dev, prod, secret = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  call('HSET', fmt(K_DEVICE, dev), 'product', prod, 'secret', secret,
       'created', now)
  call('SADD', K_PRODUCTS, prod)
  call('SADD', fmt(K_PRODDEV, prod), dev)
  call('HSETNX', fmt(K_PRODMOD, prod), 'default', defmod)
end
return {'ok'}
