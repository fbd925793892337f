package filter

import (
	"cmp"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/longbridgeapp/opencc"
)

// TestTraditionalMeasure measures the traditional switch on a Chinese
// list and Chinese prose, from outside (Compile and Check only, so that
// it runs on any version of the package): the hits of the list on clean
// Simplified prose plain and strict, those of the same list written in
// Traditional (OpenCC s2t) on that prose, and the share of the entries
// whose Traditional spellings (OpenCC s2t, s2tw, s2hk, and the prose
// itself converted) the strict list catches. It needs the list and the
// prose, which are not part of the repository:
//
//	bash scripts/strict-heldout/run.sh   # fetches the lists, builds the prose
//	SIEVE_ZH_LIST=/tmp/heldout26/lists/node_modules/naughty-words/zh.json \
//	SIEVE_ZH_PROSE=/tmp/heldout26/prose/zh_fortunes.txt,internal/filter/testdata/clean_zh.txt \
//	go test ./internal/filter -run TestTraditionalMeasure -v
//
// (relative prose paths are from the repository root.)
func TestTraditionalMeasure(t *testing.T) {
	listPath, prosePaths := os.Getenv("SIEVE_ZH_LIST"), os.Getenv("SIEVE_ZH_PROSE")
	if listPath == "" || prosePaths == "" {
		t.Skip("set SIEVE_ZH_LIST and SIEVE_ZH_PROSE (see the comment)")
	}
	zh := readJSONList(t, listPath)
	conv := openccConverters(t, "s2t", "s2tw", "s2hk")
	zhTrad := make([]string, len(zh))
	for i, w := range zh {
		zhTrad[i] = conv["s2t"](w)
	}
	compile := func(words []string, s Strict) *Filter {
		return mustCompile(t, []ListSpec{{Name: "zh", Action: Flag, Strict: s, Words: words}}, Options{Normalize: true})
	}
	plain, strict := compile(zh, 0), compile(zh, StrictTraditional)
	plainT, strictT := compile(zhTrad, 0), compile(zhTrad, StrictTraditional)

	// Catch rates: each entry that the conversion changes, in a sentence.
	for _, name := range []string{"s2t", "s2tw", "s2hk"} {
		n, p, s := tradCatch(zh, conv[name], plain, strict, func(v string) string { return "他们说" + v + "了。" })
		t.Logf("Traditional spellings (%s) of the Simplified entries: %d changed, caught %d (%.1f%%) plain, %d (%.1f%%) strict", name, n, p, tradPct(p, n), s, tradPct(s, n))
	}
	// The Simplified spellings of the Traditional entries.
	back := func(w string) string { return zh[slices.Index(zhTrad, w)] }
	n, p, s := tradCatch(zhTrad, back, plainT, strictT, func(v string) string { return "他们说" + v + "了。" })
	t.Logf("Simplified spellings of the Traditional (s2t) entries: %d changed, caught %d (%.1f%%) plain, %d (%.1f%%) strict", n, p, tradPct(p, n), s, tradPct(s, n))

	hits := func(f *Filter, text string) map[string]int {
		m := map[string]int{}
		for _, h := range f.Check(Output, text).Hits {
			m[h.Keyword]++
		}
		return m
	}
	total := func(m map[string]int) (n int) {
		for _, c := range m {
			n += c
		}
		return n
	}
	for _, path := range strings.Split(prosePaths, ",") {
		if !filepath.IsAbs(path) {
			path = filepath.Join("..", "..", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		name := filepath.Base(path)
		hp, hs := hits(plain, text), hits(strict, text)
		t.Logf("%s (%d bytes), Simplified list: %d hits plain, %d strict", name, len(text), total(hp), total(hs))
		hpT, hsT := hits(plainT, text), hits(strictT, text)
		t.Logf("%s, Traditional (s2t) list: %d hits plain, %d strict", name, total(hpT), total(hsT))
		for _, c := range []struct {
			what string
			p, s map[string]int
		}{{"Simplified list", hp, hs}, {"Traditional list", hpT, hsT}} {
			type row struct {
				e    string
				p, s int
			}
			var rows []row
			for e, k := range c.s {
				if k > c.p[e] {
					rows = append(rows, row{e, c.p[e], k})
				}
			}
			slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(b.s-b.p, a.s-a.p), strings.Compare(a.e, b.e)) })
			var b strings.Builder
			for _, r := range rows[:min(8, len(rows))] {
				b.WriteString(" " + r.e + " " + strconv.Itoa(r.p) + "→" + strconv.Itoa(r.s))
			}
			t.Logf("  %s, entries strict widens most:%s", c.what, b.String())
		}
		// The prose converted to Traditional: what the Simplified list
		// finds in it, strict, against what it finds in the original.
		trad := conv["s2t"](text)
		hc := hits(strict, trad)
		t.Logf("%s converted s2t: Simplified list %d hits plain, %d strict (original, plain: %d)", name, total(hits(plain, trad)), total(hc), total(hp))
		var lost []string
		for e, k := range hc {
			if hs[e] != k {
				lost = append(lost, e+" "+strconv.Itoa(hs[e])+"→"+strconv.Itoa(k))
			}
		}
		for e, k := range hs {
			if _, ok := hc[e]; !ok {
				lost = append(lost, e+" "+strconv.Itoa(k)+"→0")
			}
		}
		slices.Sort(lost)
		t.Logf("  entries whose strict hits differ between the original and the converted text: %q", lost)
	}
}

// tradCatch counts the entries that conv changes, and how many of those
// the plain and the strict filter catch in a sentence.
func tradCatch(words []string, conv func(string) string, plain, strict *Filter, sentence func(string) string) (n, p, s int) {
	for _, w := range words {
		v := conv(w)
		if v == w || v == "" {
			continue
		}
		n++
		if len(plain.Check(Output, sentence(v)).Hits) > 0 {
			p++
		}
		if len(strict.Check(Output, sentence(v)).Hits) > 0 {
			s++
		} else if os.Getenv("SIEVE_MISSES") != "" {
			println("missed", v, "for", w)
		}
	}
	return n, p, s
}

func tradPct(a, n int) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(a) / float64(n)
}

// openccConverters are OpenCC's conversions by name.
func openccConverters(t *testing.T, names ...string) map[string]func(string) string {
	t.Helper()
	conv := map[string]func(string) string{}
	for _, name := range names {
		cc, err := opencc.New(name)
		if err != nil {
			t.Fatal(err)
		}
		conv[name] = func(s string) string { out, _ := cc.Convert(s); return out }
	}
	return conv
}

// readJSONList reads a JSON array of strings.
func readJSONList(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var words []string
	if err := json.Unmarshal(data, &words); err != nil {
		t.Fatal(err)
	}
	return words
}
