package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func mustCompile(t testing.TB, specs []ListSpec, opts Options) *Filter {
	t.Helper()
	f, err := Compile(specs, opts)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return f
}

var normOn = Options{Normalize: true}

// actionsAndModesCases are TestActionsAndModes' cases: lists, a text, and
// what Check gives for it.
var actionsAndModesCases = []struct {
	name    string
	specs   []ListSpec
	text    string
	want    string
	hits    []Hit
	blocked bool
}{
	{
		name:  "redact substring",
		specs: []ListSpec{{Name: "p", Action: Redact, Words: []string{"darn"}}},
		text:  "oh darn, darnit",
		want:  "oh ***, ***it",
		hits:  []Hit{{"p", Redact, 3, 6, "darn"}, {"p", Redact, 8, 11, "darn"}},
	},
	{
		name:  "redact word",
		specs: []ListSpec{{Name: "p", Action: Redact, Match: Word, Words: []string{"ass"}}},
		text:  "class assistant ass pass Ass.",
		want:  "class assistant *** pass ***.",
		hits:  []Hit{{"p", Redact, 16, 19, "ass"}, {"p", Redact, 25, 28, "ass"}},
	},
	{
		name:  "ß is one letter: German aß (ate) is not ass",
		specs: []ListSpec{{Name: "p", Action: Redact, Match: Word, Words: []string{"ass", "strasse"}}},
		text:  "Er aß. Aẞ STRASSE Straße ass",
		want:  "Er aß. Aẞ *** Straße ***",
		hits:  []Hit{{"p", Redact, 13, 16, "strasse"}, {"p", Redact, 25, 28, "ass"}},
	},
	{
		name:  "a combining mark on a redacted letter goes with it",
		specs: []ListSpec{{Name: "p", Action: Redact, Match: Word, Words: []string{"darn"}}},
		text:  "darn\u0301\u20dd! darn x\u0301 dar\u0301n\u0301",
		want:  "***! *** x\u0301 ***",
		hits:  []Hit{{"p", Redact, 0, 3, "darn"}, {"p", Redact, 5, 8, "darn"}, {"p", Redact, 13, 16, "darn"}},
	},
	{
		name:  "custom replacement",
		specs: []ListSpec{{Name: "p", Action: Redact, Replacement: "[x]", Words: []string{"darn"}}},
		text:  "darn",
		want:  "[x]",
		hits:  []Hit{{"p", Redact, 0, 3, "darn"}},
	},
	{
		name:  "flag passes through",
		specs: []ListSpec{{Name: "f", Action: Flag, Words: []string{"Acme"}}},
		text:  "buy ACME now",
		want:  "buy ACME now",
		hits:  []Hit{{"f", Flag, 4, 8, "Acme"}},
	},
	{
		name:    "block cuts before the match",
		specs:   []ListSpec{{Name: "b", Action: Block, Words: []string{"secret"}}},
		text:    "the secret is 42",
		want:    "the ",
		hits:    []Hit{{"b", Block, 4, 4, "secret"}},
		blocked: true,
	},
	{
		name:  "word mode next to CJK is a word",
		specs: []ListSpec{{Name: "p", Action: Redact, Match: Word, Words: []string{"ass"}}},
		text:  "你是ass吗",
		want:  "你是***吗",
		hits:  []Hit{{"p", Redact, 6, 9, "ass"}},
	},
	{
		name:  "CJK entry in word mode matches as substring",
		specs: []ListSpec{{Name: "p", Action: Redact, Match: Word, Words: []string{"坏蛋"}}},
		text:  "大坏蛋们",
		want:  "大***们",
		hits:  []Hit{{"p", Redact, 3, 6, "坏蛋"}},
	},
	{
		name:  "leftmost longest",
		specs: []ListSpec{{Name: "p", Action: Redact, Words: []string{"bc", "abcd", "ab", "cde"}}},
		text:  "xabcde",
		want:  "x***e",
		hits:  []Hit{{"p", Redact, 1, 4, "abcd"}},
	},
	{
		name: "block beats redact beats flag on the same bytes",
		specs: []ListSpec{
			{Name: "f", Action: Flag, Words: []string{"foo"}},
			{Name: "r", Action: Redact, Words: []string{"foo"}},
			{Name: "b", Action: Block, Words: []string{"FOO"}},
		},
		text:    "a foo",
		want:    "a ",
		hits:    []Hit{{"b", Block, 2, 2, "FOO"}},
		blocked: true,
	},
	{
		name: "redact beats flag",
		specs: []ListSpec{
			{Name: "f", Action: Flag, Words: []string{"foo"}},
			{Name: "r", Action: Redact, Words: []string{"foo"}},
		},
		text: "foo",
		want: "***",
		hits: []Hit{{"r", Redact, 0, 3, "foo"}},
	},
	{
		name: "longer flag wins over shorter redact at the same start",
		specs: []ListSpec{
			{Name: "f", Action: Flag, Words: []string{"scunthorpe"}},
			{Name: "r", Action: Redact, Words: []string{"cunt"}},
		},
		text: "Scunthorpe",
		want: "Scunthorpe",
		hits: []Hit{{"f", Flag, 0, 10, "scunthorpe"}},
	},
	{
		name: "word-mode owner fails, substring owner of same entry matches",
		specs: []ListSpec{
			{Name: "b", Action: Block, Match: Word, Words: []string{"ass"}},
			{Name: "f", Action: Flag, Words: []string{"ass"}},
		},
		text: "grass",
		want: "grass",
		hits: []Hit{{"f", Flag, 2, 5, "ass"}},
	},
	{
		name:  "hit offsets follow earlier replacements",
		specs: []ListSpec{{Name: "p", Action: Redact, Replacement: "-", Words: []string{"long", "x"}}},
		text:  "long x",
		want:  "- -",
		hits:  []Hit{{"p", Redact, 0, 1, "long"}, {"p", Redact, 2, 3, "x"}},
	},
	{
		name:  "ignorables inside the match are cut with it",
		specs: []ListSpec{{Name: "p", Action: Redact, Words: []string{"darn"}}},
		text:  "\u200bd\u200ba\u00adrn\u200b!",
		want:  "\u200b***\u200b!",
		hits:  []Hit{{"p", Redact, 3, 6, "darn"}},
	},
	{
		name:  "bidi controls and tags stripped from released text",
		specs: []ListSpec{{Name: "p", Action: Flag, Words: []string{"ab"}}},
		text:  "x\u202ey\U000E0041z a\u2066b",
		want:  "xyz ab",
		hits:  []Hit{{"p", Flag, 4, 6, "ab"}},
	},
	{
		name:  "invalid UTF-8 released as U+FFFD",
		specs: []ListSpec{{Name: "p", Action: Flag, Words: []string{"zz"}}},
		text:  "a\xffb\xe4\xb8",
		want:  "a\uFFFDb\uFFFD\uFFFD",
	},
	{
		name:  "match inside a ligature takes the whole ligature",
		specs: []ListSpec{{Name: "p", Action: Redact, Words: []string{"if"}}},
		text:  "xiﬁ",
		want:  "x***",
		hits:  []Hit{{"p", Redact, 1, 4, "if"}},
	},
}

