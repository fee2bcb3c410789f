"""Audio in and out: files now; devices, streams and echo cancellation later."""
