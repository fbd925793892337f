package holdback

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sieve-project/sieve/internal/filter"
)

// The tests in this file check a Buffer together with a filter.Stream, as
// the daemon runs them: the model's pieces go through the Buffer, what it
// releases is written to the Stream, and the Stream is closed after the
// Buffer's Flush (engine.Generate, pipeline.Runner.Generate). The Stream
// knows no stop strings; cutting the text at the first one is the
// Buffer's part. (These tests were the Stream's while it had a stop-string
// automaton of its own.)

// throughBoth feeds text, cut at cuts (ascending offsets), to a new Buffer
// with stops and what it releases to a new Stream of f, and returns what
// the Stream released and whether the Buffer saw a stop string. Every
// piece the Stream releases must be valid UTF-8.
func throughBoth(t testing.TB, f *filter.Filter, stops []string, text string, cuts []int) (filter.CheckResult, bool) {
	t.Helper()
	b, s := New(stops), f.NewStream(filter.Output)
	var (
		out  []byte
		hits []filter.Hit
		res  filter.CheckResult
	)
	take := func(r filter.Result) {
		t.Helper()
		if !utf8.Valid(r.Text) {
			t.Fatalf("stream released invalid UTF-8 %q", r.Text)
		}
		out = append(out, r.Text...)
		hits = append(hits, r.Hits...)
		res.Blocked = r.Blocked
	}
	stopped, prev := false, 0
	for _, c := range append(slices.Clip(cuts), len(text)) {
		piece, stop := b.Write(text[prev:c])
		prev = c
		take(s.Write([]byte(piece)))
		if stop {
			stopped = true
			break
		}
	}
	take(s.Write([]byte(b.Flush()))) // nothing after a stop string
	take(s.Close())
	res.Text, res.Hits = string(out), hits
	return res, stopped
}

// cutText is the text the Stream must see for text as a whole: up to the
// first stop string completed (of those ending at the same byte, the
// longest; stop strings that are not UTF-8 are ignored), or without an
// unfinished character at its end, which Flush
// drops.
func cutText(text string, stops []string) (string, bool) {
	for e := 1; e <= len(text); e++ {
		cut := -1
		for _, s := range stops {
			if s != "" && utf8.ValidString(s) && strings.HasSuffix(text[:e], s) && (cut < 0 || e-len(s) < cut) {
				cut = e - len(s)
			}
		}
		if cut >= 0 {
			return text[:cut], true
		}
	}
	return text[:len(text)-incompleteTail([]byte(text))], false
}

func sameResult(a, b filter.CheckResult) bool {
	return a.Text == b.Text && a.Blocked == b.Blocked && slices.Equal(a.Hits, b.Hits)
}

func TestStopStringsThroughFilter(t *testing.T) {
	f, err := filter.Compile([]filter.ListSpec{{Name: "r", Action: filter.Redact, Words: []string{"bad", "user"}}}, filter.Options{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, text string
		stops      []string
		want       string
		stopped    bool
	}{
		{name: "plain", text: "hello\n\nmore", stops: []string{"\n\n"}, want: "hello", stopped: true},
		{name: "none", text: "hello\nmore", stops: []string{"\n\n"}, want: "hello\nmore"},
		{name: "multibyte", text: "答案。结束了", stops: []string{"结束"}, want: "答案。", stopped: true},
		{name: "keyword before stop is settled", text: "a bad<|stop|>bad", stops: []string{"<|stop|>"}, want: "a ***", stopped: true},
		{name: "stop cuts a keyword", text: "ba<|stop|>d", stops: []string{"<|stop|>"}, want: "ba", stopped: true},
		{name: "stop is exact, not normalized", text: "USER: hi User:", stops: []string{"User:"}, want: "***: hi ", stopped: true},
		{name: "longest stop at the same end", text: "xxabc", stops: []string{"bc", "abc"}, want: "xx", stopped: true},
		{name: "earliest end wins", text: "abcd", stops: []string{"bc", "abcd"}, want: "a", stopped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i <= len(tt.text); i++ {
				for j := i; j <= len(tt.text); j++ {
					got, stopped := throughBoth(t, f, tt.stops, tt.text, []int{i, j})
					if got.Text != tt.want || stopped != tt.stopped {
						t.Fatalf("split %d,%d: got %q stopped=%v, want %q stopped=%v", i, j, got.Text, stopped, tt.want, tt.stopped)
					}
				}
			}
		})
	}
}

// Texts are made of these: ASCII, CJK, forms that normalize to several
// code points or to nothing, bidi controls, invalid and truncated UTF-8,
// and what stop strings are made of.
var textAtoms = []string{
	"a", "b", "c", "s", "A", "B", " ", ".", "1", "_", "\n", "<", "|", ">",
	"中", "文", "字", "ﬁ", "Ａ", "é", "e\u0301", "\u200b", "\u202e", "а", "後",
	"\xff", "\xe4\xb8", "\xe4", "\xb8",
}

// Entries are short, over a small alphabet, so that they match often and
// across stop strings.
var entryAtoms = []string{"a", "b", "c", "s", "中", "文", "fi", " ", "e", "<", "后"}

func randString(rng *rand.Rand, atoms []string, n int) string {
	var sb strings.Builder
	for range n {
		sb.WriteString(atoms[rng.IntN(len(atoms))])
	}
	return sb.String()
}

