-- POST /api/v1/chatbots/{id}/rotate-key (no body), cycling over BENCH_ROTATE_IDS.
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

local requests = {}
local i = 0

function init(args)
    local headers = bench.session_headers(false)
    for _, id in ipairs(bench.ids("BENCH_ROTATE_IDS")) do
        table.insert(requests, wrk.format("POST", "/api/v1/chatbots/" .. id .. "/rotate-key",
                                          headers, ""))
    end
    i = tid or 0
end

function request()
    i = i + 1
    return requests[i % #requests + 1]
end

bench.check(function(body) return string.find(body, '"apiKey":"ob_live_', 1, true) end)
