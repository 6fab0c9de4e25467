package demo

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Name is the built-in scenario name.
const Name = "demo"

// DefaultErrorRate is the share of checkouts that fail when TargetConfig.ErrorRate is 0.
const DefaultErrorRate = 0.02

// sessionCookie is the cookie POST /api/login sets and the cart and checkout need.
const sessionCookie = "session"

// maxBody caps what the target reads of a request body.
const maxBody = 64 << 10

// TargetConfig configures a Target. The zero value is a realistic target.
type TargetConfig struct {
	// Seed makes the catalog, the latencies and the failures reproducible: requests
	// that arrive in the same order get the same delays and the same outcomes.
	Seed uint64
	// LatencyScale multiplies every endpoint's delay: 1 is realistic (medians of
	// 5–60 ms), tests use small values. 0 means 1; a negative value means no delay.
	LatencyScale float64
	// ErrorRate is the share of checkouts answered with 503. 0 means
	// DefaultErrorRate; a negative value means none; values above 1 mean 1.
	ErrorRate float64
	// Logger receives the HTTP server's own errors (bad connections, TLS noise) when
	// the target is started with Start; nil discards them. It never logs per request.
	Logger *slog.Logger
}

// Target is the demo system under test: a small shop API with realistic, seeded
// latencies. It is an http.Handler, safe for concurrent use, and keeps no state per
// session (session cookies are signed, not stored), so its memory stays flat under
// any load.
type Target struct {
	scale     float64
	errorRate float64
	seed      uint64
	key       []byte // signs session cookies
	logger    *slog.Logger
	catalog   *catalog
	routes    []*route
	mux       *http.ServeMux
	seq       atomic.Uint64 // requests so far; each request's random stream derives from it
}

// route is one endpoint: where it is mounted, how slow it is, what it answers, and how
// many requests it has served.
type route struct {
	key     string        // "METHOD path-pattern", as Served reports it
	pattern string        // the ServeMux pattern
	median  time.Duration // median delay at LatencyScale 1
	sigma   float64       // log-normal spread: p99 = median * exp(2.326 * sigma)
	handle  func(w http.ResponseWriter, r *http.Request, rnd *rand.Rand)
	served  atomic.Uint64
}

// z99 is the standard normal's 99th percentile: a log-normal delay's p99 is its
// median times exp(z99*sigma).
const z99 = 2.3263

// spread returns the log-normal sigma whose p99 is ratio times the median.
func spread(ratio float64) float64 { return math.Log(ratio) / z99 }

// NewTarget builds a target; it does not listen (see Start, or mount it as a handler).
func NewTarget(cfg TargetConfig) *Target {
	t := &Target{
		scale:     cfg.LatencyScale,
		errorRate: cfg.ErrorRate,
		seed:      cfg.Seed,
		logger:    cfg.Logger,
		catalog:   newCatalog(cfg.Seed),
		mux:       http.NewServeMux(),
	}
	switch {
	case t.scale == 0 || math.IsNaN(t.scale) || math.IsInf(t.scale, 0):
		t.scale = 1
	case t.scale < 0:
		t.scale = 0
	}
	switch {
	case t.errorRate == 0 || math.IsNaN(t.errorRate):
		t.errorRate = DefaultErrorRate
	case t.errorRate < 0:
		t.errorRate = 0
	case t.errorRate > 1:
		t.errorRate = 1
	}
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	var seed [8]byte
	binary.LittleEndian.PutUint64(seed[:], cfg.Seed)
	key := sha256.Sum256(append([]byte("stampede demo session key "), seed[:]...))
	t.key = key[:]

	t.routes = []*route{
		{key: "GET /", pattern: "GET /{$}", median: 5 * time.Millisecond, sigma: spread(3), handle: t.index},
		{key: "GET /api/items", pattern: "GET /api/items", median: 15 * time.Millisecond, sigma: spread(4), handle: t.listItems},
		{key: "GET /api/items/{id}", pattern: "GET /api/items/{id}", median: 8 * time.Millisecond, sigma: spread(4), handle: t.getItem},
		{key: "GET /api/search", pattern: "GET /api/search", median: 40 * time.Millisecond, sigma: spread(8), handle: t.search},
		{key: "POST /api/login", pattern: "POST /api/login", median: 25 * time.Millisecond, sigma: spread(3), handle: t.login},
		{key: "POST /api/cart", pattern: "POST /api/cart", median: 12 * time.Millisecond, sigma: spread(4), handle: t.addToCart},
		{key: "POST /api/checkout", pattern: "POST /api/checkout", median: 60 * time.Millisecond, sigma: spread(5), handle: t.checkout},
		{key: "GET /health", pattern: "GET /health", handle: t.health},
	}
	for _, rt := range t.routes {
		t.mux.Handle(rt.pattern, t.endpoint(rt))
	}
	return t
}

// ServeHTTP answers one request. Requests to paths the shop does not have get a plain
// 404 (or 405 for a known path with another method) and are not counted by Served.
func (t *Target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.mux.ServeHTTP(w, r)
}

// Served returns the requests served so far per endpoint, keyed "METHOD path-pattern"
// ("GET /api/items/{id}"), every endpoint present. A request counts when it reaches its
// endpoint, whatever its answer, also when its client gave up during the delay.
func (t *Target) Served() map[string]uint64 {
	out := make(map[string]uint64, len(t.routes))
	for _, rt := range t.routes {
		out[rt.key] = rt.served.Load()
	}
	return out
}

