// Package metrics counts what sieve does, in the Prometheus client
// library's conventions, and serves /metrics, /healthz and /readyz.
//
// It records results and states it is told about; it does not decide when
// a job starts or ends.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/sieve-project/sieve/job"
)

// Metrics holds sieve's collectors in a registry of its own. A nil
// *Metrics records nothing, so callers need not check.
type Metrics struct {
	reg        *prometheus.Registry
	jobs       *prometheus.CounterVec
	tokens     prometheus.Counter
	promptToks prometheus.Counter
	// The prompt cache: prompt tokens of jobs that ran, computed or taken
	// from the cache, and the jobs that took any.
	evaluated, cached, cacheHits prometheus.Counter
	queueWait                    prometheus.Histogram
	firstToken                   prometheus.Histogram
	tokRate                      prometheus.Histogram
	hits                         *prometheus.CounterVec
	busy                         prometheus.Gauge
	slots                        prometheus.Gauge
	backend                      *prometheus.GaugeVec
	rewinds                      *prometheus.CounterVec
	discarded                    *prometheus.CounterVec
}

// New makes the collectors; slots is the number of generation slots.
func New(slots int) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sieve_jobs_total", Help: "Jobs that ended, by status.",
		}, []string{"status"}),
		tokens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sieve_generated_tokens_total", Help: "Tokens generated.",
		}),
		promptToks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sieve_prompt_tokens_total", Help: "Prompt tokens processed.",
		}),
		evaluated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sieve_prompt_tokens_evaluated_total", Help: "Prompt tokens of jobs that ran which llama.cpp computed.",
		}),
		cached: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sieve_prompt_tokens_cached_total", Help: "Prompt tokens of jobs that ran which came from the prompt cache instead.",
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sieve_prompt_cache_hits_total", Help: "Jobs that took at least one prompt token from the prompt cache.",
		}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sieve_queue_wait_seconds", Help: "Time from a job's publication to its start.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		firstToken: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sieve_time_to_first_token_seconds", Help: "Time from a job's start to its first token (prompt processing).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}),
		tokRate: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sieve_generation_tokens_per_second", Help: "Decode speed of each job.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}),
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sieve_filter_hits_total", Help: "Keyword hits, by list, action and side (input or output).",
		}, []string{"list", "action", "side"}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sieve_slots_busy", Help: "Generation slots in use.",
		}),
		slots: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sieve_slots", Help: "Generation slots.",
		}),
		rewinds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sieve_avoid_rewinds_total", Help: "Times generation went back to avoid a keyword of an avoid list, by list.",
		}, []string{"list"}),
		discarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sieve_avoid_discarded_tokens_total", Help: "Tokens generated and thrown away to avoid a keyword, by list.",
		}, []string{"list"}),
		backend: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sieve_backend_info", Help: "A llama.cpp backend device the model runs on (always 1): CPU variant or GPU, the library it came from, what it was built for.",
		}, []string{"device", "type", "variant", "library", "features"}),
	}
	m.slots.Set(float64(slots))
	hitRatio := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sieve_prompt_cache_hit_ratio", Help: "Share of the prompt tokens of jobs that ran which came from the prompt cache, since start.",
	}, m.hitRatio)
	m.reg.MustRegister(m.evaluated, m.cached, m.cacheHits, hitRatio)
	m.reg.MustRegister(m.jobs, m.tokens, m.promptToks, m.queueWait, m.firstToken, m.tokRate, m.hits, m.busy, m.slots, m.backend, m.rewinds, m.discarded,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Backend records a llama.cpp backend device the model runs on. library
// is empty for a backend compiled into the binary.
func (m *Metrics) Backend(device, kind, variant, library string, features []string) {
	if m == nil {
		return
	}
	m.backend.WithLabelValues(device, kind, variant, library, strings.Join(features, ",")).Set(1)
}

// Result records a finished job.
func (m *Metrics) Result(r job.Result) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(string(r.Status)).Inc()
	m.tokens.Add(float64(r.Usage.CompletionTokens))
	m.promptToks.Add(float64(r.Usage.PromptTokens))
	if r.Status == job.Rejected {
		// Rejected jobs never ran: no wait or speed to record.
		for _, h := range r.Filter.Input {
			m.hits.WithLabelValues(h.List, h.Action, "input").Inc()
		}
		return
	}
	m.promptCache(r.Usage)
	m.queueWait.Observe(float64(r.Timings.QueuedMS) / 1000)
	if r.Usage.CompletionTokens > 0 {
		m.firstToken.Observe(float64(r.Timings.PromptMS) / 1000)
	}
	if r.Timings.TokensPerSecond > 0 {
		m.tokRate.Observe(r.Timings.TokensPerSecond)
	}
	for _, h := range r.Filter.Input {
		m.hits.WithLabelValues(h.List, h.Action, "input").Inc()
	}
	for _, h := range r.Filter.Output {
		m.hits.WithLabelValues(h.List, h.Action, "output").Inc()
		if h.Action == "avoid" && h.Fallback == "" {
			m.rewinds.WithLabelValues(h.List).Inc()
			m.discarded.WithLabelValues(h.List).Add(float64(h.Discarded))
		}
	}
}

func (m *Metrics) promptCache(u job.Usage) {
	m.cached.Add(float64(u.CachedTokens))
	m.evaluated.Add(float64(u.PromptTokens - u.CachedTokens))
	if u.CachedTokens > 0 {
		m.cacheHits.Inc()
	}
}

// hitRatio is cached / (cached + evaluated), read off the two counters.
func (m *Metrics) hitRatio() float64 {
	cached, evaluated := value(m.cached), value(m.evaluated)
	if cached+evaluated == 0 {
		return 0
	}
	return cached / (cached + evaluated)
}

func value(c prometheus.Counter) float64 {
	var d dto.Metric
	if c.Write(&d) != nil {
		return 0
	}
	return d.GetCounter().GetValue()
}

// SlotBusy adds d (+1 or -1) to the busy slots.
func (m *Metrics) SlotBusy(d int) {
	if m != nil {
		m.busy.Add(float64(d))
	}
}

// WatchNATS exports connected() as sieve_nats_connected (1 or 0), read
// at each scrape.
func (m *Metrics) WatchNATS(connected func() bool) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sieve_nats_connected", Help: "1 while connected to NATS.",
	}, func() float64 {
		if connected() {
			return 1
		}
		return 0
	}))
}

// Checks answer the health endpoints.
type Checks struct {
	Healthy func() error // /healthz: the model is loaded and NATS is connected
	Ready   func() error // /readyz: the worker takes jobs (not starting, not draining)
}

// Serve listens on addr and serves /metrics, /healthz and /readyz until
// ctx is done, then shuts the listener down. It returns once listening,
// with a function that waits for the server to stop.
func (m *Metrics) Serve(ctx context.Context, addr string, c Checks) (wait func() error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("/healthz", check(c.Healthy))
	mux.HandleFunc("/readyz", check(c.Ready))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	return func() error { return <-done }, nil
}

func check(f func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if f != nil {
			if err := f(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ok\n"))
	}
}