func randSpecs(rng *rand.Rand) []filter.ListSpec {
	actions := []filter.Action{filter.Redact, filter.Flag, filter.Redact, filter.Block}
	modes := []filter.Mode{filter.Substring, filter.Word}
	var specs []filter.ListSpec
	for li := range 1 + rng.IntN(3) {
		sp := filter.ListSpec{Name: fmt.Sprintf("l%d", li), Action: actions[rng.IntN(len(actions))], Match: modes[rng.IntN(2)]}
		if rng.IntN(3) == 0 {
			sp.Strict = filter.Strict(rng.IntN(16))
		}
		for range 1 + rng.IntN(4) {
			w := randString(rng, entryAtoms, 1+rng.IntN(3))
			if strings.TrimSpace(w) == "" {
				w = "a"
			}
			sp.Words = append(sp.Words, w)
		}
		specs = append(specs, sp)
	}
	return specs
}

// randCuts cuts n bytes at random offsets, 0 to 4 bytes apart (empty
// pieces and cuts inside characters included).
func randCuts(rng *rand.Rand, n int) []int {
	var cuts []int
	for p := 0; ; {
		p += rng.IntN(5)
		if p >= n {
			return cuts
		}
		cuts = append(cuts, p)
	}
}

// checkAgainstCheck checks that text through a Buffer with stops and a
// Stream of f, cut at random, gives what filter.Check gives for the text
// cut at the first stop string, and that the Buffer saw the stop.
func checkAgainstCheck(t *testing.T, rng *rand.Rand, f *filter.Filter, stops []string, text string, splits int) {
	t.Helper()
	cut, wantStop := cutText(text, stops)
	want := f.Check(filter.Output, cut)
	for range splits {
		cuts := randCuts(rng, len(text))
		got, stopped := throughBoth(t, f, stops, text, cuts)
		if !sameResult(got, want) || stopped != wantStop {
			t.Fatalf("text %q stops %q cuts %v:\ngot  %+v stopped=%v\nwant %+v stopped=%v (Check of %q)", text, stops, cuts, got, stopped, want, wantStop, cut)
		}
	}
}

// TestBufferThenStreamMatchesCheck is the property the filter's own
// reference tests once checked with stop strings: for random lists,
// texts, stop strings and splits, a Buffer then a Stream give what Check
// gives for the text cut at the first stop string.
func TestBufferThenStreamMatchesCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	for it := 0; it < iters; {
		specs := randSpecs(rng)
		f, err := filter.Compile(specs, filter.Options{Normalize: rng.IntN(5) != 0})
		if err != nil {
			t.Fatalf("specs %+v: %v", specs, err)
		}
		var stops []string
		for range rng.IntN(3) {
			stops = append(stops, randString(rng, textAtoms[:len(textAtoms)-4], 1+rng.IntN(3)))
		}
		text := randString(rng, textAtoms, rng.IntN(30))
		if len(stops) > 0 && rng.IntN(2) == 0 {
			// Make a stop string likely to occur, also near the end.
			k := rng.IntN(len(text) + 1)
			text = text[:k] + stops[rng.IntN(len(stops))] + text[k:]
		}
		checkAgainstCheck(t, rng, f, stops, text, 3)
		it++
	}
}

// FuzzBufferThenStream checks the same property on fuzzer-chosen texts,
// stop strings and splits, with fixed lists dense in overlaps (those of
// filter's FuzzStream). seed picks the splits. The corpus, in
// testdata/fuzz/FuzzBufferThenStream, holds the entries of filter's
// FuzzStream corpus that ran with the stop strings "\n\n" and "ca" when
// the Stream cut them itself.
func FuzzBufferThenStream(f *testing.F) {
	specs := []filter.ListSpec{
		{Name: "flag", Action: filter.Flag, Words: []string{"fi", "ab", "中"}},
		{Name: "red", Action: filter.Redact, Match: filter.Word, Words: []string{"ss", "abc", "b", "é"}},
		{Name: "red2", Action: filter.Redact, Replacement: "<x>", Words: []string{"sf", "文字", "ca"}},
		{Name: "blk", Action: filter.Block, Match: filter.Word, Words: []string{"bad", "坏蛋"}},
		{Name: "strict", Action: filter.Redact, Match: filter.Word, Strict: filter.StrictAll, Words: []string{"ass", "shit"}},
		{Name: "strictblk", Action: filter.Block, Strict: filter.StrictTraditional | filter.StrictLookalikes, Words: []string{"后门", "abd"}},
	}
	flt, err := filter.Compile(specs, filter.Options{Normalize: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("abc\n\nbad"), "\n\n", "ca", uint64(3))
	f.Add([]byte("x ca中文字 fi"), "ca", "", uint64(9))
	f.Add([]byte("a bad<|im_end|>坏蛋"), "<|im_end|>", "\n\n", uint64(1))
	f.Add([]byte("\xe4\xb8\xad\xff\xe4 ca"), "中", "a", uint64(6))
	f.Fuzz(func(t *testing.T, text []byte, stopA, stopB string, seed uint64) {
		stops := []string{stopA, stopB}
		checkAgainstCheck(t, rand.New(rand.NewPCG(seed, seed>>32)), flt, stops, string(text), 1)
	})
}
