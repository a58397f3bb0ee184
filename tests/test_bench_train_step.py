"""The training-step benchmark runs end to end on the tiny config, and the
two heads it compares give the same losses."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from tests.helpers.paths import REPO_ROOT
from tests.helpers.process import python_env


@pytest.mark.slow
def test_bench_train_step_tiny():
    cmd = [sys.executable,
           osp.join(REPO_ROOT, 'benchmarks', 'bench_train_step.py'),
           '--configs', 'tiny', '--rounds', '1', '--iters', '1']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                          env=python_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()
             if x.startswith('{')]
    line = lines[-1]
    assert line['bench'] == 'train_step_tiny'
    assert line['peer'] == 'mmdet.TOODHead'
    assert line['max_abs_diff'] == 0.0  # same losses, CPU fp32
    assert 0 < line['ours_assign_s'] < line['ours_s']
    assert 0 < line['peer_assign_share'] < 1
    assert line['rounds'] == 1 and line['contention'] is False
