"""Image-level category ids of mmengine / mmdet / mmpretrain data sets.

The ids are those mmengine's ``ClassBalancedDataset`` would see: a data set
whose ``get_cat_ids`` is anything but a known upstream function (defined on
its class, set on the instance, or patched onto a base class) is called
index by index. Known upstream functions are recognised by identity with
the functions of the upstream packages imported at the time:

* mmdet's ``BaseDetDataset`` and mmpretrain's ``BaseDataset`` /
  ``MultiLabelDataset`` ``get_cat_ids``, on a data set whose
  ``get_data_info`` and ``__len__`` are mmengine's: their field is read
  straight from the stored data infos, which skips ``get_data_info``'s
  per-call copy (the dominant cost on COCO-sized data);
* mmengine's ``ClassBalancedDataset``, which only re-indexes the data set
  it wraps: the inner ids are re-indexed.

mmengine's ``ConcatDataset`` and ``RepeatDataset`` have no ``get_cat_ids``
and are walked into (:func:`mmext.datasets.nested.reindexed_parts`); any
other data set with a ``get_cat_ids`` (mmext's ``RepeatFactorDataset``
included) is called index by index. A data set without category ids of
its own (mmengine's ``BaseDataset.get_cat_ids`` raises
``NotImplementedError``) is read from its data infos'
``instances[].bbox_label`` or ``gt_label``. mmengine refuses those; reading
them is an extension. The stored infos are read through
:func:`mmext.datasets.data_infos.stored_data_infos`.
"""
import numbers
import sys
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
from mmengine.dataset import BaseDataset, ClassBalancedDataset

from .data_infos import stored_data_infos
from .nested import reindexed_parts

# How the stock get_cat_ids read a data info: the field they use.
_DET_FIELD = 'instances[].bbox_label'
_CLS_FIELD = 'gt_label'


def upstream_function(cls: type, name: str) -> Optional[Callable]:
    """``cls.__dict__[name]`` if it is still the function written in
    ``cls``'s module (or wrapped there by mmengine's ``force_full_init``),
    i.e. nobody replaced it before this module was imported; else None."""
    func = cls.__dict__.get(name)
    allowed = {
        getattr(sys.modules[cls.__module__], '__file__', None),
        sys.modules[BaseDataset.__module__].__file__
    }
    layer = func
    while layer is not None:
        code = getattr(layer, '__code__', None)
        if code is None or code.co_filename not in allowed:
            return None
        layer = getattr(layer, '__wrapped__', None)
    return func if func.__qualname__ == f'{cls.__name__}.{name}' else None


def _stock_fields() -> Dict[Callable, str]:
    """The stock ``get_cat_ids`` functions and the field each reads, of
    the upstream packages imported so far: a data set of mmdet or
    mmpretrain has imported its package, and this module does not import
    them itself (some seconds each, and a classification user need not
    have mmdet)."""
    fields = {}
    det = sys.modules.get('mmdet.datasets')
    if det is not None and hasattr(det, 'BaseDetDataset'):
        fields[upstream_function(det.BaseDetDataset,
                                 'get_cat_ids')] = _DET_FIELD
    cls_module = sys.modules.get('mmpretrain.datasets')
    for name in ('BaseDataset', 'MultiLabelDataset'):
        cls = getattr(cls_module, name, None)
        if cls is not None:
            fields[upstream_function(cls, 'get_cat_ids')] = _CLS_FIELD
    fields.pop(None, None)
    return fields


_NOT_IMPLEMENTED = upstream_function(BaseDataset, 'get_cat_ids')
_RAW_INFO_METHODS = (upstream_function(BaseDataset, 'get_data_info'),
                     upstream_function(BaseDataset, '__len__'))
# get_cat_ids of the one wrapper whose ids are the inner data set's, re-indexed
_REINDEXING = upstream_function(ClassBalancedDataset, 'get_cat_ids')


