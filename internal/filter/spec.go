package filter

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Action is what a list does with a match.
type Action string

const (
	Redact Action = "redact" // replace the matched bytes with the list's replacement
	Block  Action = "block"  // stop the text; release nothing of the match or after it
	Flag   Action = "flag"   // release unchanged, report the hit
)

// Mode says how a list's entries match.
type Mode string

const (
	Substring Mode = "substring" // anywhere, also inside words
	Word      Mode = "word"      // only as a whole word (edges of CJK entries excepted)
)

// Where is the side of a job a list applies to.
type Where string

const (
	Input  Where = "input"  // the prompt, screened before generation
	Output Where = "output" // generated text
)

// DefaultReplacement replaces redacted text when a list names none.
const DefaultReplacement = "***"

// maxEntryRunes bounds one entry; longer ones are almost certainly a list
// file in the wrong format, and they would make every stream hold more.
const maxEntryRunes = 256

// ListSpec describes one keyword list, as the config declares it.
type ListSpec struct {
	Name        string
	Action      Action
	Replacement string  // empty: DefaultReplacement
	ApplyTo     []Where // empty: output only
	Match       Mode    // empty: substring
	Words       []string
	Files       []string // one entry a line; '#' starts a comment line
	// Hide keeps the list's entries secret: its hits carry no keyword,
	// and Compile's errors name an entry's place, not its text. For lists
	// of secrets (a code name, a credential pattern), so that results,
	// logs and error messages never repeat what the list keeps out.
	Hide bool
	// Strict adds foldings to the list's view of the text (see Strict);
	// spaced and leet apply to word-mode lists only.
	Strict Strict
	// Source locates the list in the config for error messages, e.g.
	// "sieve.toml:42". May be empty.
	Source string
}

// Options apply to all lists of a Filter.
type Options struct {
	// Normalize matches on the normalized view (NFKC-like folding, case
	// folding, ignorables and marks dropped; see doc.go). The config turns
	// it on by default; the zero value matches raw code points.
	Normalize bool
	// BaseDir resolves relative list file names.
	BaseDir string
}

// Errors that Compile wraps; test with errors.Is.
var (
	ErrInvalidList     = errors.New("invalid list")                // bad name, action, mode, apply_to or replacement
	ErrEmptyEntry      = errors.New("empty entry")                 // "" in words
	ErrInvalidUTF8     = errors.New("invalid UTF-8")               // in an entry or a list file
	ErrNormalizesEmpty = errors.New("entry normalizes to nothing") // e.g. only zero-width characters
	ErrEntryTooLong    = errors.New("entry too long")              // more than 256 code points
	ErrNoEntries       = errors.New("list has no entries")         // words and files give nothing
	ErrListFile        = errors.New("cannot read list file")       // wraps the os error too
)

// ListError is one problem found by Compile. Its message names the list,
// where the list is declared, and the file and line or word index of the
// entry.
type ListError struct {
	List   string // list name
	Source string // ListSpec.Source
	Pos    string // "file:line" or "words[i]"; empty for list-level errors
	Entry  string // the offending entry, if any
	Err    error
}

func (e *ListError) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source + ": ")
	}
	fmt.Fprintf(&b, "list %q: ", e.List)
	if e.Pos != "" {
		b.WriteString(e.Pos + ": ")
	}
	b.WriteString(e.Err.Error())
	if e.Entry != "" {
		fmt.Fprintf(&b, ": %q", e.Entry)
	}
	return b.String()
}

func (e *ListError) Unwrap() error { return e.Err }

// Filter is a compiled set of lists. It is immutable and safe for concurrent
// use; each text is filtered by its own Stream.
type Filter struct {
	lists []listInfo
	fold  *foldTable // nil: no normalization
	m     [2]*matcher
	// parts, when lists see the text through different views (strict
	// switches), holds one Filter per view, each with every list's
	// listInfo but only its own lists' entries; m is then unused.
	parts []*Filter
}

type listInfo struct {
	name        string
	action      Action
	replacement string
}

// matcher is the automaton for one side (input or output) plus what each
// pattern means.
type matcher struct {
	d     *keyDFA
	codes *codeTable
	pats  []pattern
	// owners holds every pattern's owners, each pattern's together, so
	// that a match names its owner by one index (cand.own).
	owners []owner
	// heads holds what collect reads of every pattern ending at a state,
	// 8 bytes each: the patterns do not fit in the cache, these do.
	heads []patHead
}

