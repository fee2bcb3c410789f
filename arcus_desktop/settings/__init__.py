"""User settings and secrets (the Hugging Face token lives in the OS keyring)."""
