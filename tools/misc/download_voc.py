"""Download Pascal VOC 2007 (trainval, test) and VOC 2012 (trainval).

Usage::

    python tools/misc/download_voc.py [--data-root data/VOCdevkit]
        [--download-dir data/downloads] [--mirror URL] [--sets ...]

Each archive is fetched to ``<download-dir>/<name>.tar.part`` (an
interrupted download resumes from there with an HTTP Range request, also
across runs), checked against its published md5, renamed to
``<name>.tar`` and extracted into ``<data-root>/VOC2007`` / ``VOC2012``,
the layout of mmdet's VOC configs. A file whose md5 does not match is kept
aside as ``<name>.tar.corrupt``.

Extraction never leaves a tree that looks complete while it is not: an
archive is extracted into a hidden folder of ``data-root`` first, then a new
year folder is renamed into place in one step, or, when the year folder
already exists (VOC2007 trainval and test share it), the files are moved in
with ``ImageSets/`` last, so a split file appears only after all its images
and annotations.
"""
import argparse
import hashlib
import http.client
import os
import os.path as osp
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

# The Oxford host of the VOC challenge (torchvision uses it too);
# http://host.robots.ox.ac.uk/pascal/VOC is its older name.
OFFICIAL_URL = 'https://thor.robots.ox.ac.uk/pascal/VOC'
MIRROR_ENV = 'MMEXT_VOC_MIRROR'
CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """One VOC tar file.

    Attributes:
        path (str): Path under the mirror URL, e.g.
            ``voc2007/VOCtest_06-Nov-2007.tar``.
        md5 (str): Published md5 of the file.
        split_files (tuple[str]): Files under the data root that the archive
            must provide, e.g. ``VOC2007/ImageSets/Main/test.txt``.
    """
    path: str
    md5: str
    split_files: Tuple[str, ...]

    @property
    def filename(self) -> str:
        """str: The file name of the archive."""
        return self.path.rsplit('/', 1)[-1]


ARCHIVES: Dict[str, Archive] = {
    'voc2007-trainval': Archive(
        'voc2007/VOCtrainval_06-Nov-2007.tar',
        'c52e279531787c972589f7e41ab4ae64',
        ('VOC2007/ImageSets/Main/trainval.txt', )),
    'voc2007-test': Archive(
        'voc2007/VOCtest_06-Nov-2007.tar', 'b6e924de25625d8de591ea690078ad9f',
        ('VOC2007/ImageSets/Main/test.txt', )),
    'voc2012-trainval': Archive(
        'voc2012/VOCtrainval_11-May-2012.tar',
        '6cd6e144f989b92b3379bac3b3de84fd',
        ('VOC2012/ImageSets/Main/trainval.txt', )),
}


class DownloadError(RuntimeError):
    """A download or extraction failed; the message says what to do."""


def _progress(enabled: bool, kind: str = 'bytes'):
    """A rich progress display (hidden when ``enabled`` is False)."""
    from rich.progress import (BarColumn, DownloadColumn, Progress,
                               TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)
    columns = [TextColumn('{task.description}'), BarColumn(), DownloadColumn()]
    if kind == 'transfer':
        columns.append(TransferSpeedColumn())
    return Progress(*columns, TimeRemainingColumn(), disable=not enabled)


def ensure_writable(folder: str) -> None:
    """Create ``folder`` if needed and check that files can be written there.

    Args:
        folder (str): The folder.

    Raises:
        DownloadError: If it cannot be created or written.
    """
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise DownloadError(
            f'{folder} is not writable ({err.strerror or err}): fix its '
            'permissions or choose another --data-root / --download-dir'
        ) from err


def md5sum(path: str, progress: bool = False) -> str:
    """The md5 hex digest of a file.

    Args:
        path (str): The file.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        str: The digest.
    """
    digest = hashlib.md5()
    with _progress(progress) as bar, open(path, 'rb') as f:
        task = bar.add_task(f'md5 {osp.basename(path)}',
                            total=osp.getsize(path))
        for chunk in iter(lambda: f.read(CHUNK), b''):
            digest.update(chunk)
            bar.advance(task, len(chunk))
    return digest.hexdigest()


def _verify(path: str, md5: Optional[str], url: str, progress: bool) -> None:
    """Check the md5 of ``path``; set a bad file aside as ``*.corrupt``."""
    if md5 is None:
        return
    got = md5sum(path, progress)
    if got != md5:
        final = path[:-len('.part')] if path.endswith('.part') else path
        corrupt = final + '.corrupt'
        os.replace(path, corrupt)
        raise DownloadError(
            f'{url}: md5 {got} does not match the published {md5}; the file '
            f'is kept as {corrupt}. Delete it and run again, or use another '
            f'--mirror / ${MIRROR_ENV}')


