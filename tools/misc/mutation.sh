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
#   SECONDS  time cap of the run (default 3600); mutants not reached stay
#            "not checked" and count against the score
#   FILE     modules to mutate instead of the default set
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-.venv}
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
LIMIT=${1:-3600}
shift || true
FILES=("$@")
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
           mmext/datasets/functional/repeat_factors.py
           mmext/evaluation/functional/multilabel.py
           mmext/evaluation/functional/multilabel_ranking.py
           mmext/evaluation/functional/multilabel_inputs.py)
fi
TESTS=(tests/test_numeric_core_edges.py
       tests/test_eval_functional_coco.py
       tests/test_eval_functional_voc.py
       tests/test_detection_oracles.py
       tests/test_repeat_factor_functional.py
       tests/test_multilabel_functional.py
       tests/test_multilabel_ranking.py)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mmext-mutation.XXXXXX")
git -C "$ROOT" archive HEAD | tar -x -C "$WORK"
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
echo "mutating ${#FILES[@]} modules in $WORK (cap ${LIMIT} s)"
start=$(date +%s)
export OMP_NUM_THREADS=1 MMEXT_CACHE_DIR="$WORK/.cache"
status=0
# the spinner goes to a log; the summary below is what to read
timeout "$LIMIT" "$VENV/bin/mutmut" run --max-children "${JOBS:-2}" \
    > mutmut-run.log 2>&1 || status=$?
tail -c 300 mutmut-run.log | tr '\r' '\n' | tail -2
[ "$status" -eq 124 ] && echo "time cap of ${LIMIT} s reached"
"$VENV/bin/mutmut" results --all true > mutation-results.txt 2>&1 || true
"$VENV/bin/python" - "$start" <<'PY'
import collections, re, sys, time
counts = collections.Counter(
    m.group(1) for m in (re.search(r':\s*(\w[\w ]*)$', line.strip())
                         for line in open('mutation-results.txt'))
    if m)
killed = counts.get('killed', 0) + counts.get('timeout', 0)
total = sum(counts.values())
print(dict(counts))
print(f'score {killed}/{total} = {killed / max(total, 1):.1%} in '
      f'{time.time() - float(sys.argv[1]):.0f} s')
PY
echo "survivors: grep survived $WORK/mutation-results.txt; diffs: cd $WORK && $VENV/bin/mutmut show NAME"
