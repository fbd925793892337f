// Package gateway is sieve's OpenAI-compatible HTTP front door. It
// serves three of OpenAI's generation endpoints: POST /v1/chat/completions,
// POST /v1/responses (the Responses API, stateless: sieve keeps no
// responses) and POST /v1/completions (legacy completions, the prompt
// taken as a user turn of the chat template). Each request becomes an
// ordinary sieve job on the JetStream path (so ids, deadlines, cancels,
// policies and filtering apply unchanged); the door relays the job's
// moderated chunks as server-sent events in the endpoint's event shape
// and answers with the job's result in the endpoint's object. It also
// serves GET /v1/models and /healthz.
//
// The endpoints share one path (gateway.go's serve): strict parsing
// (request.go, then each endpoint's file), key checks, submission, the
// relay and the final result (response.go); an endpoint adds only its
// parameters and its answer's shape. Requests are parsed strictly: a
// parameter sieve cannot honour is a 400 in OpenAI's error shape, naming
// it, never silently ignored. Structured output (chat's response_format,
// the Responses API's text.format) becomes the job's Format, which the
// pipeline enforces (format.go). Log probabilities, asked for in each
// API's words, become the job's logprobs and top_logprobs, and the
// result's moderated entries are written in each API's shape; a stream
// carries them all at its end (logprobs.go). Optional bearer keys,
// compared in constant time, may tie a caller to a policy and to a
// tenant id prefix.
//
// The package neither generates nor filters: workers do, wherever they
// run. It does not keep state across requests beyond the keys.
package gateway
