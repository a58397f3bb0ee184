"""Check the VOC-style data sets a config's dataloaders use.

Each leaf data set config (under any wrapper, found with
:func:`mmext.datasets.nested.leaf_datasets`) of an mmdet ``XMLDataset``
(``VOCDataset`` and subclasses) or an mmpretrain ``VOC`` is built with
``lazy_init=True``: the data set's own constructor resolves its paths
(``data_root``, ``data_prefix``, ``img_subdir`` / ``ann_subdir``, the split
file) and its filter settings without reading a file, and
:func:`mmext.datasets.voc_check.check_voc_split` checks what they point at.
"""
import importlib
import os.path as osp
from typing import Dict, List, Optional, Sequence

from .nested import leaf_datasets
from .voc_check import FIX_ROOT, DataCheckError, SplitReport, check_voc_split


def _dataset_class(type_, default_scope: Optional[str]):
    """The class a dataset ``type`` resolves to, or None if it does not."""
    if not isinstance(type_, str):
        return type_
    scope, _, name = type_.rpartition('.')
    scope = scope or default_scope or 'mmengine'
    try:
        registry = importlib.import_module(f'{scope}.registry').DATASETS
    except ImportError:
        return None
    # mmengine resolves 'scope.Name' from any registry of the hierarchy
    return registry.get(f'{scope}.{name}')


def _upstream_names(cls) -> set:
    """``'package.Class'`` of every class in ``cls``'s MRO."""
    return {f'{c.__module__.split(".")[0]}.{c.__name__}' for c in cls.__mro__}


def voc_split_args(cfg: dict, default_scope: Optional[str]) -> Optional[dict]:
    """The :func:`check_voc_split` arguments of a VOC-style dataset config.

    Args:
        cfg (dict): A leaf data set config.
        default_scope (str, optional): Scope of unprefixed ``type`` names.

    Returns:
        dict | None: The arguments, with the paths as the data set itself
        resolves them; None for any other data set, and for data on remote
        storage (nothing to check on the local disk).

    Raises:
        DataCheckError: When the data set's constructor refuses the config.
    """
    cls = _dataset_class(cfg.get('type'), default_scope)
    if cls is None:
        return None
    names = _upstream_names(cls)
    is_det, is_cls = 'mmdet.XMLDataset' in names, 'mmpretrain.VOC' in names
    root = cfg.get('data_root')
    if not (is_det or is_cls) or cfg.get('backend_args') or (
            root and '://' in root):
        return None
    kwargs = {k: v for k, v in cfg.items() if k not in ('type', '_scope_')}
    try:  # paths only: lazy_init reads no file
        dataset = cls(**dict(kwargs, pipeline=[], lazy_init=True))
    except (AssertionError, TypeError, ValueError) as err:
        raise DataCheckError([
            f'{cls.__name__}(data_root={root!r}) config is not valid: '
            f'{err}'
        ]) from err
    metainfo = cfg.get('metainfo')
    custom_classes = isinstance(metainfo, dict) and 'classes' in metainfo
    args = dict(classes=dataset.metainfo['classes'],
                strict_classes=not custom_classes)
    if is_det:
        # mmdet's load_data_list joins these two the same way
        return dict(
            args,
            split_file=dataset.ann_file,
            img_dir=osp.join(dataset.sub_data_root, dataset.img_subdir),
            ann_dir=osp.join(dataset.sub_data_root, dataset.ann_subdir),
            bbox_min_size=None if dataset.test_mode else
            dataset.bbox_min_size)
    return dict(
        args,
        split_file=dataset.image_set_path,
        img_dir=dataset.img_prefix,
        ann_dir=dataset.ann_prefix,
        check_boxes=False)  # classification reads names only


def check_dataset_config(cfg,
                         splits: Sequence[str] = ('train', 'val', 'test'),
                         quick: bool = False,
                         check_images: bool = False,
                         progress: bool = False) -> Dict[str, SplitReport]:
    """Check every VOC-style dataset that a config's dataloaders use.

    Walks ``<split>_dataloader.dataset`` for each of ``splits`` through the
    dataset wrappers and checks each mmdet ``XMLDataset`` (``VOCDataset``
    and subclasses) and mmpretrain ``VOC`` leaf with
    :func:`check_voc_split`. Other dataset types (COCO json, remote
    storage) are left alone. Problems of all leaves are gathered into one
    error, each listed once: a data root or split file that several
    dataloaders share (val and test, typically) is checked once.

    Args:
        cfg (Config | dict): A loaded mmengine config.
        splits (Sequence[str]): Dataloaders to check: ``train``, ``val``,
            ``test``; missing ones are skipped. Defaults to all three.
        quick (bool): Skip parsing the XML files unchanged since an earlier
            check passed (see :func:`check_voc_split`). Defaults to False.
        check_images (bool): Decode every image (see
            :func:`check_voc_split`). Defaults to False.
        progress (bool): Show progress bars. Defaults to False.

    Returns:
        dict[str, SplitReport]: Reports by split file path, in config order;
        a split file used by several dataloaders is checked once.

    Raises:
        DataCheckError: Naming every problem found and what to do.
    """
    default_scope = cfg.get('default_scope')
    reports: Dict[str, SplitReport] = {}
    # per bad data root its dataloaders, per bad split file its problems;
    # both keep first-seen order and list a shared path once
    missing_roots: Dict[str, List[str]] = {}
    failed: Dict[str, List[str]] = {}
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or not loader.get('dataset'):
            continue
        for leaf in leaf_datasets(loader['dataset']):
            try:
                args = voc_split_args(leaf, default_scope)
            except DataCheckError as err:
                failed[repr(leaf)] = err.problems
                continue
            if args is None:
                continue
            root = leaf.get('data_root')
            if root and not osp.isdir(root):
                roles = missing_roots.setdefault(root, [])
                roles += [split] if split not in roles else []
                continue
            if args['split_file'] in reports:
                roles = reports[args['split_file']].roles
                roles += [split] if split not in roles else []
                continue
            if args['split_file'] in failed:
                continue
            try:
                report = check_voc_split(
                    **args, quick=quick, check_images=check_images,
                    progress=progress)
            except DataCheckError as err:
                failed[args['split_file']] = err.problems
                continue
            report.roles.append(split)
            report.data_root = root
            reports[report.split_file] = report
    problems = [
        f'data root {root} (of the {", ".join(roles)} '
        f'dataset{"s" if len(roles) > 1 else ""}) not found: {FIX_ROOT}'
        for root, roles in missing_roots.items()
    ]
    problems += [p for split_problems in failed.values()
                 for p in split_problems]
    if problems:
        raise DataCheckError(list(dict.fromkeys(problems)))
    return reports
