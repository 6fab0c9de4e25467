package userbehavior

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// QuickSpec is the plain user people know from wrk and hey: one request, repeated.
type QuickSpec struct {
	Method string
	URL    string // absolute; path and query included
	Header http.Header
	Body   []byte
	Wait   Wait
}

// QuickClassName is the class of the plain user.
const QuickClassName = "http"

// QuickClass returns the class whose users send spec's request over and over,
// recorded under its path and query.
func QuickClass(spec QuickSpec) (*Class, error) {
	u, err := url.Parse(spec.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("URL %q is not absolute (want http://host[:port]/path)", spec.URL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: scheme must be http or https", spec.URL)
	}
	method := spec.Method
	if method == "" {
		method = http.MethodGet
	}
	req := &Request{
		Method:  method,
		URL:     u.String(),
		Name:    u.RequestURI(),
		Header:  spec.Header,
		Body:    spec.Body,
		Discard: true,
	}
	c := &Class{
		Name:   QuickClassName,
		Weight: 1,
		Wait:   spec.Wait,
		Tasks: []Task{{Name: "request", Weight: 1, Fn: func(ctx context.Context, u *User) error {
			u.HTTP.send(ctx, req)
			return nil
		}}},
	}
	return c, c.Validate()
}
