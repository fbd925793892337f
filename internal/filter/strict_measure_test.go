package filter

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/longbridgeapp/opencc"
)

// TestStrictCatchRates measures strict matching from outside, as the
// issue that asked for it did: every entry of the LDNOOBW lists (npm
// naughty-words) disguised the ways an evader would, each in a sentence,
// through the plain and the strict view; and the hits each view finds in
// clean prose. It needs the lists and the prose, which are not part of
// the repository:
//
//	npm install --prefix /tmp/ldnoobw naughty-words
//	SIEVE_LDNOOBW=/tmp/ldnoobw/node_modules/naughty-words SIEVE_PROSE=/tmp/ldnoobw go test ./internal/filter -run TestStrictCatchRates -v
//
// SIEVE_PROSE holds en.txt and zh.txt (BENCHMARKS.md says which texts).
func TestStrictCatchRates(t *testing.T) {
	dir, prose := os.Getenv("SIEVE_LDNOOBW"), os.Getenv("SIEVE_PROSE")
	if dir == "" || prose == "" {
		t.Skip("set SIEVE_LDNOOBW and SIEVE_PROSE (see the comment)")
	}
	load := func(name string) []string {
		var words []string
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &words); err != nil {
			t.Fatal(err)
		}
		return words
	}
	en, zh := load("en.json"), load("zh.json")
	compile := func(s Strict) (*Filter, *Filter) {
		return mustCompile(t, []ListSpec{{Name: "en", Action: Redact, Match: Word, Strict: s, Words: en}}, Options{Normalize: true}),
			mustCompile(t, []ListSpec{{Name: "zh", Action: Redact, Strict: s, Words: zh}}, Options{Normalize: true})
	}
	plainEn, plainZh := compile(0)
	strictEn, strictZh := compile(StrictAll)
	caught := func(f *Filter, text string) bool { return len(f.Check(Output, text).Hits) > 0 }
	t.Logf("%-30s %9s %9s %9s", "class", "variants", "plain", "strict")
	for _, c := range disguises(t, en, zh) {
		n, plain, strict := 0, 0, 0
		for _, w := range c.words {
			w = strings.ToLower(w)
			if c.only != nil && !c.only(w) {
				continue
			}
			v := c.variant(w)
			if v == w {
				continue // nothing to disguise
			}
			n++
			text := "they said " + v + " again."
			fp, fs := plainEn, strictEn
			if c.zh {
				text = "他们说" + v + "了。"
				fp, fs = plainZh, strictZh
			}
			if caught(fp, text) {
				plain++
			}
			if caught(fs, text) {
				strict++
			} else if testing.Verbose() && os.Getenv("SIEVE_MISSES") != "" {
				t.Logf("  missed %q (%q)", v, w)
			}
		}
		t.Logf("%-30s %9d %8.1f%% %8.1f%%", c.name, n, 100*float64(plain)/float64(n), 100*float64(strict)/float64(n))
	}
	for _, side := range []struct {
		file          string
		plain, strict *Filter
	}{{"en.txt", plainEn, strictEn}, {"zh.txt", plainZh, strictZh}} {
		data, err := os.ReadFile(filepath.Join(prose, side.file))
		if err != nil {
			t.Fatal(err)
		}
		p, s := len(side.plain.Check(Output, string(data)).Hits), len(side.strict.Check(Output, string(data)).Hits)
		t.Logf("clean prose %s (%d bytes): %d hits plain, %d strict: %s", side.file, len(data), p, s, ratio(s, p))
	}
}

// disguise is one way an evader writes an entry, for TestStrictCatchRates.
type disguise struct {
	name    string
	words   []string
	variant func(string) string
	only    func(string) bool // entries the class applies to
	zh      bool
}

// disguises are the classes of disguise TestStrictCatchRates measures,
// over the English entries en and the Chinese ones zh.
func disguises(t *testing.T, en, zh []string) []disguise {
	cyrillic := map[rune]rune{'a': 'а', 'c': 'с', 'e': 'е', 'o': 'о', 'p': 'р', 'x': 'х', 'y': 'у', 'i': 'і', 's': 'ѕ', 'j': 'ј', 'h': 'һ', 'd': 'ԁ', 'q': 'ԛ', 'w': 'ԝ'}
	greek := map[rune]rune{'a': 'α', 'o': 'ο', 'v': 'ν', 'p': 'ρ', 'i': 'ι', 'k': 'κ', 'u': 'υ', 't': 'τ', 'n': 'η', 'e': 'ε', 'x': 'χ', 'y': 'γ'}
	digits := map[rune]rune{'a': '4', 'e': '3', 'i': '1', 'o': '0', 's': '5', 't': '7', 'l': '1', 'g': '9', 'b': '8'}
	symbols := map[rune]rune{'a': '@', 's': '$', 'i': '!', 'l': '|'}
	swap := func(m map[rune]rune) func(string) string {
		return func(w string) string {
			return strings.Map(func(r rune) rune {
				if x, ok := m[r]; ok {
					return x
				}
				return r
			}, w)
		}
	}
	letters := func(w string) bool {
		return !strings.ContainsFunc(w, func(r rune) bool { return r < 'a' || r > 'z' })
	}
	join := func(sep string) func(string) string {
		return func(w string) string { return strings.Join(strings.Split(w, ""), sep) }
	}
	s2t, err := opencc.New("s2t")
	if err != nil {
		t.Fatal(err)
	}
	toTrad := func(w string) string { out, _ := s2t.Convert(w); return out }

	return []disguise{
		{"Cyrillic look-alikes", en, swap(cyrillic), nil, false},
		{"Greek look-alikes", en, swap(greek), nil, false},
		{"letters spaced (s h i t)", en, join(" "), letters, false},
		{"letters dotted (s.h.i.t)", en, join("."), letters, false},
		{"letters hyphenated (s-h-i-t)", en, join("-"), letters, false},
		{"leet digits (sh1t)", en, swap(digits), nil, false},
		{"leet symbols ($hit)", en, swap(symbols), nil, false},
		{"Traditional for Simplified", zh, toTrad, nil, true},
	}
}

func ratio(a, b int) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", 100*(float64(a)/float64(b)-1))
}