// patHead is the part of a pattern that collect reads before its owners,
// and, for a pattern with one owner (the common case), all it reads.
type patHead struct {
	next      int32   // pattern.next
	first     int32   // index of owners[0] in matcher.owners
	runes     uint16  // pattern.runes (at most maxEntryRunes)
	needStart bool    // pattern.needStart
	single    bool    // one owner; then also:
	needEnd   bool    //   owners[0].needEnd
	ask       textAsk //   owners[0].ask
	rank      int32   //   owners[0].rank
}

// pattern is one distinct normalized keyword.
type pattern struct {
	runes     int32   // length in normalized code points
	next      int32   // 1 + next shorter pattern that is a suffix of this one
	needStart bool    // every owner needs a word boundary at the start
	owners    []owner // lists containing it, best rank first; part of matcher.owners
	first     int32   // index of owners[0] in matcher.owners
}

type owner struct {
	list               int32
	rank               int32   // lower wins: block, redact, flag, then list order
	needStart, needEnd bool    // word mode and the edge is a word character
	ask                textAsk // what the matched text must have (leet lists)
	entry              string
}

// textAsk is what a leet list asks of the text a spelling matches, beyond
// the spelling: leet widens entries onto text written with digits and
// symbols, not onto other words and numbers.
type textAsk uint8

const (
	// askLeet: the spelling is leet's own (a digit, a symbol or 1 for
	// i: "shlt", "(ock", "crash" for an entry written "cra5h"), so the
	// text must write a digit or symbol in it. Text of letters alone is
	// matched as written: "heil" and "mule" are no leet spellings of
	// "hell" and "muie", "crash" none of "cra5h".
	askLeet textAsk = 1 << iota
	// askWord: the entry has letters, so text of fewer than
	// minDigitWord digits alone is a number, not it ("132" is no "lez",
	// "508" no "s0b", "4.5.5" no "ass"; "8008" is "boob").
	askWord
)

// minDigitWord is the fewest digits that, alone, may spell an entry with
// letters. Shorter runs of digits are mostly numbers (versions, codes,
// counts: 132, 641, 1.3.2), and spell short entries by chance; "455" for
// ass is missed.
const minDigitWord = 4

func actionRank(a Action) int32 {
	switch a {
	case Block:
		return 0
	case Redact:
		return 1
	}
	return 2
}

func whereIndex(w Where) int {
	if w == Input {
		return 0
	}
	return 1
}

