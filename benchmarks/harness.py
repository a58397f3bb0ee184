"""Shared harness: contenders in separate processes, interleaved rounds.

Every benchmark compares contenders (mmext and its peers) the same way:

* each contender runs in its own fresh process (``python bench_x.py
  --worker NAME --case CASE --out FILE``), so imports, caches, allocator
  state and peak memory are its own;
* contenders are interleaved over ``--rounds`` rounds (default 3; the
  order rotates every round) and each keeps its fastest run, so a slow
  phase of a shared machine does not fall on one contender only;
* every JSON line records the 1-minute load average before and after the
  comparison, ``os.cpu_count()``, the thread settings (``OMP_NUM_THREADS``,
  ``MKL_NUM_THREADS``, ``torch.get_num_threads()`` and the BLAS/OpenMP pools
  seen by threadpoolctl in each worker) and whether ``--contention`` was on;
* ``--contention`` starts one competing busy process (a pure-Python spin
  loop, one core) for the whole comparison.

:meth:`Session.compare_cases` runs several cases per worker process (one
process per contender per round, cases in the given order) instead of one
process per case: the process start-up (seconds of torch/mmdet imports)
is paid once per round, not once per case. It stays fair: contenders are
still in separate processes, interleaved and rotated, and every contender
runs the same cases in the same order, so whatever a case leaves warm
(imports, caches) helps the next case of each contender alike. Use it when
the timed part does not depend on a cold process (the worker's set-up,
outside the clock, loads what the timed part needs).

A benchmark script using it::

    import harness

    def ours(case: str) -> dict:       # runs inside the worker process
        x = load_inputs(case)           # not timed
        result, seconds = harness.timed(my_function, x)
        return dict(seconds=seconds, result=result)

    WORKERS = {'mmext': ours, 'mmdet': peer}

    def main():
        parser = argparse.ArgumentParser()
        harness.add_arguments(parser)
        args = parser.parse_args()
        if args.worker:
            return harness.serve(WORKERS, args)
        with harness.Session(args) as session:
            runs = session.compare(__file__, ['mmext', 'mmdet'], case='big')
            line = session.line('my_bench', runs['mmext'], runs['mmdet'],
                                peer='mmdet.thing', max_abs_diff=0.0)
        harness.emit([line])

A worker returns a dict with at least ``seconds`` (the timed part only);
anything else it returns (``result`` arrays, ``peak_mb``...) comes back to
the parent through a pickle file in a private temporary directory.
"""
import argparse
import json
import os
import os.path as osp
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

# The spin loop of --contention: pure Python, so it holds exactly one core.
_SPIN = 'while True:\n    pass\n'


def add_arguments(parser: argparse.ArgumentParser,
                  default_rounds: int = 3) -> None:
    """Add ``--rounds``, ``--contention`` and the hidden worker options.

    Args:
        parser (argparse.ArgumentParser): The benchmark's parser.
        default_rounds (int): Default of ``--rounds``. Defaults to 3.
    """
    parser.add_argument(
        '--rounds', type=int, default=default_rounds,
        help='runs per contender, interleaved; the fastest counts '
        f'(default {default_rounds})')
    parser.add_argument(
        '--contention', action='store_true',
        help='run one busy competing process (one core) during the '
        'comparisons')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument('--case', help=argparse.SUPPRESS)
    parser.add_argument('--cases', nargs='+', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)


def serve(workers: Dict[str, Callable[[str], dict]],
          args: argparse.Namespace) -> None:
    """Worker side: run ``workers[args.worker](args.case)`` and save it.

    With ``args.cases`` (from :meth:`Session.compare_cases`) it runs every
    case in order, in this one process, and saves the list of records.

    Args:
        workers (dict): Contender name -> function of the case string that
            returns a dict with at least ``seconds``.
        args (argparse.Namespace): Parsed arguments (``worker``, ``case``
            or ``cases``, ``out``).
    """
    cases = getattr(args, 'cases', None)
    records = [_serve_case(workers, args.worker, case)
               for case in (cases or [args.case])]
    with open(args.out, 'wb') as f:
        pickle.dump(records if cases else records[0], f)


