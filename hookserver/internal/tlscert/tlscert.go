// Package tlscert serves a TLS certificate that follows its files: a renewed
// certificate (cert-manager, a rotated Secret) is used for new connections
// without a restart.
package tlscert

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tokenhook/tokenhook/hookserver/internal/filewatch"
)

// Reloader holds the current key pair.
type Reloader struct {
	cert     atomic.Pointer[tls.Certificate]
	reloader *filewatch.Reloader
}

// Load reads the key pair; it fails if the pair is unreadable or invalid.
// report (optional) is told the outcome of each later reload.
func Load(certFile, keyFile string, report func(err error, took time.Duration)) (*Reloader, error) {
	r := &Reloader{}
	first := true
	r.reloader = filewatch.NewReloader([]string{certFile, keyFile}, r.apply, func(err error, took time.Duration) {
		if !first && report != nil {
			report(err, took)
		}
	})
	err := r.reloader.Reload()
	first = false
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reloader) apply(contents [][]byte) error {
	// A pair caught between the write of the certificate and of the key does
	// not match: keep the old pair; the next write triggers another reload.
	cert, err := tls.X509KeyPair(contents[0], contents[1])
	if err != nil {
		return fmt.Errorf("load TLS key pair: %w", err)
	}
	r.cert.Store(&cert)
	return nil
}

// Run reloads the pair whenever its files change, until ctx is done.
func (r *Reloader) Run(ctx context.Context, opts filewatch.Options) error {
	return r.reloader.Run(ctx, opts)
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}
