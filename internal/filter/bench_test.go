package filter

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/cloudflare/ahocorasick"
)

// Benchmarks: 20,000 keywords (10,000 English-like words, 10,000 Chinese
// phrases) over 4 MiB of mixed English/Chinese text, generated
// deterministically from the clean corpora in testdata (their vocabulary
// and characters), with a real keyword planted about every 2 KiB. Run:
//
//	GOMAXPROCS=1 go test -run '^$' -bench . -benchmem -count 5 ./internal/filter/

const benchTextSize = 4 << 20

type benchData struct {
	en, zh []string // keywords
	text   []byte
	pieces []int // piece lengths, 2–8 bytes
}

var benchOnce = sync.OnceValue(func() *benchData {
	rng := rand.New(rand.NewPCG(20, 25))
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			panic(err)
		}
		return string(b)
	}
	vocab := strings.Fields(strings.ToLower(read("clean_en.txt")))
	var han []rune
	seen := map[rune]bool{}
	for _, r := range read("clean_zh.txt") {
		if unicode.Is(unicode.Han, r) && !seen[r] {
			seen[r] = true
			han = append(han, r)
		}
	}
	d := &benchData{}
	// English-like keywords: syllables, so the text's words walk into the
	// trie without matching too often.
	syl := []string{"ba", "con", "de", "fi", "gra", "hu", "in", "jo", "ka", "lo", "mi", "nor", "pe", "qua", "ri", "sta", "tu", "ve", "wo", "xe", "yo", "zu", "ther", "ing", "ex", "al", "or", "an", "es", "ti"}
	kw := map[string]bool{}
	for len(d.en) < 10000 {
		var w string
		for range 2 + rng.IntN(3) {
			w += syl[rng.IntN(len(syl))]
		}
		if !kw[w] {
			kw[w] = true
			d.en = append(d.en, w)
		}
	}
	for len(d.zh) < 10000 {
		var w []rune
		for range 2 + rng.IntN(3) {
			w = append(w, han[rng.IntN(len(han))])
		}
		if s := string(w); !kw[s] {
			kw[s] = true
			d.zh = append(d.zh, s)
		}
	}
	// Text: alternating runs of English words and Chinese characters.
	var b strings.Builder
	for b.Len() < benchTextSize {
		for range 5 + rng.IntN(15) {
			w := vocab[rng.IntN(len(vocab))]
			if rng.IntN(10) == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w + " ")
		}
		for range 5 + rng.IntN(30) {
			b.WriteRune(han[rng.IntN(len(han))])
		}
		b.WriteString("。")
		if rng.IntN(12) == 0 {
			if rng.IntN(2) == 0 {
				b.WriteString(" " + d.en[rng.IntN(len(d.en))] + " ")
			} else {
				b.WriteString(d.zh[rng.IntN(len(d.zh))])
			}
		}
	}
	d.text = []byte(b.String())
	for n := 0; n < len(d.text); {
		p := 2 + rng.IntN(7)
		d.pieces = append(d.pieces, p)
		n += p
	}
	return d
})

func benchSpecs(d *benchData) []ListSpec {
	return []ListSpec{
		{Name: "en", Action: Redact, Match: Word, Words: d.en},
		{Name: "zh", Action: Redact, Words: d.zh},
	}
}

