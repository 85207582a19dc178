-- Shared by every scenario of bench/http/run.sh (loaded with dofile by each script).
--
-- Environment (set by run.sh): BENCH_TOKEN (session token), BENCH_IDS (comma-separated
-- chatbot ids), BENCH_KEY (API key of the capture chatbot), BENCH_NONCE (unique per run),
-- BENCH_CHECK_RESPONSES=1 to check every response (slower for wrk, so off when measuring).
--
-- done() prints one machine-readable line that run.sh parses:
--   BENCH_RESULT requests=N duration_us=N p50_us=N p99_us=N connect=N read=N write=N
--                timeout=N status=N unexpected=N
-- status: answers with a status > 399 (wrk counts these itself); unexpected: answers
-- the scenario's check rejected (any non-2xx, or a wrong body), only with checking on.

bench = {}

function bench.ids(name)
    local out = {}
    for id in string.gmatch(os.getenv(name or "BENCH_IDS") or "", "[^,]+") do
        table.insert(out, id)
    end
    assert(#out > 0, "bench: " .. (name or "BENCH_IDS") .. " is empty")
    return out
end

function bench.session_headers(with_body)
    local h = { ["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_TOKEN")) }
    if with_body then h["Content-Type"] = "application/json" end
    return h
end

-- The n-th PATCH of one of ids (cycling, offset per wrk thread): one settings member of
-- this thread, a new value each time.
function bench.patch_request(ids, headers, n)
    local id = ids[(n + (tid or 0)) % #ids + 1]
    local body = string.format('{"settings":{"counter_%d":%d}}', tid or 0, n)
    return wrk.format("PATCH", "/api/v1/chatbots/" .. id, headers, body)
end

bench.nonce = os.getenv("BENCH_NONCE") or "0"
bench.checking = os.getenv("BENCH_CHECK_RESPONSES") == "1"

-- Setup environment: one entry per wrk thread, so done() can sum their counters.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end

-- Thread environment.
unexpected = 0
local reported = 0

-- Installs response() only when checking: wrk skips parsing headers and bodies when the
-- scenario defines no response().
function bench.check(body_ok)
    if not bench.checking then return end
    response = function(status, headers, body)
        if status < 200 or status > 299 or (body_ok and not body_ok(body)) then
            unexpected = unexpected + 1
            if reported < 3 then
                reported = reported + 1
                io.stderr:write(string.format("bench: unexpected answer %d: %s\n", status,
                                              string.sub(body or "", 1, 200)))
            end
        end
    end
end

function done(summary, latency, requests)
    local unexpected_total = 0
    for _, t in ipairs(threads) do unexpected_total = unexpected_total + (t:get("unexpected") or 0) end
    local e = summary.errors
    io.write(string.format(
        "BENCH_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d connect=%d read=%d " ..
        "write=%d timeout=%d status=%d unexpected=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        e.connect, e.read, e.write, e.timeout, e.status, unexpected_total))
end
