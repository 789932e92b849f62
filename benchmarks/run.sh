#!/usr/bin/env bash
# Run every aispend benchmark and print one summary table.
#
#   bash benchmarks/run.sh            # 1M-row import (best of 3) + 1M-row pricing (~2 min)
#   bash benchmarks/run.sh --10m      # also the 10M-row import (7.4 GB CSV; +3 to 5 min); same as BENCH_10M=1
#   bash benchmarks/run.sh --clean    # delete the generated files in benchmarks/out/ afterwards
#
# Generated files go to benchmarks/out/ (git-ignored) and are reused by the next run.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
OUT=benchmarks/out
SIZES=1m
CLEAN=0
[[ "${BENCH_10M:-0}" == 1 ]] && SIZES=1m,10m
for arg in "$@"; do
  case "$arg" in
    --10m) SIZES=1m,10m ;;
    --clean) CLEAN=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"

if [[ "$SIZES" == *10m* && ! -f "$OUT/focus_10m.csv" ]]; then
  free_gb=$(df -BG --output=avail "$OUT" | tail -1 | tr -dc 0-9)
  if (( free_gb < 12 )); then
    echo "only ${free_gb} GB free under $OUT; the 10M run needs ~9 GB (7.4 GB CSV + ledger files)" >&2
    exit 1
  fi
fi

echo "== machine"
echo "cpus: $(nproc)   memory: $(free -h | awk '/^Mem:/ {print $2}')   python: $($PY -c 'import sys; print(sys.version.split()[0])')   duckdb: $($PY -c 'import duckdb; print(duckdb.__version__)')   pyarrow: $($PY -c 'import pyarrow; print(pyarrow.__version__)')   genai-prices: $($PY -c 'import importlib.metadata as m; print(m.version("genai-prices"))')"
echo
echo "== import, 1M rows (best of 3)"
$PY benchmarks/bench_import.py --sizes 1m --repeat 3 --json "$OUT/import_1m.json"
IMPORTS=("$OUT/import_1m.json")
if [[ "$SIZES" == *10m* ]]; then
  echo
  echo "== import, 10M rows (one run)"
  $PY benchmarks/bench_import.py --sizes 10m --json "$OUT/import_10m.json"
  IMPORTS+=("$OUT/import_10m.json")
fi
echo
echo "== pricing (1M rows)"
$PY benchmarks/bench_pricing.py --json "$OUT/pricing.json"
echo

$PY - "$OUT/pricing.json" "${IMPORTS[@]}" <<'EOF'
import json, sys
pri = json.load(open(sys.argv[1]))
imp = [r for path in sys.argv[2:] for r in json.load(open(path))]
label = lambda n: f"{n // 1_000_000}M"
print("== summary")
print(f"{'benchmark':<28} {'seconds':>9} {'rows/s':>12} {'peak RSS MB':>12} {'ratio':>10}  target")
for r in imp:
    n = r["rows"]
    for kind in ("baseline", "aispend"):
        m = r[kind]
        name = f"import {label(n)} " + ("duckdb read_csv" if kind == "baseline" else "aispend")
        ratio = f"{r['ratio']:.2f}x" if kind == "aispend" else ""
        target = ""
        if kind == "aispend":
            target = f"<=3x: {'MET' if r['ratio'] <= 3 else 'NOT MET'}"
            if n >= 10_000_000:
                target += f"; RSS<1500 MB: {'MET' if m['peak_rss_mb'] < 1500 else 'NOT MET'}"
        print(f"{name:<28} {m['seconds']:9.2f} {n / m['seconds']:12,.0f} {m['peak_rss_mb']:12,.0f} {ratio:>10}  {target}")
n = pri["rows"]
print(f"{'pricing ' + label(n) + ' bulk':<28} {pri['bulk_s']:9.2f} {pri['bulk_rows_per_s']:12,.0f} {'':>12} {'':>10}")
print(f"{'pricing ' + label(n) + ' per-row (extrap.)':<28} {pri['per_row_extrapolated_s']:9.1f} {n / pri['per_row_extrapolated_s']:12,.0f} "
      f"{'':>12} {pri['speedup']:9,.0f}x  >=100x: {'MET' if pri['speedup'] >= 100 else 'NOT MET'}")
agree = float(pri["check_total_diff"]) < 0.005 and pri["check_status_mismatch"] == 0
print(f"pricing agreement on {pri['sample_rows']:,} sample rows: {'AGREE' if agree else 'DISAGREE'} "
      f"(total diff ${float(pri['check_total_diff']):.10f}, {pri['check_rows_differing']} rows differ)")
EOF

if (( CLEAN )); then
  rm -f "$OUT"/focus_*.csv "$OUT"/focus_*.parquet "$OUT"/*.duckdb "$OUT"/*.duckdb.wal
  echo "(removed the generated files in $OUT)"
fi
