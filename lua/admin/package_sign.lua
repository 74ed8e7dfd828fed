-- package_sign.lua (POST packages/<id>/signature): the signature of a
-- package uploaded with sign_later (state unsigned), checked by the caller
-- against the manifest it read and the key kid; this step refuses what
-- moved meanwhile (the manifest, the product's key) so a refusal changes
-- nothing.  A second identical signature is answered 'same' (nothing
-- written).
-- ARGV: id manifest_b64 signature_b64 kid
-- Returns {'ok', state}, {'same', state}, {'nopkg'}, {'notwaiting', state},
-- {'moved'} or {'keychanged', key_id}.

local id, man, sig, kid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local pk = fmt(K_PKG, id)
local p = call('HMGET', pk, 'state', 'manifest', 'signature', 'sign_key',
               'sign_then', 'product')
if not p[1] then return {'nopkg'} end
if p[1] ~= OTA_PKG_UNSIGNED then
  if p[3] == sig and p[4] == kid then return {'same', p[1]} end
  return {'notwaiting', p[1]}
end
if p[2] ~= man then return {'moved'} end
local want = call('HGET', fmt(K_PRODSIGN, p[6]), 'key_id')
if want and want ~= '' and want ~= kid then return {'keychanged', want} end
local st = p[5] or OTA_PKG_READY
call('HSET', pk, 'signature', sig, 'sign_key', kid, 'state', st)
call('HDEL', pk, 'sign_then')
return {'ok', st}
