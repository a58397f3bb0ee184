from .checkpoint import allow_mmengine_checkpoints
from .data_check import (DataCheckError, SplitReport, check_dataset_config,
                         check_voc_split)
from .dist import setup_cpu_distributed
from .run_config import build_runner, load_run_config

__all__ = [
    'allow_mmengine_checkpoints', 'DataCheckError', 'SplitReport',
    'check_dataset_config', 'check_voc_split', 'setup_cpu_distributed',
    'build_runner', 'load_run_config'
]
