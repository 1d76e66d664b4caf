package oktasim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"
)

// Server is a simulator listening on a socket.
type Server struct {
	// URL is the org URL, e.g. https://127.0.0.1:41234.
	URL string
	// CACertPEM is the PEM of the CA that signed the server certificate; nil for plain HTTP.
	CACertPEM []byte
	// Client trusts CACertPEM and has no timeout of its own.
	Client *http.Client

	srv  *http.Server
	done chan struct{}
}

// StartTLS serves the simulator over HTTPS on a free loopback port with a new self-signed CA,
// as the operator requires https:// org URLs. Close the server when done.
func (s *Sim) StartTLS() (*Server, error) { return s.Listen("127.0.0.1:0", true) }

// Start serves the simulator over plain HTTP on a free loopback port (clients need AllowHTTP).
func (s *Sim) Start() (*Server, error) { return s.Listen("127.0.0.1:0", false) }

// Listen serves the simulator on addr, over HTTPS with a new self-signed CA if useTLS. The
// certificate is valid for localhost, 127.0.0.1, ::1 and the host of addr.
func (s *Sim) Listen(addr string, useTLS bool) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("oktasim: listen on %s: %w", addr, err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	errLog := log.New(io.Discard, "", 0)
	if s.opts.Logf != nil {
		errLog = log.New(logfWriter(s.opts.Logf), "", 0)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          errLog,
		// HTTP/1.1 only, so a dropped connection looks to the client like a closed socket.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	out := &Server{URL: "http://" + net.JoinHostPort(host, port), srv: srv, done: make(chan struct{})}
	transport := &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}
	if useTLS {
		hosts := []string{"localhost", "127.0.0.1", "::1"}
		if reqHost, _, err := net.SplitHostPort(addr); err == nil && reqHost != "" {
			hosts = append(hosts, reqHost)
		}
		cert, caPEM, err := newCertificate(hosts, time.Now())
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		out.URL = "https://" + net.JoinHostPort(host, port)
		out.CACertPEM = caPEM
	}
	out.Client = &http.Client{Transport: transport}
	go func() {
		defer close(out.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && s.opts.Logf != nil {
			s.opts.Logf("oktasim: serve: %v", err)
		}
	}()
	return out, nil
}

// Close stops the server at once, closing open connections.
func (srv *Server) Close() error {
	err := srv.srv.Close()
	<-srv.done
	return err
}

// Shutdown stops the server gracefully, waiting for requests in flight until ctx ends.
func (srv *Server) Shutdown(ctx context.Context) error {
	err := srv.srv.Shutdown(ctx)
	<-srv.done
	return err
}

type logfWriter func(format string, args ...any)

func (f logfWriter) Write(p []byte) (int, error) {
	f("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newCertificate makes a CA and a server certificate it signs for hosts.
func newCertificate(hosts []string, now time.Time) (tls.Certificate, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("oktasim: CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "oktasim CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("oktasim: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("oktasim: CA certificate: %w", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("oktasim: server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("oktasim: server certificate: %w", err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caPEM, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
