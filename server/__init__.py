"""Officehours server: composition root, services and transport adapters."""
