"""Read the data infos an mmengine ``BaseDataset`` stores, without copies.

``BaseDataset.get_data_info(i)`` deep-copies (or unpickles) info ``i`` and
adds ``sample_idx``: the dominant cost of reading the category ids of a
COCO-sized data set. :func:`stored_data_infos` reads the stored infos
directly. That means mmengine's private storage (``data_list``, or
``data_bytes`` / ``data_address`` after ``serialize_data``), so it is the one
place that touches it, for the mmengine versions whose layout was checked;
any other version, or an unexpected layout, falls back to the public
``get_data_info``.
"""
import pickle
from typing import Iterator, Optional

import mmengine
import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.utils import digit_version

# mmengine versions whose BaseDataset storage layout was read and tested
_PRIVATE_LAYOUT_VERSIONS = (digit_version('0.10.0'), digit_version('0.11.0'))


def private_layout_supported(version: str = mmengine.__version__) -> bool:
    """Whether mmext reads ``BaseDataset``'s private storage on ``version``.

    Args:
        version (str): An mmengine version. Defaults to the installed one.

    Returns:
        bool: True for the versions whose layout was checked.
    """
    low, high = _PRIVATE_LAYOUT_VERSIONS
    return low <= digit_version(version) < high


def _has_private_storage(dataset) -> bool:
    """Whether the storage attributes are there, with the types read."""
    serialized = getattr(dataset, 'serialize_data', None)
    if serialized is True:
        return all(
            isinstance(getattr(dataset, name, None), np.ndarray)
            for name in ('data_bytes', 'data_address'))
    if serialized is False:
        return isinstance(getattr(dataset, 'data_list', None), list)
    return False


def _public_infos(dataset: BaseDataset) -> Iterator[dict]:
    for idx in range(len(dataset)):
        yield dataset.get_data_info(idx)


def _private_infos(dataset: BaseDataset) -> Iterator[dict]:
    if not dataset.serialize_data:
        yield from dataset.data_list
        return
    view = memoryview(dataset.data_bytes)
    start = 0
    for end in dataset.data_address.tolist():
        yield pickle.loads(view[start:end])
        start = end


def stored_data_infos(dataset: BaseDataset,
                      use_private: Optional[bool] = None) -> Iterator[dict]:
    """Yield data info ``i`` of a fully initialised data set for every
    ``i < len(dataset)``, as stored (no ``sample_idx``, no copy).

    Call it only where ``get_data_info`` and ``__len__`` are mmengine's own
    (a subclass may compute infos differently).

    Args:
        dataset (BaseDataset): A fully initialised mmengine data set.
        use_private (bool, optional): Read the private storage; None
            (default) decides from the installed mmengine version and the
            storage found.

    Yields:
        dict: The stored data infos, in index order. Callers must not
        change them (unserialised ones are the data set's own).
    """
    if use_private is None:
        use_private = private_layout_supported() and \
            _has_private_storage(dataset)
    return _private_infos(dataset) if use_private else \
        _public_infos(dataset)
