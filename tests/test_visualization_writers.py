"""Writers of the detection evaluator: atomic JSON, PR curves with a mean
curve, per-class tables (hand-worked expectations)."""
import json
import math
import os
import stat

import numpy as np
import pytest

from mmext.visualization.pr_curve import mean_pr_curve, write_pr_curves
from mmext.visualization.table import format_ap_table, format_prf_table
from mmext.visualization.writers import write_json


def test_write_json_is_atomic_and_has_no_nan(tmp_path):
    path = tmp_path / 'm.json'
    write_json(str(path), dict(a=np.float32(0.5), b=float('nan'),
                               c=[np.inf, np.int64(3)], d=np.arange(2)))
    assert json.loads(path.read_text()) == dict(a=0.5, b=None,
                                                 c=[None, 3], d=[0, 1])
    # a failing write leaves the previous file and no temporary file
    with pytest.raises(TypeError):
        write_json(str(path), dict(a=object()))
    assert json.loads(path.read_text())['a'] == 0.5
    assert [p.name for p in tmp_path.iterdir()] == ['m.json']


def test_outputs_get_the_umask_permissions(tmp_path):
    # outputs on a shared work dir must be readable like any other file
    old = os.umask(0o022)
    try:
        write_json(str(tmp_path / 'a.json'), {'a': 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / 'a.json').st_mode) == 0o644
    assert os.listdir(tmp_path) == ['a.json']


def test_mean_curve_averages_the_envelopes():
    # A: precision 1 up to recall 0.5, then 0.5; B: precision 1 throughout
    curves = dict(
        a=dict(recall=np.array([0.25, 0.5, 0.5, 1.0]),
               precision=np.array([1.0, 1.0, 0.6, 0.5])),
        b=dict(recall=np.array([1.0]), precision=np.array([1.0])))
    mean = mean_pr_curve(curves)
    assert len(mean['recall']) == 101
    at = dict(zip(np.round(mean['recall'], 2), mean['precision']))
    assert at[0.0] == at[0.3] == at[0.5] == 1.0
    assert at[0.51] == at[0.8] == at[1.0] == 0.75
    assert len(mean_pr_curve({})['precision']) == 0


def _row(name, num_gts, recall, precision, ap):
    scores = np.linspace(0.9, 0.1, len(recall))
    best = dict(score_thr=float(scores[0]) if len(scores) else math.inf,
                precision=0.0, recall=0.0, f1=0.0)
    return dict(name=name, num_gts=num_gts, recall=np.array(recall),
                precision=np.array(precision), scores=scores,
                at_thr=dict(precision=0.0, recall=0.0, f1=0.0), best=best,
                ap=dict(voc07=ap))


def test_write_pr_curves_png_and_json(tmp_path):
    rows = [
        _row('cat', 2, [0.5, 1.0], [1.0, 1.0], 1.0),
        _row('dog', 0, [0.0], [0.0], float('nan')),  # FP only, no GT
        _row('cow', 4, [], [], 0.0),  # GT, no detection
    ]
    files = write_pr_curves(dict(iou50=rows), str(tmp_path / 'out'),
                            ap_name='voc07')
    assert [f.rsplit('/', 1)[1] for f in files] == [
        'pr_curves_iou50.json', 'pr_curves_iou50.png'
    ]
    data = json.loads((tmp_path / 'out' / 'pr_curves_iou50.json').read_text())
    assert set(data) == {'cat', 'dog', 'cow'}
    assert data['dog']['ap'] == {'voc07': None}
    assert data['cow']['best_f1']['score_thr'] is None  # inf
    png = (tmp_path / 'out' / 'pr_curves_iou50.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == [
        'pr_curves_iou50.json', 'pr_curves_iou50.png'
    ]


def _cells(table: str) -> dict:
    """``{first cell: [cells]}`` of each table row."""
    rows = [[c.strip() for c in line.split('|')[1:-1]]
            for line in table.splitlines() if line.startswith('|')]
    return {r[0]: r for r in rows}


def test_tables_drop_empty_classes_and_show_dash():
    per_class = {'voc07/AP': dict(a=0.5, b=float('nan'), c=float('nan'),
                                  d=0.25)}
    table = format_ap_table(per_class, ['a', 'b', 'c', 'd'],
                            num_gts=[2, 0, 0, 3], num_dets=[5, 4, 0, 0])
    cells = _cells(table)
    assert set(cells) == {'class', 'a', 'b', 'd', 'mean'}
    assert cells['b'] == ['b', '0', '4', '-']
    assert cells['mean'][-1] == '0.3750'  # mean of a and d
    assert table.splitlines()[-1] == (
        '1 of 4 classes with neither GT nor detections not shown')
    rows = [_row('a', 2, [0.5], [1.0], 0.5), _row('b', 0, [0.0], [0.0], 0.0),
            _row('c', 0, [], [], 0.0)]
    prf = format_prf_table(rows, 0.5, 'iou50', num_dets=[1, 1, 0])
    cells = _cells(prf)
    assert set(cells) == {'class', 'a', 'b'}
    assert cells['b'] == ['b', '0', '0.0000'] + ['-'] * 6
    assert cells['a'][5] == '0.9000'  # best threshold
    assert prf.splitlines()[-1] == (
        '1 of 3 classes with neither GT nor detections not shown')


@pytest.mark.parametrize('durable', [False, True])
def test_atomic_path_is_the_one_atomic_writer(tmp_path, durable):
    """The writers and the checkpoint backend share ``atomic_path``: the
    target is replaced whole, or left as it was with no temporary file."""
    from mmext.engine.durable_backend import atomic_write, temp_path
    from mmext.visualization.writers import atomic_path
    target = tmp_path / 'f.bin'
    target.write_bytes(b'old')
    tmp = temp_path(target) if durable else None
    with pytest.raises(RuntimeError):
        with atomic_path(target, durable=durable, tmp=tmp) as path:
            with open(path, 'wb') as f:
                f.write(b'half')
            assert tmp is None or path == tmp
            raise RuntimeError('killed mid-write')
    assert target.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['f.bin']
    with atomic_path(target, durable=durable, tmp=tmp) as path, \
            open(path, 'wb') as f:
        f.write(b'new')
    assert target.read_bytes() == b'new'
    atomic_write(target, b'newer')  # the engine's writer goes through it
    assert target.read_bytes() == b'newer'
    assert os.listdir(tmp_path) == ['f.bin']
