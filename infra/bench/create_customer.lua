-- POST /v1/customers: each request a new customer (the API assigns its BAN), so the write path
-- is the API's whole create: validation, the row, audit, field state and the outbox row.
-- Set on wrk's own request (not through wrk.format with a headers table, which would drop the
-- Authorization header given with -H).
wrk.method = "POST"
wrk.path = "/v1/customers"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"company_name":"Write Bench","customer_type":"POSTPAID","credit_limit":"500.00",' ..
  '"contact":{"email":"billing@write-bench.example"}}'