// Compile checks and compiles specs. It reports every problem it finds, not
// just the first, as errors joined with errors.Join; each is a *ListError.
func Compile(specs []ListSpec, opts Options) (*Filter, error) {
	viewOf, views := groupViews(specs, opts)
	if len(views) <= 1 {
		var v Strict
		if len(views) == 1 {
			v = views[0]
		}
		return compileView(specs, opts, v, nil)
	}
	f := &Filter{}
	var errs []error
	for k, v := range views {
		part, err := compileView(specs, opts, v, func(li int) bool { return viewOf[li] == v })
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if k == 0 {
			f.lists = part.lists
		}
		f.parts = append(f.parts, part)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// groupViews gives each list its view, and the distinct views in order
// of first use: lists with the same strict switches (as they apply to
// their mode) share an automaton.
func groupViews(specs []ListSpec, opts Options) (viewOf, views []Strict) {
	viewOf = make([]Strict, len(specs))
	for i, sp := range specs {
		viewOf[i] = sp.Strict.forMode(sp.Match)
		if !slices.Contains(views, viewOf[i]) {
			views = append(views, viewOf[i])
		}
	}
	// A substring list of entries without ASCII (Chinese, say) sees the
	// same through a view with spaced and leet as without, which only
	// fold ASCII and separators: it joins a word list's view, so that a
	// filter of both stays one automaton.
	for i, sp := range specs {
		if sp.Match == Word {
			continue
		}
		for _, v := range views {
			if v != viewOf[i] && v&^(StrictSpaced|StrictLeet) == viewOf[i] && noASCII(sp, viewOf[i], opts) {
				viewOf[i] = v
				break
			}
		}
	}
	views = views[:0]
	for _, v := range viewOf {
		if !slices.Contains(views, v) {
			views = append(views, v)
		}
	}
	return viewOf, views
}

// noASCII reports whether no entry of sp, as written or as its own view
// v reads it, has an ASCII character other than a space, or a separator
// the spaced view folds (unreadable files count as having one:
// compileView reports them). Its view counts: "ｓｈｉｔ" is "shit" there,
// and would be widened by a leet view's folds.
func noASCII(sp ListSpec, v Strict, opts Options) bool {
	ok := true
	fold := foldTableFor(v)
	errs := forEachEntry(sp, opts, func(_, w string) {
		if strings.ContainsFunc(w+fold.view(w), func(r rune) bool { return r < utf8.RuneSelf && r != ' ' || unicode.In(r, unicode.Zs, unicode.Pd) }) {
			ok = false
		}
	})
	return ok && len(errs) == 0
}

// forEachEntry calls fn with each entry of sp as written, and where it
// is (words[i], file:line): the words, then each file's lines but blank
// ones and # comments. It returns an error (wrapping ErrListFile) for
// each file it cannot read.
func forEachEntry(sp ListSpec, opts Options, fn func(pos, raw string)) []error {
	for i, w := range sp.Words {
		fn(fmt.Sprintf("words[%d]", i), w)
	}
	var errs []error
	for _, name := range sp.Files {
		path := name
		if !filepath.IsAbs(path) && opts.BaseDir != "" {
			path = filepath.Join(opts.BaseDir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrListFile, err))
			continue
		}
		forEachLine(data, func(line int, text []byte) {
			if text = bytes.TrimSpace(text); len(text) > 0 && text[0] != '#' {
				fn(fmt.Sprintf("%s:%d", name, line), string(text))
			}
		})
	}
	return errs
}

// compileView compiles the lists for which want is true (all when want is
// nil) on the view with strict switches v; the others are listed, so
// that list indices agree between parts, but have no entries.
func compileView(specs []ListSpec, opts Options, v Strict, want func(int) bool) (*Filter, error) {
	f := &Filter{}
	if opts.Normalize || v != 0 {
		f.fold = foldTableFor(v)
	}
	c := &listCompiler{f: f, specs: specs, opts: opts, view: v, seen: map[string]bool{}}
	var sides [2][]entry
	for li, spec := range specs {
		if want != nil && !want(li) {
			f.lists = append(f.lists, listInfoOf(spec))
			c.seen[spec.Name] = true
			continue
		}
		ents, apply := c.list(li)
		for _, w := range apply {
			if w == Input || w == Output {
				sides[whereIndex(w)] = append(sides[whereIndex(w)], ents...)
			}
		}
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	for i := range sides {
		if i == 1 && slices.EqualFunc(sides[0], sides[1], func(a, b entry) bool { return a.norm == b.norm && a.own == b.own }) {
			f.m[1] = f.m[0] // same lists on both sides: share the automaton
			break
		}
		m, ok := newMatcher(sides[i], f.fold != nil && f.fold.squeeze)
		if !ok {
			return nil, &ListError{List: f.lists[0].name, Err: fmt.Errorf("%w: lists on the %s side use more than %d distinct non-ASCII characters", ErrInvalidList, []Where{Input, Output}[i], maxCodes)}
		}
		f.m[i] = m
	}
	return f, nil
}

// entry is one spelling of a list entry in the view, and what it means.
type entry struct {
	norm string
	own  owner
}

// listInfoOf is what a Filter keeps of a list to act on its matches.
func listInfoOf(spec ListSpec) listInfo {
	repl := spec.Replacement
	if repl == "" {
		repl = DefaultReplacement
	}
	return listInfo{name: spec.Name, action: spec.Action, replacement: stripString(repl)}
}

// listCompiler checks lists and turns their entries into the view's
// spellings, collecting every problem.
type listCompiler struct {
	f     *Filter
	specs []ListSpec
	opts  Options
	view  Strict
	seen  map[string]bool // list names
	errs  []error
}

// list checks specs[li], adds its listInfo to the Filter, and returns its
// entries and the sides it applies to.
func (c *listCompiler) list(li int) ([]entry, []Where) {
	spec := c.specs[li]
	errsBefore := len(c.errs)
	fail := func(pos, ent string, err error) {
		c.errs = append(c.errs, &ListError{List: spec.Name, Source: spec.Source, Pos: pos, Entry: ent, Err: err})
	}
	switch {
	case spec.Name == "":
		fail("", "", fmt.Errorf("%w: no name", ErrInvalidList))
	case c.seen[spec.Name]:
		fail("", "", fmt.Errorf("%w: name used twice", ErrInvalidList))
	}
	c.seen[spec.Name] = true
	if spec.Action != Redact && spec.Action != Block && spec.Action != Flag {
		fail("", "", fmt.Errorf("%w: action %q (want redact, block or flag)", ErrInvalidList, spec.Action))
	}
	mode := cmp.Or(spec.Match, Substring)
	if mode != Substring && mode != Word {
		fail("", "", fmt.Errorf("%w: match %q (want substring or word)", ErrInvalidList, spec.Match))
	}
	apply := spec.ApplyTo
	if len(apply) == 0 {
		apply = []Where{Output}
	}
	for _, w := range apply {
		if w != Input && w != Output {
			fail("", "", fmt.Errorf("%w: apply_to %q (want input or output)", ErrInvalidList, w))
		}
	}
	if !utf8.ValidString(spec.Replacement) {
		fail("", "", fmt.Errorf("%w: replacement: %w", ErrInvalidList, ErrInvalidUTF8))
	}
	c.f.lists = append(c.f.lists, listInfoOf(spec))
	ents := c.entries(li, mode, fail)
	if len(ents) == 0 && len(c.errs) == errsBefore {
		fail("", "", ErrNoEntries)
	}
	return ents, apply
}

// entries reads specs[li]'s entries and returns their spellings in the
// view (with strict variants), merged by spelling within the list.
func (c *listCompiler) entries(li int, mode Mode, fail func(pos, ent string, err error)) []entry {
	spec := c.specs[li]
	// shown is what hits and errors may say of an entry.
	shown := func(raw string) string {
		if spec.Hide {
			return ""
		}
		return raw
	}
	// A spelling is compiled once per list for each set of demands on
	// the text around and under it: entries that share a spelling may
	// differ there ("(ock" listed as written needs no boundary before
	// its "(", as cock's spelling it needs what c needs), and each then
	// matches where its own demands hold, whatever the list's order.
	type spelling struct {
		norm               string
		needStart, needEnd bool
		ask                textAsk
	}
	seen := map[spelling]bool{}
	var ents []entry
	v := c.view.forMode(mode)
	nonLeet := &Filter{fold: foldTableFor(v &^ StrictLeet)}
	add := func(pos, raw string) {
		switch {
		case raw == "":
			fail(pos, "", ErrEmptyEntry)
			return
		case !utf8.ValidString(raw):
			fail(pos, shown(strings.ToValidUTF8(raw, "\uFFFD")), ErrInvalidUTF8)
			return
		}
		n := c.f.entryView(raw)
		switch {
		case n == "":
			fail(pos, shown(raw), ErrNormalizesEmpty)
			return
		case utf8.RuneCountInString(n) > maxEntryRunes:
			fail(pos, shown(raw[:min(len(raw), 40)]+"…"), ErrEntryTooLong)
			return
		}
		// Word boundaries are the entry's: a spelling that writes its
		// first or last letter with a symbol ("(ock") needs what the
		// letter needs.
		first, _ := utf8.DecodeRuneInString(n)
		last, _ := utf8.DecodeLastRuneInString(n)
		asks := leetAsks(raw, v, nonLeet)
		needStart, needEnd := mode == Word && isWordRune(first), mode == Word && isWordRune(last)
		for _, n := range entrySpellings(n, v) {
			k := spelling{n, needStart, needEnd, asks(n)}
			if seen[k] {
				continue
			}
			seen[k] = true
			ents = append(ents, entry{norm: n, own: owner{
				list:      int32(li),
				rank:      actionRank(spec.Action)*int32(len(c.specs)) + int32(li),
				needStart: needStart,
				needEnd:   needEnd,
				ask:       k.ask,
				entry:     shown(raw),
			}})
		}
	}
	for _, err := range forEachEntry(spec, c.opts, add) {
		fail("", "", err)
	}
	return ents
}

// leetAsks returns, for an entry raw of a list with switches v, what
// each of its spellings asks of the text it matches (textAsk): nothing
// without leet; with leet, askWord if the entry has letters, and
// askLeet for a spelling that the entry does not have in nonLeet, the
// list's view without leet.
func leetAsks(raw string, v Strict, nonLeet *Filter) func(spelling string) textAsk {
	if v&StrictLeet == 0 {
		return func(string) textAsk { return 0 }
	}
	var word textAsk
	if strings.ContainsFunc(raw, unicode.IsLetter) {
		word = askWord
	}
	own := map[string]bool{}
	for _, s := range entrySpellings(nonLeet.entryView(raw), v&^StrictLeet) {
		own[s] = true
	}
	return func(s string) textAsk {
		if own[s] {
			return word
		}
		return word | askLeet
	}
}

// newMatcher compiles one side's entries: their distinct spellings become
// the automaton's patterns, each with its owners (the lists that have it)
// best rank first. ok is false if they use more than maxCodes distinct
// non-ASCII code points. With underSpace (a view that squeezes spaces),
// the automaton reads '_' as a space (viewSep).
func newMatcher(ents []entry, underSpace bool) (m *matcher, ok bool) {
	// Group owners by pattern; pattern order is first appearance.
	idx := map[string]int{}
	var strs []string
	var pats []pattern
	for _, e := range ents {
		pi, ok := idx[e.norm]
		if !ok {
			pi = len(pats)
			idx[e.norm] = pi
			strs = append(strs, e.norm)
			pats = append(pats, pattern{runes: runeLen(e.norm)})
		}
		pats[pi].owners = append(pats[pi].owners, e.own)
	}
	owners := make([]owner, 0, len(ents))
	for pi := range pats {
		p := &pats[pi]
		slices.SortStableFunc(p.owners, func(a, b owner) int { return int(a.rank - b.rank) })
		p.needStart = !slices.ContainsFunc(p.owners, func(o owner) bool { return !o.needStart })
		p.first = int32(len(owners))
		owners = append(owners, p.owners...)
		p.owners = owners[p.first:len(owners):len(owners)]
	}
	codes, enc, ok := newCodeTable(strs)
	if !ok {
		return nil, false
	}
	d, next := buildKeys(enc)
	if underSpace {
		// Entries have no '_' in such a view (entries): its column
		// would be the "other" one; a space's is what it means.
		d.cls['_'] = d.cls[' ']
	}
	heads := make([]patHead, len(pats))
	for pi := range pats {
		pats[pi].next = next[pi]
		p := &pats[pi]
		heads[pi] = patHead{next: next[pi], first: p.first, runes: uint16(p.runes), needStart: p.needStart, single: len(p.owners) == 1}
		if heads[pi].single {
			heads[pi].needEnd, heads[pi].ask, heads[pi].rank = p.owners[0].needEnd, p.owners[0].ask, p.owners[0].rank
		}
	}
	return &matcher{d: d, codes: codes, pats: pats, owners: owners, heads: heads}, true
}

// forEachLine calls fn for each line of data with its 1-based number,
// without the line terminator ("\n" or "\r\n").
func forEachLine(data []byte, fn func(line int, text []byte)) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for n := 1; sc.Scan(); n++ {
		fn(n, sc.Bytes())
	}
}

// normalize returns the normalized view of s (s itself without Normalize),
// as the view reads a whole text (foldTable.view).
func (f *Filter) normalize(s string) string {
	if f.fold == nil {
		return s
	}
	return f.fold.view(s)
}

// entryView is entry raw in the view, as the automaton reads it: where
// the view squeezes spaces, '_' is a space to the automaton (viewSep),
// and spaces an entry's words as one.
func (f *Filter) entryView(raw string) string {
	n := f.normalize(raw)
	if f.fold != nil && f.fold.squeeze {
		n = strings.ReplaceAll(n, "_", " ")
	}
	return n
}

// stripString removes the always-stripped code points (see isStripped).
func stripString(s string) string {
	return strings.Map(func(r rune) rune {
		if isStripped(r) {
			return -1
		}
		return r
	}, s)
}

// Lists returns the names of the compiled lists in config order.
func (f *Filter) Lists() []string {
	names := make([]string, len(f.lists))
	for i, l := range f.lists {
		names[i] = l.name
	}
	return names
}

// memoryBytes reports the memory held by the automata.
func (f *Filter) memoryBytes() int {
	if f.parts != nil {
		n := 0
		for _, p := range f.parts {
			n += p.memoryBytes()
		}
		return n
	}
	n := f.m[0].bytes()
	if f.m[1] != f.m[0] {
		n += f.m[1].bytes()
	}
	return n
}

func (m *matcher) bytes() int {
	return m.d.bytes() + len(m.codes.vals)*2 + len(m.codes.idx)*2 + len(m.heads)*int(unsafe.Sizeof(patHead{}))
}

// Action returns the action of the named list, or "" if f has none of
// that name.
func (f *Filter) Action(list string) Action {
	for _, l := range f.lists {
		if l.name == list {
			return l.action
		}
	}
	return ""
}
