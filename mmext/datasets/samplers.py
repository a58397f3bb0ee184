"""Sampler that applies a RepeatFactorDataset's per-epoch draw."""
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.dataset import DefaultSampler

from mmext.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class RepeatFactorSampler(DefaultSampler):
    """``DefaultSampler`` over the indices a ``RepeatFactorDataset`` picks
    for the current epoch.

    mmengine calls ``set_epoch`` on the sampler (not on the data set) each
    epoch; ``__iter__`` then asks the data set for that epoch's index list,
    a pure function of the wrapper's seed and the epoch, so all ranks
    shuffle (with the common sampler seed) and partition the same list. The
    epoch length is fixed to the expected length, padded by repetition or
    cut after shuffling, so that ``len(dataloader)`` and iteration-based
    schedules stay valid.

    Example:
        >>> train_dataloader = dict(
        ...     sampler=dict(type='mmext.RepeatFactorSampler', shuffle=True),
        ...     dataset=dict(
        ...         type='mmext.RepeatFactorDataset',
        ...         rounding='stochastic',
        ...         oversample_thr=1e-3,
        ...         dataset=dict(type='VOCDataset', ...)))

    Args:
        dataset (RepeatFactorDataset): The wrapper (the dataloader's data
            set itself).
        shuffle (bool): Whether to shuffle each epoch. Defaults to True.
        seed (int, optional): Shuffle seed; synchronised across ranks when
            None. Defaults to None.
        round_up (bool): Whether to pad the epoch so that every rank gets
            the same number of samples. Defaults to True.
    """

    def __init__(self,
                 dataset,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 round_up: bool = True) -> None:
        if not hasattr(dataset, 'epoch_indices'):
            raise TypeError(
                'RepeatFactorSampler needs the dataloader dataset to be a '
                f'RepeatFactorDataset, got {type(dataset).__name__}')
        super().__init__(dataset, shuffle=shuffle, seed=seed,
                         round_up=round_up)
        expected = dataset.expected_length()
        if self.round_up:
            self.num_samples = -(-expected // self.world_size)
            self.total_size = self.num_samples * self.world_size
        else:
            self.num_samples = -(-(expected - self.rank) // self.world_size)
            self.total_size = expected

    def __iter__(self) -> Iterator[int]:
        indices = self.dataset.epoch_indices(self.epoch)
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = indices[torch.randperm(len(indices), generator=g).numpy()]
        # np.resize repeats cyclically: DefaultSampler's round-up padding.
        indices = np.resize(indices, self.total_size)
        return iter(indices[self.rank:self.total_size:self.world_size].tolist())
