"""The HTTP adapter: thin handlers that parse, authorize, call one service and reply."""
