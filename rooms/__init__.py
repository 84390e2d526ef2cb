"""The spatial office as pure domain: layout, presence, occupancy, knocking, proximity.

Imports nothing from transports, databases, caches, media or ``server``.
"""
