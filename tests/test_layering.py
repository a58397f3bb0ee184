"""The package's layers: the import-linter contracts (.importlinter), a light
``import mmext``, and the checkpoint globals it installs once torch loads.

Imports are probed in fresh interpreters: the test process has torch and
mmengine loaded already, so its ``sys.modules`` proves nothing.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from tests.helpers.durable_toy import toy_runner
from tests.helpers.paths import REPO_ROOT
from tests.helpers.process import python_env, run
from tests.helpers.runs import DETECTOR_ITERS

LINT_IMPORTS = osp.join(osp.dirname(sys.executable), 'lint-imports')
HEAVY = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmpretrain')

_PROBE = '''
import sys
{imports}
print(','.join(sorted(m for m in {heavy!r} if m in sys.modules)))
'''


def heavy_modules(line: str) -> list:
    """The modules of a line that ``_PROBE`` printed."""
    return [m for m in line.strip().split(',') if m]


def heavy_modules_after(module: str) -> list:
    """Which of ``HEAVY`` a fresh ``import module`` loads."""
    out = subprocess.run(
        [sys.executable, '-c',
         _PROBE.format(imports=f'import {module}', heavy=HEAVY)],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT,
        env=python_env())
    return heavy_modules(out.stdout)


def lint_imports(cwd: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, '--config', osp.join(cwd, '.importlinter')],
        capture_output=True, text=True, cwd=cwd, env=python_env(**env),
        timeout=300)


def test_contracts_kept():
    proc = lint_imports(REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert '0 broken' in proc.stdout


@pytest.mark.parametrize('edit, contract', [
    # a numpy-only core that imports torch
    (('datasets/functional/repeat_factors.py', 'import torch  # noqa\n'),
     'The numpy-only cores import no torch'),
    # visualization reaching up into a registered shell
    (('visualization/class_balance.py',
      'import mmext.datasets.repeat_factor_dataset  # noqa\n'),
     'Layers import downward only'),
    # the wrapper <-> category ids cycle this package used to have
    (('datasets/category_ids.py',
      'import mmext.datasets.repeat_factor_dataset  # noqa\n'),
     'No import cycles'),
    # an eager heavy import in the package root
    (('__init__.py', 'import mmengine  # noqa\n'), 'import mmext loads'),
])
def test_a_broken_contract_fails(tmp_path, edit, contract):
    """The same contracts on a copy of the package with one bad import."""
    shutil.copytree(osp.join(REPO_ROOT, 'mmext'), tmp_path / 'mmext',
                    ignore=shutil.ignore_patterns('__pycache__', '.mim'))
    shutil.copy(osp.join(REPO_ROOT, '.importlinter'), tmp_path)
    path, line = edit
    target = tmp_path / 'mmext' / path
    target.write_text(line + target.read_text())
    # the copy comes first on sys.path, before the editable install
    proc = lint_imports(str(tmp_path), PYTHONPATH=str(tmp_path))
    assert proc.returncode != 0, proc.stdout[-3000:]
    broken = [line for line in proc.stdout.splitlines() if 'BROKEN' in line
              or contract in line]
    assert any(contract in line for line in broken), proc.stdout[-3000:]


@pytest.mark.parametrize('module', [
    'mmext', 'mmext.datasets.functional', 'mmext.utils.config_path',
    # the class-balance table no longer goes through the datasets package
    'mmext.visualization.class_balance'])
def test_import_loads_no_torch_or_mmengine(module):
    assert heavy_modules_after(module) == []


@pytest.fixture(scope='module')
def toy_checkpoint(tmp_path_factory):
    """A Runner checkpoint of 1 iteration (message hub, numpy data)."""
    work_dir = tmp_path_factory.mktemp('toy')
    runner = toy_runner(work_dir, width=4, max_iters=1, interval=1)
    runner.train()
    return str(work_dir / 'iter_1.pth')


# What a fresh interpreter sees after ``{imports}``: the heavy modules then
# loaded (``_PROBE``'s line), and after ``import torch``, mmext's import
# hooks left in ``sys.meta_path``, torch's loader, and whether
# ``torch.load`` with ``weights_only=True`` reads the Runner checkpoint.
_LOAD = _PROBE + '''
import json, torch
out = dict()
out['hooks'] = sum(type(f).__module__ == 'mmext.utils.import_hooks'
                   for f in sys.meta_path)
out['loader'] = type(torch.__loader__).__name__
out['spec_loader_is_loader'] = torch.__spec__.loader is torch.__loader__
try:
    out['loaded'] = torch.load({path!r}, weights_only=True)['meta']['iter']
except Exception as e:
    out['error'] = str(e)
print(json.dumps(out))
'''


@pytest.fixture(scope='module')
def load_probe(toy_checkpoint):
    """``imports -> what _LOAD reports``; each interpreter (torch's import,
    ~2 s) starts once for all the tests that read it."""
    seen = {}

    def probe(imports: str) -> dict:
        if imports not in seen:
            code = _LOAD.format(imports=imports, heavy=HEAVY,
                                path=toy_checkpoint)
            out = subprocess.run([sys.executable, '-c', code],
                                 capture_output=True, text=True,
                                 cwd=REPO_ROOT, env=python_env())
            assert out.returncode == 0, out.stderr[-3000:]
            *_, heavy, report = out.stdout.splitlines()
            seen[imports] = dict(json.loads(report),
                                 heavy=heavy_modules(heavy))
        return seen[imports]

    return probe


def test_probe_sees_a_heavy_import(load_probe):
    assert 'torch' in load_probe('import mmext.utils.checkpoint')['heavy']


@pytest.mark.parametrize('imports, torch_first', [
    ('import mmext', False),
    ('import torch, mmext', True),
    # the module that imports torch first is the one the hook imports
    ('import mmext.utils.checkpoint', True),
])
def test_runner_checkpoint_loads_weights_only(load_probe, imports,
                                              torch_first):
    seen = load_probe(imports)
    assert ('torch' in seen['heavy']) == torch_first
    assert seen.get('loaded') == 1, seen


@pytest.mark.slow  # a control in a fresh interpreter: no mmext code
def test_without_mmext_the_checkpoint_does_not_load(load_probe):
    # the control: what import mmext fixes
    seen = load_probe('')
    assert 'loaded' not in seen
    assert 'Weights only load failed' in seen['error']


def test_import_hook_leaves_torch_as_imported(load_probe):
    seen = load_probe('import mmext')
    assert (seen['hooks'], seen['loader'], seen['spec_loader_is_loader']) \
        == (0, 'SourceFileLoader', True)


@pytest.mark.slow  # the session's training
def test_mmdet_test_tool_loads_a_runner_checkpoint(tiny_detector, tmp_path):
    """mmdet's own tools/test.py on an mmext config and the checkpoint our
    tools/train.py wrote (the session's run): the config's
    ``custom_imports`` import mmext, which installs the globals."""
    import mmdet
    tool = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'test.py')
    ckpt = tiny_detector.work_dir / f'iter_{DETECTOR_ITERS}.pth'
    proc = run([sys.executable, tool, tiny_detector.config, str(ckpt),
                '--work-dir', str(tmp_path / 'test'), '--cfg-options',
                'test_dataloader.dataset.indices=2'], timeout=900,
               check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'Weights only load failed' not in log
    assert f'Load checkpoint from {ckpt}' in log
    assert os.path.isdir(tmp_path / 'test')
