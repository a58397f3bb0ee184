"""tools/analysis/eval_dets.py as a command: it ends without the
interpreter's teardown (``exit_without_teardown``), so everything it prints
and writes must be flushed and complete before, through a pipe too."""
import json

from tests.helpers.coco_json import pycocotools_eval, write_coco_jsons
from tests.helpers.det_scenes import random_scene
from tests.helpers.process import run

COCO_KEYS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10',
             'AR100', 'ARs', 'ARm', 'ARl')


def test_piped_output_and_metrics_file_are_complete(tmp_path):
    s = random_scene(11, num_images=30, num_classes=4, integer=False,
                     crowd_frac=0.1, ignore_frac=0.0)
    gt, res = write_coco_jsons(s, tmp_path)
    out = tmp_path / 'metrics.json'
    # stdout is a pipe here: block-buffered, lost by a bare os._exit
    proc = run(['python', 'tools/analysis/eval_dets.py', '--gt-json', gt,
                '--res-json', res, '--metric', 'coco', '--out', str(out)],
               unset=['PYTHONUNBUFFERED'])
    assert proc.returncode == 0
    ref = [float(v) for v in pycocotools_eval(s, 'xyxy').stats]
    lines = proc.stdout.splitlines()
    # the per-class table (a row per class), then the 12 stats, last
    assert [line.split()[1] for line in lines[3:7]] == ['c0', 'c1', 'c2',
                                                        'c3']
    summary = [line.split(': ') for line in lines[-12:]]
    assert [k for k, _ in summary] == [f'coco/{k}' for k in COCO_KEYS]
    for (_, printed), value in zip(summary, ref):
        assert abs(float(printed) - value) <= 5e-5 + 1e-12
    metrics = json.loads(out.read_text())
    for k, value in zip(COCO_KEYS, ref):
        assert abs(metrics[f'coco/{k}'] - value) <= 1e-12
