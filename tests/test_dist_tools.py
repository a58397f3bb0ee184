"""tools/dist_train.sh and tools/dist_test.sh with 2 CPU processes (gloo)."""
import glob
import json
import os.path as osp
import sys

import pytest

from tests.conftest import run_ok
from tests.dist_utils import free_port
from tests.tiny_configs import write_short_config


def run_script(*args):
    """Run a tools/*.sh script with this interpreter on a free port."""
    return run_ok(['bash', *args], PYTHON=sys.executable,
                  PORT=str(free_port()))


def test_metrics(work_dir) -> dict:
    """Metrics of the test run recorded in <work_dir>/<timestamp>/*.json."""
    files = sorted(glob.glob(osp.join(work_dir, '*', '*.json')))
    assert files, f'no metrics json under {work_dir}'
    with open(files[-1]) as f:
        return json.loads(f.readlines()[-1])


test_metrics.__test__ = False  # a helper, not a test


@pytest.fixture(scope='module')
def dist_trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('dist')
    config = write_short_config(tmp)
    work_dir = tmp / 'work_dir'
    log = run_script('tools/dist_train.sh', config, '2', '--work-dir',
                     str(work_dir))
    return config, work_dir, log


def test_dist_train_two_cpu_processes(dist_trained):
    _, work_dir, log = dist_trained
    assert 'Distributed launcher: pytorch' in log
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert (work_dir / 'iter_4.pth').is_file()


def test_dist_test_equals_single_process(dist_trained, tmp_path):
    config, work_dir, _ = dist_trained
    ckpt = str(work_dir / 'iter_4.pth')
    run_script('tools/dist_test.sh', config, ckpt, '2', '--work-dir',
               str(tmp_path / 'two'))
    run_ok([sys.executable, 'tools/test.py', config, ckpt, '--work-dir',
            str(tmp_path / 'one')])
    two, one = test_metrics(tmp_path / 'two'), test_metrics(tmp_path / 'one')
    keys = [k for k in one if 'AP' in k]
    assert keys, one
    assert {k: two[k] for k in keys} == {k: one[k] for k in keys}
