-- GET /api/v1/chatbots: the 20 chatbots of the caller's organization.
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

wrk.method = "GET"
wrk.path = "/api/v1/chatbots"
wrk.headers = bench.session_headers(false)
bench.check(function(body) return string.sub(body, 1, 1) == "[" end)
