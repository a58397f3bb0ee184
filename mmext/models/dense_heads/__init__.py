from .tood_head import TOODHead

__all__ = ['TOODHead']
