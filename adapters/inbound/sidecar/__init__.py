"""`orderhex sidecar --for SERVICE`: a process beside one service instance that registers it in the
service registry while its health checks pass, terminates auth, logs and counts every request, and
proxies the rest to the instance."""
