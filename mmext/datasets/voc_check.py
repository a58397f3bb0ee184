"""Check one split of a VOC-style data root before a run starts.

mmdet and mmpretrain read the VOC XML files only when the dataset is built,
and a missing split file or a broken XML then surfaces as a bare
``FileNotFoundError`` or ``ParseError`` deep in the Runner.
:func:`check_voc_split` checks a split up front and raises one
:class:`DataCheckError` that names every bad path and says what to do;
:mod:`mmext.datasets.config_check` finds the splits a config uses.

File existence is checked against one directory listing per folder (a set
lookup per image instead of a ``stat``). Parsing the ~22k XML files of the
real VOC0712 takes a few seconds; ``quick=True`` skips it when the files are
unchanged since a check that passed (see :class:`_Cache`), which is what the
pre-check of every training start wants. ``check_images=True`` also decodes
every image (JPEGs at 1/8 scale), so a truncated or corrupt JPEG is named
before training rather than failing the data loader mid-epoch. Which boxes
the training ``bbox_min_size`` filter ignores is decided by mmdet's own
``XMLDataset`` parser, so the count follows mmdet's rule.
"""
import hashlib
import json
import os
import os.path as osp
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import (Callable, Dict, Iterable, List, Optional, Sequence, Set,
                    Tuple)

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


def mmdet_instance_parser(classes: Sequence[str],
                          bbox_min_size: float) -> Callable:
    """mmdet's parser of the objects of one VOC XML file, with its
    ``bbox_min_size`` rule.

    Args:
        classes (Sequence[str]): Class names of the dataset.
        bbox_min_size (float): The training filter's ``bbox_min_size``.

    Returns:
        Callable: ``XMLDataset._parse_instance_info``: ``ElementTree ->
        list[dict]``, one dict per object of a class in ``classes``, whose
        ``ignore_flag`` is 1 for difficult and too-small boxes.
    """
    from mmdet.datasets import XMLDataset  # only detection data uses it
    dataset = XMLDataset(
        ann_file='',
        metainfo=dict(classes=tuple(classes)),
        filter_cfg=dict(bbox_min_size=bbox_min_size),
        pipeline=[],
        lazy_init=True)
    # load_data_list sets it; it would parse every file of the split
    dataset.cat2label = {c: i for i, c in enumerate(classes)}
    return dataset._parse_instance_info


def _check_xml(xml_path: str, classes: Dict[str, int], report: SplitReport,
               strict_classes: bool, check_boxes: bool,
               parse_instances: Optional[Callable]) -> List[str]:
    """Parse one annotation file, add its objects to ``report``.

    Args:
        parse_instances (Callable, optional): mmdet's object parser (see
            :func:`mmdet_instance_parser`), to count the boxes its
            ``bbox_min_size`` rule ignores; None counts none.

    Returns:
        list[str]: Problems found, each naming ``xml_path``.
    """
    try:
        tree = ET.parse(xml_path)
    except ET.ParseError as err:
        return [f'{xml_path} is not valid XML ({err}): {FIX_XML}']
    root = tree.getroot()
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
    kept = []  # (name, difficult) of the objects mmdet keeps, in order
    for i, obj in enumerate(root.findall('object')):
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
        kept.append((name, difficult == '1'))
        report.objects[name] += 1
        report.difficult[name] += difficult == '1'
        seen.add(name)
    for name in seen:
        report.images[name] += 1
    if parse_instances is not None and not problems:
        instances = parse_instances(tree)
        for (name, difficult), inst in zip(kept, instances):
            report.small[name] += inst['ignore_flag'] == 1 and not difficult
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
    except ImportError as err:
        # Image.open patched by another package (ultralytics imports a
        # HEIF plugin when PIL cannot identify a file): still this file
        return (f'{path} cannot be decoded as an image (PIL does not know '
                f'the format; {type(err).__name__}: {err}): {FIX_FILE}')
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
            filter, to count the boxes mmdet's ``XMLDataset`` ignores
            under it. Defaults to None.
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
    parse_instances = None if bbox_min_size is None else \
        mmdet_instance_parser(classes, bbox_min_size)
    for xml_path in _track(xml_paths, f'checking {split_file}', progress):
        problems += _check_xml(xml_path, class_set, report, strict_classes,
                               check_boxes, parse_instances)
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
