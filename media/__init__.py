"""The media relay on aiortc: peer sessions, forwarding, meeting media lifecycle.

Imports aiortc and the standard library only.
"""
