"""Business logic. Services add and flush; the caller (a request or a CLI command) commits once."""
