package filter

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStrictFormsCatchRates measures the spaced and leet forms that
// TestStrictCatchRates does not: spaced phrases and digits, runs of
// separators, multi-character leet symbols; and the hits of the plain
// and the strict view in clean prose (testdata/clean_en.txt, and
// SIEVE_PROSE's en.txt if set). It needs the LDNOOBW lists:
//
//	npm install --prefix /tmp/ldnoobw naughty-words
//	SIEVE_LDNOOBW=/tmp/ldnoobw/node_modules/naughty-words go test ./internal/filter -run TestStrictFormsCatchRates -v
func TestStrictFormsCatchRates(t *testing.T) {
	dir := os.Getenv("SIEVE_LDNOOBW")
	if dir == "" {
		t.Skip("set SIEVE_LDNOOBW (see the comment)")
	}
	data, err := os.ReadFile(filepath.Join(dir, "en.json"))
	if err != nil {
		t.Fatal(err)
	}
	var en []string
	if err := json.Unmarshal(data, &en); err != nil {
		t.Fatal(err)
	}
	compile := func(s Strict) *Filter {
		return mustCompile(t, []ListSpec{{Name: "en", Action: Redact, Match: Word, Strict: s, Words: en}}, Options{Normalize: true})
	}
	plain, strict := compile(0), compile(StrictAll)
	classes := strictFormClasses()
	t.Logf("%-40s %9s %9s %9s", "class", "variants", "plain", "strict")
	for _, c := range classes {
		n, p, s := 0, 0, 0
		for _, w := range en {
			w = strings.ToLower(w)
			if c.only != nil && !c.only(w) {
				continue
			}
			v := c.variant(w)
			if v == w {
				continue
			}
			n++
			text := "they said " + v + " again."
			if len(plain.Check(Output, text).Hits) > 0 {
				p++
			}
			if len(strict.Check(Output, text).Hits) > 0 {
				s++
			} else if os.Getenv("SIEVE_MISSES") != "" {
				t.Logf("  missed %q (%q)", v, w)
			}
		}
		t.Logf("%-40s %9d %8.1f%% %8.1f%%", c.name, n, 100*float64(p)/float64(max(n, 1)), 100*float64(s)/float64(max(n, 1)))
	}
	files := []string{"testdata/clean_en.txt"}
	if prose := os.Getenv("SIEVE_PROSE"); prose != "" {
		files = append(files, filepath.Join(prose, "en.txt"))
	}
	for _, name := range files {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		p, s := len(plain.Check(Output, string(text)).Hits), len(strict.Check(Output, string(text)).Hits)
		t.Logf("clean prose %s (%d bytes): %d hits plain, %d strict: %s", name, len(text), p, s, ratio(s, p))
	}
}

// formClass is one disguise TestStrictFormsCatchRates measures: the
// entries it applies to (nil: all) and how it writes one.
type formClass struct {
	name    string
	only    func(string) bool
	variant func(string) string
}

// strictFormClasses are the spaced and leet forms the strict view reads.
func strictFormClasses() []formClass {
	isAlnum := func(r rune) bool { return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' }
	phrase := func(w string) bool {
		return strings.Contains(w, " ") && !strings.ContainsFunc(w, func(r rune) bool { return r != ' ' && !isAlnum(r) })
	}
	digits := func(w string) bool {
		return strings.ContainsAny(w, "0123456789") && !strings.ContainsFunc(w, func(r rune) bool { return r != ' ' && !isAlnum(r) })
	}
	letters := func(w string) bool {
		return len(w) >= 3 && !strings.ContainsFunc(w, func(r rune) bool { return r < 'a' || r > 'z' })
	}
	spread := func(seps ...string) func(string) string {
		return func(w string) string {
			var b strings.Builder
			k := 0
			for i, r := range strings.ReplaceAll(w, " ", "") {
				if i > 0 {
					b.WriteString(seps[k%len(seps)])
					k++
				}
				b.WriteRune(r)
			}
			return b.String()
		}
	}
	symbolOf := map[rune]string{'o': "()", 'h': "|-|", 'u': "|_|", 'k': "|<", 'd': "|)", 'n': `|\|`, 'm': `/\/\`, 'v': `\/`, 'w': `\/\/`}
	symbols := func(all bool) func(string) string {
		return func(w string) string {
			var b strings.Builder
			done := false
			for _, r := range w {
				if s, ok := symbolOf[r]; ok && (all || !done) {
					b.WriteString(s)
					done = true
					continue
				}
				b.WriteRune(r)
			}
			return b.String()
		}
	}
	single := map[rune]string{'a': "@", 's': "$", 'i': "!", 'l': "|", 'e': "3", 't': "7"}
	mixed := func(w string) string {
		var b strings.Builder
		for _, r := range w {
			if s, ok := symbolOf[r]; ok {
				b.WriteString(s)
			} else if s, ok := single[r]; ok {
				b.WriteString(s)
			} else {
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	return []formClass{
		{"phrases spaced (b a l l g a g)", phrase, spread(" ")},
		{"phrases dotted (b.a.l.l.g.a.g)", phrase, spread(".")},
		{"digits spaced (2 g i r l s 1 c u p)", digits, spread(" ")},
		{"separator runs (s  h-i . t)", letters, spread("  ", "-", " . ", "_", " - ", "\t", "\u3000", "--")},
		{"leet symbols, all (c()c|<)", nil, symbols(true)},
		{"leet symbols, one (c()ck)", nil, symbols(false)},
		{"leet mixed (@$$|-|()|3)", nil, mixed},
	}
}
