"""PersonaPlex on Kyutai's moshi: the only package that imports torch or moshi.

Submodules that need torch import it themselves, so `engine.checkpoint` and
`engine.download` stay cheap for the GUI process.
"""

# The engine's kernel warm-up child is this program started with this flag (the frozen
# app has no `-m`); here so cli.main can tell without importing the child's module,
# which Arcus Desktop Client leaves out.
WARM_KERNELS_FLAG = "--warm-kernels"
