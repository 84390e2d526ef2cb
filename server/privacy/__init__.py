"""Data rights and lifecycle: export, erasure, retention, consent, and the admin actions on
accounts that go with them (suspend, restore, password reset).

Each feature that holds data about people contributes a ``DataPart`` (``parts.py``): what it
exports for a person or an organization, and how it erases a person. Export and erasure walk
the registered parts, so a new feature plugs in without touching this package's core.
"""
