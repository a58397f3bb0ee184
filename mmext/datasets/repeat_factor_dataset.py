"""Repeat-factor (class-balanced) dataset wrapper."""
import copy
import logging
from typing import List, Union

import numpy as np
from mmengine.dataset.base_dataset import force_full_init
from mmengine.logging import print_log

from mmext.registry import DATASETS
from .category_ids import (collect_image_categories, describe_dataset,
                           encode_category_ids)
from .functional import (ROUNDINGS, active_slots, check_oversample_thr,
                         compute_repeat_factors, expected_repeats,
                         repeat_counts, repeat_indices)


def _common_classes(metainfo: Union[dict, list], name: str):
    """``metainfo['classes']``; mmdet's ConcatDataset gives a list of
    metainfos when the parts differ in other keys (e.g. 'dataset_type')."""
    metainfos = metainfo if isinstance(metainfo, list) else [metainfo]
    classes = [m.get('classes') for m in metainfos]
    if any(c is None or tuple(c) != tuple(classes[0]) for c in classes):
        if all(c is None for c in classes):
            return None
        raise ValueError(f'RepeatFactorDataset over {name}: the concatenated '
                         "data sets differ in metainfo['classes']")
    return classes[0]


@DATASETS.register_module()
class RepeatFactorDataset:
    """Repeat each image r(I) = max_{c in I} max(1, sqrt(t / f(c))) times.

    f(c) is the fraction of images that contain category c (LVIS repeat
    factor sampling). Unlike mmengine's ``ClassBalancedDataset`` it wraps
    ``ConcatDataset`` (VOC07+12), ``RepeatDataset``, mmdet and mmpretrain
    (multi-label) data sets and can round stochastically. It logs one line
    on build; ``tools/analysis/class_balance.py`` prints the per-class table
    (:func:`mmext.visualization.class_balance.format_class_balance_table`).

    Categories are what the wrapped data set's ``get_cat_ids`` returns,
    whether defined on its class, set on the instance or patched onto a
    base class, as for mmengine's wrapper; with ``rounding='ceil'`` the
    indices equal ``ClassBalancedDataset``'s for every data set it accepts.
    Ids outside ``metainfo['classes']`` (or not integers) are counted as
    extra categories, as mmengine does, with a warning. See
    :mod:`mmext.datasets.category_ids` for when the stored data infos are
    read instead of calling ``get_cat_ids`` (same ids, faster).

    Stricter than mmengine (a ``ValueError`` where it accepts): an
    ``oversample_thr`` outside (0, 1], and a data set of 0 images.

    Rounding:

    - ``'ceil'``: image I appears ceil(r(I)) times, every epoch; the indices
      equal mmengine's ``ClassBalancedDataset``'s.
    - ``'stochastic'``: image I owns ceil(r(I)) slots; each epoch uses
      floor(r(I)) + Bernoulli(r(I) - floor(r(I))) of them, drawn from
      ``(seed, epoch)``. The draw is done by
      ``sampler=dict(type='mmext.RepeatFactorSampler')``, which mmengine
      tells the epoch; the slot -> image map stays fixed, so dataloader
      workers (persistent or not) never hold a stale index list, and every
      rank partitions the same list. With another sampler every slot is
      visited, i.e. 'ceil'.

    Example:
        >>> train_dataloader = dict(
        ...     sampler=dict(type='mmext.RepeatFactorSampler', shuffle=True),
        ...     dataset=dict(
        ...         type='mmext.RepeatFactorDataset',
        ...         oversample_thr=1e-3,
        ...         rounding='stochastic',
        ...         seed=0,
        ...         dataset=dict(
        ...             type='ConcatDataset',
        ...             datasets=[
        ...                 dict(type='VOCDataset', ...),
        ...                 dict(type='VOCDataset', ...)])))

    Args:
        dataset (dict or Dataset): The wrapped data set or its config; a
            config is built in the caller's default scope, so short names
            such as ``'VOCDataset'`` work under ``default_scope='mmdet'``.
        oversample_thr (float): t in (0, 1]. Categories with f(c) < t are
            oversampled.
        rounding (str): ``'ceil'`` or ``'stochastic'``. Defaults to
            ``'ceil'``.
        seed (int): Seed of the stochastic draws; the same on every rank.
            Defaults to 0.
        lazy_init (bool): Whether to defer loading annotations until first
            use. Defaults to False.
    """

    def __init__(self,
                 dataset: Union[dict, object],
                 oversample_thr: float,
                 rounding: str = 'ceil',
                 seed: int = 0,
                 lazy_init: bool = False) -> None:
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        self.dataset = dataset
        try:
            self.oversample_thr = check_oversample_thr(oversample_thr)
        except ValueError as e:
            raise ValueError(
                f'RepeatFactorDataset over {describe_dataset(dataset)}: '
                f'{e}') from e
        if rounding not in ROUNDINGS:
            raise ValueError(f'RepeatFactorDataset: rounding must be one of '
                             f'{ROUNDINGS}, got {rounding!r}')
        self.rounding = rounding
        self.seed = int(seed)
        self._metainfo = self.dataset.metainfo
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """dict: The meta information of the wrapped data set."""
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        """Load the wrapped data set and compute the repeat factors."""
        if self._fully_initialized:
            return
        self.dataset.full_init()
        name = describe_dataset(self.dataset)
        cats = collect_image_categories(self.dataset)
        classes = _common_classes(self._metainfo, name)
        codes, self._extra_ids = encode_category_ids(
            cats.labels, None if classes is None else len(classes))
        num_known = int(codes.max(initial=-1)) + 1 - len(self._extra_ids)
        if classes is not None:
            num_known = len(classes)
            if self._extra_ids:
                print_log(
                    f'RepeatFactorDataset over {name}, field '
                    f'{cats.field!r}: category ids {self._extra_ids[:10]} '
                    f'are not among the {num_known} classes; counted as '
                    "extra categories, as mmengine's ClassBalancedDataset "
                    'does',
                    logger='current',
                    level=logging.WARNING)
        try:
            self.repeat_factors = compute_repeat_factors(
                codes, cats.lengths, num_known + len(self._extra_ids),
                self.oversample_thr)
        except ValueError as e:
            raise ValueError(f'RepeatFactorDataset over {name}, field '
                             f'{cats.field!r}: {e}') from e
        self.class_names = (
            list(classes) if classes is not None else
            [str(c) for c in range(num_known)]) + [
                str(c) for c in self._extra_ids]
        # Slots: ceil(r(I)) per image, fixed for the whole training.
        self._slot_counts = repeat_counts(self.repeat_factors.image_repeat)
        self.slot_to_image = repeat_indices(self._slot_counts)
        # Pairs are sorted by image: image i's categories are one slice.
        self._pair_offsets = np.searchsorted(
            self.repeat_factors.image_ids,
            np.arange(self.repeat_factors.num_images + 1))
        self._fully_initialized = True
        print_log(
            f'RepeatFactorDataset over {name}: '
            f'{self.repeat_factors.num_images} images -> '
            f'{len(self.slot_to_image)} slots '
            f'(t={self.oversample_thr:g}, {self.rounding}, expected '
            f'{self.expected_length()} per epoch)',
            logger='current',
            level=logging.INFO)

    @force_full_init
    def expected_length(self) -> int:
        """Expected number of samples per epoch (exact for 'ceil')."""
        return int(
            round(
                expected_repeats(self.repeat_factors.image_repeat,
                                 self.rounding).sum()))

    @force_full_init
    def epoch_indices(self, epoch: int) -> np.ndarray:
        """The indices into this data set that epoch ``epoch`` visits.

        A pure function of ``(seed, epoch)``: identical on every rank.

        Args:
            epoch (int): The epoch.

        Returns:
            np.ndarray: int64 indices, ascending.
        """
        if self.rounding == 'ceil':
            return np.arange(len(self.slot_to_image))
        counts = repeat_counts(self.repeat_factors.image_repeat,
                               'stochastic', self.seed, epoch)
        return active_slots(self._slot_counts, counts)

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The data info of the image behind slot ``idx``."""
        return self.dataset.get_data_info(int(self.slot_to_image[idx]))

    @force_full_init
    def get_cat_ids(self, idx: int) -> List:
        """The category ids of the image behind slot ``idx``: the wrapped
        data set's ``get_cat_ids`` when it has one (as mmengine's wrapper),
        else the image's distinct ids, ascending."""
        image = int(self.slot_to_image[idx])
        if hasattr(self.dataset, 'get_cat_ids'):
            return self.dataset.get_cat_ids(image)
        start, end = self._pair_offsets[image:image + 2]
        num_known = len(self.class_names) - len(self._extra_ids)
        return [
            c if c < num_known else self._extra_ids[c - num_known]
            for c in self.repeat_factors.category_ids[start:end].tolist()
        ]

    @force_full_init
    def __len__(self) -> int:
        return len(self.slot_to_image)

    def __getitem__(self, idx: int):
        if not self._fully_initialized:
            self.full_init()
        return self.dataset[int(self.slot_to_image[idx])]

    def get_subset_(self, indices) -> None:
        """Not supported: a subset of repeated slots is ambiguous."""
        raise NotImplementedError(
            'RepeatFactorDataset does not support get_subset(_); set '
            '`indices` on the wrapped data set instead')

    def get_subset(self, indices):
        """Not supported: a subset of repeated slots is ambiguous."""
        self.get_subset_(indices)

