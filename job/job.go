// Package job defines the JSON messages sieve exchanges with its callers:
// the job a caller submits, the chunks of moderated text streamed while it
// runs, and the one final result. The field names are the wire format
// (README.md, "The daemon"; the delivery contract is in docs/design.md);
// other tools depend on them, so they change only by addition.
//
// The package holds types and their vocabularies only; it does not run,
// validate against a model, or publish anything.
package job

import "encoding/json"

// Message is one turn of a conversation: a role (system, user or
// assistant) and its content.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// The roles a message may have.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Status is how a job ended.
type Status string

const (
	Completed Status = "completed" // generated to the end (any finish reason but filtered)
	Filtered  Status = "filtered"  // a block rule stopped it
	Rejected  Status = "rejected"  // bad input, or the input screen refused it
	Cancelled Status = "cancelled" // a cancel request, or the caller went away
	Expired   Status = "expired"   // its deadline passed before it started
	Failed    Status = "failed"    // the engine failed, after every retry
)

// Job is a request to generate.
type Job struct {
	ID        string    `json:"id,omitempty"` // optional in a body: the subject names the job
	Messages  []Message `json:"messages"`
	MaxTokens *int      `json:"max_tokens,omitempty"`
	Sampling            // temperature, top_k, top_p, min_p, repeat_penalty, seed: top-level fields
	Stop      []string  `json:"stop,omitempty"`
	Format    *Format   `json:"format,omitempty"` // nil: plain text
	// Logprobs asks for each token's log probability in the result, with
	// the TopLogprobs (0-20) likeliest tokens at its position.
	Logprobs    bool           `json:"logprobs,omitempty"`
	TopLogprobs *int           `json:"top_logprobs,omitempty"`
	Policy      string         `json:"policy,omitempty"`
	TimeoutMS   *int64         `json:"timeout_ms,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

// Format constrains the shape of a reply: generation is sampled under a
// grammar, so the model can only say what fits.
type Format struct {
	// Type is "text" (no constraint), "json_object" (one JSON object) or
	// "json_schema" (a JSON value valid against Schema).
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema,omitempty"`
}

// Format types.
const (
	FormatText       = "text"
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// Chunk is a piece of moderated text, streamed as it is released. Seq
// counts from 1 in each attempt: a queued job run again (Attempt, the
// delivery, as in its result) streams from its start again.
type Chunk struct {
	ID      string `json:"id"`
	Seq     int    `json:"seq"`
	Text    string `json:"text"`
	Attempt int    `json:"attempt,omitempty"`
}

// Result is the one final message of a job.
type Result struct {
	ID           string         `json:"id"`
	Status       Status         `json:"status"`
	FinishReason string         `json:"finish_reason"`
	Text         string         `json:"text"`
	Usage        Usage          `json:"usage"`
	Filter       FilterReport   `json:"filter"`
	Timings      Timings        `json:"timings"`
	Error        *Error         `json:"error,omitempty"`
	Worker       string         `json:"worker,omitempty"`
	Attempt      int            `json:"attempt,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
	// Logprobs, when the job asked, has an entry for each token of Text,
	// moderated: an entry inside a redacted span carries the
	// replacement instead (Redacted, logprob -9999, no alternatives), none follows a
	// block, and no alternative is offered that would complete a
	// keyword of an output list.
	Logprobs []Logprob `json:"logprobs,omitempty"`
}

// Logprob is one token of a reply: its log probability before sampling
// (the model's, before penalties, temperature, truncation or a grammar),
// its bytes (a token may end inside a character), and the likeliest
// tokens at its position.
type Logprob struct {
	Token    string       `json:"token"`
	Logprob  float64      `json:"logprob"`
	Bytes    []int        `json:"bytes"`
	Top      []TopLogprob `json:"top_logprobs"`
	Redacted bool         `json:"redacted,omitempty"`
}

// TopLogprob is one of the likeliest tokens at a position.
type TopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// Usage counts tokens.
type Usage struct {
	PromptTokens int `json:"prompt_tokens"`
	// CachedTokens of PromptTokens came from the prompt cache: computed
	// for an earlier job that began the same way, not again for this one.
	CachedTokens     int `json:"cached_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// Hit is one keyword match, in the coordinates of the text it was found in
// (the prompt for input hits, the released text for output hits).
type Hit struct {
	Message *int   `json:"message,omitempty"` // input hits: index of the message
	List    string `json:"list"`
	Action  string `json:"action"`
	Start   int    `json:"start"`
	End     int    `json:"end"`
	Keyword string `json:"keyword,omitempty"`
	// Avoid hits: the generated token generation went back to, the tries
	// at it so far, the tokens thrown away, and, when the tries ran out
	// and the match stood, the list's fallback action (whose own hit
	// follows). Start and End are both the byte offset of that token in
	// the generated text, before the output lists' replacements.
	Token     *int   `json:"token,omitempty"`
	Tries     int    `json:"tries,omitempty"`
	Discarded int    `json:"discarded,omitempty"`
	Fallback  string `json:"fallback,omitempty"`
}

// FilterReport lists the keyword hits on the way in and out. A result
// always fits in one NATS message: where the hits would not, the lists
// keep their first hits and the Omitted counts say how many more there
// were.
type FilterReport struct {
	Input         []Hit `json:"input"`
	Output        []Hit `json:"output"`
	InputOmitted  int   `json:"input_omitted,omitempty"`
	OutputOmitted int   `json:"output_omitted,omitempty"`
}

// Timings are in milliseconds.
type Timings struct {
	QueuedMS        int64   `json:"queued_ms"`
	PromptMS        int64   `json:"prompt_ms"`
	GenerateMS      int64   `json:"generate_ms"`
	TokensPerSecond float64 `json:"tokens_per_second"`
}

// Error explains a rejected or failed job so a person can act on it.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
