-- device_add.lua (otactl device add): registers a device and, the first
-- time, its product with module "default", all or nothing.
-- ARGV: device product secret now default_module_json
-- Returns {'ok'} or {'exists', product}.

local dev, prod, secret, now, defmod = ARGV[1], ARGV[2], ARGV[3],  ARGV[4], ARGV[5]
local dk = fmt(K_DEVICE, dev)
local have = call('HGET', dk, 'product')
if have then return {'exists', have} end
call('HSET', dk, 'product', prod, 'secret', secret, 'created', now)
call('SADD', K_PRODUCTS, prod)
call('SADD', fmt(K_PRODDEV, prod), dev)
call('HSETNX', fmt(K_PRODMOD, prod), 'default', defmod)
return {'ok'}