def end_worker() -> None:
    """End a worker process once :func:`serve` has written ``--out``: the
    parent reads only that file, so the interpreter's teardown (module and
    GC finalisation, over a CPU second after torch / mmdet imports) is
    skipped. Outside the clock either way; it only shortens the runs."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve_case(workers: Dict[str, Callable[[str], dict]], name: str,
                case: str) -> dict:
    record = workers[name](case)
    if 'seconds' not in record:
        raise ValueError(f'worker {name!r} returned no "seconds"')
    record['threads'] = thread_settings()
    return record


def thread_settings() -> dict:
    """Thread settings of this process: environment, torch, BLAS/OpenMP.

    Returns:
        dict: ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` (None when unset),
        ``torch`` (``torch.get_num_threads()``, None when torch was not
        loaded by the contender) and ``pools`` (threadpoolctl's
        ``"library:num_threads"`` of each loaded pool).
    """
    torch = sys.modules.get('torch')
    info = dict(OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS'),
                MKL_NUM_THREADS=os.environ.get('MKL_NUM_THREADS'),
                torch=torch.get_num_threads() if torch else None)
    try:
        from threadpoolctl import threadpool_info
        info['pools'] = sorted({f"{p['internal_api']}:{p['num_threads']}"
                                for p in threadpool_info()})
    except ImportError:  # threadpoolctl comes with scikit-learn
        info['pools'] = None
    return info


def timed(fn: Callable, *args, **kwargs):
    """Call ``fn`` and measure it.

    Returns:
        tuple: ``(fn's result, seconds)``.
    """
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def reset_peak_rss() -> float:
    """Reset this process's peak RSS to its current RSS (Linux).

    Returns:
        float: The current RSS in MiB: the baseline for :func:`peak_rss_mb`.
    """
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:  # not Linux, or not allowed: the peak keeps its value
        pass
    return _status_mb('VmRSS')


def peak_rss_mb() -> float:
    """Peak RSS (``VmHWM``) of this process in MiB; NaN off Linux."""
    return _status_mb('VmHWM')


def _status_mb(field: str) -> float:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    # ru_maxrss is the closest portable figure (KiB on Linux)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Session:
    """Comparisons under one setting: rounds, contention, load average.

    Use as a context manager; with ``contention`` it starts the competing
    process on entry and stops it on exit.

    Args:
        args (argparse.Namespace): Parsed arguments with ``rounds`` and
            ``contention`` (see :func:`add_arguments`).
        timeout (float, optional): Seconds allowed to one worker run.
    """

    def __init__(self, args: argparse.Namespace,
                 timeout: Optional[float] = None):
        if args.rounds < 1:
            raise ValueError(f'--rounds must be >= 1, got {args.rounds}')
        self.rounds = args.rounds
        self.contention = bool(args.contention)
        self.timeout = timeout
        self._busy = None
        self._tmp = None

    def __enter__(self) -> 'Session':
        self._tmp = tempfile.TemporaryDirectory(prefix='mmext-bench-')
        if self.contention:
            self._busy = subprocess.Popen([sys.executable, '-c', _SPIN])
        return self

    def __exit__(self, *exc) -> None:
        if self._busy is not None:
            self._busy.kill()
            self._busy.wait()
            self._busy = None
        self._tmp.cleanup()

    def compare(self, script: str, names: Sequence[str],
                case: str = '') -> Dict[str, dict]:
        """Run each contender ``rounds`` times, interleaved; keep the best.

        Args:
            script (str): The benchmark file (``__file__``); it must call
                :func:`serve` when given ``--worker``.
            names (Sequence[str]): Contenders, keys of its worker table.
            case (str): Passed to every worker as ``--case``.

        Returns:
            dict: Name -> the fastest run's record (the worker's dict plus
            ``threads``, ``all_seconds`` and ``load_avg`` = 1-minute load
            average before and after this comparison), or ``{'error':
            message}`` when a run failed (e.g. out of memory).
        """
        return self._compare(script, names, [case], many=False)[case]

    def compare_cases(self, script: str, names: Sequence[str],
                      cases: Sequence[str]) -> Dict[str, Dict[str, dict]]:
        """Like :meth:`compare` for several cases, all of them in one
        worker process per contender and round (see the module notes).

        Args:
            script (str): The benchmark file (``__file__``).
            names (Sequence[str]): Contenders, keys of its worker table.
            cases (Sequence[str]): Distinct cases, run in this order.

        Returns:
            dict: Case -> name -> record, as :meth:`compare` returns; a
            failed run fails every case of that contender.
        """
        if len(set(cases)) != len(cases) or not cases:
            raise ValueError(f'cases must be distinct and non-empty, '
                             f'got {list(cases)}')
        return self._compare(script, names, list(cases), many=True)

    def _compare(self, script: str, names: Sequence[str], cases: List[str],
                 many: bool) -> Dict[str, Dict[str, dict]]:
        load_before = os.getloadavg()[0]
        best: Dict[str, Dict[str, dict]] = {c: {} for c in cases}
        names = list(names)
        seconds = {c: {n: [] for n in names} for c in cases}
        for r in range(self.rounds):
            # rotate the order: no contender always runs first (cold
            # page cache) or right after the same neighbour
            for name in names[r % len(names):] + names[:r % len(names)]:
                if 'error' in best[cases[0]].get(name, {}):
                    continue
                runs = self._run(script, name, cases, r, many)
                for case, run in zip(cases, runs):
                    if 'error' in run:
                        best[case][name] = run
                        continue
                    seconds[case][name].append(run['seconds'])
                    kept = best[case].get(name)
                    if kept is None or run['seconds'] < kept['seconds']:
                        best[case][name] = run
        load = [load_before, os.getloadavg()[0]]
        for case in cases:
            for name in names:
                best[case][name].update(all_seconds=seconds[case][name],
                                        load_avg=load)
        return best

    def _run(self, script: str, name: str, cases: List[str], r: int,
             many: bool) -> List[dict]:
        out = osp.join(self._tmp.name, f'{name}_{r}.pkl')
        cmd = [sys.executable, osp.abspath(script), '--worker', name,
               '--out', out]
        cmd += ['--cases', *map(str, cases)] if many else [
            '--case', str(cases[0])]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=self.timeout)
        except subprocess.TimeoutExpired:
            error = f'{name}: over {self.timeout} s'
            return [dict(error=error) for _ in cases]
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ['no output']
            error = f'{name} (exit {proc.returncode}): {tail[0]}'
            return [dict(error=error) for _ in cases]
        with open(out, 'rb') as f:
            records = pickle.load(f)
        os.remove(out)  # results can be large; keep only what is returned
        return records if many else [records]

    def line(self, bench: str, ours: dict, peer_run: dict, peer: str,
             max_abs_diff: Optional[float] = None, **extra) -> dict:
        """One JSON-ready comparison line.

        Args:
            bench (str): Benchmark name, e.g. ``'voc_eval_area'``.
            ours (dict): mmext's record from :meth:`compare`.
            peer_run (dict): The peer's record from :meth:`compare`.
            peer (str): The peer's name, e.g. ``'mmdet.eval_map'``.
            max_abs_diff (float, optional): Largest difference between the
                two results.
            **extra: More fields (memory, AP values...).

        Returns:
            dict: ``bench``, ``ours_s``, ``peer``, ``peer_s``, ``ratio``
            (peer / ours), ``max_abs_diff``, ``rounds``, ``load_avg``,
            ``cpu_count``, ``threads`` (per contender), ``contention``
            and ``extra``; ``ours_error`` / ``peer_error`` instead of times
            when a contender failed.
        """
        line = dict(bench=bench, peer=peer)
        if 'error' in ours or 'error' in peer_run:
            line.update(ours_error=ours.get('error'),
                        peer_error=peer_run.get('error'))
        else:
            line.update(
                ours_s=round(ours['seconds'], 4),
                peer_s=round(peer_run['seconds'], 4),
                ratio=round(peer_run['seconds'] / ours['seconds'], 2),
                max_abs_diff=max_abs_diff)
        line.update(extra)
        load = ours.get('load_avg') or peer_run.get('load_avg')
        line.update(
            rounds=self.rounds,
            load_avg=[round(v, 2) for v in load] if load else None,
            cpu_count=os.cpu_count(),
            threads=dict(ours=ours.get('threads'),
                         peer=peer_run.get('threads')),
            contention=self.contention)
        return line


def emit(lines: List[dict]) -> None:
    """Print the comparison lines last, one JSON object per line."""
    for line in lines:
        print(json.dumps(line), flush=True)
