// Package gateway is sieve's OpenAI-compatible HTTP front door: it turns
// POST /v1/chat/completions requests into ordinary sieve jobs on the
// JetStream path (so ids, deadlines, cancels, policies and filtering apply
// unchanged), relays the moderated chunks as server-sent events, and
// answers with the job's result in the chat completion shape. It also
// serves GET /v1/models and /healthz.
//
// Requests are parsed strictly: a parameter sieve cannot honour is a 400
// in OpenAI's error shape, never silently ignored. Optional bearer keys,
// compared in constant time, may tie a caller to a policy and to a tenant
// id prefix.
//
// The package neither generates nor filters: workers do, wherever they
// run. It does not keep state across requests beyond the keys.
package gateway
