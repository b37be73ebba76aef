-- wrk script for bench/writes-http.sh: POST /v1/orgs, each request a new organisation (a unique
-- Danish 8-digit number: ORG_BASE + thread * 100,000 + a per-thread counter). TOKEN and
-- ORG_BASE come from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local base = tonumber(os.getenv("ORG_BASE") or "0")
local n = 0

function setup(thread)
  threads = (threads or 0) + 1
  thread:set("tid", threads)
end

function request()
  n = n + 1
  local num = base + tid * 100000 + n
  local body = string.format('{"name":"Kommune %d","country":"DK","organisation_number":"%08d"}', num, num)
  return wrk.format(nil, nil, nil, body)
end
