"""PersonaPlex on Kyutai's moshi: the only package that imports torch or moshi.

Submodules that need torch import it themselves, so `engine.checkpoint` and
`engine.download` stay cheap for the GUI process.
"""
