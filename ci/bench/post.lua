wrk.method = "POST"
wrk.body = '{"input": [1, 2, 3], "text": "hello"}'
wrk.headers["Content-Type"] = "application/json"
