package userbehavior

import (
	"net/url"
	"time"
)

// wsShared is what a Runner's users share for WebSocket.
type wsShared struct {
	insecure bool
	maxMsg   int64
	timeout  time.Duration
	base     *url.URL
}

func newWSShared(base *url.URL, cfg HTTPConfig, timeout time.Duration) *wsShared {
	return &wsShared{insecure: cfg.InsecureSkipVerify, maxMsg: cfg.options().maxBody, timeout: timeout, base: base}
}
