#!/bin/bash
# The probe's measurement (#32, docs/benchmarks.md): labels, train-probe, test AUROC, calibration,
# then slm, llm, cascade and probe on the same 50 GSM8K test problems. Long on a CPU (hours):
# run it in the background; every step resumes from its folder.
#   L=/path/to/runs S=/path/to/standin.gguf bash benchmarks/probe_pipeline.sh
set -euxo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
L=${L:-runs/probe-measurement}
S=${S:-$HOME/.cache/standin-models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf}
mkdir -p "$L"
python cli.py eval --method slm --dataset gsm8k-train --n 400 --seed 7 --specialist "$S" --out "$L/slm-train-400" --no-progress
python cli.py eval --method slm --dataset gsm8k --n 100 --seed 123 --specialist "$S" --out "$L/slm-test-100" --no-progress
python cli.py train-probe "$L/slm-train-400" --out "$L/probe" --specialist "$S" --no-progress
python -m benchmarks.probe_auroc --probe "$L/probe/probe.json" --labels "$L/slm-test-100" --specialist "$S" > "$L/auroc.json"
python cli.py calibrate --probe "$L/probe/probe.json" --dataset gsm8k-train --n 200 --seed 11 --target escalate:0.1 --vote-share 0.1 --threshold 0.5 --out "$L/probe-cal" --specialist "$S" --no-progress
python -m benchmarks.serve_gguf --gguf "$S" --port 8090 --name standin-qwen-1.5b > "$L/orchestrator.log" 2>&1 &
orchestrator=$!
trap 'kill $orchestrator' EXIT
sleep 20
common=(--n 50 --seed 123 --dataset gsm8k --specialist "$S" --base-url http://127.0.0.1:8090/v1 --model standin-qwen-1.5b --price standin-qwen-1.5b=0.10,0.50 --out "$L/test-50" --concurrency 4 --no-progress)
OPENAI_API_KEY=none python cli.py eval --method slm,llm,cascade --threshold 0.5 "${common[@]}"
OPENAI_API_KEY=none python cli.py eval --method probe --calibration "$L/probe-cal/calibration.json" "${common[@]}"
python cli.py report "$L/test-50" --no-plots
