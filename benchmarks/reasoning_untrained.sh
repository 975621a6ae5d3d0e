#!/bin/bash
# The untrained SmolLM2-135M-Instruct on the curated ReasoningGym-v1 presets
# (collabzoo.envs.reasoning.gym CURATED) under every protocol: collabzoo eval, greedy, the
# first 39 test questions of each preset (all of chain-small's), max_new_tokens 48 (its
# greedy answers are one sentence; a smaller budget than the env declares, so eval warns),
# num_turns 1 (the protocols' own rounds) and, for parallel, also 2 (the env's cross-check).
# Runs in order of priority, skipping cells already done; each cell's summary.json,
# episodes.jsonl and table.md land in $OUT/<preset>-<protocol>-t<turns>/, times in times.txt.
# Slow on 2 shared cores (~3-11 min a cell at load 12): nice -n 19. legs-small-parallel-t1
# in the results is leg_counting with 2-3 animals, 1-3 of each (min_animals=2 max_animals=3
# min_instances=1 max_instances=3), measured by an earlier version of this script: 0.
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/reasoning_untrained}
mkdir -p $OUT
N=39
run() {  # preset protocol turns
  preset=$1; proto=$2; turns=$3; name=$preset-$proto-t$turns
  [ -f $OUT/$name/summary.json ] && return
  # the preset's kwargs, from the one source (CURATED), as key=value words without spaces
  kwargs=$(PYTHONPATH=$PWD .venv/bin/python -c "from collabzoo.envs.reasoning.gym import CURATED
print(' '.join(f'{k}={v if isinstance(v, str) else repr(v)}'.replace(' ', '')
               for k, v in CURATED['$preset'].items()))")
  start=$(date +%s)
  PYTHONPATH=$PWD OMP_NUM_THREADS=2 nice -n 19 .venv/bin/python -m collabzoo.cli eval \
    --env collabzoo/ReasoningGym-v1 --agents smollm2-135m --protocol $proto \
    --env-kwargs $kwargs split=test size=$N num_turns=$turns \
    --batch-size $N --max-new-tokens 48 --output $OUT/$name --no-progress > $OUT/$name.log 2>&1
  echo "$name rc=$? $(( $(date +%s) - start ))s" >> $OUT/times.txt
}
run chain-small parallel 1
run chain-small single 1
run arith-small parallel 1
run chain-small sequential 1
run chain-small discussion 1
run chain-small parallel 2
run arith-small single 1
run arith-small sequential 1
run arith-small discussion 1