class ImageCategories(NamedTuple):
    """Category ids of every image, in CSR form.

    Attributes:
        labels (np.ndarray): (L,) ids, image after image: int64, or object
            when some id is not an integer (a custom ``get_cat_ids``).
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


def _label_array(labels: list) -> np.ndarray:
    """int64 when every id is an integer, else an object array."""
    if all(isinstance(v, numbers.Integral) for v in labels):
        return np.asarray(labels, dtype=np.int64)
    out = np.empty(len(labels), dtype=object)
    for i, v in enumerate(labels):  # element-wise: ids may be tuples
        out[i] = v
    return out


def encode_category_ids(labels: np.ndarray,
                        num_classes: Optional[int] = None
                        ) -> Tuple[np.ndarray, list]:
    """Codes in ``[0, C + E)`` for category ids, with mmengine's semantics.

    mmengine's ``ClassBalancedDataset`` keys categories by value (a Python
    set), so any hashable id is a category. Ids in ``[0, C)`` (class
    indices) keep their value; every other id (beyond the classes,
    negative, not an integer) gets code ``C + e``, ``e`` its rank among
    those ids (sorted when they are integers, else in order of appearance).

    Args:
        labels (np.ndarray): (L,) ids, int64 or object.
        num_classes (int, optional): C; None takes 1 + the largest
            non-negative integer id.

    Returns:
        tuple: ``codes`` (L,) int64 and ``extra``, the list of the E other
        ids (``extra[e]`` has code ``C + e``).
    """
    if labels.dtype != object:
        labels = labels.astype(np.int64)
        if num_classes is None:
            num_classes = int(labels.max(initial=-1)) + 1
        other = (labels < 0) | (labels >= num_classes)
        extra = np.unique(labels[other])
        codes = labels.copy()
        codes[other] = num_classes + np.searchsorted(extra, labels[other])
        return codes, extra.tolist()
    if num_classes is None:
        ints = [v for v in labels if isinstance(v, numbers.Integral)]
        num_classes = max([int(v) for v in ints if v >= 0], default=-1) + 1
    code_of = {c: c for c in range(num_classes)}
    codes = np.array([code_of.setdefault(v, len(code_of)) for v in labels],
                     dtype=np.int64)
    return codes, list(code_of)[num_classes:]


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
    labels: list = []
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
        _label_array(labels), np.asarray(lengths, dtype=np.int64),
        field or _DET_FIELD)


def _from_get_cat_ids(dataset, name: str) -> ImageCategories:
    labels: list = []
    lengths: List[int] = []
    for idx in range(len(dataset)):
        ids = list(dataset.get_cat_ids(idx))
        lengths.append(len(ids))
        labels.extend(ids)
    return ImageCategories(
        _label_array(labels), np.asarray(lengths, dtype=np.int64),
        f'{name}.get_cat_ids')


def _function_of(method, owner) -> Optional[Callable]:
    """The plain function of a method bound to ``owner``, else None (an
    attribute set on the instance, a method of another object)."""
    if getattr(method, '__self__', None) is owner:
        return getattr(method, '__func__', None)
    return None


def _reads_raw_infos(dataset) -> bool:
    """Whether ``get_data_info(i)`` is mmengine's copy of data info ``i``
    for ``i < len(dataset)``, so the stored infos can be read instead."""
    return (isinstance(dataset, BaseDataset)
            and _function_of(dataset.get_data_info,
                             dataset) is _RAW_INFO_METHODS[0]
            and type(dataset).__len__ is _RAW_INFO_METHODS[1])


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
    name = describe_dataset(dataset)
    get_cat_ids = getattr(dataset, 'get_cat_ids', None)
    # None for a get_cat_ids set on the instance: called as it is
    func = None if get_cat_ids is None else _function_of(get_cat_ids, dataset)
    reindexes = func is not None and func is _REINDEXING
    if get_cat_ids is None or reindexes:
        parts = reindexed_parts(dataset)
        if parts is not None:
            cats = [collect_image_categories(inner).take(indices)
                    for inner, indices in parts]
            return ImageCategories(
                np.concatenate([c.labels for c in cats]),
                np.concatenate([c.lengths for c in cats]),
                cats[0].field if cats else '')
    if get_cat_ids is None:
        if hasattr(dataset, 'get_data_info'):
            return _from_infos(_infos_via_get_data_info(dataset), None, name)
        raise ValueError(f'{name} has no category information: it has '
                         'neither get_cat_ids nor get_data_info')
    stock_fields = _stock_fields()
    if func is not None and (func in stock_fields
                             or func is _NOT_IMPLEMENTED):
        infos = (stored_data_infos(dataset) if _reads_raw_infos(dataset) else
                 _infos_via_get_data_info(dataset))
        return _from_infos(infos, stock_fields.get(func), name)
    return _from_get_cat_ids(dataset, name)
