"""The API gateway (`orderhex gateway`): one entry point in front of the services."""
