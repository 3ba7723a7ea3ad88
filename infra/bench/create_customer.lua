-- POST /v1/customers: each request a new customer (the API assigns its BAN), so the write path
-- is the API's whole create: validation, the row, audit, field state and the outbox row.
local body = '{"company_name":"Write Bench","customer_type":"POSTPAID","credit_limit":"500.00",' ..
  '"contact":{"email":"billing@write-bench.example"}}'

request = function()
  return wrk.format("POST", "/v1/customers", {["Content-Type"] = "application/json"}, body)
end
