"""``tools/test.py --out x.json`` writes COCO detection results: on a
classification config it stops at once with a message, before any run."""
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_json_out_on_a_classification_config_is_refused(tmp_path):
    out = tmp_path / 'preds.json'
    proc = subprocess.run(
        [sys.executable, 'tools/test.py',
         'configs/multilabel/resnet18-tiny_tiny-voc2007-multilabel.py',
         str(tmp_path / 'missing.pth'), '--out', str(out)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "default_scope 'mmdet'" in proc.stderr
    assert "'mmpretrain'; use --out x.pkl" in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not out.exists()
