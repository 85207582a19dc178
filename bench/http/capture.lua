-- POST /api/v1/capture with the API key: one new message per request, each with its own
-- message id (50 messages per conversation, then the next conversation).
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

local headers
local n = 0

function init(args)
    headers = {
        ["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_KEY")),
        ["Content-Type"] = "application/json",
    }
end

function request()
    n = n + 1
    local body = string.format(
        '{"conversationId":"bench-%s-t%d-c%d","messages":[{"role":"user",' ..
        '"content":"How do I cancel my plan?","id":"m%d"}],"user":{"id":"user-%d"}}',
        bench.nonce, tid or 0, math.floor(n / 50), n, n % 1000)
    return wrk.format("POST", "/api/v1/capture", headers, body)
end

-- Each request carries a message never sent before: exactly one is stored.
bench.check(function(body) return string.find(body, '"messagesStored":1,', 1, true) end)