def fetch(url: str,
          dest: str,
          md5: Optional[str] = None,
          retries: int = 5,
          timeout: float = 60,
          retry_wait: float = 2,
          progress: bool = True) -> str:
    """Download ``url`` to ``dest``, resuming interrupted transfers.

    Bytes go to ``dest + '.part'``; when it exists (a cut connection, or an
    earlier run) the download continues with an HTTP Range request. After
    the md5 check the part file is renamed to ``dest``. An existing ``dest``
    is only checked.

    Args:
        url (str): Source URL.
        dest (str): Target file.
        md5 (str, optional): Expected md5; None skips the check.
        retries (int): Attempts after a failed one. Defaults to 5.
        timeout (float): Socket timeout in seconds. Defaults to 60.
        retry_wait (float): Seconds before attempt n is ``n * retry_wait``.
            Defaults to 2.
        progress (bool): Show progress bars. Defaults to True.

    Returns:
        str: ``dest``.

    Raises:
        DownloadError: On an HTTP error, when the retries are used up, or on
            an md5 mismatch (the file is then kept as ``dest + '.corrupt'``).
    """
    if osp.isfile(dest):
        _verify(dest, md5, url, progress)
        return dest
    ensure_writable(osp.dirname(osp.abspath(dest)))
    part = dest + '.part'
    for attempt in range(retries + 1):
        start = osp.getsize(part) if osp.isfile(part) else 0
        headers = {'User-Agent': 'mmext-download-voc'}
        if start:
            headers['Range'] = f'bytes={start}-'
        try:
            if _fetch_once(url, part, start, headers, timeout, progress):
                break
            err = 'the connection closed early'
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start:  # nothing left to fetch
                break
            raise DownloadError(
                f'{url}: HTTP {exc.code} {exc.reason}: check the URL, '
                f'--mirror or ${MIRROR_ENV}') from exc
        except (urllib.error.URLError, http.client.HTTPException,
                ConnectionError, TimeoutError) as exc:
            err = str(getattr(exc, 'reason', exc)) or type(exc).__name__
        if attempt == retries:
            raise DownloadError(
                f'{url}: download failed after {retries + 1} attempts '
                f'({err}); run again to resume from {part}')
        time.sleep(retry_wait * (attempt + 1))
    _verify(part, md5, url, progress)
    os.replace(part, dest)
    return dest


def _fetch_once(url: str, part: str, start: int, headers: dict,
                timeout: float, progress: bool) -> bool:
    """One request; append to ``part``. True when the body was complete."""
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        if resp.status != 206:
            start = 0  # the server ignored the Range: start over
        length = resp.headers.get('Content-Length')
        total = start + int(length) if length is not None else None
        folder = osp.dirname(osp.abspath(part))
        if total is not None and (shutil.disk_usage(folder).free <
                                  total - start):
            raise DownloadError(
                f'{folder} has {shutil.disk_usage(folder).free} bytes free, '
                f'{url} needs {total - start}: free some space or choose '
                'another --download-dir')
        with _progress(progress, 'transfer') as bar, \
                open(part, 'ab' if start else 'wb') as f:
            task = bar.add_task(
                osp.basename(part)[:-len('.part')],
                total=total,
                completed=start)
            for chunk in iter(lambda: resp.read(CHUNK), b''):
                f.write(chunk)
                bar.advance(task, len(chunk))
            return total is None or f.tell() >= total


def _member_name(member: tarfile.TarInfo, path: str) -> Optional[str]:
    """Member path below ``VOCdevkit/``, or None for the folder itself."""
    parts = member.name.strip('/').split('/', 1)
    if parts[0] != 'VOCdevkit':
        raise DownloadError(
            f'{path}: member {member.name!r} is not under VOCdevkit/; this is '
            'not a VOC archive (delete it and download again)')
    return parts[1] if len(parts) > 1 else None


def extract(tar_path: str,
            data_root: str,
            split_files: Sequence[str] = (),
            progress: bool = True) -> None:
    """Extract a VOC tar (members under ``VOCdevkit/``) into ``data_root``.

    The archive goes into a hidden folder of ``data_root`` first; then each
    year folder is renamed into place, or merged with ``ImageSets/`` last
    when it exists (see the module docstring). A stamp file
    ``.<tar name>.extracted`` makes later calls skip the archive.

    Args:
        tar_path (str): The archive.
        data_root (str): The ``VOCdevkit`` folder to fill.
        split_files (Sequence[str]): Files, relative to ``data_root``, the
            archive must provide. Defaults to ().
        progress (bool): Show a progress bar. Defaults to True.

    Raises:
        DownloadError: If the archive is not a VOC archive or lacks one of
            ``split_files``; ``data_root`` is then left as it was.
    """
    name = osp.basename(tar_path)
    stamp = osp.join(data_root, f'.{name}.extracted')
    if osp.isfile(stamp):
        return
    ensure_writable(data_root)
    tmp = osp.join(data_root, f'.{name}.extracting')
    shutil.rmtree(tmp, ignore_errors=True)  # left by an interrupted run
    try:
        with _progress(progress) as bar, open(tar_path, 'rb') as raw, \
                tarfile.open(fileobj=raw, mode='r|') as tar:
            task = bar.add_task(f'extract {name}',
                                total=osp.getsize(tar_path))
            for member in tar:
                member.name = _member_name(member, tar_path)
                if member.name is not None:
                    # the 'data' filter refuses links out and absolute paths
                    tar.extract(member, tmp, filter='data')
                bar.update(task, completed=raw.tell())
        missing = [
            f for f in split_files if not osp.isfile(osp.join(tmp, f))
        ]
        if missing:
            raise DownloadError(
                f'{tar_path} has no VOCdevkit/{", ".join(missing)}: this is '
                'not the expected archive (delete it and download again)')
        for year in sorted(os.listdir(tmp)):
            _move_in(osp.join(tmp, year), osp.join(data_root, year))
    except tarfile.TarError as err:
        raise DownloadError(f'{tar_path} is not a readable tar file ({err}): '
                            'delete it and download again') from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(stamp, 'w'):
        pass