// endpoint counts, delays and then answers the requests of one route.
func (t *Target) endpoint(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt.served.Add(1)
		rnd := t.requestRand()
		if !wait(r.Context(), t.delay(rt, rnd)) {
			// The client is gone or the server is being stopped: nothing useful to say.
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusServiceUnavailable, "request aborted")
			return
		}
		rt.handle(w, r, rnd)
	})
}

// requestRand returns the random stream of the next request: a PCG seeded by the
// target's seed and the request's sequence number, so no lock is shared between
// requests and the same arrival order gives the same draws.
func (t *Target) requestRand() *rand.Rand {
	n := t.seq.Add(1)
	return rand.New(rand.NewPCG(t.seed, n*0x9e3779b97f4a7c15))
}

// delay draws a route's log-normal delay. It always takes the same draws from rnd,
// whatever the scale, so the failures do not depend on LatencyScale. The tail is cut
// at four standard deviations.
func (t *Target) delay(rt *route, rnd *rand.Rand) time.Duration {
	z := min(max(rnd.NormFloat64(), -4), 4)
	return time.Duration(float64(rt.median) * t.scale * math.Exp(rt.sigma*z))
}

// wait pauses for d, or less when ctx ends first; it reports whether the full delay passed.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (t *Target) index(w http.ResponseWriter, _ *http.Request, _ *rand.Rand) {
	write(w, http.StatusOK, "text/html; charset=utf-8", t.catalog.index)
}

func (t *Target) listItems(w http.ResponseWriter, r *http.Request, _ *rand.Rand) {
	page := 1
	if s := r.URL.Query().Get("page"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 {
			writeError(w, http.StatusBadRequest, "page must be a number >= 1")
			return
		}
		page = p
	}
	if page > len(t.catalog.pages) {
		writeJSON(w, http.StatusOK, fmt.Appendf(nil, `{"page":%d,"pages":%d,"total":%d,"items":[]}`,
			page, len(t.catalog.pages), itemCount))
		return
	}
	writeJSON(w, http.StatusOK, t.catalog.pages[page-1])
}

func (t *Target) getItem(w http.ResponseWriter, r *http.Request, _ *rand.Rand) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 || id > itemCount {
		writeError(w, http.StatusNotFound, "no such item")
		return
	}
	writeJSON(w, http.StatusOK, t.catalog.itemJSON[id-1])
}

func (t *Target) search(w http.ResponseWriter, r *http.Request, _ *rand.Rand) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		writeError(w, http.StatusBadRequest, "missing search term q")
		return
	}
	writeJSON(w, http.StatusOK, t.catalog.search(q))
}

// loginRequest is the body of POST /api/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (t *Target) login(w http.ResponseWriter, r *http.Request, rnd *rand.Rand) {
	var req loginRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Username == "" {
		writeError(w, http.StatusBadRequest, "username required")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    t.newSession(rnd),
		Path:     "/",
		MaxAge:   3600,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	writeJSON(w, http.StatusOK, mustJSON(map[string]any{"user": req.Username, "expires_in": 3600}))
}

// cartRequest is the body of POST /api/cart.
type cartRequest struct {
	ItemID   int `json:"item_id"`
	Quantity int `json:"quantity"`
}

func (t *Target) addToCart(w http.ResponseWriter, r *http.Request, _ *rand.Rand) {
	if !t.authorised(w, r) {
		return
	}
	var req cartRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Quantity == 0 {
		req.Quantity = 1
	}
	if req.ItemID < 1 || req.ItemID > itemCount || req.Quantity < 1 || req.Quantity > 99 {
		writeError(w, http.StatusBadRequest, "want item_id 1..1000 and quantity 1..99")
		return
	}
	price := t.catalog.items[req.ItemID-1].PriceCents
	writeJSON(w, http.StatusOK, mustJSON(map[string]int{
		"item_id": req.ItemID, "quantity": req.Quantity, "price_cents": price, "line_total_cents": price * req.Quantity,
	}))
}

func (t *Target) checkout(w http.ResponseWriter, r *http.Request, rnd *rand.Rand) {
	if !t.authorised(w, r) {
		return
	}
	if rnd.Float64() < t.errorRate {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "payment service unavailable")
		return
	}
	writeJSON(w, http.StatusOK, fmt.Appendf(nil, `{"order_id":"%016x","status":"confirmed","total_cents":%d}`,
		rnd.Uint64(), 499+rnd.IntN(50000)))
}

func (t *Target) health(w http.ResponseWriter, _ *http.Request, _ *rand.Rand) {
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

// newSession returns a signed session token: a random id and its MAC.
func (t *Target) newSession(rnd *rand.Rand) string {
	id := fmt.Sprintf("%016x", rnd.Uint64())
	return id + "." + t.sign(id)
}

func (t *Target) sign(id string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// authorised checks the session cookie and answers 401 when it is missing or forged.
func (t *Target) authorised(w http.ResponseWriter, r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err == nil {
		id, mac, ok := strings.Cut(c.Value, ".")
		if ok && hmac.Equal([]byte(mac), []byte(t.sign(id))) {
			return true
		}
	}
	writeError(w, http.StatusUnauthorized, "login required")
	return false
}

// decode reads a JSON body into v; an empty body leaves v as it is. It answers 400
// and reports false when the body is not valid JSON.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, mustJSON(map[string]string{"error": msg}))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	write(w, status, "application/json", body)
}

func write(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	// A failed write means the client is gone; a handler has no one to tell.
	_, _ = w.Write(body)
}