func TestActionsAndModes(t *testing.T) {
	for _, tt := range actionsAndModesCases {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.specs, normOn)
			got := f.Check(Output, tt.text)
			if got.Text != tt.want || got.Blocked != tt.blocked {
				t.Errorf("Check(%q) = %q blocked=%v, want %q blocked=%v", tt.text, got.Text, got.Blocked, tt.want, tt.blocked)
			}
			if !sameHits(got.Hits, tt.hits) {
				t.Errorf("hits = %+v, want %+v", got.Hits, tt.hits)
			}
			// And the same in one-byte pieces.
			cuts := make([]int, 0, len(tt.text))
			for i := 1; i < len(tt.text); i++ {
				cuts = append(cuts, i)
			}
			st := runStream(t, f, Output, []byte(tt.text), cuts)
			if st.Text != got.Text || !sameHits(st.Hits, got.Hits) || st.Blocked != got.Blocked {
				t.Errorf("byte-wise stream = %+v, Check = %+v", st, got)
			}
		})
	}
}

func sameHits(a, b []Hit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEvasions(t *testing.T) {
	f := mustCompile(t, []ListSpec{
		{Name: "en", Action: Redact, Match: Word, Words: []string{"fish", "secret"}},
		{Name: "zh", Action: Redact, Words: []string{"坏蛋"}},
	}, normOn)
	for _, text := range []string{
		"FISH", "Fish", "ＦＩＳＨ", "ｆｉｓｈ", // case, full width
		"f\u200bish", "fi\u200c\u200dsh", "f\u2060i\ufeffsh", "fi\u00adsh", // zero width, soft hyphen
		"ﬁsh", "ⓕⓘⓢⓗ", "𝐟𝐢𝐬𝐡", "𝒻𝒾𝓈𝒽", // ligature, circled, math
		"f\u0336i\u0336s\u0336h\u0336", "fïsh", "fi\u0301sh", // overlays, accents
		"fish\ufe0f", "f\U000E0020ish", "f\u202eish", // variation selector, tag, bidi
		"ſecret", "SECRET", "ＳＥＣＲＥＴ",
		"坏\u200b蛋", "坏\ufe00蛋",
	} {
		got := f.Check(Output, text)
		if len(got.Hits) != 1 {
			t.Errorf("Check(%q) = %q with %d hits, want one hit", text, got.Text, len(got.Hits))
		}
	}
	// Without normalization only the exact form matches.
	raw := mustCompile(t, []ListSpec{{Name: "en", Action: Redact, Words: []string{"fish"}}}, Options{})
	if got := raw.Check(Output, "FISH fish"); got.Text != "FISH ***" {
		t.Errorf("Normalize=false: got %q", got.Text)
	}
}

// TestKeywordSplitAtEveryByte splits a text with one keyword (in several
// disguises) into two pieces at every byte position, and into three pieces
// at every pair, and byte by byte: each reads as the reference reads it.
func TestKeywordSplitAtEveryByte(t *testing.T) {
	specs := []ListSpec{
		{Name: "b", Action: Block, Words: []string{"炸弹"}},
		{Name: "r", Action: Redact, Match: Word, Words: []string{"fish"}},
	}
	f := mustCompile(t, specs, normOn)
	for _, text := range []string{
		"a ＦＩ\u200bSH and ﬁsh, 大炸弹!",
		"fish中文ﬁsh\u00ad",
		"炸\u200b弹",
	} {
		checkEverySplit(t, f, specs, text)
	}
}

// TestHoldBackIsMinimal: only a suffix that can still become a match is
// held.
func TestHoldBackIsMinimal(t *testing.T) {
	f := mustCompile(t, []ListSpec{
		{Name: "r", Action: Redact, Words: []string{"world", "中文字"}},
		{Name: "w", Action: Redact, Match: Word, Words: []string{"cat"}},
	}, normOn)
	tests := []struct{ piece, released string }{
		{"hello wor", "hello "},
		{"hello wox", "hello wox"},
		{"中文", ""},
		{"中文x", "中文x"},
		{"\xe4\xb8", ""}, // half a character
		{"cat", ""},      // word mode: is the next character a letter?
		{"cats", "cats"},
		{"cat!", "***!"},
	}
	for _, tt := range tests {
		s := f.NewStream(Output)
		if got := s.Write([]byte(tt.piece)); string(got.Text) != tt.released {
			t.Errorf("Write(%q) released %q, want %q", tt.piece, got.Text, tt.released)
		}
	}
}

func TestAfterBlockNothingMore(t *testing.T) {
	f := mustCompile(t, []ListSpec{{Name: "b", Action: Block, Words: []string{"boom"}}}, normOn)
	s := f.NewStream(Output)
	r := s.Write([]byte("tick boo"))
	if string(r.Text) != "tick " || r.Blocked {
		t.Fatalf("first write: %+v", r)
	}
	r = s.Write([]byte("m and more"))
	if len(r.Text) != 0 || !r.Blocked || len(r.Hits) != 1 {
		t.Fatalf("second write: %+v", r)
	}
	if r = s.Write([]byte("x")); len(r.Text) != 0 || !r.Blocked || len(r.Hits) != 0 {
		t.Fatalf("third write: %+v", r)
	}
	if r = s.Close(); len(r.Text) != 0 || !r.Blocked {
		t.Fatalf("close: %+v", r)
	}
}

func TestInputAndOutputSides(t *testing.T) {
	f := mustCompile(t, []ListSpec{
		{Name: "in", Action: Block, ApplyTo: []Where{Input}, Words: []string{"jailbreak"}},
		{Name: "both", Action: Redact, ApplyTo: []Where{Input, Output}, Words: []string{"darn"}},
		{Name: "out", Action: Redact, Words: []string{"secret"}}, // default: output
	}, normOn)
	if got := f.Check(Input, "darn jailbreak secret"); got.Text != "*** " || !got.Blocked {
		t.Errorf("input: %+v", got)
	}
	if got := f.Check(Output, "darn jailbreak secret"); got.Text != "*** jailbreak ***" || got.Blocked {
		t.Errorf("output: %+v", got)
	}
}

func TestCheckResultJSON(t *testing.T) {
	f := mustCompile(t, []ListSpec{{Name: "p", Action: Redact, Words: []string{"x"}}}, normOn)
	b, err := json.Marshal(f.Check(Output, "ok"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"text":"ok","hits":[],"blocked":false}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	b, _ = json.Marshal(f.Check(Output, "x"))
	if want := `{"text":"***","hits":[{"list":"p","action":"redact","start":0,"end":3,"keyword":"x"}],"blocked":false}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

// TestNoFalsePositives runs word-mode lists of words that hide inside
// ordinary words over clean English and Chinese prose.
func TestNoFalsePositives(t *testing.T) {
	inside := []string{"ass", "hell", "tit", "cum", "anal", "rape", "crap", "damn", "sex", "cock", "spic", "homo", "nig", "fag", "piss", "shit", "dick", "bum", "hoe", "pee"}
	zh := []string{"傻逼", "他妈的", "操你妈", "王八蛋", "狗日的", "婊子"}
	word := mustCompile(t, []ListSpec{
		{Name: "en", Action: Redact, Match: Word, Words: inside},
		{Name: "zh", Action: Block, Match: Word, Words: zh},
	}, normOn)
	sub := mustCompile(t, []ListSpec{{Name: "en", Action: Redact, Words: inside}}, normOn)
	for _, name := range []string{"clean_en.txt", "clean_zh.txt"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if n := len(strings.Fields(text)); n < 500 {
			t.Fatalf("%s: only %d words", name, n)
		}
		if got := word.Check(Output, text); len(got.Hits) != 0 || got.Text != text {
			t.Errorf("%s: %d false positives, first %+v", name, len(got.Hits), got.Hits[0])
		}
		// The control: as substrings the same words do hit, so the corpus
		// does exercise word boundaries.
		if name == "clean_en.txt" && len(sub.Check(Output, text).Hits) < 10 {
			t.Errorf("%s: substring control found too few hits", name)
		}
	}
}

func TestListFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("good.txt", "# a comment\n\n  darn  \r\nHeck\nheck\n# another\n中文\n")
	write("bad.txt", "ok\n\xff\xfe\n\u200b\u200c\n  # indented comment\nfine\n")
	f := mustCompile(t, []ListSpec{{Name: "g", Action: Redact, Files: []string{"good.txt"}}}, Options{Normalize: true, BaseDir: dir})
	if got := f.Check(Output, "darn HECK 中文 # a comment"); got.Text != "*** *** *** # a comment" {
		t.Errorf("got %q", got.Text)
	}

	_, err := Compile([]ListSpec{
		{Name: "b", Action: Redact, Files: []string{"bad.txt", "missing.txt"}, Source: "sieve.toml:7"},
		{Name: "w", Action: Redact, Words: []string{"ok", "", "\ufe0f"}, Source: "sieve.toml:12"},
	}, Options{Normalize: true, BaseDir: dir})
	if err == nil {
		t.Fatal("Compile succeeded")
	}
	msg := err.Error()
	for _, want := range []string{
		`sieve.toml:7: list "b": bad.txt:2: invalid UTF-8`,
		`sieve.toml:7: list "b": bad.txt:3: entry normalizes to nothing`,
		`sieve.toml:7: list "b": cannot read list file`,
		`sieve.toml:12: list "w": words[1]: empty entry`,
		`sieve.toml:12: list "w": words[2]: entry normalizes to nothing`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	for _, sentinel := range []error{ErrInvalidUTF8, ErrNormalizesEmpty, ErrListFile, ErrEmptyEntry, os.ErrNotExist} {
		if !errors.Is(err, sentinel) {
			t.Errorf("errors.Is(err, %v) = false", sentinel)
		}
	}
	var le *ListError
	if !errors.As(err, &le) || le.List != "b" || le.Pos != "bad.txt:2" {
		t.Errorf("first ListError = %+v", le)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		specs []ListSpec
		want  error
	}{
		{"no name", []ListSpec{{Action: Flag, Words: []string{"x"}}}, ErrInvalidList},
		{"duplicate name", []ListSpec{{Name: "a", Action: Flag, Words: []string{"x"}}, {Name: "a", Action: Flag, Words: []string{"y"}}}, ErrInvalidList},
		{"bad action", []ListSpec{{Name: "a", Action: "delete", Words: []string{"x"}}}, ErrInvalidList},
		{"bad mode", []ListSpec{{Name: "a", Action: Flag, Match: "regex", Words: []string{"x"}}}, ErrInvalidList},
		{"bad side", []ListSpec{{Name: "a", Action: Flag, ApplyTo: []Where{"both"}, Words: []string{"x"}}}, ErrInvalidList},
		{"no entries", []ListSpec{{Name: "a", Action: Flag}}, ErrNoEntries},
		{"too long", []ListSpec{{Name: "a", Action: Flag, Words: []string{strings.Repeat("x", 300)}}}, ErrEntryTooLong},
		{"invalid entry", []ListSpec{{Name: "a", Action: Flag, Words: []string{"a\xffb"}}}, ErrInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.specs, normOn)
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Every problem is reported, not only the first.
	_, err := Compile([]ListSpec{
		{Name: "a", Action: "x", Words: []string{""}},
		{Name: "b", Action: Flag, Match: "y", Words: []string{"\u200b"}},
	}, normOn)
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 4 {
		t.Errorf("got %d errors, want 4: %v", n, err)
	}
}

func TestDuplicatesMerge(t *testing.T) {
	f := mustCompile(t, []ListSpec{{Name: "a", Action: Redact, Words: []string{"Darn", "darn", "ＤＡＲＮ"}}}, normOn)
	if got := f.Check(Output, "darn"); len(got.Hits) != 1 || got.Hits[0].Keyword != "Darn" {
		t.Errorf("got %+v", got)
	}
}

func TestConcurrentStreams(t *testing.T) {
	f := mustCompile(t, []ListSpec{{Name: "a", Action: Redact, Words: []string{"darn", "坏蛋"}}}, normOn)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				s := f.NewStream(Output)
				var out []byte
				for _, p := range []string{"da", "rn 坏", "\xe8", "\x9b\x8b!"} {
					out = append(out, s.Write([]byte(p)).Text...)
				}
				out = append(out, s.Close().Text...)
				if string(out) != "*** ***!" {
					t.Errorf("goroutine %d: %q", i, out)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestHiddenLists: a hidden list's hits and compile errors name the list
// and the place, never the entry.
func TestHiddenLists(t *testing.T) {
	f, err := Compile([]ListSpec{
		{Name: "codes", Action: Block, Words: []string{"bluebird"}, ApplyTo: []Where{Input, Output}, Hide: true},
		{Name: "words", Action: Redact, Words: []string{"darn"}},
	}, Options{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	res := f.Check(Output, "darn, BLUEBIRD")
	if len(res.Hits) != 2 || res.Hits[0].Keyword != "darn" || res.Hits[1].Keyword != "" || !res.Blocked {
		t.Fatalf("hits %+v", res.Hits)
	}
	b, _ := json.Marshal(res)
	if strings.Contains(strings.ToLower(string(b)), "bluebird") {
		t.Fatalf("a hidden list's entry in %s", b)
	}
	_, err = Compile([]ListSpec{{Name: "codes", Action: Block, Words: []string{"bluebird" + strings.Repeat("x", 300), "\u200b"}, Hide: true}}, Options{Normalize: true})
	if err == nil || !strings.Contains(err.Error(), "words[0]") || !strings.Contains(err.Error(), "words[1]") || strings.Contains(err.Error(), "bluebird") {
		t.Fatalf("compile error %v: want the places, not the entries", err)
	}
}

func TestStrict(t *testing.T) {
	en := func(s Strict) []ListSpec {
		return []ListSpec{{Name: "en", Action: Redact, Match: Word, Strict: s, Words: []string{"ass", "shit", "hell"}}}
	}
	zh := func(s Strict) []ListSpec {
		return []ListSpec{{Name: "zh", Action: Redact, Strict: s, Words: []string{"后门", "发"}}}
	}
	phrases := func(s Strict) []ListSpec {
		return []ListSpec{{Name: "ph", Action: Redact, Match: Word, Strict: s, Words: []string{"ball gag", "2 girls 1 cup", "auto erotic", "2g1c"}}}
	}
	symbols := func(s Strict) []ListSpec {
		return []ListSpec{{Name: "sym", Action: Redact, Match: Word, Strict: s, Words: []string{"cock", "hell", "dick", "wank", "birdlock", "asshole", "shit", "cum", "mom", "nude", "whore", "vibe"}}}
	}
	tests := []struct {
		name  string
		specs []ListSpec
		text  string
		want  string
	}{
		{"lookalikes: Cyrillic and Greek", en(StrictLookalikes), "аss ѕhіt hеll SНIТ hell", "*** *** *** *** ***"},
		{"lookalikes off", en(0), "аss ѕhіt", "аss ѕhіt"},
		{"traditional", zh(StrictTraditional), "開後門 頭髮 后门", "開*** 頭*** ***"},
		{"traditional off", zh(0), "開後門", "開後門"},
		{"spaced", en(StrictSpaced), "s h i t, s.h.i.t s-h-i-t s_h_i_t", "***, *** *** ***"},
		{"spaced: words are not letters", en(StrictSpaced), "this hit, glass, as s", "this hit, glass, as s"},
		// _ spaces letters out but joins words, as in the plain view.
		{"spaced: _ separates letters, joins words", en(StrictSpaced), "s_h_i_t s__h_ i_t gai_shit shit_list hell_ _ass", "*** *** gai_shit shit_list hell_ _ass"},
		// What it cannot tell: a spaced entry inside a longer spaced word.
		{"spaced: inside a spaced word", en(StrictSpaced), "a s s e t", "*** e t"},
		{"leet", en(StrictLeet), "sh1t $hit 5h!t @ss h3ll he11 a55", "*** *** *** *** *** *** ***"},
		{"leet keeps words apart", en(StrictLeet), "heil shlt 2shit shit!", "heil shlt 2shit ***!"},
		// Leet widens entries onto digits and symbols, not onto other
		// words or numbers: "shlt" and "mule" are words of letters,
		// "132" a number; "5h1t" and "mu1e" are leet.
		{"leet: letters alone and digits alone", []ListSpec{{Name: "l", Action: Redact, Replacement: "*", Match: Word, Strict: StrictLeet, Words: []string{"shit", "muie", "lez", "cra5h", "69"}}}, "shlt mule 132 crash 5h1t mu1e l3z cra5h 69 gg", "shlt mule 132 crash * * * * * gg"},
		{"leet: four digits may be a word", []ListSpec{{Name: "l", Action: Redact, Replacement: "*", Match: Word, Strict: StrictLeet, Words: []string{"boob", "ass"}}}, "8008 b008 455 a55 8.0.0.8", "* * 455 * 8.0.0.8"},
		{"leet and spaced", en(StrictLeet | StrictSpaced), "5 h 1 t", "***"},
		{"leet and spaced are for word lists only", []ListSpec{{Name: "s", Action: Redact, Strict: StrictAll, Words: []string{"ass"}}}, "а55 a s s аss", "а55 a s s ***"},
		{"spaced: phrases and digits", phrases(StrictSpaced), "b a l l g a g, 2 g i r l s 1 c u p, a.u.t.o.e.r.o.t.i.c, 2-g-1-c", "***, ***, ***, ***"},
		{"spaced: runs of separators", en(StrictSpaced), "s  h-i.t, s - h - i - t, s\u3000h\u2014i\t t, s..h__i--t", "***, ***, ***, ***"},
		{"spaced: runs between words", phrases(StrictSpaced), "ball  gag, ball - gag, 2 girls - 1 cup", "***, ***, ***"},
		{"spaced: phrases keep words apart", phrases(StrictSpaced), "a ball game, ball gagging, b a l l gag, 2 girls 1 cupboard", "a ball game, ball gagging, b a l l gag, 2 girls 1 cupboard"},
		{"spaced: runs keep words apart", en(StrictSpaced), "this  hit, this - hit, a . s s e t", "this  hit, this - hit, *** e t"},
		{"spaced: phrases and leet", phrases(StrictSpaced | StrictLeet), "2 g 1 r l 5 1 c u p, b 4 l l g 4 g", "***, ***"},
		{"leet: multi-character symbols", symbols(StrictLeet), "c()ck |-|3|| |)!ck \\/\\/4nk c|_|m /\\/\\()|\\/| |\\|ude \\/\\/|-|()re \\/!8e [)!c|<", "*** *** *** *** *** *** *** *** *** ***"},
		{"leet: | for i and for l", symbols(StrictLeet), "b!rd|()ck @$$h()|e sh|t", "*** *** ***"},
		{"leet: symbols stand for letters of words", symbols(StrictLeet), "c()cks f() x|-|ell |-|ello dick()", "c()cks f() x|-|ell |-|ello dick()"},
		// ( < [ { for c, + for t, # for h: spellings of entries only.
		{"leet: symbols entries spell letters with", symbols(StrictLeet), "(o(k <0{k [)!(k #ell s#i+ |)!(|<", "*** *** *** *** *** ***"},
		{"leet: a spelling needs the letter's boundaries", symbols(StrictLeet), "a(ock (ocky #hello (#ell) shi+e", "a(ock (ocky #hello (***) shi+e"},
		{"leet: symbols off", symbols(StrictSpaced), "c()ck |-|ell", "c()ck |-|ell"},
		{"leet: symbols and spaced", symbols(StrictLeet | StrictSpaced), "c () c k, |-| e l l, c.().c.|<", "***, ***, ***"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustCompile(t, tc.specs, Options{Normalize: true})
			if got := f.Check(Output, tc.text).Text; got != tc.want {
				t.Fatalf("Check(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

// A filter whose lists see the text differently is made of parts; each
// list keeps its own view, and the matches meet in one text.
func TestStrictAndPlainTogether(t *testing.T) {
	specs := []ListSpec{
		{Name: "plain", Action: Redact, Match: Word, Words: []string{"darn", "ass"}},
		{Name: "strict", Action: Redact, Match: Word, Strict: StrictAll, Replacement: "[x]", Words: []string{"shit"}},
		{Name: "secret", Action: Block, Strict: StrictLookalikes, Words: []string{"launch code"}},
	}
	f := mustCompile(t, specs, Options{Normalize: true})
	if len(f.parts) != 3 {
		t.Fatalf("%d parts, want 3", len(f.parts))
	}
	c := f.Check(Output, "darn, аss and sh1t; the lаunch code is")
	if c.Text != "***, аss and [x]; the " || !c.Blocked || len(c.Hits) != 3 {
		t.Fatalf("got %+v", c)
	}
	if h := c.Hits[1]; h.List != "strict" || h.Start != 14 || h.End != 17 {
		t.Fatalf("strict hit %+v", h)
	}
	// Streaming gives the same, one byte at a time.
	s := f.NewStream(Output)
	var out []byte
	text := "darn, аss and sh1t; the lаunch code is"
	for i := range len(text) {
		out = append(out, s.Write([]byte{text[i]}).Text...)
	}
	out = append(out, s.Close().Text...)
	if string(out) != c.Text {
		t.Fatalf("streamed %q, want %q", out, c.Text)
	}
}

func TestLint(t *testing.T) {
	specs := []ListSpec{
		{Name: "en", Action: Redact, Match: Word, Strict: StrictAll, Words: []string{"darn", "ab", "h3ll0", "аnd"}},
		{Name: "zh", Action: Block, Words: []string{"坏", "坏蛋"}},
		{Name: "secret", Action: Block, Hide: true, Words: []string{"x"}},
	}
	rep, err := Lint(specs, Options{Normalize: true}, []string{"darn it, hello and hello! 坏人 darn. x", "ab"})
	if err != nil {
		t.Fatal(err)
	}
	// h3ll0 is no hello: leet spellings match only text that writes
	// digits or symbols. аnd (a Cyrillic а) is and.
	want := []Fired{{"en", "darn", 2}, {"en", "ab", 1}, {"en", "аnd", 1}, {"secret", "", 1}, {"zh", "坏", 1}}
	if !slices.Equal(rep.Fired, want) {
		t.Fatalf("fired %+v, want %+v", rep.Fired, want)
	}
	got := map[string]string{}
	for _, w := range rep.Warnings {
		got[w.List+" "+w.Entry] = w.Why
	}
	for k, why := range map[string]string{
		"en ab":   "two letters: it matches initials",
		"en аnd":  `the view folds it to "and", a word the corpus uses 1 times`,
		"zh 坏":    "one character in substring mode",
		"secret ": "one letter in substring mode",
	} {
		if !strings.Contains(got[k], why) {
			t.Errorf("warning for %q: %q, want %q", k, got[k], why)
		}
	}
	if len(rep.Warnings) != 4 {
		t.Errorf("warnings %+v", rep.Warnings)
	}
}

// A clone goes on on its own, for a plain filter and one of parts alike
// (avoid lists keep clones to go back to), and Settled and HitSources
// speak of the text written.
func TestCloneAndSources(t *testing.T) {
	for _, strict := range []Strict{0, StrictAll} {
		specs := []ListSpec{
			{Name: "a", Action: Flag, Match: Word, Strict: strict, Words: []string{"shit"}},
			{Name: "b", Action: Flag, Words: []string{"darn", "x"}},
		}
		f := mustCompile(t, specs, Options{Normalize: true})
		s := f.NewStream(Output)
		s.Write([]byte("oh darn, "))
		mark := s.Clone()
		r := s.Write([]byte("sh1t! and "))
		got := append([]Hit(nil), r.Hits...)
		srcs := append([]int(nil), s.HitSources()...)
		r2 := mark.Write([]byte("sh1t! and "))
		if !slices.Equal(got, r2.Hits) || !slices.Equal(srcs, mark.HitSources()) || s.Settled() != mark.Settled() {
			t.Fatalf("strict %v: the clone went elsewhere: %+v %v %d, %+v %v %d", strict, got, srcs, s.Settled(), r2.Hits, mark.HitSources(), mark.Settled())
		}
		if strict != 0 && (len(got) != 1 || srcs[0] != 9 || got[0].List != "a") {
			t.Fatalf("hits %+v from %v, want a's at 9", got, srcs)
		}
		if s.Settled() < 15 {
			t.Fatalf("settled %d, want past the match", s.Settled())
		}
		// Writes to one do not reach the other.
		s.Write([]byte("x"))
		if r := mark.Close(); len(r.Hits) != 0 || string(r.Text) == "" && mark.Settled() != 19 {
			t.Fatalf("the clone saw the other's write: %+v", r)
		}
	}
}

// A part's match may end inside a ligature (ﬃ folds to f, f, i) and its
// next begin inside it: the composite waits for such a part, so that
// every split of the text gives what the reference gives.
func TestPartsAndLigatures(t *testing.T) {
	specs := []ListSpec{
		{Name: "a", Action: Redact, Words: []string{"f", "fix"}},
		{Name: "b", Action: Flag, Strict: StrictLookalikes, Words: []string{"ffi", "ix", "ﬃxe"}},
		{Name: "c", Action: Redact, Replacement: "<c>", Strict: StrictTraditional, Words: []string{"fi", "xe"}},
	}
	f := mustCompile(t, specs, Options{Normalize: true})
	if len(f.parts) != 3 {
		t.Fatalf("%d parts", len(f.parts))
	}
	for _, text := range []string{"ﬃx", "ﬃxe ﬃ", "aﬃxeﬃx", "ﬀﬃﬁx", "xﬀﬁﬃeﬃ"} {
		checkEverySplit(t, f, specs, text)
	}
}

// The same over random lists of few letters and ligature-dense texts, each
// list in its own view (so the filter has parts): where parts' matches
// overlap inside ligatures, streaming gives what the reference gives.
func TestPartsMatchReferenceOnLigatures(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	atoms := []string{"ﬃ", "ﬁ", "ﬀ", "f", "i", "x", "e", " ", "а"}
	ents := []string{"f", "i", "fi", "ff", "ffi", "fix", "ix", "x", "ixe", "fx", "if"}
	iters := 20000
	if testing.Short() {
		iters = 2000
	}
	for it := range iters {
		var specs []ListSpec
		for li := range 2 + rng.IntN(2) {
			sp := ListSpec{Name: fmt.Sprintf("l%d", li), Action: []Action{Redact, Flag, Redact, Block}[rng.IntN(4)], Strict: Strict(li)}
			for range 1 + rng.IntN(3) {
				sp.Words = append(sp.Words, ents[rng.IntN(len(ents))])
			}
			specs = append(specs, sp)
		}
		f := mustCompile(t, specs, Options{Normalize: true})
		var text []byte
		for range 1 + rng.IntN(8) {
			text = append(text, atoms[rng.IntN(len(atoms))]...)
		}
		want := refCheck(t, f, specs, Output, text)
		if got := runStream(t, f, Output, text, randCuts(rng, len(text))); !sameResult(got, want) {
			t.Fatalf("iteration %d: specs %+v text %q\ngot  %+v\nwant %+v", it, specs, text, got, want)
		}
	}
}

// A strict substring list joins a strict word list's view only if its
// entries have no ASCII in their own view either: full-width letters are
// ASCII there, and the leet view would widen them ("5hit" is no "ｓｈｉｔ").
func TestSubstringListKeepsItsView(t *testing.T) {
	specs := []ListSpec{
		{Name: "en", Action: Redact, Replacement: "*", Match: Word, Strict: StrictAll, Words: []string{"ass"}},
		{Name: "wide", Action: Redact, Replacement: "#", Strict: StrictAll, Words: []string{"ｓｈｉｔ"}},
		{Name: "zh", Action: Redact, Replacement: "#", Strict: StrictAll, Words: []string{"坏蛋"}},
	}
	f := mustCompile(t, specs, Options{Normalize: true})
	if got := f.Check(Output, "a55 5hit shit 坏蛋").Text; got != "* 5hit # #" {
		t.Fatalf("got %q", got)
	}
	checkAgainstReference(t, f, specs, []byte("a55 5hit shit 坏蛋 a-s-s"))
	if len(f.parts) != 2 {
		t.Fatalf("%d parts, want 2 (the Chinese list shares the word list's)", len(f.parts))
	}
}

// What leet asks of the text is read from the text's own bytes, which
// stay while a match over them is undecided, even where a match ended
// inside a character that folds to several (⒜ is "(a)") and released it
// whole; and a spelling two entries share keeps each entry's word
// boundaries, whatever their order.
func TestLeetAsksAndSharedSpellings(t *testing.T) {
	specs := []ListSpec{{Name: "l", Action: Redact, Replacement: "*", Match: Word, Strict: StrictLeet, Words: []string{"z(", "a)5"}}}
	f := mustCompile(t, specs, Options{Normalize: true})
	if want := refCheck(t, f, specs, Output, []byte("z⒜s")); want.Text != "**" {
		t.Fatalf("reference %+v", want)
	}
	checkEverySplit(t, f, specs, "z⒜s")
	for _, c := range []struct {
		words      []string
		text, want string
	}{
		{[]string{"cock", "(ock"}, "a(ock x (ock", "a* x *"},
		{[]string{"(ock", "cock"}, "a(ock x (ock", "a* x *"},
		{[]string{"shit", "shi+"}, "shi+e shi+", "*e *"},
		{[]string{"shi+", "shit"}, "shi+e shi+", "*e *"},
	} {
		specs := []ListSpec{{Name: "l", Action: Redact, Replacement: "*", Match: Word, Strict: StrictLeet, Words: c.words}}
		f := mustCompile(t, specs, Options{Normalize: true})
		if got := f.Check(Output, c.text).Text; got != c.want {
			t.Errorf("%q on %q: %q, want %q", c.words, c.text, got, c.want)
		}
		checkAgainstReference(t, f, specs, []byte(c.text))
	}
}
