package gateway

import (
	"fmt"
	"net/http"

	"github.com/sieve-project/sieve/job"
)

// apiError is an error in OpenAI's shape:
// {"error": {"message", "type", "param", "code"}}.
type apiError struct {
	status  int
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
	// final marks errors a retry cannot cure (the job was retried by
	// the queue already, or cancelled on purpose): the response says
	// x-should-retry: false, which the official SDKs obey.
	final bool
}

func (e *apiError) Error() string { return e.Message }

// OpenAI's error types.
const (
	typeInvalid = "invalid_request_error"
	typeAuth    = "authentication_error"
	typeServer  = "server_error"
)

func newError(status int, typ, code, param, format string, args ...any) *apiError {
	e := &apiError{status: status, Type: typ, Message: fmt.Sprintf(format, args...)}
	if code != "" {
		e.Code = &code
	}
	if param != "" {
		e.Param = &param
	}
	return e
}

// invalid is a 400 about one parameter.
func invalid(code, param, format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, typeInvalid, code, param, format, args...)
}

// errorBody is how an error travels: alone as a response's body, or as
// the last event of a stream.
type errorBody struct {
	Error *apiError `json:"error"`
}

func (e *apiError) body() []byte {
	b, _ := job.Marshal(errorBody{e})
	return b
}

func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.final {
		h.Set("X-Should-Retry", "false")
	}
	w.WriteHeader(e.status)
	w.Write(append(e.body(), '\n'))
	// Out now: at a shutdown's cut the server closes the connections as
	// soon as the handlers return, before it would flush.
	http.NewResponseController(w).Flush()
}
