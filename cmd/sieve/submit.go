package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/job"
)

func runSubmit(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "submit", "[flags] (--job FILE | PROMPT)")
	var (
		cfgPath = fs.String("config", "", "configuration `file` (for the NATS address, credentials and prefix)")
		server  = fs.String("server", "", "NATS `URL` (default nats.url, or the embedded server's nats.listen)")
		stream  = fs.Bool("stream", false, "print the moderated text as it is generated")
		timeout = fs.Duration("timeout", 5*time.Minute, "how long to wait for the result")
		jobFile = fs.String("job", "", "job `file` in JSON (- for standard input)")
		system  = fs.String("system", "", "system prompt")
		id      = fs.String("id", "", "job id (default: generated)")
	)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if (*jobFile == "") == (len(pos) == 0) || len(pos) > 1 {
		fmt.Fprintln(e.stderr, "sieve submit: give either --job FILE or one PROMPT")
		return exitUsage
	}
	cfg, ok := loadConfig(e, *cfgPath)
	if !ok {
		return exitUsage
	}
	payload, jobID, err := buildJob(e, *jobFile, pos, *system, *id)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve submit: %v\n", err)
		return exitUsage
	}
	nc := cfg.NATS
	nc.URL = cmp.Or(*server, nc.URL, "nats://"+nc.Listen)
	conn, err := connectClient(ctx, nc, "sieve submit")
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve submit: %v\n", err)
		return exitFailure
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	out := &streamOut{w: e.stdout, on: *stream}
	var onChunk func(job.Chunk) // nil: no subscription to the chunks
	if *stream {
		onChunk = out.chunk
	}
	res, err := conn.Submit(ctx, jobID, payload, onChunk)
	if errors.Is(err, broker.ErrNoResult) {
		err = fmt.Errorf("no result for job %q within %s", jobID, *timeout)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve submit: %v\n", err)
		return exitFailure
	}
	out.end(res.Text)
	b, _ := job.MarshalIndent(res, "", "  ")
	fmt.Fprintln(e.stdout, string(b))
	return submitStatus(e, res)
}

// streamOut prints a job's chunks as they come, and at the end whatever
// of the result's text they missed (a subscriber may miss chunks).
type streamOut struct {
	w       io.Writer
	on      bool
	printed strings.Builder
}

func (o *streamOut) chunk(c job.Chunk) {
	if o.on {
		fmt.Fprint(o.w, c.Text)
		o.printed.WriteString(c.Text)
	}
}

func (o *streamOut) end(text string) {
	if !o.on {
		return
	}
	if p := o.printed.String(); strings.HasPrefix(text, p) {
		fmt.Fprint(o.w, text[len(p):])
	}
	fmt.Fprintln(o.w)
}

// connectClient connects to a running sieve's NATS server, and says at
// once when nobody is there (the connection would keep trying in the
// background, as a worker's must).
func connectClient(ctx context.Context, nc config.NATS, name string) (*broker.Conn, error) {
	conn, err := broker.Connect(ctx, nc, "", name, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(3 * time.Second); !conn.NC.IsConnected() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !conn.NC.IsConnected() {
		conn.Close()
		return nil, fmt.Errorf("no NATS server at %s (is sieve serve running?)", config.RedactURL(nc.URL))
	}
	return conn, nil
}

// submitStatus is the exit status for a result, with what went wrong.
func submitStatus(e env, res job.Result) int {
	switch res.Status {
	case job.Completed, job.Filtered:
		return exitOK
	case job.Rejected:
		if res.Error != nil {
			fmt.Fprintf(e.stderr, "sieve submit: rejected: %s: %s\n", res.Error.Code, res.Error.Message)
		}
		return exitBlocked
	}
	if res.Error != nil {
		fmt.Fprintf(e.stderr, "sieve submit: %s: %s\n", res.Status, res.Error.Message)
	}
	return exitFailure
}

// buildJob returns the job's bytes and id: the --job file as written (with
// an id added when it has none), or a job made from the prompt.
func buildJob(e env, file string, pos []string, system, id string) ([]byte, string, error) {
	if file == "" {
		if id == "" {
			id = newID()
		}
		j := job.Job{ID: id, Messages: []job.Message{{Role: job.RoleUser, Content: pos[0]}}}
		if system != "" {
			j.Messages = append([]job.Message{{Role: job.RoleSystem, Content: system}}, j.Messages...)
		}
		b, err := job.Marshal(j)
		return b, id, err
	}
	var data []byte
	var err error
	if file == "-" {
		data, err = readAllLimited(e.stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, "", err
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, "", fmt.Errorf("%s: not a JSON object: %v", file, err)
	}
	fileID, _ := obj["id"].(string)
	if id == "" && fileID != "" {
		if e := job.CheckID(fileID); e != nil {
			return nil, "", errors.New(e.Message)
		}
		return data, fileID, nil // the caller's bytes, untouched
	}
	if id != "" {
		obj["id"] = id
	}
	got, _ := obj["id"].(string)
	if got == "" {
		got = newID()
		obj["id"] = got
	}
	if e := job.CheckID(got); e != nil {
		return nil, "", errors.New(e.Message)
	}
	b, err := job.Marshal(obj)
	return b, got, err
}

func newID() string {
	return strings.ToLower(nats.NewInbox()[len(nats.InboxPrefix):])
}
