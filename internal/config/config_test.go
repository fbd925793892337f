package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultsWhenEmpty(t *testing.T) {
	c, err := Parse("empty.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.File = "empty.toml"
	if c.Model != want.Model || !reflect.DeepEqual(c.Generate, want.Generate) || c.NATS != want.NATS || c.Queue.AckWait != want.Queue.AckWait || len(c.Queue.Backoff) != 3 || !c.Filter.Normalize {
		t.Fatalf("got %+v, want defaults %+v", c, want)
	}
}

func TestExampleFile(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "testdata", "sieve.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Model.Parallel != 2 || c.Queue.AckWait.Duration != 45*time.Second || len(c.Filter.Lists) != 2 {
		t.Fatalf("unexpected values: %+v", c)
	}
	if got := c.Filter.Lists[1].Source; !strings.HasSuffix(got, "sieve.toml:45") {
		t.Fatalf("second list source %q, want …sieve.toml:45", got)
	}
	if got := c.Resolve("lists/x.txt"); got != filepath.Join("..", "..", "testdata", "lists", "x.txt") {
		t.Fatalf("Resolve: %q", got)
	}
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string // each must appear, in this order
	}{
		{"unknown key", "[model]\ncontext = 512\ncontxt = 4\n", []string{"f.toml:3: model.contxt: unknown key"}},
		{"unknown table", "[modle]\npath = \"x\"\n", []string{"f.toml:1: modle: unknown key", "f.toml:2: modle.path: unknown key"}},
		{"wrong type", "[model]\n\ncontext = \"big\"\n", []string{"f.toml:3: model.context:", "incompatible types"}},
		{"syntax", "[model\n", []string{"f.toml:2:", "table name"}},
		{"bad duration", "[queue]\nack_wait = \"soon\"\n", []string{"f.toml:2:", "not a duration"}},
		{"all range errors at once", "[model]\ncontext = 10\nthreads = -1\n[generate]\ntemperature = -1\ntop_p = 0\n",
			[]string{"f.toml:2: model.context: 10", "f.toml:3: model.threads", "f.toml:5: generate.temperature", "f.toml:6: generate.top_p"}},
		{"max tokens over limit", "[generate]\nmax_tokens = 9000\n", []string{"f.toml:2: generate.max_tokens: 9000"}},
		{"max tokens limit over the context", "[model]\ncontext = 2048\n[generate]\nmax_tokens_limit = 1000000\n", []string{"f.toml:4: generate.max_tokens_limit: 1000000: want 1 to model.context (2048)"}},
		{"batch below parallel", "[model]\nparallel = 8\nbatch = 4\n", []string{"f.toml:3: model.batch: 4"}},
		{"decode nice", "[model]\ndecode_nice = 20\n", []string{"f.toml:2: model.decode_nice: 20"}},
		{"nats", "[nats]\nurl = \"http://x\"\nprefix = \"a b\"\nuser = \"u\"\n",
			[]string{"f.toml:2: nats.url", "f.toml:3: nats.prefix", "f.toml:4: nats.user: a user needs a password"}},
		{"lists", "[[filter.lists]]\nname = \"a\"\naction = \"kill\"\nwords = [\"x\"]\n[[filter.lists]]\nname = \"a\"\nmatch = \"regex\"\naction = \"flag\"\n",
			[]string{"f.toml:3: filter.lists[0].action: \"kill\"", "f.toml:5: filter.lists[1].words: the list has neither", "f.toml:6: filter.lists[1].name: \"a\" names two lists", "f.toml:7: filter.lists[1].match"}},
		{"http", "[http]\nlisten = \"8080\"\ntimeout = \"10ms\"\n[[http.api_keys]]\nkey = \"short\"\npolicy = \"a.b\"\ntenant = \"_sys\"\n",
			[]string{"f.toml:2: http.listen: \"8080\"", "f.toml:3: http.timeout", "f.toml:5: http.api_keys[0].key: want at least 16", "f.toml:6: http.api_keys[0].policy", "f.toml:7: http.api_keys[0].tenant"}},
		{"strict", "[[filter.lists]]\nname = \"a\"\naction = \"flag\"\nwords = [\"x\"]\nstrict = [\"leet\", \"homoglyphs\"]\n[[filter.lists]]\nname = \"b\"\naction = \"flag\"\nwords = [\"x\"]\nstrict = 3\n",
			[]string{"f.toml:5: filter.lists[0].strict: \"homoglyphs\"", "f.toml:10: filter.lists[1].strict: 3"}},
		{"unknown key in a list", "[[filter.lists]]\nname = \"a\"\naction = \"flag\"\nwords = [\"x\"]\nwrods = 1\n", []string{"f.toml:5: filter.lists.wrods: unknown key"}},
		{"log", "[log]\nlevel = \"loud\"\n", []string{"f.toml:2: log.level"}},
		{"avoid", "[filter]\navoid_max_tries = 0\n[[filter.lists]]\nname = \"a\"\naction = \"avoid\"\nfallback = \"avoid\"\nwords = [\"x\"]\n[[filter.lists]]\nname = \"b\"\naction = \"redact\"\nfallback = \"block\"\nwords = [\"y\"]\n",
			[]string{"f.toml:2: filter.avoid_max_tries", "f.toml:6: filter.lists[0].fallback: \"avoid\"", "f.toml:11: filter.lists[1].fallback: only an avoid list"}},
		{"replicas", "[nats]\nreplicas = 3\ninbox_prefix = \"_IN BOX\"\n", []string{"f.toml:2: nats.replicas: 3: copies need a cluster", "f.toml:3: nats.inbox_prefix"}},
		{"replicas range", "[nats]\nurl = \"nats://a:4222\"\nreplicas = 7\n", []string{"f.toml:3: nats.replicas: 7: want 1 to 5"}},
		{"password in a bad URL", "[nats]\nurl = \"nats://u:hunter2@h:port\"\n", []string{"f.toml:2: nats.url", "u:xxxxx@h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tt.toml))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
			msg := err.Error()
			at := 0
			for _, w := range tt.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error\n%s\nlacks (in order) %q", msg, w)
				}
				at += i + len(w)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err %v", err)
	}
}

