package job

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// MaxIDLength is the longest id, in bytes.
const MaxIDLength = 128

// RequestIDPrefix starts the ids sieve gives request/reply jobs. Ids whose
// first token starts with "_" are sieve's: a queued job cannot take one, so
// it can never meet a request/reply job under the same id.
const RequestIDPrefix = "_req."

// CheckID returns an Error a person can act on when id is not a job id: 1
// to 128 printable ASCII characters without spaces, '*' or '>', in one or
// more tokens separated by single dots (tenant-a.42 is an id: a job
// published on <prefix>.jobs.tenant-a.42 is that job, and NATS
// permissions can give each tenant jobs.tenant-a.> and
// results.tenant-a.>).
func CheckID(id string) *Error {
	if err := checkID(id); err != "" {
		return &Error{Code: CodeBadID, Message: fmt.Sprintf("id %q: %s", id, err)}
	}
	return nil
}

// ValidID reports whether id is a job id (CheckID).
func ValidID(id string) bool { return checkID(id) == "" }

func checkID(id string) string {
	if id == "" || len(id) > MaxIDLength {
		return fmt.Sprintf("want 1 to %d characters", MaxIDLength)
	}
	for _, tok := range strings.Split(id, ".") {
		if tok == "" {
			return "empty token: dots separate tokens, one at a time, not at either end"
		}
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '*' || c == '>' {
			return fmt.Sprintf("character %q at %d: want printable ASCII without spaces, '*' or '>'", c, i)
		}
	}
	return ""
}

// Reserved reports whether id is in the namespace sieve keeps for itself.
func Reserved(id string) bool { return strings.HasPrefix(id, "_") }

// CheckQueuedID is CheckID for a job on the queue (published on the jobs
// subject, or a batch line): its id may not be in sieve's namespace, not
// even a request/reply id, which only sieve gives.
func CheckQueuedID(id string) *Error {
	if e := CheckID(id); e != nil {
		return e
	}
	if Reserved(id) {
		return &Error{Code: CodeReservedID, Message: fmt.Sprintf("id %q: ids starting with \"_\" are sieve's own (%s… for request/reply jobs); publish the job under another", id, RequestIDPrefix)}
	}
	return nil
}

// NewRequestID returns a fresh id for a request/reply job.
func NewRequestID() string {
	var b [12]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather)
	return RequestIDPrefix + hex.EncodeToString(b[:])
}
