// Package filter is sieve's keyword filter: it finds entries of keyword
// lists in text, on a normalized view that disguises do not get through,
// and redacts, blocks or flags them — in whole texts (Check) and in texts
// that arrive in pieces, such as a model's output (Stream).
//
// # What it does
//
// Lists (ListSpec) come from inline words and files. Compile checks all of
// them and reports every problem with the list, file and line. A Filter is
// immutable and safe for concurrent use: reloading means compiling a new
// one (package pipeline swaps them), and streams keep the Filter they
// started with.
//
// Matching runs on a normalized view of the text (Options.Normalize): each
// code point is mapped on its own through a table built once from
// golang.org/x/text (see foldSlow for the exact definition):
// Default_Ignorable_Code_Point dropped (zero-width characters, soft hyphen,
// variation selectors, tags, bidi controls), compatibility decomposition
// (full-width forms, ligatures, circled and mathematical letters), case
// folding (simple where full folding would write one letter as several:
// ß stays one letter, so German "aß" is not "ass"), and
// nonspacing/enclosing marks dropped ("café" = "cafe"; strike-through
// overlays do not split a word). Combining marks right after a redacted
// match are redacted with it ("darń" becomes "***", not "***́"). Because the map is per code
// point, every normalized code point knows the original bytes it came from,
// and redaction cuts the original bytes, ignorables inside the match
// included. Spaces and punctuation are kept: dropping them would turn "the
// rapist" into "therapist".
//
// Among overlapping matches the leftmost wins, then the longest; where
// several lists match the same bytes, block beats redact beats flag, then
// the earlier list. Note what leftmost-longest implies: a longer entry of
// a flag list that starts at the same place (or earlier) hides a block
// entry inside it ("scunthorpe" flagged, "cunt" not blocked). That is how an
// allowlist is written, and also why flag lists should be reviewed.
//
// Word-mode entries match only between non-word characters (letters,
// digits, marks and '_' are word characters; Han, kana, Hangul and Bopomofo
// are not, so CJK entries are always substrings and an English word next to
// a Chinese character is still a word).
//
// Whatever the lists say, released text never contains bidi controls
// (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C) or tag characters
// (U+E0000–U+E007F), which make text read differently from what it is
// (Trojan Source, ASCII smuggling), and invalid UTF-8 is released as U+FFFD
// (one per byte, as Go decodes it).
//
// # Streaming
//
// A Stream carries the state of a deterministic automaton between pieces.
// The state gives the length of the longest suffix of the text that could
// still grow into a match; only that suffix is held back, plus, for a word
// entry that just matched, the one code point that tells whether the word
// ends there, plus an incomplete UTF-8 character. The result — released
// text and hits — is identical for every way of splitting a text, and
// equal to Check (property- and fuzz-tested against a brute-force model in
// ref_test.go). A job's stop strings are not the filter's business:
// package holdback cuts the model's output at the first one before it
// reaches a Stream, so a stop string cuts the text exactly as if the text
// had ended there (tested in holdback, together with a Stream).
//
// # Strict views
//
// A list's Strict switches add foldings to its view, for the disguises a
// plain normalizer cannot see. Each is folded into a fold table when the
// filter is compiled (one table per set of switches, built once per
// process in about 0.1 s), so a strict view costs one table lookup per
// code point, as the plain one does:
//
//   - lookalikes: letters of other scripts drawn like Latin ones
//     (Cyrillic а, Greek ο, small capitals) fold to those Latin letters,
//     from Unicode's confusables (UTS #39) skeletons; Latin letters are
//     not folded into each other (the skeleton of "m" is "rn", which
//     would make "burn" the same as "bum"). Costs: text in Cyrillic or
//     Greek can match Latin entries ("рор" is "pop").
//   - traditional: a Simplified entry catches its Traditional spellings,
//     and spellings mixing the two scripts, from OpenCC's character
//     tables: an entry with a Simplified character is also compiled with
//     each Traditional character that t2s gives it for in its place (贱
//     catches 賤; 干 catches 干 幹 乾 榦; 后门 catches 后门 後門 後门 后門).
//     The text is not folded, so an entry written in Traditional catches
//     only itself (幹 catches neither 干 nor 乾; 賤 does not catch 贱;
//     後門 catches neither 后门 nor 後门): its Simplified spelling may
//     write other words (干, "dry"), and where it does not it is still
//     the ordinary spelling of Simplified prose (贫贱, "poor and
//     lowly"), which a list written in Traditional did not name. Lint
//     warns of such entries when their Simplified spelling is not
//     listed. Past 64 spellings of one entry, its first such characters
//     combine freely and the rest are all as written or all in their
//     usual Traditional form (tradSpellings). Costs: a Simplified entry
//     catches every Traditional character its characters stand for (干
//     catches 乾, "dry"), and an entry of n such characters compiles to
//     up to 2^n patterns (BENCHMARKS: 20,000 entries, half Chinese,
//     compile in 0.28 s to 50 MiB strict, 0.22 s to 41 MiB when the
//     text was folded). Lint reports, per entry, the hits the switches
//     add on a corpus.
//   - spaced (word lists): ".", "-", tabs and other spaces (Zs) and
//     dashes (Pd) read as a space, and a run of them, in any mix, as one
//     space, in the text and in entries ("ball - gag" and "ball..gag"
//     are "ball gag"). "_" is a separator too, and squeezes with them,
//     but stays a word character for word boundaries, as in the plain
//     view: "s_h_i_t" is spaced out, "gai_strerror" and "EI_xxx" are one
//     word each. Next to another separator it is squeezed with it, into
//     the first of the run ("x _ass" reads "x ass", "a._b" "a b"). An entry that is, in the view, words of ASCII letters,
//     digits or symbols one space apart, three characters or more, also
//     matches with every character one space apart, the words' own
//     spaces gone (with leet, as written and with its i's spellings,
//     not those with ( + # for c t h, which would double the patterns
//     again): "s h i t", "s.h.i.t", "s - h - i - t" for shit; "b a l l g
//     a g" for "ball gag"; "2 g i r l s 1 c u p" for "2 girls 1 cup";
//     "a.u.t.o.e.r.o.t.i.c" for "auto erotic". Its first and last
//     character still need a non-word character beside them. What does
//     not match: words across a space ("this hit" is not shit), a spaced
//     entry over whole words ("a ball game" is not "ball gag"), and an
//     entry spaced out in part ("b a l l gag"). Costs: a spaced entry
//     matches inside a longer spaced word ("a s s e t") and initials
//     ("A. S. S.").
//   - leet (word lists): 0 2 3 4 5 6 7 8 9 $ @ | read as o z e a s g t b g s a l,
//     and 1 as l. These symbols, written together, read as one letter
//     (the longest where several begin at one place): /-\ a, |3 b, |)
//     and [) d, |-| and ]-[ h, |< and |{ k, /\/\ and |\/| m, |\| and /\/
//     n, () o, |* p, |2 r, |_| and (_) u, \/ v, \/\/ w ("c()ck",
//     "|-|3||", "@$$h()|e"). Entries also match with symbols for some
//     of their letters, as spellings, not reading the symbol as the
//     letter everywhere: i as 1, | (both read as l) or !, c as ( < [ or
//     { (read as "("), t as +, h as # ("sh!+", "(o(k", "#ell"). Reading
//     1 as i would make "heil" the same as "hell", and reading ( or # as
//     a letter would join it to the word it touches ("(ass)", "#hell");
//     a spelling stands for the letter only where the entry has it, and
//     needs the word boundaries the letter needs ("a(ock" is nothing).
//     Spellings combine in every way while an entry has at most 64,
//     letters taken in the order i c t h; a letter past that is spelled
//     one way in all its places, or not at all. These are the forms of
//     the common leet tables whose characters rarely meet in ordinary
//     text; left out are those that text, code or markup write all the
//     time ("[]" and "<>" for o, "><" and "}{" for x, "|>" for p, "|_"
//     for l, "/\" for a, "^" for a, "&" for e, "12" for r, "13" for b)
//     and spellings with letters ("ph" for f, "vv" for w).
//     Leet widens an entry onto text that writes digits or symbols, not
//     onto other words or numbers (textAsk, checked on the text the
//     match covers, separators aside, each code point as the normalized
//     view has it: "ⓢ" is a letter, "５" a digit): a spelling that is
//     leet's own ("shlt" for shit, "mule" for muie, "crash" for an entry
//     written "cra5h", "gg" for "69") matches only text with a digit or
//     symbol in it ("sh1t", "mu1e", "cra5h"), not text of letters alone
//     ("shlt", "mule", "crash"); and an entry with letters does not match
//     fewer than four digits alone, mostly numbers ("132" is no "lez",
//     "4.5.5" no "ass"; "8008" is "boob"). Entries that share a spelling
//     keep their own word boundaries ("(ock" listed as written matches in
//     "a(ock", cock's spelling of it does not). Costs: letters and digits
//     mixed read as letters ("a55" is "ass", "f46" is "fag"), a symbol is a letter of
//     the word it touches ("f()" reads "fo", so "shit()" is no word
//     "shit"; "herp@x" is one word), code can spell an entry ("f(k" is
//     "fck"), and a disguise of three digits alone ("455") is missed.
//
// Spaced and leet read a little across code points (view.go): the view
// drops a separator right after a separator, and reads a symbol as one
// code point whose source is all its bytes. A Stream that has the start
// of a symbol at the end of what it was given waits for the next piece,
// as for an incomplete UTF-8 character, so every split reads the same.
//
// Lists whose views differ compile to parts, one automaton per view; a
// Stream runs every part over the text and releases it once all have
// settled it, applying their matches leftmost first (see composite). A
// Chinese-only substring list shares a strict word list's view, since
// spaced and leet fold only ASCII and separators, so the usual pair of an
// English word list and a Chinese list stays one automaton. Lint runs
// lists over clean text to find what fires and what may over-match.
//
// # What it does not do
//
// It matches literal entries, not patterns; outside strict views it does
// not drop spaces or punctuation between letters ("f u c k" and "f.u.c.k"
// pass) or map look-alike letters across scripts (Cyrillic "а" for Latin
// "a"); even strict, an entry spaced out in part ("b a l l gag") passes.
// It does not compose conjoining Hangul jamo. It knows nothing of tokens,
// models or NATS.
//
// # Why a purpose-built automaton
//
// github.com/cloudflare/ahocorasick, the candidate named in the design,
// reports which entries occur but not where, keeps no state between calls
// (so a stream must rescan a window on every piece and cannot tell a new
// match from one already seen), and its Match writes shared counters
// (MatchThreadSafe exists). Measured side by side in one run on the same
// 20,000 mixed English/Chinese entries and 4 MiB of mixed text (numbers in
// BENCH_NOTES.md): it needs far more memory and is slower than this
// package's automaton even as a bare matcher, and slower again as a
// streaming filter, without positions. The automaton here is an
// Aho–Corasick DFA whose state is one uint32: dense rows over byte classes
// for code point states, non-ASCII code points fed as two-byte private
// codes (a Chinese character costs two steps, not three), and the states
// inside a code kept as a 64-bit exception mask over a shared row, so that
// the automaton for 20,000 entries is 7.9 MiB.
//
// Speed: BENCHMARKS.md ("Current figures") and BENCH_NOTES.md; go test
// -bench . ./internal/filter measures it.
package filter
