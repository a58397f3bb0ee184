"""Image-level category ids of mmengine / mmdet / mmpretrain data sets.

mmengine's ``ConcatDataset`` and ``RepeatDataset`` have no ``get_cat_ids``;
they are handled by recursing into their inner data sets. Leaves whose
``get_cat_ids`` is the stock mmdet / mmpretrain one are read straight from
their stored data infos, which skips ``get_data_info``'s per-call copy (the
dominant cost on COCO-sized data); any other ``get_cat_ids`` is called as is.
"""
import pickle
from typing import Iterator, List, NamedTuple, Optional

import numpy as np
from mmengine.dataset import (BaseDataset, ClassBalancedDataset,
                              ConcatDataset, RepeatDataset)

# How the stock get_cat_ids read a data info: the field they use.
_DET_FIELD = 'instances[].bbox_label'
_CLS_FIELD = 'gt_label'


def _stock_fields() -> dict:
    """Map the stock ``get_cat_ids`` functions to the field they read."""
    fields = {}
    try:
        from mmdet.datasets import BaseDetDataset
        fields[BaseDetDataset.get_cat_ids] = _DET_FIELD
    except ImportError:  # mmdet is optional for classification users
        pass
    try:
        from mmpretrain.datasets import BaseDataset as ClsBaseDataset
        from mmpretrain.datasets import MultiLabelDataset
        fields[ClsBaseDataset.get_cat_ids] = _CLS_FIELD
        fields[MultiLabelDataset.get_cat_ids] = _CLS_FIELD
    except ImportError:
        pass
    return fields


class ImageCategories(NamedTuple):
    """Category ids of every image, in CSR form.

    Attributes:
        labels (np.ndarray): (L,) int64 ids, image after image.
        lengths (np.ndarray): (N,) int64 number of ids per image.
        field (str): Where the ids came from, for messages.
    """
    labels: np.ndarray
    lengths: np.ndarray
    field: str

    def take(self, indices: np.ndarray) -> 'ImageCategories':
        """The categories of images ``indices`` (repeats allowed)."""
        indices = np.asarray(indices, dtype=np.int64)
        starts = np.cumsum(self.lengths) - self.lengths
        lengths = self.lengths[indices]
        new_starts = np.cumsum(lengths) - lengths
        offsets = np.repeat(starts[indices] - new_starts, lengths)
        return ImageCategories(
            self.labels[offsets + np.arange(lengths.sum())], lengths,
            self.field)


def describe_dataset(dataset) -> str:
    """``ClassName(ann_file=...)``: names a data set in messages."""
    name = type(dataset).__name__
    ann_file = getattr(dataset, 'ann_file', None)
    if ann_file:
        return f'{name}(ann_file={ann_file!r})'
    root = getattr(dataset, 'data_root', None)
    return f'{name}(data_root={root!r})' if root else name


def _raw_data_infos(dataset: BaseDataset) -> Iterator[dict]:
    """The stored data infos, without ``get_data_info``'s copies."""
    if dataset.serialize_data:
        view = memoryview(dataset.data_bytes)
        start = 0
        for end in dataset.data_address.tolist():
            yield pickle.loads(view[start:end])
            start = end
    else:
        yield from dataset.data_list


def _infos_via_get_data_info(dataset) -> Iterator[dict]:
    for idx in range(len(dataset)):
        yield dataset.get_data_info(idx)


def _field_of(info: dict) -> Optional[str]:
    if 'instances' in info:
        return _DET_FIELD
    if 'gt_label' in info:
        return _CLS_FIELD
    return None


def _from_infos(infos: Iterator[dict], field: Optional[str],
                name: str) -> ImageCategories:
    """Read category ids from data infos; ``field=None`` infers it."""
    labels: List[int] = []
    lengths: List[int] = []
    idx = -1
    try:
        for idx, info in enumerate(infos):
            if field is None:
                field = _field_of(info)
                if field is None:
                    raise ValueError(
                        f'{name} has no category information: it does not '
                        'implement get_cat_ids and its data infos have '
                        "neither 'instances' (with 'bbox_label') nor "
                        f"'gt_label' (keys: {sorted(info)})")
            if field == _DET_FIELD:
                ids = [inst['bbox_label'] for inst in info['instances']]
            else:
                ids = np.atleast_1d(np.asarray(info['gt_label'])).tolist()
            lengths.append(len(ids))
            labels.extend(ids)
    except (KeyError, TypeError) as e:
        raise ValueError(f'{name}: data info {idx} lacks a valid {field!r} '
                         f'field ({type(e).__name__}: {e})') from e
    return ImageCategories(
        np.asarray(labels, dtype=np.int64), np.asarray(lengths,
                                                       dtype=np.int64),
        field or _DET_FIELD)


def _from_get_cat_ids(dataset, name: str) -> ImageCategories:
    labels: List[int] = []
    lengths: List[int] = []
    for idx in range(len(dataset)):
        ids = list(dataset.get_cat_ids(idx))
        lengths.append(len(ids))
        labels.extend(ids)
    return ImageCategories(
        np.asarray(labels, dtype=np.int64),
        np.asarray(lengths, dtype=np.int64), f'{name}.get_cat_ids')


def collect_image_categories(dataset) -> ImageCategories:
    """Category ids of every image of a fully initialised data set.

    Args:
        dataset: A ``BaseDataset`` (mmdet or mmpretrain), an mmengine
            ``ConcatDataset`` / ``RepeatDataset`` / ``ClassBalancedDataset``
            of them, or any object with ``get_cat_ids``.

    Returns:
        ImageCategories: The ids, aligned with the data set's indices.

    Raises:
        ValueError: If the data set has no category information.
    """
    # Local import: the wrapper module imports this one.
    from .class_balanced_dataset import RepeatFactorDataset

    name = describe_dataset(dataset)
    if isinstance(dataset, ConcatDataset):
        parts = [collect_image_categories(d) for d in dataset.datasets]
        return ImageCategories(
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.lengths for p in parts]),
            parts[0].field if parts else '')
    if isinstance(dataset, RepeatDataset):
        inner = collect_image_categories(dataset.dataset)
        n = len(inner.lengths)
        return inner.take(np.arange(n * dataset.times) % n)
    if isinstance(dataset, ClassBalancedDataset):
        return collect_image_categories(dataset.dataset).take(
            dataset.repeat_indices)
    if isinstance(dataset, RepeatFactorDataset):
        return collect_image_categories(dataset.dataset).take(
            dataset.slot_to_image)

    get_cat_ids = getattr(type(dataset), 'get_cat_ids', None)
    if isinstance(dataset, BaseDataset):
        stock = _stock_fields()
        if get_cat_ids in stock:
            return _from_infos(_raw_data_infos(dataset), stock[get_cat_ids],
                               name)
        if get_cat_ids is BaseDataset.get_cat_ids:  # not implemented
            return _from_infos(_raw_data_infos(dataset), None, name)
    if get_cat_ids is not None:
        return _from_get_cat_ids(dataset, name)
    if hasattr(dataset, 'get_data_info'):
        return _from_infos(_infos_via_get_data_info(dataset), None, name)
    raise ValueError(f'{name} has no category information: it has neither '
                     'get_cat_ids nor get_data_info')
