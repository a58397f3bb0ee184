"""The benchmarks run end to end at small sizes, and what they compare is
equal: each JSON line's ``max_abs_diff`` between mmext and the peer (real
mmpretrain, mmdet, pycocotools, mmengine runs) stays within the peer's
precision, and every line carries the harness fields."""
import json
import os.path as osp

import pytest

from tests.helpers.paths import REPO_ROOT
from tests.helpers.process import run

pytestmark = pytest.mark.slow  # each starts benchmark processes

HARNESS_FIELDS = {'bench', 'ours_s', 'peer', 'peer_s', 'ratio',
                  'max_abs_diff', 'rounds', 'load_avg', 'cpu_count',
                  'threads', 'contention'}


def run_bench(name: str, *args: str) -> list:
    proc = run(['python', osp.join(REPO_ROOT, 'benchmarks', name),
                '--rounds', '1', *args], timeout=900)
    lines = [json.loads(line) for line in proc.stdout.splitlines()
             if line.startswith('{')]
    for line in lines:
        assert HARNESS_FIELDS <= set(line), line
        assert line['rounds'] == 1 and line['ours_s'] > 0
    return lines


def test_bench_multilabel():
    lines = run_bench('bench_multilabel.py', '--sizes', '3000x20',
                      '--ranking-sizes', '3000x20')
    assert [x['bench'] for x in lines] == ['multilabel_3kx20'] + [
        'multilabel_ranking_3kx20'] * 2
    # percent units; mmpretrain accumulates in float32
    assert lines[0]['max_abs_diff'] < 1e-4
    assert lines[1]['max_abs_diff'] < 1e-12  # AUC, fractions, sklearn
    assert lines[2]['max_abs_diff'] < 1e-4  # AP, percent, mmpretrain
    assert lines[0]['threads']['peer']['torch'] >= 1


def test_bench_det_eval():
    lines = run_bench('bench_det_eval.py', '--scale', '0.01', '--peers',
                      'pycocotools', '--only', 'voc', 'coco')
    by_name = {x['bench']: x for x in lines}
    assert set(by_name) == {'voc_eval_11points', 'voc_eval_area',
                            'coco_eval_files', 'coco_eval_memory'}
    for mode in ('11points', 'area'):  # mmdet keeps AP in float32
        assert by_name[f'voc_eval_{mode}']['max_abs_diff'] < 1e-6
    for form in ('files', 'memory'):  # the 12 stats of pycocotools
        line = by_name[f'coco_eval_{form}']
        assert line['peer'] == 'pycocotools'
        assert line['max_abs_diff'] < 1e-12
        assert line['ours_AP'] > 0


def test_bench_class_balance():
    # --contention itself: test_bench_harness.py (a busy core would double
    # this test's time on 2 cores)
    lines = run_bench('bench_class_balance.py', '--images', '3000')
    assert [x['bench'] for x in lines] == [
        'repeat_factors_3k', 'repeat_factors_3k_unserialized']
    for line in lines:
        assert line['max_abs_diff'] == 0  # identical indices
        assert line['contention'] is False
        assert line['samples'] > line['images'] == 3000


@pytest.mark.parametrize('name', ['bench_multilabel.py', 'bench_det_eval.py',
                                  'bench_class_balance.py'])
def test_help_names_the_harness_options(name):
    out = run(['python', osp.join(REPO_ROOT, 'benchmarks', name), '--help'],
              timeout=300)
    assert '--contention' in out.stdout
    assert '--rounds' in out.stdout
