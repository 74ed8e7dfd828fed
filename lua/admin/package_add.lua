-- package_add.lua (otactl package add, package diff, the admin API's POST
-- packages): registers a package;
-- refuses a second package in its slot and an id already taken, and an
-- unsigned package of a product that requires signatures, in one step.
-- ARGV: id product module slot now target from signed, then the record's
-- field value...  slot: "<version>" for a full package, "<from>><version>"
-- for a diff; target: for a diff made by package diff, the full package
-- it leads to (its record then names the diff for devices at from), else
-- ''.  Returns {'ok'}, {'duplicate', id}, {'taken'}, {'nomodule'},
-- {'unsigned'} or {'notarget'}.

local id, prod, mod, slot, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  ARGV[5]
local target, from, signed = ARGV[6], ARGV[7], ARGV[8]
local pk = fmt(K_PKG, id)
local pv = fmt(K_PKGVER, prod)
local have = call('HGET', pv, mod .. ':' .. slot)
if have then return {'duplicate', have} end
if call('EXISTS', pk) == 1 then return {'taken'} end
if call('HEXISTS', fmt(K_PRODMOD, prod), mod) == 0 then
  return {'nomodule'} end
if signed ~= '1'
   and call('HGET', fmt(OTA_KEY_PRODUCT_SIGNING, prod), 'require') == '1' then
  return {'unsigned'} end
if target ~= '' and call('EXISTS', fmt(K_PKG, target)) == 0 then
  return {'notarget'} end
local f = {}
for i = 9, #ARGV do f[#f + 1] = ARGV[i] end
call('HSET', pk, unpack(f))
call('ZADD', K_PKGS, now, id)
call('ZADD', fmt(K_PRODPKGS, prod), now, id)
call('HSET', pv, mod .. ':' .. slot, id)
if target ~= '' then
  call('HSET', fmt(K_PKG, target), OTA_PKG_DIFF_FIELD .. from, id)
end
return {'ok'}
