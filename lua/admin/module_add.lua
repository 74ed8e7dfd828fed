-- module_add.lua (otactl module add, POST modules): adds a module to a product.
-- ARGV: product module module_json default_module_json
-- Returns {'ok', '1' when the product is new} or {'exists'}.

local prod, mod, json, defmod = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local mk = fmt(K_PRODMOD, prod)
if call('HEXISTS', mk, mod) == 1 then return {'exists'} end
local created = call('SADD', K_PRODUCTS, prod)
call('HSETNX', mk, 'default', defmod)
call('HSET', mk, mod, json)
return {'ok', tostring(created)}
