package telemetry

import (
	"context"
	"fmt"
	"io"
	"iter"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MaxServerSeries caps the series a Scraper adds to one sample; more are left out
// (and said once).
const MaxServerSeries = 200

// maxScrapeBytes bounds one endpoint's exposition.
const maxScrapeBytes = 8 << 20

// ScrapeConfig says which Prometheus endpoints of the system under test to read
// and which of their series to keep.
type ScrapeConfig struct {
	URLs    []string // http(s)://host:port/metrics
	Match   []string // regular expressions on metric names, anchored; none keeps every series
	Timeout time.Duration
	Client  *http.Client // nil: a client with Timeout
}

// Scraper reads the system under test's own metrics with every telemetry sample, so
// a model server's queue depth or cache usage sits beside the latency it causes.
//
// Each metric becomes one series per metric name, its label sets summed: a gauge (or
// untyped) as it is; a counter as its rate per second since the previous scrape; a
// histogram as NAME.p50, NAME.p99 and NAME.avg of the observations since the previous
// scrape (linear within a bucket, as PromQL's histogram_quantile); a summary as its
// 0.5 and 0.99 quantiles (the highest over the label sets) as NAME.p50 and NAME.p99.
// A counter or histogram has no value on its first scrape or after a reset.
//
// Safe for concurrent use.
type Scraper struct {
	urls   []string
	match  []*regexp.Regexp
	client *http.Client

	mu     sync.Mutex
	prevAt time.Time
	prev   map[string]cumulative // by metric name: the last scrape's sums
	notes  map[string]bool       // what was said once
}

// cumulative is a counter's or histogram's sums over its label sets at one scrape.
type cumulative struct {
	value   float64             // counter value, or histogram sum
	count   float64             // histogram count
	buckets map[float64]float64 // histogram: cumulative count at or below each upper bound
}

// NewScraper checks cfg and returns a Scraper.
func NewScraper(cfg ScrapeConfig) (*Scraper, error) {
	s := &Scraper{urls: cfg.URLs, client: cfg.Client, prev: map[string]cumulative{}, notes: map[string]bool{}}
	for _, u := range cfg.URLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return nil, fmt.Errorf("scrape %q: want an http:// or https:// URL", u)
		}
	}
	for _, m := range cfg.Match {
		re, err := regexp.Compile("^(?:" + m + ")$")
		if err != nil {
			return nil, fmt.Errorf("scrape match %q: %v", m, err)
		}
		s.match = append(s.match, re)
	}
	if s.client == nil {
		t := cfg.Timeout
		if t <= 0 {
			t = 2 * time.Second
		}
		s.client = &http.Client{Timeout: t}
	}
	return s, nil
}

// Scrape reads every endpoint and returns the series of this moment, and what went
// wrong (an endpoint down, a bad exposition); the endpoints that answered still count.
func (s *Scraper) Scrape(ctx context.Context, now time.Time) (map[string]float64, []error) {
	families := map[string]*dto.MetricFamily{}
	var errs []error
	for _, u := range s.urls {
		fs, err := s.read(ctx, u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for name, f := range fs {
			if !s.keep(name) {
				continue
			}
			if have, ok := families[name]; ok && have.GetType() == f.GetType() {
				have.Metric = append(have.Metric, f.Metric...)
				continue
			}
			families[name] = f
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]float64{}
	elapsed := now.Sub(s.prevAt).Seconds()
	if s.prevAt.IsZero() {
		elapsed = 0
	}
	next := map[string]cumulative{}
	for _, name := range slices.Sorted(mapKeys(families)) {
		f := families[name]
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			c := cumulative{}
			for _, m := range f.Metric {
				c.value += m.GetCounter().GetValue()
			}
			next[name] = c
			if p, ok := s.prev[name]; ok && elapsed > 0 && c.value >= p.value {
				out[name] = (c.value - p.value) / elapsed
			}
		case dto.MetricType_HISTOGRAM:
			c := cumulative{buckets: map[float64]float64{}}
			for _, m := range f.Metric {
				h := m.GetHistogram()
				c.value += h.GetSampleSum()
				c.count += float64(h.GetSampleCount())
				for _, b := range h.Bucket {
					c.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
				}
			}
			next[name] = c
			if p, ok := s.prev[name]; ok && c.count > p.count {
				n := c.count - p.count
				out[name+".avg"] = (c.value - p.value) / n
				out[name+".p50"] = bucketQuantile(0.5, c, p)
				out[name+".p99"] = bucketQuantile(0.99, c, p)
			}
		case dto.MetricType_SUMMARY:
			for _, m := range f.Metric {
				for _, q := range m.GetSummary().Quantile {
					key := ""
					switch q.GetQuantile() {
					case 0.5:
						key = name + ".p50"
					case 0.99:
						key = name + ".p99"
					}
					if v := q.GetValue(); key != "" && !math.IsNaN(v) {
						out[key] = max(out[key], v)
					}
				}
			}
		default: // gauge, untyped
			sum, have := 0.0, false
			for _, m := range f.Metric {
				v := m.GetGauge().GetValue()
				if f.GetType() == dto.MetricType_UNTYPED {
					v = m.GetUntyped().GetValue()
				}
				if !math.IsNaN(v) {
					sum += v
					have = true
				}
			}
			if have {
				out[name] = sum
			}
		}
	}
	s.prev, s.prevAt = next, now
	if len(out) > MaxServerSeries {
		keys := slices.Sorted(mapKeys(out))
		for _, k := range keys[MaxServerSeries:] {
			delete(out, k)
		}
		if !s.notes["cap"] {
			s.notes["cap"] = true
			errs = append(errs, fmt.Errorf("scrape: %d series, kept the first %d by name; narrow them with a match", len(keys), MaxServerSeries))
		}
	}
	return out, errs
}

func (s *Scraper) keep(name string) bool {
	if len(s.match) == 0 {
		return true
	}
	for _, re := range s.match {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

func (s *Scraper) read(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %v", url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: HTTP %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fs, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, maxScrapeBytes))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %v", url, err)
	}
	return fs, nil
}

// bucketQuantile is the q-quantile of the observations between two scrapes of a
// histogram, linear within the bucket it falls in (the +Inf bucket gives the
// highest finite bound).
func bucketQuantile(q float64, cur, prev cumulative) float64 {
	bounds := slices.Sorted(mapKeys(cur.buckets))
	type b struct{ le, n float64 }
	var bs []b
	for _, le := range bounds {
		bs = append(bs, b{le, cur.buckets[le] - prev.buckets[le]})
	}
	if len(bs) == 0 {
		return math.NaN()
	}
	total := bs[len(bs)-1].n
	if !math.IsInf(bs[len(bs)-1].le, 1) {
		total = cur.count - prev.count
	}
	rank := q * total
	i := sort.Search(len(bs), func(i int) bool { return bs[i].n >= rank })
	if i == len(bs) {
		i = len(bs) - 1
	}
	if math.IsInf(bs[i].le, 1) {
		if i == 0 {
			return math.NaN()
		}
		return bs[i-1].le
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = bs[i-1].le, bs[i-1].n
	}
	in := bs[i].n - below
	if in <= 0 {
		return bs[i].le
	}
	return lo + (bs[i].le-lo)*(rank-below)/in
}

func mapKeys[K comparable, V any](m map[K]V) iter.Seq[K] {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
