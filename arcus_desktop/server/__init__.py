"""The team server (`arcus-desktop serve`): PersonaPlex's websocket protocol over HTTP,
many conversations on one GPU through the engine's batch loop. docs/PROTOCOL.md is the
contract. Never imports torch: engine modules are imported inside functions, so the
command line stays fast."""