func BenchmarkCompile20k(b *testing.B) {
	d := benchOnce()
	for _, c := range []struct {
		name   string
		strict Strict
	}{{"plain", 0}, {"strict", StrictAll}} {
		b.Run(c.name, func(b *testing.B) {
			specs := benchSpecs(d)
			for i := range specs {
				specs[i].Strict = c.strict
			}
			foldTableFor(c.strict)
			var f *Filter
			for b.Loop() {
				var err error
				if f, err = Compile(specs, Options{Normalize: true}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(f.memoryBytes())/(1<<20), "automaton-MiB")
			runtime.KeepAlive(f)
		})
	}
}

func BenchmarkStream(b *testing.B) {
	d := benchOnce()
	b.Run("sieve", func(b *testing.B) { benchStream(b, d, 0) })
	// Every switch on both lists: the Chinese list has no ASCII, so it
	// shares the English list's view and the filter stays one automaton.
	b.Run("sieve-strict", func(b *testing.B) { benchStream(b, d, StrictAll) })
	// A filter of two views (strict English, plain Chinese): two
	// automata and the composite that merges them.
	b.Run("sieve-mixed", func(b *testing.B) {
		specs := benchSpecs(d)
		specs[0].Strict = StrictAll
		specs[1].Words = append(specs[1].Words, "ascii") // keeps it in its own view
		benchStreamSpecs(b, d, specs)
	})
	b.Run("cloudflare-rescan", func(b *testing.B) {

		// The library keeps no state between calls, so each piece is
		// matched together with the last maxLen-1 normalized bytes (and it
		// reports only which keywords occur, not where: no redaction).
		f := mustCompile(b, benchSpecs(d), Options{Normalize: true})
		m, maxLen := cloudflareMatcher(f, d)
		b.SetBytes(int64(len(d.text)))
		hits := 0
		for b.Loop() {
			var window []byte
			var part []byte // incomplete character
			off := 0
			for _, p := range d.pieces {
				end := min(off+p, len(d.text))
				part = append(part, d.text[off:end]...)
				off = end
				n := completePrefix(part)
				window = append(window, f.normalize(string(part[:n]))...)
				part = part[:copy(part, part[n:])]
				hits += len(m.MatchThreadSafe(window))
				if k := len(window) - (maxLen - 1); k > 0 {
					window = window[:copy(window, window[k:])]
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(d.pieces)), "ns/piece")
		b.ReportMetric(float64(hits)/float64(b.N), "hits")
	})
}

func benchStream(b *testing.B, d *benchData, strict Strict) {
	specs := benchSpecs(d)
	for i := range specs {
		specs[i].Strict = strict
	}
	benchStreamSpecs(b, d, specs)
}

func benchStreamSpecs(b *testing.B, d *benchData, specs []ListSpec) {
	f := mustCompile(b, specs, Options{Normalize: true})
	b.SetBytes(int64(len(d.text)))
	hits := 0
	for b.Loop() {
		s := f.NewStream(Output)
		off := 0
		for _, p := range d.pieces {
			end := min(off+p, len(d.text))
			hits += len(s.Write(d.text[off:end]).Hits)
			off = end
		}
		hits += len(s.Close().Hits)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(d.pieces)), "ns/piece")
	b.ReportMetric(float64(hits)/float64(b.N), "hits")
	b.ReportMetric(float64(len(f.parts)), "parts")
}

func BenchmarkWhole(b *testing.B) {
	d := benchOnce()
	f := mustCompile(b, benchSpecs(d), Options{Normalize: true})
	text := string(d.text)
	b.Run("sieve-check", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			f.Check(Output, text)
		}
	})
	b.Run("sieve-automaton-only", func(b *testing.B) {
		// The bare automaton over pre-normalized text: no normalization, no
		// offsets, no actions. An upper bound for the whole pipeline.
		normed := []rune(f.normalize(text))
		m := f.m[1]
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			st, n := uint32(0), 0
			for _, r := range normed {
				st = m.step(st, r)
				if st&matchBit != 0 {
					st &^= matchBit
					n++
				}
			}
			runtime.KeepAlive(n)
		}
	})
	b.Run("cloudflare-match", func(b *testing.B) {
		// Matcher only, over pre-normalized text: which keywords occur.
		m, _ := cloudflareMatcher(f, d)
		normed := []byte(f.normalize(text))
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			m.MatchThreadSafe(normed)
		}
	})
}

func BenchmarkCompileCloudflare20k(b *testing.B) {
	d := benchOnce()
	f := mustCompile(b, benchSpecs(d), Options{Normalize: true})
	var words []string
	for _, w := range append(append([]string{}, d.en...), d.zh...) {
		words = append(words, f.normalize(w))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var m *ahocorasick.Matcher
	for b.Loop() {
		m = ahocorasick.NewStringMatcher(words)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
	runtime.KeepAlive(m)
}

func cloudflareMatcher(f *Filter, d *benchData) (*ahocorasick.Matcher, int) {
	var words []string
	maxLen := 0
	for _, w := range append(append([]string{}, d.en...), d.zh...) {
		n := f.normalize(w)
		words = append(words, n)
		maxLen = max(maxLen, len(n))
	}
	return ahocorasick.NewStringMatcher(words), maxLen
}

// completePrefix returns the length of the longest prefix of p that does not
// end inside a character.
func completePrefix(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if utf8.FullRune(p[i:]) {
				return len(p)
			}
			return i
		}
	}
	return len(p)
}
