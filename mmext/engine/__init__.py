"""Training-loop parts: durable checkpoints and resuming from them."""
from .durable_backend import DurableLocalBackend, atomic_write
from .hooks import DurableCheckpointHook
from .resume import checkpoint_load_error, find_resumable_checkpoint

__all__ = [
    'DurableCheckpointHook', 'DurableLocalBackend', 'atomic_write',
    'checkpoint_load_error', 'find_resumable_checkpoint'
]
