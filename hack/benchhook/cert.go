package main

import (
	"os"
	"path/filepath"

	"github.com/tokenhook/tokenhook/internal/selfsigned"
)

// writeCertificate writes a self-signed certificate for the loopback
// address, the kind cert-manager issues by default, and its key.
func writeCertificate(dir string) (certFile, keyFile string, err error) {
	c, err := selfsigned.New(selfsigned.Options{Hosts: []string{"127.0.0.1"}})
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, c.CertPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, c.KeyPEM, 0o600)
}
