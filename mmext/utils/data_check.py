"""Validate VOC-style data roots before a run starts.

mmdet and mmpretrain read the VOC XML files only when the dataset is built,
and a missing split file or a broken XML then surfaces as a bare
``FileNotFoundError`` or ``ParseError`` deep in the Runner. The functions here
check a data root up front and raise one :class:`DataCheckError` that names
every bad path and says what to do.

Two entry points:

- :func:`check_voc_split`: one split file of one VOC-style root.
- :func:`check_dataset_config`: every VOC-style dataset of an mmengine config
  (through ``RepeatDataset``, ``ConcatDataset``, ``ClassBalancedDataset`` or
  any wrapper with ``dataset`` / ``datasets`` keys).

File existence is checked against one directory listing per folder (a set
lookup per image instead of a ``stat``). Parsing the ~22k XML files of the
real VOC0712 takes a few seconds; ``quick=True`` skips it when the files are
unchanged since a check that passed (see :class:`_Cache`), which is what the
pre-check of every training start wants. ``check_images=True`` also decodes
every image (JPEGs at 1/8 scale), so a truncated or corrupt JPEG is named
before training rather than failing the data loader mid-epoch.
"""
import hashlib
import importlib
import json
import os
import os.path as osp
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

FIX_ROOT = ('run tools/misc/download_voc.py or fix data_root in your '
            'config')
FIX_FILE = ('re-download the data (tools/misc/download_voc.py) or remove '
            'the id from the split file')
FIX_XML = 'fix or re-download the file'
# at most this many problems are spelled out in one error message
MAX_SHOWN = 20


