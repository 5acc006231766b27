"""The domain and application core of orderhex: standard library only."""
