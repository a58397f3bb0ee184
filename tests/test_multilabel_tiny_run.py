"""The tiny multi-label config end to end: its test run reports AUC equal
to sklearn's on the predictions it dumped, writes the ROC / PR curves
under the work dir, and thresholds fitted by ``ml_thresholds.py`` on those
predictions apply through ``MultiLabelMetric(thr='file.json')``."""
import json
import pickle

import numpy as np
import pytest

from tests.helpers.multilabel import build_metric, expected_targets
from tests.helpers.multilabel import sklearn_items
from tests.helpers.paths import TINY_MULTILABEL_CONFIG

CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'car', 'person')

pytestmark = pytest.mark.slow


def dumped(tested):
    """Samples, scores and sklearn-side targets of the test run's pickle."""
    with open(tested.results_pkl, 'rb') as f:
        samples = pickle.load(f)
    scores = np.stack([np.asarray(s['pred_score']) for s in samples])
    return samples, scores, expected_targets(samples, len(CLASSES))


def test_tiny_run_reports_auc_as_sklearn_and_writes_curves(tiny_multilabel):
    trained, tested = tiny_multilabel
    _, scores, targets = dumped(tested)
    expect = sklearn_items(scores, targets, thr=0.5)
    # AUC to 1e-9 as a fraction (percent here), the rest float32 sums
    assert tested.metrics['multi-label/AUC'] == pytest.approx(
        expect['AUC'], abs=1e-7)
    for item in ('mAP', 'CP', 'CR'):
        assert tested.metrics[f'multi-label/{item}'] == pytest.approx(
            expect[item], abs=1e-4), item
    assert 'AUC' in tested.log and 'best-F1 thr' in tested.log  # table
    for run in (trained, tested):  # the validation and the test run
        for name in ('multilabel_roc.png', 'multilabel_pr.png'):
            png = run.work_dir / 'curves' / name
            assert png.read_bytes()[:4] == b'\x89PNG', png


def test_fitted_thresholds_apply_through_the_metric(tiny_multilabel,
                                                    tmp_path, capsys):
    from tools.analysis.ml_thresholds import main
    _, tested = tiny_multilabel
    samples, scores, targets = dumped(tested)
    out = tmp_path / 'thr.json'
    main([TINY_MULTILABEL_CONFIG, tested.results_pkl, '--out', str(out)])
    assert f'thresholds written to {out}' in capsys.readouterr().out
    fitted = json.loads(out.read_text())
    assert fitted['classes'] == list(CLASSES)
    assert fitted['criterion'] == 'best-f1'
    thr = np.array([np.inf if t is None else t
                    for t in fitted['thresholds']])
    metric = build_metric(thr=str(out), items=('CP', 'CR', 'macro-F1',
                                               'best-F1'))
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process(None, samples)
    res = metric.evaluate(len(samples))
    expect = sklearn_items(scores, targets, thr=thr)
    for item in ('CP', 'CR', 'macro-F1'):
        assert res[f'multi-label/{item}_thr-per-class'] == pytest.approx(
            expect[item], abs=1e-4), item
    # fitted on these very predictions: each class reaches its best F1
    assert res['multi-label/macro-F1_thr-per-class'] == pytest.approx(
        expect['best-F1'], abs=1e-4)


def test_target_precision_and_bad_pickle(tiny_multilabel, tmp_path):
    from tools.analysis.ml_thresholds import load_results, main
    _, tested = tiny_multilabel
    out = tmp_path / 'thr.json'
    main([TINY_MULTILABEL_CONFIG, tested.results_pkl, '--out', str(out),
          '--target-precision', '0.75'])
    assert json.loads(out.read_text())['criterion'] == 'precision>=0.75'
    bad = tmp_path / 'bad.pkl'
    bad.write_bytes(pickle.dumps([{'gt_label': [0]}]))
    with pytest.raises(ValueError, match=rf'{bad}: sample #0 of the batch '
                       'has no pred_score'):
        load_results(str(bad))
    # five scores for the config's six classes: a one-line error
    bad.write_bytes(pickle.dumps([{'pred_score': np.zeros(5),
                                   'gt_label': np.array([1])}]))
    with pytest.raises(SystemExit, match=rf'error: {bad} has 5 scores per '
                       r'sample but .* has 6 classes'):
        main([TINY_MULTILABEL_CONFIG, str(bad), '--out', str(out)])
