"""The Socket.IO adapter: thin event handlers over the services."""
