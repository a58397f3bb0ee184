"""Utilities, imported from their own modules so that each loads only what it
needs: ``checkpoint`` (the safe ``torch.load`` globals, installed when it is
imported), ``import_hooks`` (run a set-up once torch is imported),
``config_path`` (configs shipped with the package), ``dist`` (CPU distributed
launch), ``run_config`` (config and Runner set-up of the tools)."""
