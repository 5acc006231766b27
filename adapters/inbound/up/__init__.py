"""`orderhex up`: run a Procfile's processes together, show their readiness and logs, stop them cleanly."""
