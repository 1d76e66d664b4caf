package localstack

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenhook/tokenhook/internal/selfsigned"
)

// Ingress stands in for the user's Ingress or gateway: it terminates TLS for
// the hook URLs Okta calls and forwards each path to its hook server pods,
// round-robin, as a Service would.
type Ingress struct {
	// URL is the ingress's base URL, https://127.0.0.1:<port>.
	URL string
	// CACertPEM signed the ingress certificate; Okta (the simulator) trusts it.
	CACertPEM []byte

	srv     *http.Server
	mu      sync.RWMutex
	routes  map[string]func() []string // path -> backend base URLs
	next    atomic.Uint64
	backend http.RoundTripper
}

func startIngress() (*Ingress, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cert, caPEM, err := selfSigned()
	if err != nil {
		return nil, err
	}
	backend := http.DefaultTransport.(*http.Transport).Clone()
	// Like ingress-nginx with backend-protocol HTTPS: encrypted, unverified
	// (pods' certificates name the Service, not the loopback port).
	backend.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // see above
	in := &Ingress{URL: "https://" + ln.Addr().String(), CACertPEM: caPEM, routes: map[string]func() []string{}, backend: backend}
	in.srv = &http.Server{
		Handler:           in,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	go func() { _ = in.srv.ServeTLS(ln, "", "") }()
	return in, nil
}

// Route sends requests for path to the base URLs (http://host:port or
// https://host:port) backends returns.
func (in *Ingress) Route(path string, backends func() []string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.routes[path] = backends
}

// Unroute removes a path.
func (in *Ingress) Unroute(path string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.routes, path)
}

func (in *Ingress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in.mu.RLock()
	backends, ok := in.routes[r.URL.Path]
	in.mu.RUnlock()
	if !ok {
		http.Error(w, "no route for this path", http.StatusNotFound)
		return
	}
	addrs := backends()
	if len(addrs) == 0 {
		http.Error(w, "no ready backend", http.StatusServiceUnavailable)
		return
	}
	target, err := url.Parse(addrs[in.next.Add(1)%uint64(len(addrs))])
	if err != nil {
		http.Error(w, "bad backend: "+err.Error(), http.StatusBadGateway)
		return
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = in.backend
	proxy.ServeHTTP(w, r)
}

// Close stops the ingress.
func (in *Ingress) Close() error {
	if err := in.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// selfSigned makes a certificate for the loopback addresses that is also its
// own CA, for the simulator to trust.
func selfSigned() (tls.Certificate, []byte, error) {
	c, err := selfsigned.New(selfsigned.Options{Hosts: []string{"127.0.0.1", "::1", "localhost"}, CA: true})
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("ingress certificate: %w", err)
	}
	pair, err := c.TLS()
	return pair, c.CertPEM, err
}