class DataCheckError(ValueError):
    """A data root is not usable; the message names the paths and the fix.

    Args:
        problems (list[str]): One line per problem, each naming a path.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = self.problems[:MAX_SHOWN]
        more = len(self.problems) - len(shown)
        lines = shown + ([f'... and {more} more'] if more > 0 else [])
        if len(self.problems) == 1:
            msg = self.problems[0]
        else:
            msg = (f'{len(self.problems)} data problems:\n' +
                   '\n'.join(f'  - {line}' for line in lines))
        super().__init__(msg)


@dataclass
class SplitReport:
    """Counts of one checked split.

    Attributes:
        split_file (str): Path of the split file (``ImageSets/Main/x.txt``).
        data_root (str, optional): The dataset's ``data_root``, when checked
            through a config.
        classes (tuple[str]): Class names the dataset uses.
        roles (list[str]): Dataloaders that use the split, e.g. ``['val',
            'test']``; empty for a direct :func:`check_voc_split` call.
        num_images (int): Ids listed in the split file.
        parsed (bool): Whether the XML files were checked (False when the
            dataset reads no annotations); the per-class counts are zero
            otherwise.
        images (dict[str, int]): Images with at least one object per class.
        objects (dict[str, int]): Objects per class, difficult included.
        difficult (dict[str, int]): Difficult objects per class.
        small (dict[str, int]): Non-difficult objects that the dataset's
            ``bbox_min_size`` filter marks as ignored in training.
        skipped (int): Objects of classes outside ``classes`` (the dataset
            drops them; only allowed when the config narrows ``classes``).
    """
    split_file: str
    classes: Tuple[str, ...]
    data_root: Optional[str] = None
    roles: List[str] = field(default_factory=list)
    num_images: int = 0
    parsed: bool = False
    images: Dict[str, int] = field(default_factory=dict)
    objects: Dict[str, int] = field(default_factory=dict)
    difficult: Dict[str, int] = field(default_factory=dict)
    small: Dict[str, int] = field(default_factory=dict)
    skipped: int = 0

    @property
    def num_objects(self) -> int:
        """int: Objects of all classes."""
        return sum(self.objects.values())

    @property
    def num_difficult(self) -> int:
        """int: Difficult objects of all classes."""
        return sum(self.difficult.values())


def _listing(folder: str, suffix: str) -> Set[str]:
    """Stems of the files in ``folder`` that end with ``suffix``."""
    n = len(suffix)
    with os.scandir(folder) as entries:
        return {e.name[:-n] for e in entries if e.name.endswith(suffix)}


def _text(elem: Optional[ET.Element], tag: str) -> Optional[str]:
    child = elem.find(tag) if elem is not None else None
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _check_xml(xml_path: str, classes: Dict[str, int], report: SplitReport,
               strict_classes: bool, check_boxes: bool,
               bbox_min_size: Optional[float]) -> List[str]:
    """Parse one annotation file, add its objects to ``report``.

    Returns:
        list[str]: Problems found, each naming ``xml_path``.
    """
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as err:
        return [f'{xml_path} is not valid XML ({err}): {FIX_XML}']
    size = root.find('size')
    try:
        width = float(_text(size, 'width'))
        height = float(_text(size, 'height'))
    except (TypeError, ValueError):
        return [f'{xml_path} has no valid <size><width>/<height>: {FIX_XML}']
    if width <= 0 or height <= 0:
        return [f'{xml_path} has image size {width:g}x{height:g}: {FIX_XML}']

    problems = []
    seen = set()
    for i, obj in enumerate(root.iter('object')):
        where = f'{xml_path} object {i}'
        name = _text(obj, 'name')
        if name not in classes:
            if strict_classes or not name:
                problems.append(
                    f'{where} has class {name!r}, not one of the dataset '
                    f'classes: {FIX_XML} (or set metainfo=dict(classes=...) '
                    'in the config)')
            else:
                report.skipped += 1
            continue
        difficult = _text(obj, 'difficult') or '0'
        if difficult not in ('0', '1'):
            problems.append(f'{where} has <difficult>{difficult}</difficult>'
                            f', expected 0 or 1: {FIX_XML}')
            continue
        if check_boxes:
            try:
                box = [float(_text(obj.find('bndbox'), k))
                       for k in ('xmin', 'ymin', 'xmax', 'ymax')]
            except (TypeError, ValueError):
                problems.append(f'{where} ({name}) has no valid <bndbox> '
                                f'xmin/ymin/xmax/ymax: {FIX_XML}')
                continue
            x1, y1, x2, y2 = box
            if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
                problems.append(
                    f'{where} ({name}) has box ({x1:g}, {y1:g}, {x2:g}, '
                    f'{y2:g}) outside the {width:g}x{height:g} image or with '
                    f'xmin >= xmax / ymin >= ymax: {FIX_XML}')
                continue
            # mmdet: ints minus one, then w or h < bbox_min_size -> ignored
            if (bbox_min_size is not None and difficult == '0'
                    and min(int(x2) - int(x1), int(y2) - int(y1)) <
                    bbox_min_size):
                report.small[name] += 1
        report.objects[name] += 1
        report.difficult[name] += difficult == '1'
        seen.add(name)
    for name in seen:
        report.images[name] += 1
    return problems


def _check_image(path: str) -> Optional[str]:
    """A problem naming ``path`` if it does not decode as an image."""
    # PIL, not cv2: cv2 decodes some corrupt files with a warning only;
    # draft() decodes a JPEG at 1/8 scale, which still reads every byte
    from PIL import Image
    try:
        with Image.open(path) as img:
            img.draft('RGB', (1, 1))
            img.load()
    except (OSError, SyntaxError, ValueError) as err:
        return f'{path} cannot be decoded as an image ({err}): {FIX_FILE}'
    return None


def check_voc_split(split_file: str,
                    img_dir: str,
                    ann_dir: Optional[str],
                    classes: Sequence[str],
                    quick: bool = False,
                    strict_classes: bool = True,
                    check_boxes: bool = True,
                    bbox_min_size: Optional[float] = None,
                    check_images: bool = False,
                    progress: bool = False) -> SplitReport:
    """Check one split of a VOC-style data root.

    Checks that the split file exists and lists ids, that every listed
    ``<img_dir>/<id>.jpg`` and ``<ann_dir>/<id>.xml`` exists and that
    every XML parses and is consistent: ``<size>`` present,
    object names among ``classes``, ``<difficult>`` 0 or 1, boxes numeric,
    inside the image and with ``xmin < xmax``, ``ymin < ymax``.

    Args:
        split_file (str): ``ImageSets/Main/<split>.txt``, one id per line.
        img_dir (str): Folder of the ``<id>.jpg`` images.
        ann_dir (str, optional): Folder of the ``<id>.xml`` annotations;
            None when the dataset reads no annotations.
        classes (Sequence[str]): Class names of the dataset.
        quick (bool): Reuse the counts of an earlier full check when the
            split file and every XML file are unchanged (same mtime and
            size), instead of parsing the XML files again. Defaults to False.
        strict_classes (bool): Whether an object of a class outside
            ``classes`` is a problem; when False it is counted in
            ``SplitReport.skipped`` (the datasets drop such objects).
            Defaults to True.
        check_boxes (bool): Whether to check ``<bndbox>``. Defaults to True.
        bbox_min_size (float, optional): The training ``bbox_min_size``
            filter, to count the boxes it ignores. Defaults to None.
        check_images (bool): Decode every image, to find truncated or
            corrupt files (slow on the full data set; never skipped by
            ``quick``). Defaults to False.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        SplitReport: The counts of the split.

    Raises:
        DataCheckError: Naming every problem found and what to do.
    """
    if not osp.isfile(split_file):
        raise DataCheckError([f'{split_file} not found: {FIX_ROOT}'])
    with open(split_file) as f:
        # mmengine's list_from_file keeps every line; VOC files have no blanks
        ids = [line.strip() for line in f if line.strip()]
    if not ids:
        raise DataCheckError([f'{split_file} lists no images: {FIX_ROOT}'])

    folders = [('image', img_dir, '.jpg')]
    if ann_dir is not None:
        folders.append(('annotation', ann_dir, '.xml'))
    problems = []
    for kind, folder, suffix in folders:
        if not osp.isdir(folder):
            problems.append(f'{kind} folder {folder} (for {split_file}) not '
                            f'found: {FIX_ROOT}')
            continue
        present = _listing(folder, suffix)
        problems += [
            f'{osp.join(folder, i + suffix)} (listed in {split_file}) not '
            f'found: {FIX_FILE}' for i in ids if i not in present
        ]
    if check_images:
        img_paths = [osp.join(img_dir, i + '.jpg') for i in ids]
        for path in _track(img_paths, f'decoding {img_dir}', progress):
            problem = _check_image(path)
            problems += [problem] if problem else []
    if problems:
        raise DataCheckError(problems)

    report = SplitReport(
        split_file=split_file,
        classes=tuple(classes),
        num_images=len(ids),
        parsed=ann_dir is not None)
    for counts in (report.images, report.objects, report.difficult,
                   report.small):
        counts.update((c, 0) for c in classes)
    if ann_dir is None:
        return report
    xml_paths = [osp.join(ann_dir, i + '.xml') for i in ids]
    cache = _Cache(split_file, ann_dir,
                   (classes, strict_classes, check_boxes, bbox_min_size),
                   xml_paths)
    if quick and cache.load(report):
        return report
    class_set = {c: i for i, c in enumerate(classes)}
    for xml_path in _track(xml_paths, f'checking {split_file}', progress):
        problems += _check_xml(xml_path, class_set, report, strict_classes,
                               check_boxes, bbox_min_size)
    if problems:
        raise DataCheckError(problems)
    cache.save(report)
    return report


class _Cache:
    """Counts of a split that passed a full check, keyed by file stats.

    Parsing the ~22k XML files of VOC0712 takes seconds; a ``stat`` per file
    is ~50 times cheaper, so a quick check re-parses only when the split
    file, an XML file (mtime or size) or the check arguments changed since
    the last full check that passed. The cache lives in
    ``$MMEXT_CACHE_DIR`` (default ``~/.cache/mmext/data_check``).
    """

    def __init__(self, split_file: str, ann_dir: str, args: tuple,
                 xml_paths: Sequence[str]) -> None:
        folder = os.environ.get(
            'MMEXT_CACHE_DIR',
            osp.join(osp.expanduser('~'), '.cache', 'mmext', 'data_check'))
        name = hashlib.sha1(
            f'{osp.abspath(split_file)}|{osp.abspath(ann_dir)}'.encode())
        self.path = osp.join(folder, name.hexdigest()[:16] + '.json')
        sig = hashlib.sha1(repr(args).encode())
        with open(split_file, 'rb') as f:
            sig.update(f.read())
        for path in xml_paths:
            st = os.stat(path)
            sig.update(b'%d %d;' % (st.st_mtime_ns, st.st_size))
        self.signature = sig.hexdigest()

    def load(self, report: SplitReport) -> bool:
        """Fill ``report`` from the cache; False if there is no valid one."""
        try:
            with open(self.path) as f:
                cached = json.load(f)
        except (OSError, ValueError):
            return False
        if cached.get('signature') != self.signature:
            return False
        for key in ('images', 'objects', 'difficult', 'small', 'skipped'):
            setattr(report, key, cached[key])
        return True

    def save(self, report: SplitReport) -> None:
        """Store ``report``; silently skipped where the cache is read-only
        (it only saves time)."""
        data = {k: getattr(report, k) for k in
                ('images', 'objects', 'difficult', 'small', 'skipped')}
        data['signature'] = self.signature
        try:
            os.makedirs(osp.dirname(self.path), exist_ok=True)
            # write then rename: ranks of a distributed job check at once
            tmp = f'{self.path}.{os.getpid()}.tmp'
            with open(tmp, 'w') as f:
                json.dump(data, f)
            os.replace(tmp, self.path)
        except OSError:
            pass


def _track(items: Sequence, description: str, enabled: bool) -> Iterable:
    if not enabled:
        return items
    from rich.progress import track  # only the tools draw progress bars
    return track(items, description=description, total=len(items))


# ----------------------------------------------------------------------------
# configs


def _join(root: Optional[str], path: str) -> str:
    """mmengine's BaseDataset rule: relative paths hang off ``data_root``."""
    return osp.join(root, path) if root and not osp.isabs(path) else path


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


