// Package selfsigned makes throwaway self-signed ECDSA P-256 server
// certificates, the kind cert-manager issues by default, for tests, the local
// stack and benchmarks. Nothing here is for production trust.
package selfsigned

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Options describe the certificate.
type Options struct {
	// Hosts are DNS names or IP addresses; the first is also the common name.
	Hosts []string
	// NotBefore and NotAfter bound its validity; zero values mean an hour
	// ago and a day from now.
	NotBefore, NotAfter time.Time
	// Serial is its serial number; 0 picks a random one.
	Serial int64
	// CA makes it usable as its own trust root (a client's RootCAs).
	CA bool
}

// Cert is a PEM certificate and its PEM (PKCS #8) private key, as the keys
// tls.crt and tls.key of a kubernetes.io/tls Secret hold them.
type Cert struct {
	CertPEM, KeyPEM []byte
}

// New makes a certificate.
func New(o Options) (Cert, error) {
	if len(o.Hosts) == 0 {
		return Cert{}, errors.New("selfsigned: no hosts")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Cert{}, fmt.Errorf("selfsigned: key: %w", err)
	}
	serial := big.NewInt(o.Serial)
	if o.Serial == 0 {
		if serial, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62)); err != nil {
			return Cert{}, fmt.Errorf("selfsigned: serial: %w", err)
		}
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.Hosts[0]},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = now.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = now.Add(24 * time.Hour)
	}
	if o.CA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Cert{}, fmt.Errorf("selfsigned: certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Cert{}, fmt.Errorf("selfsigned: key: %w", err)
	}
	return Cert{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// TLS is the pair as a crypto/tls certificate, to serve it.
func (c Cert) TLS() (tls.Certificate, error) {
	return tls.X509KeyPair(c.CertPEM, c.KeyPEM)
}
