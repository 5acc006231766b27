"""The command-line inbound adapter: `orderhex place|show|orders|cancel|adapters|config ...`."""
