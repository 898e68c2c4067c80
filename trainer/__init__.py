"""The bundled MoE trainer (dots.llm1 architecture) for Sluice shards. Imports nothing here: torch is loaded by
the submodules (`trainer.train.main` is the `sluice train` entry point)."""
