"""Engagement analytics: counts and durations only, in tables of its own.

Write side: ``server.analytics.record``. Read side (dashboards): ``server.analytics.read``.
This package may not import content stores or transports (import-linter contract).
"""
