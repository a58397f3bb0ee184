"""Utilities, imported from their own modules so that each loads only what it
needs: ``checkpoint`` (the safe ``torch.load`` globals), ``config_path``
(configs shipped with the package), ``data_check`` (VOC data checks),
``dist`` (CPU distributed launch), ``run_config`` (config and Runner set-up
of the tools)."""
