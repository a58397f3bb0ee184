"""tools/dist_train.sh and tools/dist_test.sh with 2 CPU processes (gloo).

One 2-process training of the tiny detector, resumed by both ranks (rank 0
writes the durable checkpoints), and one 2-process test of the session's
single-process checkpoint, compared with its single-process test.
"""
import json
import sys

import pytest
import torch

from mmext.engine import checkpoint_load_error
from tests.helpers.configs import write_short_config
from tests.helpers.distributed import free_port, run_tool_distributed
from tests.helpers.logs import logged_train_steps
from tests.helpers.process import run_ok
from tests.helpers.runs import DETECTOR_ITERS, detector_test_config

pytestmark = pytest.mark.slow

# no PR curve images: nothing here reads them (the session's runs and the
# metric's tests do)
NO_CURVES = """
val_evaluator = dict(curve_dir=None)
test_evaluator = val_evaluator
"""


def run_script(*args):
    """Run a tools/*.sh script with this interpreter on a free port."""
    return run_ok(['bash', *args], PYTHON=sys.executable,
                  PORT=str(free_port()))


def names(folder, pattern):
    return sorted(p.name for p in folder.glob(pattern))


def distributed_test_metrics(work_dir) -> dict:
    """The metrics of the one test run in ``work_dir``, full precision.

    mmengine's ``LoggerHook.after_test_epoch`` writes ``<ts>/<ts>.json`` on
    every rank, to the same path, truncating: when the last writer's record
    is shorter (its ``time`` has fewer digits), the file ends with the
    other's tail and is not json-lines. Every rank's record holds the same
    metrics (the Evaluator broadcasts rank 0's): the first one is read.
    """
    path, = work_dir.glob('*/*.json')
    return json.JSONDecoder().raw_decode(path.read_text())[0]


def test_dist_train_saves_and_resumes_on_two_cpu_processes(tmp_path):
    """tools/dist_train.sh: 1 iteration, saved, and a distributed
    validation (one image per rank) choosing the best; then --resume, both
    ranks from the checkpoint rank 0 wrote, to iteration 2, keeping one.

    The resumed run's 2 workers are forked with torchrun's environment
    (:func:`run_tool_distributed`) rather than started by torchrun again:
    the script and torchrun are covered by the first run, and a second
    torchrun start would pay the imports and the interpreter exits of 3
    more processes."""
    config = write_short_config(tmp_path, iters=1, val_images=2,
                                val_batch_size=1, ckpt_interval=1,
                                max_keep_ckpts=1, extra=NO_CURVES)
    work_dir = tmp_path / 'work_dir'
    log = run_script('tools/dist_train.sh', config, '2', '--work-dir',
                     str(work_dir))
    assert 'Distributed launcher: pytorch' in log
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert names(work_dir, 'iter_*.pth') == ['iter_1.pth']
    assert names(work_dir, 'best_voc07_mAP_iter_*.pth') == [
        'best_voc07_mAP_iter_1.pth'
    ]

    logs = run_tool_distributed(
        'tools.train', [
            config, '--launcher', 'pytorch', '--work-dir', str(work_dir),
            '--resume', '--cfg-options', 'train_cfg.max_iters=2',
            # no validation, not even the one after the last iteration:
            # the first run's chose the best
            'train_cfg.val_begin=100'
        ], str(tmp_path / 'resume'))
    assert 'Distributed training: True' in logs[0]
    assert 'GPU number: 2' in logs[0]
    assert 'resumed epoch: 0, iter: 1' in logs[0]
    assert logged_train_steps(work_dir) == [1, 2]
    assert names(work_dir, 'iter_*.pth') == ['iter_2.pth']
    assert names(work_dir, 'best_voc07_mAP_iter_*.pth') == [
        'best_voc07_mAP_iter_1.pth'
    ]
    assert names(work_dir, '.*.tmp') == []  # no temp file left
    last = (work_dir / 'last_checkpoint').read_text()
    assert last == str(work_dir / 'iter_2.pth')
    assert checkpoint_load_error(last) is None
    assert torch.load(last, map_location='cpu')['meta']['iter'] == 2


def test_dist_test_equals_single_process(request, tiny_detector,
                                         tmp_path):
    """The session's checkpoint tested by 2 processes: every metric equals
    the single-process test run's."""
    checkpoint = str(tiny_detector.work_dir / f'iter_{DETECTOR_ITERS}.pth')
    dump = tmp_path / 'dump.pkl'
    # the session test's config, with the dump going to this test's folder
    config = detector_test_config(tmp_path, tiny_detector.config, str(dump))
    run_script('tools/dist_test.sh', config, checkpoint, '2', '--work-dir',
               str(tmp_path / 'two'), '--cfg-options',
               'test_evaluator.0.curve_dir=None')
    # asked for only now: under xdist the other worker may still be
    # testing the checkpoint while this one does
    tested = request.getfixturevalue('tiny_detector_test')
    assert tested.checkpoint == checkpoint
    two = distributed_test_metrics(tmp_path / 'two')
    keys = [k for k in tested.metrics if k.startswith(('voc07/', 'coco/'))]
    assert 'coco/AP' in keys and 'voc07/mAP' in keys
    assert {k: two[k] for k in keys} == {k: tested.metrics[k] for k in keys}
    assert dump.is_file()
