-- wrk load: 002's create with identities, REQUESTS requests over PEOPLE people (each person's
-- requests carry the same member id, openid and mobile, so the end state is one customer per
-- person), spread over the threads, each thread stopping after its share.
--
--   cargo run --release --example server --features http -- --addr 127.0.0.1:8080 &
--   examples/wrk/run.sh http://127.0.0.1:8080
--
-- wrk keeps every connection busy, so a thread may send up to its connections' count of
-- requests past its share before it stops: repeats of earlier ones, which change nothing.
-- wrk itself runs for its whole `-d`: a thread that is done leaves a file in DONE_DIR, and
-- run.sh interrupts wrk once every thread has, so its figures cover the run alone.

local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
end

function init(args)
   total = tonumber(os.getenv("REQUESTS") or "20000")
   people = tonumber(os.getenv("PEOPLE") or "5000")
   threads = tonumber(os.getenv("THREADS") or "2")
   share = math.floor(total / threads)
   sent = 0
   answered = 0
   headers = { ["Content-Type"] = "application/json", ["x-tenant-id"] = "load" }
end

function request()
   local i = id + (sent % share) * threads
   sent = sent + 1
   local p = i % people
   local body = string.format(
      '{"customer":{"name":"p%d","mobile":"139%08d"},"customerIdentities":[' ..
      '{"identityType":"member-id","identityValue":"m%d"},' ..
      '{"identityType":"wechat","identityValue":"o%d"}]}', p, p, p, p)
   return wrk.format("POST", "/v1/customerandidentities", headers, body)
end

function response(status, headers, body)
   answered = answered + 1
   if answered == share then
      local dir = os.getenv("DONE_DIR")
      if dir then
         local f = io.open(dir .. "/thread-" .. id, "w")
         if f then f:close() end
      end
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   io.write(string.format("requests %d, non-2xx %d, errors %d\n", summary.requests,
      summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
   io.write(string.format("requests/s %.0f, p50 %.2f ms, p99 %.2f ms\n",
      summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
