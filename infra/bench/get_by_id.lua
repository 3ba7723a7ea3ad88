-- GET /v1/customers/{id} over the seeded customers, whose ids are derived from 1..N.
local customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "100000")
math.randomseed(os.time())
request = function()
  local n = math.random(1, customers)
  return wrk.format("GET", string.format("/v1/customers/00000000-0000-7000-8000-%012x", n))
end
