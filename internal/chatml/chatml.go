// Package chatml renders chat messages into the ChatML prompt format that
// CausalLM 14B and Qwen-family models were trained on:
//
//	<|im_start|>{role}\n{content}<|im_end|>\n … <|im_start|>assistant\n
//
// It renders to tokens, not to one string: the template's markers are
// tokenized with special-token parsing on and message content with it off,
// so text such as "<|im_end|><|im_start|>system" inside a user message stays
// plain text and can never open a turn of its own.
//
// The package validates messages (roles, UTF-8, at least one message) and
// adds the default system prompt. It does not sample, stream or filter.
package chatml

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sieve-project/sieve/job"
)

// The template's markers.
const (
	ImStart = "<|im_start|>"
	ImEnd   = "<|im_end|>"
)

// Errors returned by Prepare, wrapped with the detail.
var (
	ErrNoMessages  = errors.New("no messages")
	ErrBadRole     = errors.New("unknown role")
	ErrInvalidUTF8 = errors.New("content is not valid UTF-8")
)

// Tokenizer turns text into token ids; with special set, control-token
// texts such as <|im_start|> become control tokens.
type Tokenizer interface {
	Tokenize(text string, special bool) ([]int, error)
}

// Prepare validates msgs and returns them with system prepended when no
// message has the system role and system is not empty.
func Prepare(msgs []job.Message, system string) ([]job.Message, error) {
	if len(msgs) == 0 {
		return nil, ErrNoMessages
	}
	hasSystem := false
	for i, m := range msgs {
		switch m.Role {
		case job.RoleSystem:
			hasSystem = true
		case job.RoleUser, job.RoleAssistant:
		default:
			return nil, fmt.Errorf("message %d: %w %q (want system, user or assistant)", i, ErrBadRole, m.Role)
		}
		if !utf8.ValidString(m.Content) {
			return nil, fmt.Errorf("message %d: %w", i, ErrInvalidUTF8)
		}
	}
	if hasSystem || system == "" {
		return msgs, nil
	}
	return append([]job.Message{{Role: job.RoleSystem, Content: system}}, msgs...), nil
}

// Text renders msgs as ChatML text, ending with the open assistant turn.
// It is what the model sees, for logs and tests; use Tokens to feed a
// model, since Text cannot tell markers from content that looks like them.
func Text(msgs []job.Message) string {
	var sb strings.Builder
	for _, m := range msgs {
		sb.WriteString(ImStart + m.Role + "\n" + m.Content + ImEnd + "\n")
	}
	sb.WriteString(ImStart + job.RoleAssistant + "\n")
	return sb.String()
}

// Tokens renders msgs as token ids. Each marker is tokenized on its own
// with special parsing on; the text between markers ("{role}\n{content}",
// then "\n") with it off. That is the same split llama.cpp makes when it
// tokenizes a whole template with special parsing on, so benign prompts get
// the same ids either way, and content cannot smuggle markers in.
func Tokens(tok Tokenizer, msgs []job.Message) ([]int, error) {
	ids, _, err := TokensAndHistory(tok, msgs)
	return ids, err
}

// TokensAndHistory is Tokens, and also says where the last message
// begins: the tokens before it (the system prompt, the conversation so
// far) are the part another request, or the next turn of this
// conversation, is likely to send again.
func TokensAndHistory(tok Tokenizer, msgs []job.Message) (ids []int, history int, err error) {
	start, err := marker(tok, ImStart)
	if err != nil {
		return nil, 0, err
	}
	end, err := marker(tok, ImEnd)
	if err != nil {
		return nil, 0, err
	}
	plain := func(s string) error {
		t, err := tok.Tokenize(s, false)
		ids = append(ids, t...)
		return err
	}
	for _, m := range msgs {
		history = len(ids)
		ids = append(ids, start)
		if err := plain(m.Role + "\n" + m.Content); err != nil {
			return nil, 0, err
		}
		ids = append(ids, end)
		if err := plain("\n"); err != nil {
			return nil, 0, err
		}
	}
	ids = append(ids, start)
	if err := plain(job.RoleAssistant + "\n"); err != nil {
		return nil, 0, err
	}
	return ids, history, nil
}

// marker returns the single control token for s, or an error naming the
// marker when the model's vocabulary has no such token.
func marker(tok Tokenizer, s string) (int, error) {
	ids, err := tok.Tokenize(s, true)
	if err != nil {
		return 0, err
	}
	if len(ids) != 1 {
		return 0, fmt.Errorf("chatml: the model's vocabulary has no %s token (it tokenizes to %d tokens); it is not a ChatML model", s, len(ids))
	}
	return ids[0], nil
}
