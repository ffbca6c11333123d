"""Running tool calls: arguments, requests, accounts, paging and the executor."""