func TestExampleParses(t *testing.T) {
	c, err := Parse("example.toml", []byte(Example))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	// Every key but the path and the lists shows its default.
	c.Model.Path = ""
	if c.Model != d.Model || !reflect.DeepEqual(c.Generate, d.Generate) || c.NATS != d.NATS || c.Queue.AckWait != d.Queue.AckWait ||
		c.Queue.MaxTimeout != d.Queue.MaxTimeout || c.Queue.ResultsMaxAge != d.Queue.ResultsMaxAge || c.Metrics != d.Metrics || c.Log != d.Log {
		t.Fatalf("example drifted from the defaults:\n%+v\n%+v", c, d)
	}
	if c.Filter.AvoidMaxRewinds != d.Filter.AvoidMaxRewinds || c.Filter.AvoidMaxTries != d.Filter.AvoidMaxTries {
		t.Fatalf("example drifted from the defaults: %+v", c.Filter)
	}
	if len(c.Filter.Lists) != 3 || len(c.Filter.Policies["lenient"]) != 1 {
		t.Fatalf("lists %+v policies %+v", c.Filter.Lists, c.Filter.Policies)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://u:pw@h:4222":                   "nats://u:xxxxx@h:4222",
		"nats://t0ken@h:4222":                  "nats://xxxxx@h:4222",
		"nats://h:4222":                        "nats://h:4222",
		"tls://a:b@h1:4222,nats://c:d@h2:4222": "tls://a:xxxxx@h1:4222,nats://c:xxxxx@h2:4222",
		"nats://u:p@ss@h:4222":                 "nats://u:xxxxx@h:4222",
		"":                                     "",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A small context brings the token limits the file does not set down to
// it, as it does the batch.
func TestSmallContextLimits(t *testing.T) {
	c, err := Parse("f.toml", []byte("[model]\ncontext = 256\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Generate.MaxTokensLimit != 256 || c.Generate.MaxTokens != 256 || c.Model.Batch != 256 {
		t.Fatalf("got limit %d, max_tokens %d, batch %d", c.Generate.MaxTokensLimit, c.Generate.MaxTokens, c.Model.Batch)
	}
}
