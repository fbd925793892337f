#!/usr/bin/env bash
# Builds the held-out lists and prose of issue 26 and runs TestStrictHeldOut
# on them. Needs npm, and Debian's fortunes, fortunes-zh, manpages,
# manpages-zh and wamerican (apt-get install fortunes fortunes-zh manpages
# manpages-zh wamerican).
# Nothing here is committed: the lists and prose go under $WORK (default /tmp/heldout26).
#
#   bash scripts/strict-heldout/run.sh            # build what is missing, measure
#   SIEVE_MISSES=1 bash scripts/strict-heldout/run.sh   # also print every miss
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${WORK:-/tmp/heldout26}
lists=$work/lists prose=$work/prose
mkdir -p "$lists" "$prose"

if [ ! -f "$lists/profane.json" ]; then
	npm install --silent --prefix "$lists" naughty-words@1.2.0 badwords-list@2.0.1-4 profane-words@2.1.0
	(cd "$lists" && node -e "
		const fs = require('fs');
		fs.writeFileSync('badwords.json', JSON.stringify(require('badwords-list').array));
		fs.writeFileSync('profane.json', JSON.stringify(require('profane-words')));")
fi

fortunes=/usr/share/games/fortunes
for f in "$fortunes/chinese" "$fortunes/fortunes" /usr/share/man/zh_CN/man1 /usr/share/man/man7/man-pages.7.gz /usr/share/dict/american-english; do
	[ -e "$f" ] || { echo "missing $f: apt-get install fortunes fortunes-zh manpages manpages-zh wamerican" >&2; exit 1; }
done
# English fortunes, less the files that are offensive on purpose
# (drugs, ethnic, men-women) and the Chinese ones.
(cd "$fortunes" && cat $(ls | grep -v -e '\.dat$' -e '\.u8$' |
	grep -v -x -e drugs -e ethnic -e men-women -e chinese -e song100 -e tang300)) >"$prose/en_fortunes.txt"
# Debian's manpages (the Linux man-pages project), roff removed as for
# manpages-zh below.
dpkg -L manpages | grep '\.gz$' | xargs zcat | grep -v "^['.]" |
	sed 's/\\f[A-Z]//g; s/\\-/-/g' >"$prose/en_manpages.txt"
# An English dictionary, a word a line.
cp /usr/share/dict/american-english "$prose/en_dict.txt"
# The Go distribution's HTML documents, tags removed.
cat "$(go env GOROOT)"/doc/*.html | sed 's/<[^>]*>//g' >"$prose/en_godoc.txt"
# Code, as models write it into answers: Go's net/http package (not a
# goal's corpus; watched because strict reads symbols).
cat "$(go env GOROOT)"/src/net/http/*.go >"$prose/en_gosrc.txt"
# fortunes-zh, terminal colour escapes removed.
cat "$fortunes/chinese" "$fortunes/song100" "$fortunes/tang300" |
	sed 's/\x1b\[[0-9;]*m//g' >"$prose/zh_fortunes.txt"
# manpages-zh (Simplified), roff requests and font escapes removed.
zcat /usr/share/man/zh_CN/man*/*.gz | grep -v "^['.]" |
	sed 's/\\f[A-Z]//g; s/\\-/-/g' >"$prose/zh_manpages.txt"
wc -c "$prose"/*

SIEVE_HELDOUT=$lists SIEVE_PROSE26=$prose go test ./internal/filter -run 'TestStrictHeldOut$' -count 1 -v
