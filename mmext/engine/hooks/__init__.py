from .durable_checkpoint_hook import DurableCheckpointHook
from .metric_work_dir_hook import MetricWorkDirHook

__all__ = ['DurableCheckpointHook', 'MetricWorkDirHook']
