-- package_add.lua (otactl package add): registers a package; refuses a
-- second package of module+version and an id already taken, in one step.
-- ARGV: id product module version now, then the record's field value...
-- Returns {'ok'}, {'duplicate', id}, {'taken'} or {'nomodule'}.

local id, prod, mod, ver, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4],  ARGV[5]
local pk = fmt(K_PKG, id)
local pv = fmt(K_PKGVER, prod)
local have = call('HGET', pv, mod .. ':' .. ver)
if have then return {'duplicate', have} end
if call('EXISTS', pk) == 1 then return {'taken'} end
if call('HEXISTS', fmt(K_PRODMOD, prod), mod) == 0 then
  return {'nomodule'} end
local f = {}
for i = 6, #ARGV do f[#f + 1] = ARGV[i] end
call('HSET', pk, unpack(f))
call('ZADD', K_PKGS, now, id)
call('ZADD', fmt(K_PRODPKGS, prod), now, id)
call('HSET', pv, mod .. ':' .. ver, id)
return {'ok'}
