"""Readers of what mmengine runs write: scalars.json, the metrics json of a
test run, and metric values printed in a log."""
import glob
import json
import os.path as osp
import re
from typing import List


def json_lines(path: str) -> List[dict]:
    """The records of a json-lines file (mmengine's ``scalars.json``)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def logged_train_steps(work_dir) -> List[int]:
    """Training iterations recorded in the ``scalars.json`` of every run
    under ``work_dir`` (``<work_dir>/<timestamp>/vis_data``)."""
    steps = []
    for path in sorted(
            glob.glob(osp.join(str(work_dir), '*', 'vis_data',
                               'scalars.json'))):
        steps += [rec['iter'] for rec in json_lines(path) if 'loss' in rec]
    return steps


def run_metrics(work_dir) -> dict:
    """The metrics of the newest test or validation run under
    ``work_dir``: the last record of ``<work_dir>/<timestamp>/<ts>.json``,
    full precision (the log text rounds to 4 digits)."""
    runs = sorted(glob.glob(osp.join(str(work_dir), '*', '')))
    files = [osp.join(run, osp.basename(osp.dirname(run)) + '.json')
             for run in runs]
    files = [f for f in files if osp.isfile(f)]
    assert files, f'no <timestamp>/<timestamp>.json under {work_dir}'
    return json_lines(files[-1])[-1]


def logged_metric(log: str, key: str) -> float:
    """The last value of ``key`` printed in a log (4 decimals)."""
    values = re.findall(re.escape(key) + r': (-?[\d.]+)', log)
    assert values, f'{key} not in the log'
    return float(values[-1])
