package demo

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// Class names of the demo.
const (
	BrowserClass = "Browser"
	BuyerClass   = "Buyer"
)

// loggedIn is the User.Vars key a Buyer sets once its login succeeded.
const loggedIn = "demo.logged_in"

// Classes returns the demo's user classes, fresh values on every call so a caller may
// change them (tests shorten the waits):
//
//   - Browser (weight 3, waits 0.5–2 s) looks around: the home page, the item list,
//     single items by random id (one row, "/api/items/[id]") and searches (one row,
//     "/api/search?q=[term]").
//   - Buyer (weight 1, waits 1–3 s) logs in when it starts, adds items to its cart and
//     checks out; checkout fails with 503 at the target's error rate.
//
// Request URLs are relative: the runner resolves them against the run's host.
func Classes() []*userbehavior.Class {
	return []*userbehavior.Class{
		{
			Name:   BrowserClass,
			Weight: 3,
			Wait:   userbehavior.Wait{Kind: userbehavior.WaitBetween, Min: 500 * time.Millisecond, Max: 2 * time.Second},
			Tasks: []userbehavior.Task{
				{Name: "index", Weight: 1, Fn: func(ctx context.Context, u *userbehavior.User) error {
					u.HTTP.Do(ctx, &userbehavior.Request{URL: "/", Discard: true})
					return nil
				}},
				{Name: "list_items", Weight: 3, Fn: func(ctx context.Context, u *userbehavior.User) error {
					u.HTTP.Do(ctx, &userbehavior.Request{URL: "/api/items", Discard: true})
					return nil
				}},
				{Name: "item", Weight: 5, Fn: func(ctx context.Context, u *userbehavior.User) error {
					id := 1 + u.Rand.IntN(itemCount)
					u.HTTP.Do(ctx, &userbehavior.Request{
						URL: fmt.Sprintf("/api/items/%d", id), Name: "/api/items/[id]", Discard: true,
					})
					return nil
				}},
				{Name: "search", Weight: 1, Fn: func(ctx context.Context, u *userbehavior.User) error {
					term := nouns[u.Rand.IntN(len(nouns))]
					u.HTTP.Do(ctx, &userbehavior.Request{
						URL: "/api/search", Query: url.Values{"q": {term}}, Name: "/api/search?q=[term]", Discard: true,
					})
					return nil
				}},
			},
		},
		{
			Name:    BuyerClass,
			Weight:  1,
			Wait:    userbehavior.Wait{Kind: userbehavior.WaitBetween, Min: time.Second, Max: 3 * time.Second},
			OnStart: func(ctx context.Context, u *userbehavior.User) error { login(ctx, u); return nil },
			Tasks: []userbehavior.Task{
				{Name: "add_to_cart", Weight: 3, Fn: func(ctx context.Context, u *userbehavior.User) error {
					if !login(ctx, u) {
						return nil
					}
					body := fmt.Appendf(nil, `{"item_id":%d,"quantity":%d}`, 1+u.Rand.IntN(itemCount), 1+u.Rand.IntN(3))
					u.HTTP.Do(ctx, postJSON("/api/cart", body))
					return nil
				}},
				{Name: "checkout", Weight: 1, Fn: func(ctx context.Context, u *userbehavior.User) error {
					if !login(ctx, u) {
						return nil
					}
					u.HTTP.Do(ctx, postJSON("/api/checkout", []byte("{}")))
					return nil
				}},
			},
		},
	}
}

// login logs the user in unless it already is, and reports whether it is. A failed
// login is recorded by the HTTP client as a failed request (not a task fault) and is
// tried again by the user's next task.
func login(ctx context.Context, u *userbehavior.User) bool {
	if ok, _ := u.Vars[loggedIn].(bool); ok {
		return true
	}
	body := fmt.Appendf(nil, `{"username":"buyer-%d","password":"demo"}`, u.ID)
	resp := u.HTTP.Do(ctx, postJSON("/api/login", body))
	if !resp.OK() {
		return false
	}
	if u.Vars == nil {
		u.Vars = make(map[string]any)
	}
	u.Vars[loggedIn] = true
	return true
}

// postJSON is a POST of a JSON body whose answer is not needed.
func postJSON(url string, body []byte) *userbehavior.Request {
	return &userbehavior.Request{
		Method:  http.MethodPost,
		URL:     url,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    body,
		Discard: true,
	}
}
