-- wrk-done.lua: tests/bench/run's wrk hook. Prints one machine-readable line
-- after the run: requests, duration (us), socket errors (connect, read,
-- write), responses with status >= 400, timeouts, p50 and p99 latency (us).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("KILNBENCH %d %d %d %d %d %d %d %.0f %.0f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
