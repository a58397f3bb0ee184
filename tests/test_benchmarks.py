"""The benchmarks run end to end at small sizes, and what they compare is
equal: each JSON line's ``max_abs_diff`` between mmext and the peer (real
mmpretrain, mmdet, pycocotools, mmengine runs) stays within the peer's
precision, and every line carries the harness fields."""
import json
import os.path as osp
import runpy
import sys

import pytest

from tests.helpers.paths import REPO_ROOT
from tests.helpers.process import run

HARNESS_FIELDS = {'bench', 'ours_s', 'peer', 'peer_s', 'ratio',
                  'max_abs_diff', 'rounds', 'load_avg', 'cpu_count',
                  'threads', 'contention'}
# a line timing mmext alone (``peer`` None) has no comparison fields
SOLO_FIELDS = {'bench', 'ours_s', 'peer', 'rounds', 'load_avg', 'contention'}


def run_bench(name: str, *args: str) -> list:
    proc = run(['python', osp.join(REPO_ROOT, 'benchmarks', name),
                '--rounds', '1', *args], timeout=900)
    lines = [json.loads(line) for line in proc.stdout.splitlines()
             if line.startswith('{')]
    for line in lines:
        fields = SOLO_FIELDS if line['peer'] is None else HARNESS_FIELDS
        assert fields <= set(line), line
        assert line['rounds'] == 1 and line['ours_s'] > 0
    return lines


@pytest.mark.slow  # starts benchmark processes
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


@pytest.mark.slow  # starts benchmark processes
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


@pytest.mark.slow  # starts benchmark processes
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


@pytest.mark.slow  # starts benchmark processes
def test_bench_analysis():
    # 10 classes: the plots (most of this run's work) shrink with them
    lines = run_bench('bench_analysis.py', '--images', '60',
                      '--tide-images', '20', '--classes', '10')
    by_name = {x['bench']: x for x in lines}
    assert list(by_name) == ['analysis_full', 'confusion_matrix',
                             'analysis_write']
    full = by_name['analysis_full']
    assert full['peer'].startswith('tidecv')
    assert full['images'] == 20 and full['full_images'] == 60
    assert full['ours_full_s'] > 0
    # AP50, the six dAPs and the two special dAPs, in AP points
    assert full['max_abs_diff'] < 1e-9
    matrix = by_name['confusion_matrix']
    assert matrix['peer'] == 'mmdet.calculate_confusion_matrix'
    assert matrix['max_abs_diff'] == 0  # integer counts
    assert by_name['analysis_write']['peer'] is None


@pytest.mark.parametrize('name', ['bench_multilabel.py', 'bench_det_eval.py',
                                  'bench_class_balance.py',
                                  'bench_analysis.py'])
def test_help_names_the_harness_options(name, monkeypatch, capsys):
    """``--help`` of the script as run from the command line (in this
    process: argparse prints it and exits before any benchmark work)."""
    monkeypatch.syspath_prepend(osp.join(REPO_ROOT, 'benchmarks'))
    monkeypatch.setattr(sys, 'argv', [name, '--help'])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(osp.join(REPO_ROOT, 'benchmarks', name),
                       run_name='__main__')
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert '--contention' in out
    assert '--rounds' in out