def _move_in(src: str, dst: str) -> None:
    """Move the tree ``src`` to ``dst``: one rename if ``dst`` is new, else
    file by file with ``ImageSets/`` last."""
    if not osp.exists(dst):
        os.rename(src, dst)
        return
    files = []
    for folder, _, names in os.walk(src):
        rel = osp.relpath(folder, src)
        files += [osp.normpath(osp.join(rel, n)) for n in names]
    files.sort(key=lambda f: (f.split(os.sep)[0] == 'ImageSets', f))
    for rel in files:
        os.makedirs(osp.dirname(osp.join(dst, rel)), exist_ok=True)
        os.replace(osp.join(src, rel), osp.join(dst, rel))


def download_voc(data_root: str = 'data/VOCdevkit',
                 download_dir: str = 'data/downloads',
                 sets: Sequence[str] = tuple(ARCHIVES),
                 mirror: Optional[str] = None,
                 archives: Optional[Dict[str, Archive]] = None,
                 delete_archives: bool = False,
                 progress: bool = True,
                 **fetch_kwargs) -> None:
    """Download, check and extract VOC archives into ``data_root``.

    Args:
        data_root (str): The ``VOCdevkit`` folder the configs read.
            Defaults to ``'data/VOCdevkit'``.
        download_dir (str): Where the tar files go. Defaults to
            ``'data/downloads'``.
        sets (Sequence[str]): Keys of ``archives`` to get. Defaults to all.
        mirror (str, optional): Base URL holding ``voc2007/`` and
            ``voc2012/``; defaults to ``$MMEXT_VOC_MIRROR`` or the official
            host.
        archives (dict[str, Archive], optional): The archives by name.
            Defaults to :data:`ARCHIVES`.
        delete_archives (bool): Delete each tar after extraction.
            Defaults to False.
        progress (bool): Show progress bars. Defaults to True.
        **fetch_kwargs: ``retries``, ``timeout``, ``retry_wait`` of
            :func:`fetch`.

    Raises:
        DownloadError: With the path or URL at fault and what to do.
    """
    archives = ARCHIVES if archives is None else archives
    mirror = (mirror or os.environ.get(MIRROR_ENV) or OFFICIAL_URL).rstrip('/')
    unknown = [s for s in sets if s not in archives]
    if unknown:
        raise DownloadError(f'unknown sets {unknown}: choose from '
                            f'{list(archives)}')
    # fail before a long download, not after it
    ensure_writable(data_root)
    ensure_writable(download_dir)
    for key in sets:
        archive = archives[key]
        stamp = osp.join(data_root, f'.{archive.filename}.extracted')
        if osp.isfile(stamp):
            print(f'{key}: already in {data_root}')
            continue
        tar_path = fetch(f'{mirror}/{archive.path}',
                         osp.join(download_dir, archive.filename),
                         archive.md5, progress=progress, **fetch_kwargs)
        extract(tar_path, data_root, archive.split_files, progress)
        if delete_archives:
            os.remove(tar_path)
        print(f'{key}: extracted into {data_root}')


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Download Pascal VOC 2007 + 2012 into data/VOCdevkit.')
    parser.add_argument('--data-root', default='data/VOCdevkit')
    parser.add_argument('--download-dir', default='data/downloads')
    parser.add_argument(
        '--sets', nargs='+', default=list(ARCHIVES), choices=list(ARCHIVES))
    parser.add_argument(
        '--mirror',
        help=f'base URL with voc2007/ and voc2012/ (default: ${MIRROR_ENV} '
        f'or {OFFICIAL_URL})')
    parser.add_argument(
        '--delete-archives',
        action='store_true',
        help='delete each tar file once extracted')
    args = parser.parse_args()
    try:
        download_voc(args.data_root, args.download_dir, args.sets,
                     args.mirror, delete_archives=args.delete_archives)
    except DownloadError as err:
        raise SystemExit(f'error: {err}')
    print('next: python tools/misc/check_dataset.py '
          'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_voc0712.py')


if __name__ == '__main__':
    main()
