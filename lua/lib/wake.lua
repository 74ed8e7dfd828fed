-- wake.lua: the one place the worker's scripts tell nginx that a device
-- may have a new offer (after prelude.lua, before batch.lua).  Every nginx
-- worker process of every node subscribes to OTA_CHANNEL_WAKE; a request
-- waiting for its upgrade (GET upgrade?wait=) re-checks when its device,
-- or its product's module, is named.  Call it in the step that makes the
-- offer visible (a task of a running batch created, a batch started or
-- resumed, a wave opened, a push): a message sent before the offer can be
-- read would wake the device too early and it would wait again.  The
-- format is include/ota_wake.h's; names are already checked by the
-- callers.

-- these devices have a new offer for module (at most 1000 a message)
local function wake_devices(module, devs)
  for i = 1, #devs, 1000 do
    call('PUBLISH', OTA_CHANNEL_WAKE, OTA_WAKE_DEVICES .. ' ' .. module
      .. ' ' .. table.concat(devs, ' ', i, math.min(i + 999, #devs)))
  end
end
-- every device of the product may have one for module (a batch of
-- thousands went running: one message, the waiting devices re-check)
local function wake_module(product, module)
  call('PUBLISH', OTA_CHANNEL_WAKE, OTA_WAKE_MODULE .. ' ' .. product
    .. ' ' .. module)
end
