package job

// Error codes of rejected and failed results. Callers branch on them, so
// they change only by addition; each Error's message says what to do.
const (
	// The bytes.
	CodeTooLarge       = "too_large"       // over queue.max_payload
	CodeInvalidUTF8    = "invalid_utf8"    // not UTF-8
	CodeInvalidJSON    = "invalid_json"    // not one JSON object
	CodeUnknownField   = "unknown_field"   // a field name the job does not have (names match exactly)
	CodeDuplicateField = "duplicate_field" // a field given twice in one object
	CodeBadField       = "bad_field"       // a field of the wrong type or out of its type's range
	CodeBadMetadata    = "bad_metadata"    // metadata too deep or too large

	// The id.
	CodeBadID       = "bad_id"       // not a valid id
	CodeIDMismatch  = "id_mismatch"  // the body's id is not the job's
	CodeReservedID  = "reserved_id"  // in the namespace sieve keeps for request/reply jobs
	CodeDuplicateID = "duplicate_id" // two lines of one batch with the same id

	// The request.
	CodeNoMessages         = "no_messages"
	CodeBadRole            = "bad_role"
	CodeBadMaxTokens       = "bad_max_tokens"        // 0 or negative
	CodeMaxTokensOverLimit = "max_tokens_over_limit" // over generate.max_tokens_limit
	CodeBadSampling        = "bad_sampling"          // temperature, top_k, top_p, min_p, repeat_penalty or seed out of range
	CodeBadStop            = "bad_stop"
	CodeBadFormat          = "bad_format"   // a format that is not text, json_object or json_schema, or a schema sieve cannot enforce
	CodeBadLogprobs        = "bad_logprobs" // top_logprobs without logprobs, or over 20
	CodeBadTimeout         = "bad_timeout"  // 0 or negative
	CodeUnknownPolicy      = "unknown_policy"
	CodeInputBlocked       = "input_blocked"   // an input list with action block matched
	CodePromptTooLong      = "prompt_too_long" // the prompt does not fit in a slot

	// CodeFormatBroken: a reply that would have ended "stop" is not valid
	// against its format (a redaction changed it, or the schema asks for
	// what the grammar could not enforce); the result is filtered.
	CodeFormatBroken = "format_broken"

	// Failures at run time.
	CodeEngineError   = "engine_error"   // retried; failed after the last delivery
	CodePublishFailed = "publish_failed" // a chunk could not be sent
	CodeShuttingDown  = "shutting_down"  // request/reply cut short by a drain
	// CodeMaxDeliver: the job was delivered queue.max_deliver times and
	// no delivery ended with a result (the workers that took it stopped,
	// crashed, or could not store one).
	CodeMaxDeliver = "max_deliver"
	// CodeInterrupted: a drain cut the job short at its last delivery.
	CodeInterrupted = "interrupted"
)
