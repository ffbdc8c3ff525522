-- wrk script: GET random images (or one image), with an X-Auth-Token.
--
-- Picks are spread uniformly over the whole catalog, so that a large catalog's index and table
-- pages are really visited rather than a few cached ones.
--
-- Arguments, after `--` on wrk's command line:
--   1. the X-Auth-Token value
--   2. the catalog size N: images 0 .. N-1 exist
--   3. the path template, printf style, e.g. /v2/.../repos/bench-image-%07d; a path without a
--      conversion is requested as it is (one hot image)
--   4. a random seed (each thread adds its number to it)
-- done() prints one line "BENCH_RESULT {json}" that bench/wrk.py reads.

local threads_started = 0

function setup(thread)
  threads_started = threads_started + 1
  thread:set("thread_number", threads_started)
end

local catalog_size, path_template

function init(args)
  wrk.headers["X-Auth-Token"] = args[1]
  catalog_size = tonumber(args[2])
  path_template = args[3]
  math.randomseed(tonumber(args[4]) + thread_number)
end

function request()
  return wrk.format("GET", string.format(path_template, math.random(0, catalog_size - 1)))
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout
  ))
end
