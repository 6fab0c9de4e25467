package examples

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// served counts what a target answered, so a test can check that every request sent
// was counted: by status, and in all.
type served struct {
	mu       sync.Mutex
	total    int
	byStatus map[int]int
}

func (s *served) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.total++
		if s.byStatus == nil {
			s.byStatus = map[int]int{}
		}
		s.byStatus[sw.status]++
	})
}

func (s *served) counts() (total int, byStatus map[int]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int{}
	for k, v := range s.byStatus {
		out[k] = v
	}
	return s.total, out
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Flush()               { w.ResponseWriter.(http.Flusher).Flush() }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// restAPI is the target of examples/rest: login, then items CRUD with a bearer token.
func restAPI() http.Handler {
	var mu sync.Mutex
	tokens := map[string]bool{}
	items := map[int]map[string]any{}
	next := 0
	authorized := func(r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		return tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/login", func(w http.ResponseWriter, r *http.Request) {
		var creds struct{ Username, Password string }
		if json.NewDecoder(r.Body).Decode(&creds) != nil || creds.Username != "demo" || creds.Password != "secret" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "bad credentials"})
			return
		}
		mu.Lock()
		next++
		tok := fmt.Sprintf("t%d", next)
		tokens[tok] = true
		mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"token": tok})
	})
	mux.HandleFunc("POST /api/logout", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		delete(tokens, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /api/items", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var item map[string]any
		if json.NewDecoder(r.Body).Decode(&item) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		next++
		item["id"] = next
		items[next] = item
		mu.Unlock()
		writeJSON(w, http.StatusCreated, item)
	})
	mux.HandleFunc("/api/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id, _ := strconv.Atoi(r.PathValue("id"))
		mu.Lock()
		defer mu.Unlock()
		item, ok := items[id]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, item)
		case http.MethodPut:
			var patch map[string]any
			json.NewDecoder(r.Body).Decode(&patch)
			for k, v := range patch {
				item[k] = v
			}
			writeJSON(w, http.StatusOK, item)
		case http.MethodDelete:
			delete(items, id)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
	return mux
}

// shop is the target of examples/shop: products, a cart, and a checkout that runs
// out of stock (409) after stock orders.
func shop(stock int) http.Handler {
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>shop</html>"))
	})
	mux.HandleFunc("GET /products", func(w http.ResponseWriter, r *http.Request) {
		page, err := strconv.Atoi(r.URL.Query().Get("page"))
		if err != nil || page < 1 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ids": []int{page*10 + 1, page*10 + 2, page*10 + 3}})
	})
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "price": 1.5 * float64(id)})
	})
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"items": 1})
	})
	mux.HandleFunc("POST /checkout", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if stock == 0 {
			writeJSON(w, http.StatusConflict, map[string]string{"error": "sold out"})
			return
		}
		stock--
		writeJSON(w, http.StatusOK, map[string]any{"order": stock})
	})
	return mux
}

// inference is the target of examples/inference: a sentiment "model".
func inference() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/models/sentiment:predict", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Instances []string }
		if json.NewDecoder(r.Body).Decode(&req) != nil || len(req.Instances) == 0 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var preds []map[string]any
		for _, text := range req.Instances {
			label := "negative"
			if strings.Contains(text, "good") {
				label = "positive"
			}
			preds = append(preds, map[string]any{"label": label, "compute_ms": 2.5})
		}
		writeJSON(w, http.StatusOK, map[string]any{"predictions": preds})
	})
	return mux
}

// completions is the target of examples/streaming: max_tokens events, then [DONE].
func completions() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			MaxTokens int `json:"max_tokens"`
		}
		if json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for i := range req.MaxTokens {
			fmt.Fprintf(w, "data: {\"choices\": [{\"text\": \"tok%d\"}]}\n\n", i)
			f.Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	return mux
}
