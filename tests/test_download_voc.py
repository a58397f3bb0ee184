"""download_voc against a local HTTP server with Range support."""
import hashlib
import io
import os
import os.path as osp
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mmext.datasets.voc_check import check_voc_split
from tests.helpers.paths import VOC_CLASSES
from tools.misc.download_voc import (Archive, DownloadError, download_voc,
                                     extract, fetch)

FAST = dict(retries=2, timeout=10, retry_wait=0, progress=False)


class RangeHandler(BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range: bytes=N-``; cuts the body
    of a path in ``server.cut`` after that many bytes, once."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.requests.append((self.path, self.headers.get('Range')))
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get('Range')
        if rng:
            start = int(rng[len('bytes='):].split('-')[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header('Content-Range',
                             f'bytes {start}-{len(body) - 1}/{len(body)}')
        else:
            self.send_response(200)
        self.send_header('Content-Length', str(len(body) - start))
        self.end_headers()
        cut = self.server.cut.pop(self.path, None)
        self.wfile.write(body[start:cut])
        self.close_connection = cut is not None

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), RangeHandler)
    httpd.files, httpd.cut, httpd.requests = {}, {}, []
    thread = threading.Thread(
        target=httpd.serve_forever, args=(0.05, ), daemon=True)
    thread.start()
    httpd.url = f'http://127.0.0.1:{httpd.server_address[1]}'
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def make_voc_tar(voc_root: str, year: str, split: str, n: int = 3) -> bytes:
    """A VOC-layout tar of ``n`` images of the shipped tiny data."""
    src = osp.join(voc_root, year)
    with open(osp.join(src, 'ImageSets/Main', f'{split}.txt')) as f:
        ids = f.read().split()[:n]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for i in ids:
            for sub, ext in (('JPEGImages', '.jpg'), ('Annotations', '.xml')):
                tar.add(osp.join(src, sub, i + ext),
                        f'VOCdevkit/{year}/{sub}/{i}{ext}')
        data = ('\n'.join(ids) + '\n').encode()
        info = tarfile.TarInfo(f'VOCdevkit/{year}/ImageSets/Main/{split}.txt')
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def archives(server, voc_root):
    """The three VOC archives, generated small, served by ``server``."""
    result = {}
    for key, year, split, name in [
        ('voc2007-trainval', 'VOC2007', 'trainval', 'VOCtrainval.tar'),
        ('voc2007-test', 'VOC2007', 'test', 'VOCtest.tar'),
        ('voc2012-trainval', 'VOC2012', 'trainval', 'VOCtrainval12.tar'),
    ]:
        body = make_voc_tar(voc_root, year, split)
        path = f'{year.lower()}/{name}'
        server.files['/' + path] = body
        result[key] = Archive(path,
                              hashlib.md5(body).hexdigest(),
                              (f'{year}/ImageSets/Main/{split}.txt', ))
    return result


def test_download_extract_layout(server, archives, tmp_path, monkeypatch):
    monkeypatch.setenv('MMEXT_VOC_MIRROR', server.url)  # the env override
    data_root = tmp_path / 'VOCdevkit'
    download_voc(str(data_root), str(tmp_path / 'dl'), archives=archives,
                 **FAST)
    for archive in archives.values():
        split_file = data_root / archive.split_files[0]
        year_dir = split_file.parents[2]
        report = check_voc_split(
            str(split_file), str(year_dir / 'JPEGImages'),
            str(year_dir / 'Annotations'), VOC_CLASSES)
        assert report.num_images == 3 and report.num_objects > 0
    # VOC2007 trainval and test share one folder
    assert len(os.listdir(data_root / 'VOC2007/JPEGImages')) == 6
    assert sorted(p for p in os.listdir(data_root) if p.startswith('.')) == [
        '.VOCtest.tar.extracted', '.VOCtrainval.tar.extracted',
        '.VOCtrainval12.tar.extracted'
    ]
    # a second run downloads nothing
    n = len(server.requests)
    download_voc(str(data_root), str(tmp_path / 'dl'), archives=archives,
                 **FAST)
    assert len(server.requests) == n


def test_resume_after_cut_connection(server, archives, tmp_path):
    archive = archives['voc2007-test']
    server.cut['/' + archive.path] = 1000
    dest = tmp_path / archive.filename
    fetch(f'{server.url}/{archive.path}', str(dest), archive.md5, **FAST)
    assert server.requests == [('/' + archive.path, None),
                               ('/' + archive.path, 'bytes=1000-')]
    assert hashlib.md5(dest.read_bytes()).hexdigest() == archive.md5
    assert not osp.exists(f'{dest}.part')


def test_resume_part_file_of_an_earlier_run(server, archives, tmp_path):
    archive = archives['voc2007-test']
    body = server.files['/' + archive.path]
    dest = tmp_path / archive.filename
    (tmp_path / f'{archive.filename}.part').write_bytes(body[:2048])
    fetch(f'{server.url}/{archive.path}', str(dest), archive.md5, **FAST)
    assert server.requests == [('/' + archive.path, 'bytes=2048-')]
    assert dest.read_bytes() == body


def test_retries_used_up(server, archives, tmp_path):
    archive = archives['voc2007-test']
    dest = tmp_path / archive.filename
    server.cut['/' + archive.path] = 100
    with pytest.raises(DownloadError, match='run again to resume from'):
        fetch(f'{server.url}/{archive.path}', str(dest), archive.md5,
              **dict(FAST, retries=0))
    assert (tmp_path / f'{archive.filename}.part').stat().st_size == 100


def test_checksum_mismatch_keeps_file_aside(server, archives, tmp_path):
    archive = archives['voc2007-test']
    bad = Archive(archive.path, '0' * 32, archive.split_files)
    data_root = tmp_path / 'VOCdevkit'
    with pytest.raises(DownloadError) as err:
        download_voc(str(data_root), str(tmp_path / 'dl'), ['voc2007-test'],
                     server.url, archives={'voc2007-test': bad}, **FAST)
    corrupt = tmp_path / 'dl' / f'{archive.filename}.corrupt'
    assert f'is kept as {corrupt}' in str(err.value)
    assert 'does not match the published ' + '0' * 32 in str(err.value)
    assert hashlib.md5(corrupt.read_bytes()).hexdigest() == archive.md5
    assert os.listdir(tmp_path / 'dl') == [corrupt.name]
    assert os.listdir(data_root) == []  # nothing extracted


def test_http_error(server, tmp_path):
    with pytest.raises(DownloadError, match='HTTP 404.*--mirror'):
        fetch(f'{server.url}/voc2007/missing.tar', str(tmp_path / 'x.tar'),
              **FAST)


@pytest.mark.parametrize('how', ['file_in_path', 'read_only'])
def test_not_writable(server, archives, tmp_path, how):
    if how == 'file_in_path':
        (tmp_path / 'file').write_text('')
        data_root = tmp_path / 'file' / 'VOCdevkit'
    else:
        if os.geteuid() == 0:
            pytest.skip('permissions do not bind root')
        (tmp_path / 'ro').mkdir(mode=0o500)
        data_root = tmp_path / 'ro' / 'VOCdevkit'
    with pytest.raises(DownloadError, match=f'{data_root} is not writable'):
        download_voc(str(data_root), str(tmp_path / 'dl'), mirror=server.url,
                     archives=archives, **FAST)
    assert server.requests == []  # failed before downloading


def test_refused_archive_leaves_data_root_as_it_was(archives, server,
                                                    tmp_path):
    data_root = tmp_path / 'VOCdevkit'
    download_voc(str(data_root), str(tmp_path / 'dl'), ['voc2007-trainval'],
                 server.url, archives=archives, **FAST)
    test_tar = tmp_path / 'test.tar'
    test_tar.write_bytes(server.files['/' + archives['voc2007-test'].path])
    with pytest.raises(DownloadError, match='not the expected archive'):
        extract(str(test_tar), str(data_root), ['VOC2007/ImageSets/x.txt'],
                progress=False)
    assert len(os.listdir(data_root / 'VOC2007/JPEGImages')) == 3
    assert not [p for p in os.listdir(data_root) if 'extracting' in p]
    extract(str(test_tar), str(data_root), ['VOC2007/ImageSets/Main/test.txt'],
            progress=False)
    assert len(os.listdir(data_root / 'VOC2007/JPEGImages')) == 6


def test_not_a_voc_archive(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        info = tarfile.TarInfo('other/file.txt')
        tar.addfile(info, io.BytesIO())
    (tmp_path / 'x.tar').write_bytes(buf.getvalue())
    with pytest.raises(DownloadError, match='not under VOCdevkit/'):
        extract(str(tmp_path / 'x.tar'), str(tmp_path / 'root'),
                progress=False)
    assert os.listdir(tmp_path / 'root') == []
