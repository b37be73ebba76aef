-- wrk script for bench/access-http.sh: POST one fixed check body to /v1/access/check.
-- BODY and TOKEN come from the environment.
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")

local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  for status, n in pairs(statuses) do
    io.write(string.format("status %d: %d\n", status, n))
  end
end
