"""The team server's client side: the PersonaPlex websocket protocol, Opus, a jitter
buffer and the frame loop whose model is a server. No Qt and no torch here: a laptop
without either can hold a conversation through a team server."""
