-- product_set.lua (otactl product set, PUT products/<p>): a product's
-- signing policy (docs/signing.md), checked and written in one step, so a
-- refusal changes nothing.
-- ARGV: product require pubmode pem key_id
--   require: '1', '0' or '' (left as it is)
--   pubmode: 'set' (pubkey pem, key_id), 'del' (no key) or '' (left)
-- Returns {'noproduct'} or {'ok', require, key_id} (as they are after).

local prod, req, pubmode, pem, kid = ARGV[1], ARGV[2], ARGV[3], ARGV[4],
                                     ARGV[5]
if call('SISMEMBER', K_PRODUCTS, prod) == 0 then return {'noproduct'} end
local k = fmt(K_PRODSIGN, prod)
if pubmode == 'set' then
  call('HSET', k, 'pubkey', pem, 'key_id', kid)
elseif pubmode == 'del' then
  call('HDEL', k, 'pubkey', 'key_id')
end
if req ~= '' then call('HSET', k, 'require', req) end
local v = call('HMGET', k, 'require', 'key_id')
return {'ok', v[1] or '', v[2] or ''}
