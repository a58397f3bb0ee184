"""Gather a metric's per-sample results through the process group.

mmengine's ``BaseMetric`` collects results with ``collect_device='cpu'`` by
default: every rank pickles its part into a temporary directory that rank 0
created, so all ranks must share that directory. Across nodes without a
shared filesystem the evaluation fails or hangs (mmengine issue 557).

``collect_device='group'`` (the default of :class:`GroupCollectMetric`)
sends the parts through the process group instead, with
``torch.distributed.all_gather_object`` on whatever backend the group runs:
gloo with CPU tensors, NCCL with the current GPU. No file is written. It is
mmengine's own ``collect_device='gpu'`` path (``collect_results(...,
device='gpu')``), which is not tied to GPUs: the results come back in
dataset order (the parts are interleaved as ``DefaultSampler`` dealt them)
and the sampler's padding is cut at ``size``, exactly as with ``'cpu'``, so
the metric sees the same list and computes the same numbers bit for bit.

The parts are pickled; a metric keeps them small by storing compact arrays
per sample in ``process()`` (not whole data samples).
"""
from typing import Optional

from mmengine.evaluator import BaseMetric

#: ``'group'``: through the process group (no shared directory);
#: ``'cpu'`` / ``'gpu'``: mmengine's meanings
COLLECT_DEVICES = ('group', 'cpu', 'gpu')


class GroupCollectMetric(BaseMetric):
    """A ``BaseMetric`` that gathers results through the process group.

    Subclasses implement ``process`` and ``compute_metrics`` as for
    ``BaseMetric``; only the collection step changes (see the module
    docstring).

    Args:
        collect_device (str): ``'group'`` (through the process group, no
            shared directory needed), ``'cpu'`` (mmengine: pickles in a
            directory all ranks share, see ``collect_dir``) or ``'gpu'``
            (mmengine: the same as ``'group'``). Defaults to ``'group'``.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``default_prefix``.
        collect_dir (str, optional): The shared directory of
            ``collect_device='cpu'``. Defaults to None (a temporary one).

    Raises:
        ValueError: On another ``collect_device``, or a ``collect_dir``
            without ``collect_device='cpu'``.
    """

    def __init__(self,
                 collect_device: str = 'group',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        if collect_device not in COLLECT_DEVICES:
            raise ValueError(f'collect_device must be one of '
                             f'{COLLECT_DEVICES}, got {collect_device!r}')
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)

    def evaluate(self, size: int) -> dict:
        """Gather the results of all ranks, compute the metrics on rank 0
        and broadcast them (``BaseMetric.evaluate``).

        Args:
            size (int): Length of the whole data set (the sampler's padding
                is dropped).

        Returns:
            dict: The metrics, on every rank.
        """
        if self.collect_device != 'group':
            return super().evaluate(size)
        # mmengine's 'gpu' collection is all_gather_object on the group's
        # own backend (gloo on CPUs): no file, same order as 'cpu'
        self.collect_device = 'gpu'
        try:
            return super().evaluate(size)
        finally:
            self.collect_device = 'group'
