-- The ceiling server: GET / answered with a fixed body (one static request, like list).
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

wrk.method = "GET"
wrk.path = "/"
bench.check()
