package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync"

	"google.golang.org/grpc/credentials"
)

// refusal notes that the master's side of TLS turned this worker away (a certificate
// of another CA, either way round) and stops the worker: retrying cannot help, and a
// worker that retries forever hides the mistake. The agent itself gives up on a
// refused token; a TLS refusal happens below gRPC, where it only sees "unavailable".
type refusal struct {
	cancel context.CancelFunc
	mu     sync.Mutex
	err    error // the first refusal
}

func (r *refusal) refuse(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.cancel()
}

// Err is why the master refused the worker, or nil.
func (r *refusal) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// refusedTLS is a certificate problem no retry can fix: the master's certificate is
// not signed by --tls-ca (or names another host), or the master rejected this
// worker's certificate with a TLS alert.
func refusedTLS(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
	)
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify) {
		return true
	}
	// A TLS 1.3 server checks the client's certificate after the client finished its
	// handshake: the refusal arrives as an alert on the first read.
	msg := err.Error()
	return strings.Contains(msg, "remote error: tls: bad certificate") ||
		strings.Contains(msg, "remote error: tls: unknown certificate") ||
		strings.Contains(msg, "remote error: tls: certificate required")
}

// watchedCreds are TLS credentials that report a refusal.
type watchedCreds struct {
	credentials.TransportCredentials
	r *refusal
}

func (w watchedCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := w.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		if refusedTLS(err) {
			w.r.refuse(err)
		}
		return nil, nil, err
	}
	return watchedConn{Conn: conn, r: w.r}, info, nil
}

func (w watchedCreds) Clone() credentials.TransportCredentials {
	return watchedCreds{TransportCredentials: w.TransportCredentials.Clone(), r: w.r}
}

// watchedConn reports a refusal that arrives after the handshake.
type watchedConn struct {
	net.Conn
	r *refusal
}

func (c watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && refusedTLS(err) {
		c.r.refuse(err)
	}
	return n, err
}
