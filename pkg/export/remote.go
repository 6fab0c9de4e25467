package export

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/prompb"
)

// Config says where and how to push.
type Config struct {
	URLs     []string          // remote-write endpoints (Prometheus: http://host:9090/api/v1/write)
	Header   http.Header       // added to every push (Authorization: Bearer …, X-Scope-OrgID: …)
	User     string            // HTTP basic auth, when set
	Password string            //
	TLS      *tls.Config       // nil: Go's defaults
	Interval time.Duration     // how often the run's state is pushed; default 5 s
	Tags     map[string]string // labels on every series (--tag testid=…)
	// QueueLen bounds the requests waiting for each receiver; past it the oldest is
	// dropped (each request holds the run's cumulative state, so a later one
	// supersedes it). Default 16.
	QueueLen int
	// Timeout bounds one push, its retries included; default 30 s.
	Timeout time.Duration
	// Backoff between retries of one push; default 250 ms doubling to 5 s, 4 retries.
	Backoff remote.BackoffConfig
	Logger  *slog.Logger
}

// Stats counts what the receivers did with the pushes.
type Stats struct {
	Pushed  uint64 // requests a receiver accepted
	Dropped uint64 // requests dropped: the queue was full, or the receiver refused or never answered
}

// Exporter pushes the live run's series to every receiver of its Config.
type Exporter struct {
	cfg       Config
	tags      []prompb.Label
	log       *slog.Logger
	receivers []*receiver

	mu     sync.Mutex
	run    *runSeries
	pushed uint64 // run.seq of the latest push

	stop    chan struct{}
	closing chan struct{} // closed by Close: receivers drain their queues and return
	cancel  context.CancelFunc
	ctx     context.Context
	wg      sync.WaitGroup
	once    sync.Once
	warned  atomic.Bool
}

// receiver is one remote-write endpoint and its bounded queue.
type receiver struct {
	url             string
	api             *remote.API
	mu              sync.Mutex
	queue           []*prompb.WriteRequest
	ready           chan struct{} // cap 1: the queue is not empty
	pushed, dropped atomic.Uint64
}

// New checks cfg and returns an Exporter; Start runs it.
func New(cfg Config) (*Exporter, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("no remote-write URL")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 16
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Backoff == (remote.BackoffConfig{}) {
		cfg.Backoff = remote.BackoffConfig{Min: 250 * time.Millisecond, Max: 5 * time.Second, MaxRetries: 4}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Exporter{cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), closing: make(chan struct{})}
	for k, v := range cfg.Tags {
		e.tags = append(e.tags, prompb.Label{Name: k, Value: v})
	}
	slices.SortFunc(e.tags, func(a, b prompb.Label) int { return cmp.Compare(a.Name, b.Name) })
	client := &http.Client{Transport: &authTransport{base: transport(cfg.TLS), header: cfg.Header, user: cfg.User, password: cfg.Password}}
	for _, u := range cfg.URLs {
		api, err := remote.NewAPI(u, remote.WithAPIHTTPClient(client), remote.WithAPIPath(""),
			remote.WithAPIBackoff(cfg.Backoff))
		if err != nil {
			return nil, fmt.Errorf("remote-write URL %q: %w", u, err)
		}
		e.receivers = append(e.receivers, &receiver{url: u, api: api, ready: make(chan struct{}, 1)})
	}
	return e, nil
}

func transport(c *tls.Config) http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if c != nil {
		t.TLSClientConfig = c
	}
	return t
}

// authTransport adds the configured headers and basic auth to every push.
type authTransport struct {
	base           http.RoundTripper
	header         http.Header
	user, password string
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(t.header) == 0 && t.user == "" {
		return t.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	for k, vs := range t.header {
		r.Header[k] = append(r.Header[k], vs...)
	}
	if t.user != "" {
		r.SetBasicAuth(t.user, t.password)
	}
	return t.base.RoundTrip(r)
}

// Start runs the push ticker and one sender per receiver until Close.
func (e *Exporter) Start() {
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.wg.Add(1 + len(e.receivers))
	go func() {
		defer e.wg.Done()
		t := time.NewTicker(e.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-e.stop:
				return
			case <-t.C:
				e.push()
			}
		}
	}()
	for _, r := range e.receivers {
		go func() {
			defer e.wg.Done()
			e.send(r)
		}()
	}
}

