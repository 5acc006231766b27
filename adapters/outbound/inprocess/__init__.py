"""Query ports answered by another context's inbound port in this same process."""
