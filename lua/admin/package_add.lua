-- package_add.lua (otactl package add, package diff, the admin API's POST
-- packages): registers a package;
-- refuses a second package in its slot and an id already taken, and an
-- unsigned package of a product that requires signatures, in one step.
-- ARGV: id product module slot now target from signed, then the record's
-- field value...  slot: "<version>" for a full package, "<from>><version>"
-- for a diff; target: for a diff made by package diff, the full package
-- it leads to, else ''.  The diff index of full packages
-- (K_PKGDIFFS, from version -> diff id, read by the upgrade
-- answers and the worker: docs/delta.md) is kept here for every diff,
-- made or added by hand: a diff is indexed under the full package of its
-- module and version when that exists, and a full package added after its
-- diffs picks them up from pkgver (HSCAN of the product's packages: an
-- admin's write, never the request path).  Returns {'ok'}, {'duplicate', id}, {'taken'}, {'nomodule'},
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
-- signed: '1' signed, '0' not, 'later' (POST packages sign_later: state
-- unsigned until package_sign.lua) waits for its signature
if signed == '0'
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
local dfrom, dver = string.match(slot, '^(.*)>(.*)$')
if dfrom then
  local full = call('HGET', pv, mod .. ':' .. dver)
  if full then call('HSET', fmt(K_PKGDIFFS, full), dfrom, id) end
else
  -- module names and versions hold no glob characters
  local pat, cur = mod .. ':*>' .. slot, '0'
  local plen = #mod + 2
  repeat
    local r = call('HSCAN', pv, cur, 'MATCH', pat, 'COUNT', 1000)
    cur = r[1]
    for i = 1, #r[2], 2 do
      local k = r[2][i]
      local f = string.sub(k, plen, #k - #slot - 1)
      call('HSET', fmt(K_PKGDIFFS, id), f, r[2][i + 1])
    end
  until cur == '0'
end
return {'ok'}
