package job

// NewResult is the result of j before it ends: its id and metadata, and
// hit lists that are empty rather than null on the wire. Every result
// sieve sends starts here.
func NewResult(j Job) Result {
	return Result{ID: j.ID, Metadata: j.Metadata, Filter: FilterReport{Input: []Hit{}, Output: []Hit{}}}
}

// Ended is j's result with the status and finish reason it ended with,
// and the error that says why, if any.
func Ended(j Job, s Status, finish string, e *Error) Result {
	r := NewResult(j)
	r.Status, r.FinishReason, r.Error = s, finish, e
	return r
}
