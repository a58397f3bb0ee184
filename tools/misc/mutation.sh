#!/usr/bin/env bash
# Mutation testing (mutmut 3) of the numeric core: the detection evaluation
# functions, the repeat-factor formulas and the multi-label statistics, each
# through the fast tests that exercise it.
#
# mutmut writes a mutants/ tree next to the code it mutates, so it runs in a
# temporary copy of the committed tree (git archive HEAD), never in this
# checkout. Results: <copy>/mutation-results.txt (every mutant's verdict) and
# a summary line; `mutmut show <name>` in the copy prints a mutant's diff.
#
# Usage: VENV=.venv bash tools/misc/mutation.sh [SECONDS] [FILE...]
#   SECONDS  time cap of the run (default 3600, or $MUTATION_LIMIT); mutants
#            not reached stay "not checked" and count against the score
#   FILE     modules to mutate instead of the default set (or
#            $MUTATION_FILES, space separated: `make mutation
#            MUTATION_LIMIT=600 MUTATION_FILES=mmext/.../voc.py`)
# Environment:
#   MUTATION_DIR=<copy>  resume in the copy of an earlier run: its tree is
#            refreshed from HEAD, its setup.cfg rewritten with the same
#            modules (unless FILE is given) and the current test selection;
#            verdicts of unchanged functions stand, the unchecked mutants
#            run, and mutmut collects stats for the tests it has not seen
#   RECHECK=1  with MUTATION_DIR: run the survivors again (after new tests)
#   JOBS     parallel mutants (default 2)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-.venv}
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
LIMIT=${1:-${MUTATION_LIMIT:-3600}}
shift || true
FILES=("$@")
if [ ${#FILES[@]} -eq 0 ] && [ -n "${MUTATION_FILES:-}" ]; then
    read -r -a FILES <<< "$MUTATION_FILES"
fi
if [ ${#FILES[@]} -eq 0 ] && [ -n "${MUTATION_DIR:-}" ] &&
   [ -f "$MUTATION_DIR/setup.cfg" ]; then
    # the modules of the run being resumed: its only_mutate lines
    mapfile -t FILES < <(awk '/^only_mutate=/ {on = 1; next}
                              on && /^    / {print $1; next} {on = 0}' \
                         "$MUTATION_DIR/setup.cfg")
fi
if [ ${#FILES[@]} -eq 0 ]; then
    FILES=(mmext/evaluation/functional/iou.py
           mmext/evaluation/functional/ap.py
           mmext/evaluation/functional/pr.py
           mmext/evaluation/functional/grouping.py
           mmext/evaluation/functional/voc.py
           mmext/evaluation/functional/coco.py
           mmext/evaluation/functional/coco_matching.py
           mmext/evaluation/functional/coco_accumulation.py
           mmext/evaluation/functional/coco_summary.py
           mmext/evaluation/functional/greedy_match.py
           mmext/datasets/functional/repeat_factors.py
           mmext/evaluation/functional/multilabel.py
           mmext/evaluation/functional/multilabel_ranking.py
           mmext/evaluation/functional/multilabel_inputs.py)
fi
TESTS=(tests/test_numeric_core_edges.py
       tests/test_ap_interpolation_reference.py
       tests/test_voc_eval_boundaries.py
       tests/test_iou_input_dtypes.py
       tests/test_error_analysis.py
       tests/test_greedy_match.py
       tests/test_eval_functional_coco.py
       tests/test_eval_functional_voc.py
       tests/test_detection_oracles.py
       tests/test_repeat_factor_functional.py
       tests/test_multilabel_functional.py
       tests/test_multilabel_ranking.py)

if [ -n "${MUTATION_DIR:-}" ]; then
    WORK=$(cd "$MUTATION_DIR" && pwd)
    [ -f "$WORK/setup.cfg" ] && [ -d "$WORK/mutants" ] || {
        echo "MUTATION_DIR=$WORK is not the copy of an earlier run" >&2
        exit 2
    }
    # mutmut forgets every verdict when the test selection changes (below:
    # tests added since); kills still stand when the mutated modules are
    # unchanged, so the summary carries them over from the last results
    rm -f "$WORK/mutation-results.before.txt"
    if [ -f "$WORK/mutation-results.txt" ] && (for f in "${FILES[@]}"; do
           git -C "$ROOT" show "HEAD:$f" | cmp -s - "$WORK/$f" || exit 1
       done); then
        cp "$WORK/mutation-results.txt" "$WORK/mutation-results.before.txt"
    fi
    # the whole tree: tests of HEAD may need its code; mutmut re-mutates
    # the functions that changed
    git -C "$ROOT" archive HEAD | tar -x -C "$WORK" --exclude=setup.cfg
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/mmext-mutation.XXXXXX")
    git -C "$ROOT" archive HEAD | tar -x -C "$WORK"
fi
# rewritten on a resume too: tests added to TESTS since the run began are
# selected (mutmut collects their stats before running mutants)
{
    echo '[mutmut]'
    echo 'source_paths=mmext/'
    echo 'only_mutate='
    printf '    %s\n' "${FILES[@]}"
    echo 'pytest_add_cli_args='
    printf '    %s\n' -p no:randomly -p no:cacheprovider -m 'not slow' -x -q
    echo 'pytest_add_cli_args_test_selection='
    for t in "${TESTS[@]}"; do
        [ -f "$WORK/$t" ] && printf '    %s\n' "$t"
    done
    echo 'also_copy='
    printf '    %s\n' data/ configs/ tools/
} > "$WORK/setup.cfg"

cd "$WORK"
NAMES=()
if [ -n "${RECHECK:-}" ] && [ -n "${MUTATION_DIR:-}" ]; then
    mapfile -t NAMES < <("$VENV/bin/mutmut" results 2>/dev/null |
                         awk -F: '/survived/ {gsub(/ /, "", $1); print $1}')
    echo "rechecking ${#NAMES[@]} survivors"
fi
echo "mutating in $WORK (cap ${LIMIT} s), load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
export OMP_NUM_THREADS=1 MMEXT_CACHE_DIR="$WORK/.cache"
status=0
# the spinner goes to a log; the summary below is what to read
timeout "$LIMIT" "$VENV/bin/mutmut" run --max-children "${JOBS:-2}" \
    "${NAMES[@]}" >> mutmut-run.log 2>&1 || status=$?
tail -c 300 mutmut-run.log | tr '\r' '\n' | tail -2
[ "$status" -eq 124 ] && echo "time cap of ${LIMIT} s reached"
"$VENV/bin/mutmut" results --all true > mutation-results.txt 2>&1 || true
"$VENV/bin/python" - "$start" <<'PY'
import collections, os, re, sys, time


def verdicts(path):
    """``{mutant: verdict}`` of a ``mutmut results --all true`` listing."""
    out = {}
    for line in open(path):
        m = re.match(r'\s*(\S+):\s*(\w[\w ]*)$', line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


now = verdicts('mutation-results.txt')
if os.path.exists('mutation-results.before.txt'):
    # kills and timeouts of unchanged modules stand with more tests
    kept = {k: v for k, v in verdicts('mutation-results.before.txt').items()
            if now.get(k) == 'not checked' and v in ('killed', 'timeout')}
    now.update(kept)
    print(f'{len(kept)} kills of the earlier run carried over')
    with open('mutation-results.txt', 'w') as f:
        f.writelines(f'    {k}: {v}\n' for k, v in now.items())
counts = collections.Counter(now.values())
killed = counts.get('killed', 0) + counts.get('timeout', 0)
total = sum(counts.values())
print(dict(counts))
print(f'score {killed}/{total} = {killed / max(total, 1):.1%} in '
      f'{time.time() - float(sys.argv[1]):.0f} s')
PY
echo "load at the end $(cut -d' ' -f1-3 /proc/loadavg); resume: MUTATION_DIR=$WORK"
echo "survivors: grep survived $WORK/mutation-results.txt; diffs: cd $WORK && $VENV/bin/mutmut show NAME"
