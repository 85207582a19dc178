-- GET /api/v1/chatbots/{id}, cycling over the organization's chatbots.
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

local requests = {}
local i = 0

function init(args)
    local headers = bench.session_headers(false)
    for _, id in ipairs(bench.ids()) do
        table.insert(requests, wrk.format("GET", "/api/v1/chatbots/" .. id, headers))
    end
    i = tid or 0
end

function request()
    i = i + 1
    return requests[i % #requests + 1]
end

bench.check(function(body) return string.find(body, '"api_key_prefix":"ob_live_', 1, true) end)
