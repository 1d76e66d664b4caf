package okta

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	smallKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	small := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(smallKey)})
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	const token = "00secret-token-value"

	cases := map[string]struct {
		cfg     Config
		wantErr string // "" = valid
	}{
		"token":                  {cfg: Config{OrgURL: "https://example.okta.com", APIToken: token}},
		"token, trailing slash":  {cfg: Config{OrgURL: "https://example.okta.com/", APIToken: token}},
		"PKCS#1 key":             {cfg: Config{OrgURL: "https://example.okta.com", ClientID: "0oa1", PrivateKey: pkcs1}},
		"PKCS#8 key":             {cfg: Config{OrgURL: "https://example.okta.com", ClientID: "0oa1", PrivateKey: pkcs8(rsaKey)}},
		"http allowed for tests": {cfg: Config{OrgURL: "http://127.0.0.1:8080", APIToken: token, AllowHTTP: true}},
		"no org URL":             {cfg: Config{APIToken: token}, wantErr: "OrgURL is required"},
		"http":                   {cfg: Config{OrgURL: "http://example.okta.com", APIToken: token}, wantErr: "must use https"},
		"path":                   {cfg: Config{OrgURL: "https://example.okta.com/api", APIToken: token}, wantErr: "bare origin"},
		"credentials in URL":     {cfg: Config{OrgURL: "https://user:" + token + "@example.okta.com", APIToken: token}, wantErr: "must not contain credentials"},
		"no auth":                {cfg: Config{OrgURL: "https://example.okta.com"}, wantErr: "set APIToken, or ClientID with PrivateKey"},
		"both":                   {cfg: Config{OrgURL: "https://example.okta.com", APIToken: token, ClientID: "0oa1", PrivateKey: pkcs1}, wantErr: "not both"},
		"client ID without key":  {cfg: Config{OrgURL: "https://example.okta.com", ClientID: "0oa1"}, wantErr: "needs both"},
		"key without client ID":  {cfg: Config{OrgURL: "https://example.okta.com", PrivateKey: pkcs1}, wantErr: "needs both"},
		"not PEM":                {cfg: Config{OrgURL: "https://example.okta.com", ClientID: "0oa1", PrivateKey: []byte(token)}, wantErr: "not PEM"},
		"EC key":                 {cfg: Config{OrgURL: "https://example.okta.com", ClientID: "0oa1", PrivateKey: pkcs8(ecKey)}, wantErr: "must be an RSA key"},
		"small key":              {cfg: Config{OrgURL: "https://example.okta.com", ClientID: "0oa1", PrivateKey: small}, wantErr: "at least 2048"},
		"negative timeout":       {cfg: Config{OrgURL: "https://example.okta.com", APIToken: token, RequestTimeout: -1}, wantErr: "must not be negative"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := tc.cfg.validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("validate = %v, want an error containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error %q leaks a secret", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	own := &http.Client{Timeout: time.Hour}
	cases := map[string]struct {
		cfg         Config
		timeout     time.Duration
		retries     int32
		backoffSec  int64
		httpTimeout time.Duration
	}{
		"zero values": {
			cfg:     Config{OrgURL: "https://example.okta.com", APIToken: "t"},
			timeout: DefaultRequestTimeout, retries: DefaultMaxRetries, backoffSec: 30, httpTimeout: DefaultRequestTimeout,
		},
		"negative disables": {
			cfg:     Config{OrgURL: "https://example.okta.com", APIToken: "t", MaxRetries: -1, MaxBackoff: -1},
			timeout: DefaultRequestTimeout, retries: 0, backoffSec: 0, httpTimeout: DefaultRequestTimeout,
		},
		"backoff capped by timeout, rounded up to seconds": {
			cfg:     Config{OrgURL: "https://example.okta.com", APIToken: "t", RequestTimeout: 1500 * time.Millisecond, MaxBackoff: time.Minute, HTTPClient: own},
			timeout: 1500 * time.Millisecond, retries: DefaultMaxRetries, backoffSec: 2, httpTimeout: 1500 * time.Millisecond,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := tc.cfg.validate()
			if err != nil {
				t.Fatal(err)
			}
			if s.timeout != tc.timeout || s.maxRetries != tc.retries || s.backoffSec != tc.backoffSec || s.httpClient.Timeout != tc.httpTimeout {
				t.Errorf("got timeout %v retries %d backoff %ds http timeout %v", s.timeout, s.maxRetries, s.backoffSec, s.httpClient.Timeout)
			}
		})
	}
	if own.Timeout != time.Hour {
		t.Error("validate changed the caller's http.Client")
	}
}
