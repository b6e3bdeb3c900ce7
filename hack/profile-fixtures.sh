#!/usr/bin/env bash
# Regenerates the aiperf fixtures of `infercap profile import` (tests/fixtures/profiles/aiperf-*.json) by
# running the real aiperf against hack/mock_openai_server.py on 127.0.0.1 with a word-level tokenizer built
# locally (aiperf otherwise fetches one from the Hugging Face hub). Dev-only; needs PyPI.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d)}
PORT=${PORT:-8765}
if [ ! -x "$WORK/venv/bin/aiperf" ]; then
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet aiperf==0.13.0
fi
"$WORK/venv/bin/python" - "$WORK/tok" <<'PY'
import sys
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
# Vocabulary: the words of a text every Debian system has (aiperf builds prompts from its own corpus and
# decodes them with this tokenizer; the mock engine counts whitespace-separated words).
vocab = {"[UNK]": 0}
for w in ["tok"] + [w.strip(".,") for w in open("/usr/share/common-licenses/GPL-3").read().split()]:
    if w and w not in vocab:
        vocab[w] = len(vocab)
t = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
t.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
PreTrainedTokenizerFast(tokenizer_object=t, unk_token="[UNK]").save_pretrained(sys.argv[1])
PY
python3 "$ROOT/hack/mock_openai_server.py" --port "$PORT" &
MOCK=$!
trap 'kill $MOCK' EXIT
sleep 1
for c in 4 16 48; do
  "$WORK/venv/bin/aiperf" profile --model mock-llm --url "http://127.0.0.1:$PORT" --endpoint-type chat --streaming \
    --tokenizer "$WORK/tok" --concurrency "$c" --isl 200 --osl 50 --request-count $((c * 10)) --ui-type none \
    --output-artifact-dir "$WORK/c$c" >/dev/null
  cp "$WORK/c$c/profile_export_aiperf.json" "$ROOT/tests/fixtures/profiles/aiperf-0.13.0-c$c.json"
done
# GuideLLM 0.8.1 (GUIDELLM=1: it installs PyTorch with its CUDA libraries, about 6 GB, and takes ~15 min):
# a concurrent sweep at 4, 16 and 48 streams, 40 requests each, same tokenizer and mock engine. Stored
# without the per-request records and the per-modality blocks (text/image/video/audio/tool_call), which the
# importer does not read and which would make the file 0.8 MB; everything else is as the tool wrote it.
if [ "${GUIDELLM:-0}" = 1 ]; then
  if [ ! -x "$WORK/gvenv/bin/guidellm" ]; then
    python3 -m venv "$WORK/gvenv"
    "$WORK/gvenv/bin/pip" install --quiet guidellm==0.8.1
  fi
  "$WORK/gvenv/bin/guidellm" run --backend "kind=openai_http,target=http://127.0.0.1:$PORT,model=mock-llm" \
    --profile kind=concurrent,streams=4 --override profile.streams 4,16,48 \
    --data kind=synthetic_text,prompt_tokens=200,output_tokens=50 --tokenizer "kind=huggingface_auto,model=$WORK/tok" \
    --constraint kind=max_requests,count=40 --output "kind=json,path=$WORK/guidellm.json" \
    --disable-console-interactive >/dev/null
  python3 - "$WORK/guidellm.json" "$ROOT/tests/fixtures/profiles/guidellm-0.8.1-concurrent.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for bench in doc["benchmarks"]:
    bench["requests"] = {k: [] for k in bench["requests"]}
    for k in ("text", "image", "video", "audio", "tool_call"):
        bench["metrics"].pop(k, None)
open(sys.argv[2], "w").write(json.dumps(doc, separators=(",", ":")))
PY
fi
# vllm bench serve from vLLM 0.33.0 (VLLM=1: it installs PyTorch 2.14 and vLLM, about 6 GB, ~40 min on the
# 2-core machine; the benchmark client runs without a GPU): the random dataset at 200/50 tokens,
# --max-concurrency 4, 16 and 48, ten prompts per stream, against the same mock engine's /v1/completions.
if [ "${VLLM:-0}" = 1 ]; then
  if [ ! -x "$WORK/vvenv/bin/vllm" ]; then
    python3 -m venv "$WORK/vvenv"
    "$WORK/vvenv/bin/pip" install --quiet vllm==0.33.0
  fi
  for c in 4 16 48; do
    "$WORK/vvenv/bin/vllm" bench serve --backend openai --base-url "http://127.0.0.1:$PORT" --endpoint /v1/completions \
      --model mock-llm --tokenizer "$WORK/tok" --dataset-name random --random-input-len 200 --random-output-len 50 \
      --num-prompts $((c * 10)) --max-concurrency "$c" --save-result --result-dir "$WORK/vllm" \
      --result-filename "c$c.json" >/dev/null
    python3 -c 'import json, sys; open(sys.argv[2], "w").write(json.dumps(json.load(open(sys.argv[1])), indent=1) + "\n")' \
      "$WORK/vllm/c$c.json" "$ROOT/tests/fixtures/profiles/vllm-0.33.0-bench-serve-c$c.json"
  done
fi