// Interval adds a closed interval of the live run; the run's last interval is
// queued for every receiver at once. It never waits on the network.
func (e *Exporter) Interval(iv Interval) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.run == nil || e.run.runID != iv.RunID {
		e.run, e.pushed = newRunSeries(iv), 0
	}
	e.run.add(iv)
	if iv.Final {
		e.pushLocked()
	}
}

// push queues the run's state when it moved since the last push.
func (e *Exporter) push() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pushLocked()
}

func (e *Exporter) pushLocked() {
	if e.run == nil || e.run.seq == e.pushed {
		return
	}
	e.pushed = e.run.seq
	req := e.run.request(e.tags)
	for _, r := range e.receivers {
		if r.enqueue(req, e.cfg.QueueLen) {
			e.warnOnce(r.url, "the receiver is slow or down: queued pushes are being dropped (the run itself is not affected)")
		}
	}
}

// enqueue adds req, dropping the oldest queued request when full (true then).
func (r *receiver) enqueue(req *prompb.WriteRequest, limit int) (dropped bool) {
	r.mu.Lock()
	if len(r.queue) >= limit {
		r.queue[0] = nil
		r.queue = r.queue[1:]
		r.dropped.Add(1)
		dropped = true
	}
	r.queue = append(r.queue, req)
	r.mu.Unlock()
	select {
	case r.ready <- struct{}{}:
	default:
	}
	return dropped
}

func (r *receiver) next() *prompb.WriteRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		return nil
	}
	req := r.queue[0]
	r.queue[0] = nil
	r.queue = r.queue[1:]
	return req
}

// send writes r's queue in order until Close, then drains it.
func (e *Exporter) send(r *receiver) {
	for {
		req := r.next()
		if req == nil {
			select {
			case <-r.ready:
				continue
			case <-e.closing:
				if req = r.next(); req == nil {
					return
				}
			case <-e.ctx.Done():
				return
			}
		}
		ctx, cancel := context.WithTimeout(e.ctx, e.cfg.Timeout)
		_, err := r.api.Write(ctx, remote.WriteV1MessageType, req)
		cancel()
		if err != nil {
			r.dropped.Add(1)
			e.warnOnce(r.url, err.Error())
			continue
		}
		r.pushed.Add(1)
	}
}

// warnOnce logs the first failure of the exporter; Stats counts them all.
func (e *Exporter) warnOnce(url, detail string) {
	if e.warned.CompareAndSwap(false, true) {
		e.log.Warn("remote-write push failed; further failures are counted, not logged", "url", url, "err", detail)
	}
}

// Stats sums what the receivers did.
func (e *Exporter) Stats() Stats {
	var s Stats
	for _, r := range e.receivers {
		s.Pushed += r.pushed.Load()
		s.Dropped += r.dropped.Load()
	}
	return s
}

// Close pushes the run's latest state, then waits until every receiver has
// sent its queue or ctx ends (what is left then is dropped), and stops.
func (e *Exporter) Close(ctx context.Context) error {
	e.once.Do(func() {
		close(e.stop)
		e.push()
		close(e.closing)
		done := make(chan struct{})
		go func() { e.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			e.cancel()
			<-done
		}
		e.cancel()
		for _, r := range e.receivers {
			r.mu.Lock()
			r.dropped.Add(uint64(len(r.queue)))
			r.queue = nil
			r.mu.Unlock()
		}
	})
	if s := e.Stats(); s.Dropped > 0 {
		return fmt.Errorf("remote-write: %d of %d pushes dropped", s.Dropped, s.Dropped+s.Pushed)
	}
	return nil
}

// queued is how many requests wait, over all receivers.
func (e *Exporter) queued() int {
	n := 0
	for _, r := range e.receivers {
		r.mu.Lock()
		n += len(r.queue)
		r.mu.Unlock()
	}
	return n
}
