"""Insights: after a call, a summary and feedback items for the product teams.

summary turns a stored transcript into a JSON-schema constrained summary and items (with a
rules fallback); worker runs queued jobs in the background, only while no call is live.

May import: the core modules only. Never the voice loop, trust, persona, sip, web, admin or
the CLI.
"""
