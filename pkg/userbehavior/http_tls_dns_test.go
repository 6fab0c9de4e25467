package userbehavior

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// quietTLSServer is an httptest TLS server that does not log the handshakes its
// clients refuse; cert, when not nil, replaces httptest's certificate.
func quietTLSServer(t *testing.T, cert *tls.Certificate) *httptest.Server {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	if cert != nil {
		ts.TLS.Certificates = []tls.Certificate{*cert}
	}
	t.Cleanup(ts.Close)
	return ts
}

// expiredCert is a self-signed certificate for 127.0.0.1 that expired a year ago.
func expiredCert(t *testing.T) *tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "expired"},
		NotBefore: time.Now().Add(-2 * 365 * 24 * time.Hour), NotAfter: time.Now().Add(-365 * 24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestHTTPClientDNSAndTLSFailuresGroup: a host that never resolves (.invalid, RFC
// 6761), a self-signed certificate without InsecureSkipVerify, an expired one, and TLS
// spoken to a plain HTTP port each fail every request, on both clients, under one
// error row per cause that names no address, port, resolver or time; the same
// clients then reach a healthy target.
func TestHTTPClientDNSAndTLSFailuresGroup(t *testing.T) {
	selfSigned := quietTLSServer(t, nil)
	expired := quietTLSServer(t, expiredCert(t))
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(plain.Close)
	tests := []struct {
		name string
		url  string
		want map[string]string // client -> the error row's message
	}{
		{"DNS failure", "http://nonexistent.invalid/dns", nil},
		{"self-signed certificate", selfSigned.URL + "/self-signed", map[string]string{
			ClientFast:    "tls: failed to verify certificate: x509: certificate signed by unknown authority",
			ClientNetHTTP: "tls: failed to verify certificate: x509: certificate signed by unknown authority"}},
		{"expired certificate", expired.URL + "/expired", map[string]string{
			ClientFast:    "tls: failed to verify certificate: x509: certificate has expired or is not yet valid",
			ClientNetHTTP: "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"}},
		{"TLS to a plain HTTP port", "https://" + plain.Listener.Addr().String() + "/plain", map[string]string{
			ClientFast:    "tls: first record does not look like a TLS handshake",
			ClientNetHTTP: "http: server gave HTTP response to HTTPS client"}},
	}
	const users, requests = 3, 4
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachClient(t, func(t *testing.T, kind string) {
				st := newStack(t, kind)
				col := aggregate.NewCollector(time.Now())
				for range users {
					c := newTestClient(t, st, "")
					c.rec = col.NewRecorder()
					for range requests {
						if resp := c.Get(context.Background(), tt.url); resp.OK() {
							t.Fatalf("GET %s succeeded", tt.url)
						}
					}
					c.rec.Flush()
				}
				snap := col.Swap(time.Now())
				if len(snap.Errors) != 1 || len(snap.Endpoints) != 1 {
					t.Fatalf("%d error rows over %d endpoints, want one: %v", len(snap.Errors), len(snap.Endpoints), snap.Errors)
				}
				for k, n := range snap.Errors {
					st := snap.Endpoints[k.Endpoint]
					if n != users*requests || st == nil || st.Requests != n || st.Failures != n {
						t.Errorf("row %v counts %d of %d requests (stats %+v)", k, n, users*requests, st)
					}
					msg := k.Message
					if want, ok := tt.want[kind]; ok && msg != want {
						t.Errorf("error %q, want %q", msg, want)
					}
					if tt.want == nil && !strings.HasPrefix(msg, "lookup nonexistent.invalid: ") {
						t.Errorf("error %q, want lookup nonexistent.invalid: ...", msg)
					}
					_, port, _ := net.SplitHostPort(plain.Listener.Addr().String())
					for _, leak := range []string{"127.0.0.1", ":53", port, "current time"} {
						if strings.Contains(msg, leak) {
							t.Errorf("error %q holds %q: one row per address, port or moment", msg, leak)
						}
					}
				}
				// The same stack (pool, TLS settings) still serves a healthy target.
				c := newTestClient(t, st, "")
				if resp := c.Get(context.Background(), plain.URL+"/ok"); !resp.OK() {
					t.Errorf("healthy target after the failures: %v", resp.Err)
				}
			})
		})
	}
	// Accepting the self-signed certificate, as --insecure-target-tls does, succeeds.
	eachClient(t, func(t *testing.T, kind string) {
		c := newTestClient(t, newStack(t, kind, HTTPConfig{InsecureSkipVerify: true}), "")
		if resp := c.Get(context.Background(), selfSigned.URL+"/self-signed"); !resp.OK() {
			t.Errorf("with InsecureSkipVerify: %v", resp.Err)
		}
	})
}
