#!/bin/sh
# Submit the training of every style of a corpus to Slurm:
#
#   deploy/slurm/submit.sh CORPUS_ROOT OUT [train-all options] [-- train options]
#   e.g. deploy/slurm/submit.sh ../shared/corpus runs --budget 30m -- --epochs 200
#
# Writes the pending jobs' command lines with `lstm-composer train-all --print` into
# OUT/jobs-pretrain.txt and OUT/jobs-styles.txt, then submits train-all.sbatch for the
# pre-training and, with --dependency=afterok on it, as a job array of one task per style.
# Done runs are left out and interrupted ones resume, so running this again after a failure
# or a cancellation submits only what is left. Environment: SBATCH_ARGS (more sbatch options
# for both, e.g. "--partition=gpu"), ARRAY_LIMIT (style tasks at once, e.g. 8), VENV (see
# train-all.sbatch).
set -eu
if [ $# -lt 2 ]; then
    echo "usage: $0 CORPUS_ROOT OUT [train-all options] [-- train options]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${VENV:-}" ]; then
    PATH="$VENV/bin:$PATH"
fi
corpus=$1
out=$2
shift 2
mkdir -p "$out"
lists=$(cd "$out" && pwd)
lstm-composer train-all "$corpus" --out "$out" --print --stage pretrain "$@" > "$lists/jobs-pretrain.txt"
lstm-composer train-all "$corpus" --out "$out" --print --stage styles "$@" > "$lists/jobs-styles.txt"

after=""
if [ -s "$lists/jobs-pretrain.txt" ]; then
    # shellcheck disable=SC2086  # SBATCH_ARGS is a list of options
    id=$(sbatch --parsable ${SBATCH_ARGS:-} --job-name=lstm-composer-pretrain \
        --export=ALL,JOBS="$lists/jobs-pretrain.txt" "$here/train-all.sbatch")
    id=${id%%;*}  # --parsable prints "id" or "id;cluster"
    after="--dependency=afterok:$id"
    echo "pre-training: job $id"
fi
n=$(wc -l < "$lists/jobs-styles.txt")
if [ "$n" -gt 0 ]; then
    # shellcheck disable=SC2086
    id=$(sbatch --parsable ${SBATCH_ARGS:-} $after --array="1-$n${ARRAY_LIMIT:+%$ARRAY_LIMIT}" \
        --job-name=lstm-composer-styles --export=ALL,JOBS="$lists/jobs-styles.txt" "$here/train-all.sbatch")
    echo "styles: array job ${id%%;*}, $n task(s)${after:+, after the pre-training}"
else
    echo "styles: nothing left to train"
fi
