-- PATCH /api/v1/chatbots/{id} changing one settings member (a merge patch), cycling over
-- the organization's chatbots; every request sets a new value.
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

local ids, headers
local n = 0

function init(args)
    ids = bench.ids()
    headers = bench.session_headers(true)
    n = 0
end

function request()
    n = n + 1
    return bench.patch_request(ids, headers, n)
end

bench.check(function(body) return string.find(body, '"counter_', 1, true) end)
