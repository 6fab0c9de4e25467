package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/stampede-load/stampede/pkg/aggregate"
	pb "github.com/stampede-load/stampede/proto"
)

// master starts a Server on loopback with the given server options.
func master(t *testing.T, cfg ServerConfig, opts ...grpc.ServerOption) (string, *Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(cfg)
	gs := grpc.NewServer(opts...)
	srv.RegisterOn(gs)
	go gs.Serve(lis)
	t.Cleanup(func() { srv.Close(); gs.Stop() })
	go func() { // drain events so handlers never block
		for range srv.Events() {
		}
	}()
	return lis.Addr().String(), srv
}

func TestTokenIsChecked(t *testing.T) {
	addr, _ := master(t, ServerConfig{Token: "s3cret"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tok := range []string{"", "wrong"} {
		if s, err := Dial(ctx, addr, WorkerInfo{ID: "intruder"}, tok); err == nil {
			s.Close()
			t.Errorf("token %q accepted", tok)
		} else if !strings.Contains(err.Error(), "not authenticated") {
			t.Errorf("token %q: unclear error %v", tok, err)
		}
	}
	s, err := Dial(ctx, addr, WorkerInfo{ID: "w1"}, "s3cret")
	if err != nil {
		t.Fatalf("right token refused: %v", err)
	}
	s.Close()
}

func TestFloodOfSilentConnectionsDoesNotStopRealWorkers(t *testing.T) {
	addr, _ := master(t, ServerConfig{HelloTimeout: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// 50 streams that never say hello, and 50 raw TCP connections that say nothing.
	var conns []net.Conn
	for range 50 {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			conns = append(conns, c)
		}
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecureCreds()))
			if err != nil {
				return
			}
			defer cc.Close()
			st, err := newStream(ctx, cc)
			if err == nil {
				st.Recv() // the master hangs up after HelloTimeout
			}
		}()
	}
	s, err := Dial(ctx, addr, WorkerInfo{ID: "real"}, "")
	if err != nil {
		t.Fatalf("real worker refused during the flood: %v", err)
	}
	s.Close()
	wg.Wait() // every silent stream was closed by the master
}

func TestOversizedReportDisconnectsOnlyThatWorker(t *testing.T) {
	addr, _ := master(t, ServerConfig{}, grpc.MaxRecvMsgSize(64<<10))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	big, err := Dial(ctx, addr, WorkerInfo{ID: "big"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	snap := aggregate.NewSnapshot(time.Now())
	snap.Counters = map[string]uint64{}
	for i := range 5000 {
		snap.Counters[strings.Repeat("x", 20)+string(rune('a'+i%26))+big64(i)] = 1
	}
	big.SendReport(Report{RunID: "r", Seq: 1, Snapshot: snap, Users: map[string]int{}})
	if _, err := big.Recv(); err == nil {
		// heartbeats may come first; the stream must end soon after
		for err == nil {
			_, err = big.Recv()
		}
	}
	ok, err := Dial(ctx, addr, WorkerInfo{ID: "ok"}, "")
	if err != nil {
		t.Fatalf("master stopped serving after an oversized message: %v", err)
	}
	ok.Close()
}

func big64(i int) string { return string(rune('A'+i/26%26)) + string(rune('A'+i/676%26)) }

func TestMutualTLSRejectsForeignCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, dir, "ca")
	foreign := newCA(t, dir, "foreign")
	ca.issue(t, dir, "master", true)
	ca.issue(t, dir, "worker", false)
	foreign.issue(t, dir, "stranger", false)
	ca.issueExpired(t, dir, "expired")
	stc, err := ServerTLS(filepath.Join(dir, "master.crt"), filepath.Join(dir, "master.key"), filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := master(t, ServerConfig{}, grpc.Creds(credentials.NewTLS(stc)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(cert string) error {
		ctc, err := ClientTLS(filepath.Join(dir, "ca.crt"), filepath.Join(dir, cert+".crt"), filepath.Join(dir, cert+".key"), "127.0.0.1")
		if err != nil {
			return err
		}
		s, err := Dial(ctx, addr, WorkerInfo{ID: cert}, "", grpc.WithTransportCredentials(credentials.NewTLS(ctc)))
		if err == nil {
			s.Close()
		}
		return err
	}
	if err := dial("worker"); err != nil {
		t.Fatalf("worker with a certificate of the CA refused: %v", err)
	}
	if err := dial("stranger"); err == nil {
		t.Error("worker with a foreign certificate accepted")
	}
	if err := dial("expired"); err == nil {
		t.Error("worker with an expired certificate accepted")
	}
	// Plaintext to a TLS master fails too.
	if s, err := Dial(ctx, addr, WorkerInfo{ID: "plain"}, ""); err == nil {
		s.Close()
		t.Error("plaintext worker accepted by a TLS master")
	}
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", der)
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) issue(t *testing.T, dir, name string, server bool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", der)
	kb, _ := x509.MarshalECPrivateKey(key)
	writePEM(t, filepath.Join(dir, name+".key"), "EC PRIVATE KEY", kb)
}

func (ca *testCA) issueExpired(t *testing.T, dir, name string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", der)
	kb, _ := x509.MarshalECPrivateKey(key)
	writePEM(t, filepath.Join(dir, name+".key"), "EC PRIVATE KEY", kb)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }

func newStream(ctx context.Context, cc *grpc.ClientConn) (grpc.BidiStreamingClient[pb.WorkerMessage, pb.MasterMessage], error) {
	return pb.NewCoordinatorClient(cc).Connect(ctx)
}
