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
