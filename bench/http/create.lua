-- POST /api/v1/chatbots: a new chatbot (and key) per request, each with its own name, in
-- the organization of BENCH_CREATE_TOKEN (not the one the list scenario lists). With
-- BENCH_IDEMPOTENCY_KEYS=1 each request also carries its own Idempotency-Key (API.md
-- section 14), so every create writes an idempotency record beside its audit event.
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

local headers
local n = 0
local with_keys = os.getenv("BENCH_IDEMPOTENCY_KEYS") == "1"

function init(args)
    headers = {
        ["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_CREATE_TOKEN")),
        ["Content-Type"] = "application/json",
    }
end

function request()
    n = n + 1
    local body = string.format('{"name":"bench %s t%d n%d"}', bench.nonce, tid or 0, n)
    if with_keys then
        headers["Idempotency-Key"] = string.format("bench-%s-t%d-n%d", bench.nonce, tid or 0, n)
    end
    return wrk.format("POST", "/api/v1/chatbots", headers, body)
end

bench.check(function(body) return string.find(body, '"apiKey":"ob_live_', 1, true) end)
