package engine

// A Guard watches a request's text as it is generated, a token at a time,
// and may veto a stretch of it. The engine holds back every token a veto
// could still reach, and when one comes it goes back to the token where
// the vetoed text began: it drops that token and all after it (their KV
// cells, their place in the repeat penalty's memory), bans the dropped
// token at that position, and samples again there. Held tokens reach the
// caller only once the guard says no veto can reach them, so nothing the
// engine ever releases is taken back.
//
// The engine knows nothing of what a guard looks for; package pipeline's
// avoid lists are one. A Guard is used by the decode loop alone, and must
// be quick: it runs between decode steps.
type Guard interface {
	// Write takes the next token's text (a token may end inside a
	// character). It returns how many bytes of all the text written so
	// far no veto can reach any more, and a veto, if a stretch that must
	// not stand has just completed.
	Write(text []byte) (safe int, veto *Veto)
	// End says the text ends here and returns a veto that only the end
	// could settle (a whole-word match at the very end), if any.
	End() *Veto
	// Mark returns the guard's state; Restore returns to a state Mark
	// returned. The engine marks before each token it holds.
	Mark() GuardState
	Restore(GuardState)
}

// GuardState is a Guard's saved state, opaque to the engine.
type GuardState any

// Veto asks the engine to undo the text from byte Start on (offsets in
// the generated text, from 0). Tag names what was vetoed, for the
// Result's record.
type Veto struct {
	Start int
	Tag   string
}

// Rewind records one veto: where generation went back to and how often,
// or that the bounds ran out and the vetoed text stood.
type Rewind struct {
	Tag       string
	Token     int  // index among the generated tokens of the token generation went back to
	Offset    int  // byte offset of that token in the generated text
	Tries     int  // vetoes at this token so far, this one included
	Discarded int  // tokens thrown away
	Stood     bool // Request.MaxRewinds or MaxTries ran out: the text stands
}

// Default bounds of a guarded request.
const (
	DefaultMaxRewinds = 16 // vetoes acted on in one request
	DefaultMaxTries   = 4  // vetoes acted on at one token position
)
