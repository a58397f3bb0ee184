"""Packaging: mmext joins an existing environment, and its builds are whole.

The project is copied to a temporary folder first, because pip and
``python -m build`` write ``build/`` and ``*.egg-info`` into the source tree
(other test runs share the checkout).
"""
import json
import os
import shutil
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import mmext
from mmext.utils.config_path import config_root, get_config_path
from tests.helpers.process import run

ROOT = Path(__file__).resolve().parents[1]
STACK = ('torch', 'torchvision', 'numpy', 'mmengine', 'mmcv', 'mmdet',
         'mmpretrain')
# What the sdist must carry for the tests and the README commands.
SDIST_TREES = ('configs', 'tools', 'tests', 'data/tiny', 'benchmarks')
SDIST_FILES = ('setup.py', 'MANIFEST.in', 'README.md', 'CHANGELOG.md',
               'Makefile', 'constraints.txt')
# pip and build must not see the checkout (tests.helpers puts it on the path)
AS_GIVEN_PYTHONPATH = os.environ.get('PYTHONPATH', '')
IGNORE = shutil.ignore_patterns('.venv*', '.git', 'work_dirs', 'build',
                                'dist', '*.egg-info', '__pycache__', '*.pyc',
                                '.pytest_cache', '.hypothesis')


def ignore(folder: str, names: list) -> set:
    """What the project copy leaves out: caches, builds, the real data."""
    skip = set(IGNORE(folder, names))
    if Path(folder) == ROOT / 'data':
        skip |= {'VOCdevkit', 'downloads'} & set(names)
    return skip


def tree_files(root: Path, sub: str) -> set:
    """Files under ``root/sub`` as posix paths relative to ``root``."""
    return {
        p.relative_to(root).as_posix()
        for p in (root / sub).rglob('*')
        if p.is_file() and '__pycache__' not in p.parts
    }


def pins() -> dict:
    """``name -> version`` of constraints.txt."""
    lines = (ROOT / 'constraints.txt').read_text().splitlines()
    return {
        Requirement(line).name.lower(): line.split('==')[1]
        for line in lines if line and not line.startswith('#')
    }


@pytest.fixture(scope='module')
def source(tmp_path_factory) -> Path:
    """A copy of the project, to build and install from."""
    src = tmp_path_factory.mktemp('src') / 'mmext-src'
    shutil.copytree(ROOT, src, ignore=ignore)
    assert (src / 'data/tiny/VOCdevkit/VOC2007').is_dir()
    return src


@pytest.fixture(scope='module')
def install_report(source, tmp_path_factory) -> dict:
    """pip's plan for ``pip install .[mmpretrain]`` into this environment."""
    report = tmp_path_factory.mktemp('pip') / 'report.json'
    # No pip config: its constraints must not hide a range that excludes
    # what is installed. Satisfied requirements need no index.
    run(['python', '-m', 'pip', 'install', '--dry-run',
         '--no-build-isolation', '--quiet', '--report', str(report),
         f'{source}[mmpretrain]'], unset=('PIP_CONSTRAINT', ),
        PIP_CONFIG_FILE=os.devnull, PYTHONPATH=AS_GIVEN_PYTHONPATH)
    return json.loads(report.read_text())


def test_dry_run_install_keeps_the_stack(install_report):
    planned = {
        item['metadata']['name'].lower(): item['metadata']['version']
        for item in install_report['install']
    }
    # mmext alone: no upgrade, downgrade or new copy of anything installed.
    assert planned == {'mmext': mmext.__version__}


def test_constraints_are_the_installed_stack_and_fit_the_ranges(
        install_report):
    pinned = pins()
    for name in STACK:
        assert metadata.version(name) == pinned[name], name
    (item, ) = install_report['install']
    requires = [Requirement(r) for r in item['metadata']['requires_dist']]
    assert {r.name.lower() for r in requires} >= set(STACK) - {'torchvision'}
    for req in requires:
        version = pinned.get(req.name.lower())
        assert version, f'{req.name} is not in constraints.txt'
        assert req.specifier.contains(version, prereleases=True), \
            f'constraints.txt pins {req.name}=={version} outside {req}'


@pytest.fixture(scope='module')
def dists(source, tmp_path_factory) -> Path:
    """sdist, then a wheel built from that sdist (``python -m build``)."""
    out = tmp_path_factory.mktemp('dist')
    run(['python', '-m', 'build', '--no-isolation', '--outdir', str(out),
         str(source)], PYTHONPATH=AS_GIVEN_PYTHONPATH)
    return out


@pytest.mark.slow  # python -m build: sdist and wheel
def test_sdist_carries_tests_data_configs_tools(dists, source):
    (sdist, ) = dists.glob('mmext-*.tar.gz')
    with tarfile.open(sdist) as tar:
        names = {n.split('/', 1)[1] for n in tar.getnames() if '/' in n}
    expected = set(SDIST_FILES)
    for sub in SDIST_TREES:
        expected |= tree_files(source, sub)
    assert not expected - names, sorted(expected - names)[:10]


@pytest.mark.slow  # python -m build: sdist and wheel
def test_wheel_ships_configs_that_load(dists, source, tmp_path):
    (wheel, ) = dists.glob('mmext-*.whl')
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        whl.extractall(tmp_path / 'site')
    configs = tree_files(source, 'configs')
    shipped = {f'mmext/.mim/{name}' for name in configs}
    assert not shipped - names, sorted(shipped - names)[:10]
    assert not any(n.startswith(('configs/', 'tests/')) for n in names)

    # Every shipped .py config loads from the unpacked wheel, through its
    # relative and 'mmdet::' / 'mmpretrain::' bases, and imports mmext.
    rels = sorted(n[len('configs/'):] for n in configs if n.endswith('.py'))
    code = f'''
import mmext
from mmengine.config import Config
site = {str(tmp_path / 'site')!r}
assert mmext.__file__.startswith(site), mmext.__file__
for rel in {rels!r}:
    path = mmext.get_config_path(rel)
    assert path.startswith(site + '/mmext/.mim/configs/'), path
    cfg = Config.fromfile(path)
    if '_base_/' not in rel:
        assert cfg.custom_imports.imports == ['mmext'], rel
print(len({rels!r}))
'''
    out = run(['python', '-c', code], cwd=str(tmp_path),
              PYTHONPATH=str(tmp_path / 'site'))
    assert out.stdout.split()[-1] == str(len(rels)) and rels


def test_get_config_path_in_the_source_tree():
    assert config_root() == ROOT / 'configs'
    path = get_config_path('faster_rcnn/faster-rcnn_r50_fpn_1x_voc0712')
    assert path == str(ROOT / 'configs/faster_rcnn/'
                       'faster-rcnn_r50_fpn_1x_voc0712.py')
    assert mmext.get_config_path is get_config_path


def test_get_config_path_names_what_is_wrong():
    with pytest.raises(FileNotFoundError,
                       match='faster-rcnn_r50_fpn_1x_voc0712.py'):
        get_config_path('faster_rcnn/faster-rcnn_r50_fpn_1x_voc712.py')
    with pytest.raises(ValueError, match='without ".."'):
        get_config_path('../setup.py')
