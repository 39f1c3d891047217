-- The same JSON body PUT every time (BODY), for the bare server's write row.
wrk.method = "PUT"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