def _voc_leaf(cfg: dict, cls) -> Optional[dict]:
    """The :func:`check_voc_split` arguments of a VOC-style dataset config.

    Mirrors how mmdet's ``XMLDataset`` and mmpretrain's ``VOC`` build their
    paths; None for any other dataset.
    """
    mro = {f'{c.__module__.split(".")[0]}.{c.__name__}' for c in cls.__mro__}
    root = cfg.get('data_root')
    if cfg.get('backend_args') or (root and '://' in root):
        return None  # remote storage: nothing to check on the local disk
    metainfo = cfg.get('metainfo')
    custom = isinstance(metainfo, dict) and 'classes' in metainfo
    classes = metainfo['classes'] if custom else (
        getattr(cls, 'METAINFO', {}).get('classes'))
    if 'mmdet.XMLDataset' in mro:
        prefix = cfg.get('data_prefix') or {}
        sub_root = _join(root, prefix.get('sub_data_root', ''))
        filter_cfg = cfg.get('filter_cfg') or {}
        return dict(
            split_file=_join(root, cfg.get('ann_file', '')),
            img_dir=osp.join(sub_root, cfg.get('img_subdir', 'JPEGImages')),
            ann_dir=osp.join(sub_root, cfg.get('ann_subdir', 'Annotations')),
            classes=classes,
            strict_classes=not custom,
            bbox_min_size=None if cfg.get('test_mode') else
            filter_cfg.get('bbox_min_size'))
    if 'mmpretrain.VOC' in mro:
        split = cfg.get('split', 'trainval')
        set_path = cfg.get('image_set_path') or osp.join(
            'ImageSets', 'Main', f'{split}.txt')
        prefix = cfg.get('data_prefix',
                         dict(img_path='JPEGImages', ann_path='Annotations'))
        if isinstance(prefix, str):
            prefix = dict(img_path=prefix)
        ann = prefix.get('ann_path')
        return dict(
            split_file=_join(root, set_path),
            img_dir=_join(root, prefix['img_path']),
            ann_dir=None if ann is None else _join(root, ann),
            classes=classes,
            strict_classes=not custom,
            check_boxes=False)  # classification reads names only
    return None


def iter_dataset_leaves(dataset_cfg: dict) -> Iterable[dict]:
    """Yield the innermost dataset configs under any wrapper.

    A wrapper is a dict with a ``dataset`` (``RepeatDataset``,
    ``ClassBalancedDataset``, ...) or ``datasets`` (``ConcatDataset``) key.

    Args:
        dataset_cfg (dict): A ``dataset=`` config of a dataloader.

    Yields:
        dict: Each leaf dataset config.
    """
    if isinstance(dataset_cfg.get('datasets'), (list, tuple)):
        for sub in dataset_cfg['datasets']:
            yield from iter_dataset_leaves(sub)
    elif isinstance(dataset_cfg.get('dataset'), dict):
        yield from iter_dataset_leaves(dataset_cfg['dataset'])
    else:
        yield dataset_cfg


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
        for leaf in iter_dataset_leaves(loader['dataset']):
            cls = _dataset_class(leaf.get('type'), default_scope)
            args = _voc_leaf(leaf, cls) if cls is not None else None
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
