#!/usr/bin/env bash
# Runs three OpenAI client families (the official openai SDK, LangChain's
# ChatOpenAI, the Vercel AI SDK) with their default settings against
# `sieve serve` with its HTTP door: chat, Responses and completions,
# plain and streamed, structured output and logprobs, each checked to
# return the moderated reply. Needs node and npm (the versions are pinned
# in package.json) and a built bin/sieve.
#
#   scripts/openai-clients/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=$(mktemp -d)
trap 'kill $serve 2>/dev/null || true; rm -rf "$dir"' EXIT
"$root/bin/sieve" demo --pace 0 --cache "$dir/toys" > /dev/null # writes the toy models
toy=$(grep -l . "$dir"/toys/*.gguf | while read -r f; do
	if "$root/bin/sieve" generate --model "$f" --temperature 0 --max-tokens 4 hi 2>/dev/null | grep -q '^Well'; then echo "$f"; fi
done | head -1)
sed -e "s|@TOY@|$toy|" -e "s|@DIR@|$dir|" "$here/sieve.toml.in" > "$dir/sieve.toml"
"$root/bin/sieve" serve --config "$dir/sieve.toml" > "$dir/serve.log" 2>&1 &
serve=$!
for _ in $(seq 1 100); do
	curl -fs -o /dev/null -H 'Authorization: Bearer sk-clients-0123456789' http://127.0.0.1:18080/v1/models && break
	sleep 0.2
done
cd "$here"
npm install --no-audit --no-fund --silent
node run.mjs
