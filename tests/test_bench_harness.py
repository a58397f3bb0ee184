"""The benchmark harness: separate processes, interleaved rounds, fastest
run kept, contention process started and stopped, JSON line fields."""
import argparse
import json
import os
import os.path as osp
import sys
import textwrap

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import harness  # noqa: E402

# A real benchmark script: two contenders that report their own pid (so the
# test sees one process per run), a crash and a worker without "seconds".
SCRIPT = textwrap.dedent('''
    import argparse, os, sys, time
    sys.path.insert(0, {bench_dir!r})
    import harness

    def fast(case):
        _, s = harness.timed(time.sleep, 0.01)
        return dict(seconds=s, result=[int(case), os.getpid()])

    def slow(case):
        _, s = harness.timed(time.sleep, 0.05)
        return dict(seconds=s, result=[int(case) * 2, os.getpid()])

    def crash(case):
        raise MemoryError('out of memory in ' + case)

    def no_time(case):
        return dict(result=1)

    if __name__ == '__main__':
        parser = argparse.ArgumentParser()
        harness.add_arguments(parser)
        harness.serve(dict(fast=fast, slow=slow, crash=crash,
                           no_time=no_time), parser.parse_args())
''')


@pytest.fixture
def script(tmp_path):
    path = tmp_path / 'bench_toy.py'
    path.write_text(SCRIPT.format(bench_dir=osp.join(REPO, 'benchmarks')))
    return str(path)


def make_args(*argv):
    parser = argparse.ArgumentParser()
    harness.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults():
    args = make_args()
    assert args.rounds == 3 and not args.contention and args.worker is None


def test_compare_runs_each_round_in_its_own_process(script):
    with harness.Session(make_args('--rounds', '3')) as session:
        runs = session.compare(script, ['fast', 'slow'], case='21')
        line = session.line('toy', runs['fast'], runs['slow'], peer='slow',
                            max_abs_diff=0.5, extra_field=7)
    assert runs['fast']['result'][0] == 21 and runs['slow']['result'][0] == 42
    assert len(runs['fast']['all_seconds']) == 3
    assert runs['fast']['seconds'] == min(runs['fast']['all_seconds'])
    assert runs['fast']['result'][1] != os.getpid()
    assert runs['fast']['result'][1] != runs['slow']['result'][1]
    assert runs['fast']['threads']['torch'] is None  # torch never loaded
    assert line['ratio'] > 1.5 and line['max_abs_diff'] == 0.5
    assert line['rounds'] == 3 and line['contention'] is False
    assert line['cpu_count'] == os.cpu_count() and len(line['load_avg']) == 2
    assert set(line['threads']) == {'ours', 'peer'}
    assert 'OMP_NUM_THREADS' in line['threads']['ours']
    assert line['extra_field'] == 7
    json.dumps(line)  # JSON-ready


def test_contention_process_lives_only_inside_the_session(script):
    with harness.Session(make_args('--contention', '--rounds', '1')) as s:
        busy = s._busy
        assert busy.poll() is None  # spinning
        runs = s.compare(script, ['fast'], case='1')
        line = s.line('toy', runs['fast'], runs['fast'], peer='fast')
    assert busy.poll() is not None  # stopped on exit
    assert line['contention'] is True


def test_failures_are_reported_not_raised(script):
    with harness.Session(make_args('--rounds', '2')) as session:
        runs = session.compare(script, ['fast', 'crash', 'no_time'], '3')
        line = session.line('toy', runs['fast'], runs['crash'], peer='c')
    assert 'MemoryError: out of memory in 3' in runs['crash']['error']
    assert 'returned no "seconds"' in runs['no_time']['error']
    assert 'ratio' not in line and 'MemoryError' in line['peer_error']


def test_rounds_must_be_positive():
    with pytest.raises(ValueError, match='--rounds'):
        harness.Session(make_args('--rounds', '0'))


def test_compare_cases_runs_all_cases_of_a_contender_in_one_process(script):
    with harness.Session(make_args('--rounds', '2')) as session:
        runs = session.compare_cases(script, ['fast', 'slow'], ['2', '5'])
    assert list(runs) == ['2', '5']
    assert runs['5']['fast']['result'][0] == 5
    assert runs['5']['slow']['result'][0] == 10
    for case in ('2', '5'):
        fast = runs[case]['fast']
        assert len(fast['all_seconds']) == 2
        assert fast['seconds'] == min(fast['all_seconds'])
        assert fast['result'][1] != runs[case]['slow']['result'][1]
        assert 'OMP_NUM_THREADS' in fast['threads']
    # one round: the same worker process ran both cases
    with harness.Session(make_args('--rounds', '1')) as session:
        runs = session.compare_cases(script, ['fast', 'slow'], ['2', '5'])
    assert runs['2']['fast']['result'][1] == runs['5']['fast']['result'][1]
    assert runs['2']['fast']['result'][1] != runs['2']['slow']['result'][1]


def test_compare_cases_reports_a_failed_run_for_every_case(script):
    with harness.Session(make_args('--rounds', '1')) as session:
        runs = session.compare_cases(script, ['fast', 'crash'], ['1', '2'])
    for case in ('1', '2'):
        assert 'MemoryError: out of memory in 1' in runs[case]['crash'][
            'error']
        assert runs[case]['fast']['result'][0] == int(case)


def test_compare_cases_needs_distinct_cases(script):
    with harness.Session(make_args('--rounds', '1')) as session:
        with pytest.raises(ValueError, match='distinct'):
            session.compare_cases(script, ['fast'], ['1', '1'])
