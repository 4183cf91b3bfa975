#!/usr/bin/env bash
# Build and run every fuzz target (fuzz/, cargo-fuzz + libFuzzer), then write a table of
# the results to target/fuzz-report.md.
#
#   scripts/fuzz.sh                 smoke run: 60 s per target
#   scripts/fuzz.sh 30              smoke run: 30 s per target (what scripts/test.sh runs)
#   scripts/fuzz.sh --long          campaign: until 1,000,000 executions or 30 min per target
#   scripts/fuzz.sh 120 options     only the named targets
#
# Every target runs with the issue's bar: -rss_limit_mb=2048 (an input using more than 2 GB
# is an OOM) and -timeout=1 (an input taking more than 1 s is a timeout). libFuzzer runs in
# fork mode and keeps going after a finding, so one run reports all of them; findings land
# in fuzz/artifacts/<target>/ (crash-*, timeout-*, oom-*). The exit status is non-zero when
# any target produced a crash, a timeout or an OOM.
#
# Environment: SOTTO_FUZZ_SANITIZER (default none: Sotto has no unsafe code, and without
# ASan the speed is ~2x and memory use is what production sees; "address" also works),
# SOTTO_FUZZ_LONG_SECONDS (default 1800), SOTTO_FUZZ_LONG_RUNS (default 1000000).
# SOTTO_FUZZ_REPORT (default target/fuzz-report.md) names the report, so runs of different
# targets side by side keep theirs. SOTTO_FUZZ_TARGET_DIR (default fuzz/target) is where the
# instrumented binaries are built.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-fuzz.sh
export PATH="$HOME/.cargo/bin:$PATH"
# A panic prints its message; a backtrace (libfuzzer-sys turns them on) costs seconds of
# symbolization in these large binaries, long enough to turn a crash into a timeout.
# Reproduce an artifact to see its stack.
export RUST_BACKTRACE="${RUST_BACKTRACE:-0}"
# Instrumented builds never share the main target dir: they live in fuzz/target.
unset CARGO_TARGET_DIR

SANITIZER="${SOTTO_FUZZ_SANITIZER:-none}"
RSS_LIMIT_MB=2048
TIMEOUT_S=1
mode=smoke
seconds=60
if [ "${1:-}" = "--long" ]; then
  mode=long
  shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  seconds="$1"
  shift
fi
if [ "$mode" = long ]; then
  seconds="${SOTTO_FUZZ_LONG_SECONDS:-1800}"
  runs="${SOTTO_FUZZ_LONG_RUNS:-1000000}"
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "== cargo +nightly fuzz build -O -s $SANITIZER (${#targets[@]} targets)" >&2
build_start=$(date +%s)
# SOTTO_FUZZ_TARGET_DIR builds elsewhere than fuzz/target, so a campaign can start on new
# code while another one still runs the old binaries (which a rebuild would replace).
fuzz_target_dir="${SOTTO_FUZZ_TARGET_DIR:-fuzz/target}"
cargo +nightly fuzz build -O -s "$SANITIZER" --codegen-units "${SOTTO_FUZZ_CODEGEN_UNITS:-16}" \
  --target-dir "$(realpath -m "$fuzz_target_dir")"
build_s=$(( $(date +%s) - build_start ))
bin_dir="$fuzz_target_dir/x86_64-unknown-linux-gnu/release"

mkdir -p target
report="${SOTTO_FUZZ_REPORT:-target/fuzz-report.md}"
rows=()
failed=0
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  if [ "$mode" = smoke ]; then
    # A smoke run starts from the committed seeds only, in a fresh corpus: libFuzzer's fork
    # mode replays its whole corpus before fuzzing, and a campaign's local corpus (thousands
    # of inputs, each up to 256 KiB through the engine) would take the whole smoke budget.
    corpus="target/fuzz-smoke-corpus/$t"
    rm -rf "$corpus"
  fi
  seeds="fuzz/seeds/$t"
  artifacts="fuzz/artifacts/$t"
  log="target/fuzz-$t.log"
  mkdir -p "$corpus" "$artifacts"
  before=$(ls "$artifacts" | sort)
  args=(-rss_limit_mb=$RSS_LIMIT_MB -timeout=$TIMEOUT_S -max_total_time="$seconds"
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1
        -artifact_prefix="$artifacts/" -print_final_stats=1)
  if [ "$mode" = long ]; then args+=(-runs="$runs"); fi
  if [ -f "fuzz/dict/$t.dict" ]; then args+=(-dict="fuzz/dict/$t.dict"); fi
  dirs=("$corpus")
  if [ -d "$seeds" ]; then dirs+=("$seeds"); fi
  echo "== fuzz $t (${seconds} s max${runs:+, $runs runs max})" >&2
  start=$(date +%s)
  status=0
  # Watchdog: should a job hang anyway, kill libFuzzer and its jobs (timeout signals its
  # whole process group) and count a timeout instead of stalling the run.
  timeout --kill-after=30 $((seconds + 120)) "$bin_dir/$t" "${args[@]}" "${dirs[@]}" >"$log" 2>&1 || status=$?
  elapsed=$(( $(date +%s) - start ))
  hung=0
  if [ "$status" = 124 ] || [ "$status" = 137 ]; then hung=1; fi
  # Fork mode's status lines: "#N: cov: C ft: F corp: ... oom/timeout/crash: O/T/X time: ..."
  last=$(grep -E '^#[0-9]+: cov: ' "$log" | tail -1 || true)
  execs=$(sed -nE 's/^#([0-9]+): .*/\1/p' <<<"$last")
  cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+) .*/\1/p' <<<"$last")
  new=$(comm -13 <(echo "$before") <(ls "$artifacts" | sort) || true)
  crashes=$(grep -c '^crash-' <<<"$new" || true)
  timeouts=$(grep -c '^timeout-' <<<"$new" || true)
  ooms=$(grep -c '^oom-' <<<"$new" || true)
  if [ "$hung" = 1 ]; then
    echo "   $t: still running $((seconds + 120)) s after start, killed (a hung job counts as a timeout)" >&2
    timeouts=$((timeouts + 1))
  fi
  if [ -z "$last" ] && [ "$status" != 0 ] && [ "$hung" = 0 ]; then
    # No status line at all: the target did not start (or died before its first report).
    crashes=$((crashes + 1))
    tail -20 "$log" >&2
  fi
  if [ $((crashes + timeouts + ooms)) -gt 0 ]; then
    failed=1
    echo "   findings in $artifacts/:" >&2
    sed 's/^/     /' <<<"$new" >&2
  fi
  rows+=("| $t | ${execs:-0} | ${elapsed} s | ${cov:-?} | ${ft:-?} | $crashes | $timeouts | $ooms |")
  echo "   ${execs:-0} executions in ${elapsed} s, cov ${cov:-?}, ft ${ft:-?}, crashes $crashes, timeouts $timeouts, ooms $ooms" >&2
done

{
  echo "# Fuzzing report"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $mode run ($( [ "$mode" = long ] && echo "until $runs executions or $seconds s" || echo "$seconds s") per target)," \
       "sanitizer $SANITIZER, -rss_limit_mb=$RSS_LIMIT_MB -timeout=$TIMEOUT_S, $(nproc) cores," \
       "build ${build_s} s, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo
  echo "| target | execs | time | coverage (edges) | features | crashes | timeouts | ooms |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Findings (if any) are in fuzz/artifacts/<target>/; logs in target/fuzz-<target>.log."
} >"$report"
cat "$report"
exit "$failed"
