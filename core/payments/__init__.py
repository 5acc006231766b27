"""The payments bounded context: credit accounts per customer, an authorization per order."""
