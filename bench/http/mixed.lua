-- Nine reads to one write on the same chatbots: GET /api/v1/chatbots/{id}, and every tenth
-- request a PATCH of one settings member (a new value each time), cycling over the
-- organization's chatbots. Reads run while writes keep changing what they read.
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

local ids, read_headers, write_headers
local n = 0

function init(args)
    ids = bench.ids()
    read_headers = bench.session_headers(false)
    write_headers = bench.session_headers(true)
    n = 0
end

function request()
    n = n + 1
    if n % 10 == 0 then return bench.patch_request(ids, write_headers, n) end
    return wrk.format("GET", "/api/v1/chatbots/" .. ids[(n + (tid or 0)) % #ids + 1], read_headers)
end

bench.check(function(body) return string.find(body, '"api_key_prefix":"ob_live_', 1, true) end)
