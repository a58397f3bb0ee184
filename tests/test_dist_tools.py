"""tools/dist_train.sh and tools/dist_test.sh with 2 CPU processes (gloo).

One 2-process training of the tiny detector, resumed once by both ranks
(rank 0 writes the durable checkpoints), and one 2-process test of the
session's single-process checkpoint, compared with its single-process test.
"""
import sys

import pytest
import torch

from mmext.engine import checkpoint_load_error
from tests.helpers.configs import write_short_config
from tests.helpers.distributed import free_port
from tests.helpers.logs import logged_train_steps, run_metrics
from tests.helpers.process import run_ok

pytestmark = pytest.mark.slow


def run_script(*args):
    """Run a tools/*.sh script with this interpreter on a free port."""
    return run_ok(['bash', *args], PYTHON=sys.executable,
                  PORT=str(free_port()))


def names(folder, pattern):
    return sorted(p.name for p in folder.glob(pattern))


def test_dist_train_saves_and_resumes_on_two_cpu_processes(tmp_path):
    """2 iterations with a save each (keeping one) and a distributed
    validation choosing the best; then --resume, both ranks from the
    checkpoint rank 0 wrote, to iteration 3."""
    config = write_short_config(tmp_path, iters=2, ckpt_interval=1,
                                max_keep_ckpts=1)
    work_dir = tmp_path / 'work_dir'
    log = run_script('tools/dist_train.sh', config, '2', '--work-dir',
                     str(work_dir))
    assert 'Distributed launcher: pytorch' in log
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert names(work_dir, 'iter_*.pth') == ['iter_2.pth']
    assert len(names(work_dir, 'best_voc07_mAP_iter_*.pth')) == 1

    log = run_script('tools/dist_train.sh', config, '2', '--work-dir',
                     str(work_dir), '--resume', '--cfg-options',
                     # no validation, not even the one after the last
                     # iteration: the first run's chose the best
                     'train_cfg.max_iters=3', 'train_cfg.val_begin=100')
    assert 'resumed epoch: 0, iter: 2' in log
    assert logged_train_steps(work_dir) == [1, 2, 3]
    assert names(work_dir, 'iter_*.pth') == ['iter_3.pth']
    assert len(names(work_dir, 'best_voc07_mAP_iter_*.pth')) == 1
    assert names(work_dir, '.*.tmp') == []  # no temp file left
    last = (work_dir / 'last_checkpoint').read_text()
    assert last == str(work_dir / 'iter_3.pth')
    assert checkpoint_load_error(last) is None
    assert torch.load(last, map_location='cpu')['meta']['iter'] == 3


def test_dist_test_equals_single_process(tiny_detector_test, tmp_path):
    """The session's checkpoint tested by 2 processes: every metric equals
    the single-process test run's."""
    tested = tiny_detector_test
    run_script('tools/dist_test.sh', tested.config, tested.checkpoint, '2',
               '--work-dir', str(tmp_path / 'two'), '--cfg-options',
               # the test config's dump goes to this test's folder
               f'test_evaluator.1.out_file_path={tmp_path / "dump.pkl"}')
    two = run_metrics(tmp_path / 'two')
    keys = [k for k in tested.metrics if k.startswith(('voc07/', 'coco/'))]
    assert 'coco/AP' in keys and 'voc07/mAP' in keys
    assert {k: two[k] for k in keys} == {k: tested.metrics[k] for k in keys}
    assert (tmp_path / 'dump.pkl').is_file()
