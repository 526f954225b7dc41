"""The sandbox: a simulated prop firm behind the Risk Analytics API contract.

It stands in for the real API, which cannot be reached from here, and it knows the
ground truth (each account's hidden traits and the true distribution of its next-day
P&L), so that forecasts can be scored against the best possible ones.
"""
