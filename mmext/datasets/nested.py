"""The one walker over nested data sets, built or as configs.

mmengine's wrappers (``ConcatDataset``, ``RepeatDataset``,
``ClassBalancedDataset``), mmdet's ``ConcatDataset``, mmext's
``RepeatFactorDataset`` and most third-party ones hold what they wrap in
``datasets`` (a concatenation) or ``dataset`` (any other wrapper); their
configs use the same keys. Everything that looks inside a data set (the
category ids of the repeat-factor wrapper, the VOC data checks, the tools)
goes through :func:`inner_datasets`.
"""
from typing import Iterator, List, Optional, Tuple, Type

import numpy as np
from mmengine.dataset import (ClassBalancedDataset, ConcatDataset,
                              RepeatDataset)


def _is_dataset(node) -> bool:
    # a config, or a built data set (anything with a length)
    return isinstance(node, dict) or hasattr(node, '__len__')


def inner_datasets(dataset) -> list:
    """The data sets directly inside a wrapper.

    Args:
        dataset: A built data set or a data set config (dict).

    Returns:
        list: ``datasets`` of a concatenation, ``[dataset]`` of any other
        wrapper, ``[]`` for a data set that wraps nothing.
    """
    if isinstance(dataset, dict):
        parts, inner = dataset.get('datasets'), dataset.get('dataset')
    else:
        parts = getattr(dataset, 'datasets', None)
        inner = getattr(dataset, 'dataset', None)
    if isinstance(parts, (list, tuple)):
        return [d for d in parts if _is_dataset(d)]
    return [inner] if inner is not None and _is_dataset(inner) else []


def iter_nested_datasets(dataset) -> Iterator:
    """Yield ``dataset`` and everything nested in it, wrappers first.

    Args:
        dataset: A built data set or a data set config (dict).

    Yields:
        Each data set (or config), depth first, in order.
    """
    yield dataset
    for inner in inner_datasets(dataset):
        yield from iter_nested_datasets(inner)


def leaf_datasets(dataset) -> Iterator:
    """Yield the innermost data sets (or configs): those that wrap nothing.

    Args:
        dataset: A built data set or a data set config (dict).

    Yields:
        Each leaf, in order.
    """
    return (d for d in iter_nested_datasets(dataset) if not inner_datasets(d))


def find_dataset(dataset, cls: Type) -> Optional[object]:
    """The first data set of type ``cls`` in a built (nested) data set.

    Args:
        dataset: A built data set.
        cls (type): The type looked for.

    Returns:
        The outermost instance of ``cls``, or None.
    """
    return next((d for d in iter_nested_datasets(dataset)
                 if isinstance(d, cls)), None)


def reindexed_parts(wrapper) -> Optional[List[Tuple[object, np.ndarray]]]:
    """How an mmengine wrapper's images map onto the images it wraps.

    Args:
        wrapper: A built, fully initialised data set.

    Returns:
        list[tuple] | None: ``(inner, indices)`` pairs such that the
        wrapper's images are ``inner[indices]`` of each pair, back to back;
        None when ``wrapper`` is not an mmengine ``ConcatDataset`` (mmdet's
        included), ``RepeatDataset`` or ``ClassBalancedDataset``.
    """
    if isinstance(wrapper, ConcatDataset):
        return [(d, np.arange(len(d))) for d in wrapper.datasets]
    if isinstance(wrapper, RepeatDataset):
        n = len(wrapper.dataset)
        return [(wrapper.dataset, np.arange(n * wrapper.times) % n)]
    if isinstance(wrapper, ClassBalancedDataset):
        return [(wrapper.dataset,
                 np.asarray(wrapper.repeat_indices, dtype=np.int64))]
    return None
