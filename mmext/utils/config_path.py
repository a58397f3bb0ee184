"""Paths of the configs that ship with mmext.

A wheel carries the repository's ``configs/`` as ``mmext/.mim/configs``, the
layout mmdet uses; a source checkout (or an editable install) reads
``configs/`` beside the package. mmengine's ``'pkg::'`` prefix resolves only
its own list of packages, so ``_base_ = 'mmext::...'`` fails: open the file by
its path instead. The configs inherit each other by relative paths and mmdet /
mmpretrain ones by ``'mmdet::'``, both of which resolve from either place.

Example::

    import mmext
    from mmengine.config import Config

    cfg = Config.fromfile(mmext.get_config_path(
        'faster_rcnn/faster-rcnn_r50_fpn_1x_voc0712.py'))
"""
import difflib
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def config_root() -> Path:
    """Return the folder that holds mmext's configs.

    Returns:
        Path: ``mmext/.mim/configs`` in an installed wheel, else the
        ``configs/`` folder of the source tree.
    """
    for root in (_PACKAGE / '.mim' / 'configs', _PACKAGE.parent / 'configs'):
        if root.is_dir():
            return root
    raise FileNotFoundError(
        f'mmext configs not found: neither {_PACKAGE / ".mim" / "configs"} '
        f'(installed wheel) nor {_PACKAGE.parent / "configs"} (source tree) '
        'exists; reinstall mmext')


def get_config_path(name: str) -> str:
    """Return the path of a config shipped with mmext.

    Args:
        name (str): Path relative to the configs folder, e.g.
            ``'faster_rcnn/faster-rcnn_r50_fpn_1x_voc0712.py'`` (the ``.py``
            may be left out).

    Returns:
        str: Absolute path of the file, for ``Config.fromfile``.
    """
    root = config_root()
    rel = name if name.endswith('.py') else f'{name}.py'
    if Path(rel).is_absolute() or '..' in Path(rel).parts:
        raise ValueError(f'config name {name!r} must be a path relative to '
                         f'{root}, without ".."')
    path = root / rel
    if not path.is_file():
        known = sorted(
            p.relative_to(root).as_posix() for p in root.rglob('*.py'))
        close = difflib.get_close_matches(rel, known, n=3, cutoff=0.5)
        hint = f'; did you mean {", ".join(close)}?' if close else ''
        raise FileNotFoundError(
            f'no mmext config {name!r} in {root}{hint}')
    return str(path)
