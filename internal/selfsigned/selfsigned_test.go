package selfsigned

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	notAfter := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	cases := map[string]struct {
		opts     Options
		verifyAs string // a host the certificate must verify for, with itself as the root
	}{
		"DNS name":        {opts: Options{Hosts: []string{"svc.ns.svc"}, NotAfter: notAfter}},
		"fixed serial":    {opts: Options{Hosts: []string{"127.0.0.1"}, Serial: 7}},
		"CA for loopback": {opts: Options{Hosts: []string{"127.0.0.1", "::1", "localhost"}, CA: true}, verifyAs: "localhost"},
		"CA for an IP":    {opts: Options{Hosts: []string{"127.0.0.1"}, CA: true}, verifyAs: "127.0.0.1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := c.TLS()
			if err != nil {
				t.Fatalf("the certificate and key do not pair: %v", err)
			}
			leaf := pair.Leaf
			if leaf.Subject.CommonName != tc.opts.Hosts[0] {
				t.Errorf("common name %q, want %q", leaf.Subject.CommonName, tc.opts.Hosts[0])
			}
			if tc.opts.Serial != 0 && leaf.SerialNumber.Int64() != tc.opts.Serial {
				t.Errorf("serial %v, want %d", leaf.SerialNumber, tc.opts.Serial)
			}
			if !tc.opts.NotAfter.IsZero() && !leaf.NotAfter.Equal(tc.opts.NotAfter) {
				t.Errorf("not after %v, want %v", leaf.NotAfter, tc.opts.NotAfter)
			}
			if leaf.IsCA != tc.opts.CA {
				t.Errorf("IsCA = %v, want %v", leaf.IsCA, tc.opts.CA)
			}
			if tc.verifyAs != "" {
				roots := x509.NewCertPool()
				roots.AddCert(leaf)
				if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.verifyAs}); err != nil {
					t.Errorf("does not verify as %s against itself: %v", tc.verifyAs, err)
				}
			}
		})
	}
	if _, err := New(Options{}); err == nil {
		t.Error("no error without hosts")
	}
}
