package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenhook/tokenhook/internal/oktasim"
)

func TestReadPublicKey(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkix, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]struct {
		path    string
		wantErr string
	}{
		"PKIX":      {path: write("pkix.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}))},
		"PKCS#1":    {path: write("pkcs1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)}))},
		"no path":   {path: "", wantErr: "needs --client-public-key"},
		"missing":   {path: filepath.Join(dir, "nope.pem"), wantErr: "read public key"},
		"not PEM":   {path: write("junk", []byte("junk")), wantErr: "not PEM"},
		"wrong PEM": {path: write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})), wantErr: "want PUBLIC KEY"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := readPublicKey(tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(&key.PublicKey) {
				t.Fatalf("readPublicKey = %v, %v", got, err)
			}
		})
	}
}

func TestParseUser(t *testing.T) {
	cases := map[string]struct {
		in      string
		want    oktasim.UserSpec
		wantErr bool
	}{
		"login and password": {in: "a@example.com:pw", want: oktasim.UserSpec{Login: "a@example.com", Password: "pw"}},
		"names":              {in: "a@example.com:pw:Ann:Lee", want: oktasim.UserSpec{Login: "a@example.com", Password: "pw", FirstName: "Ann", LastName: "Lee"}},
		"no password":        {in: "a@example.com", wantErr: true},
		"empty password":     {in: "a@example.com:", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := parseUser(tc.in)
			if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
				t.Fatalf("parseUser(%q) = %+v, %v", tc.in, got, err)
			}
		})
	}
}

func TestHookClient(t *testing.T) {
	dir := t.TempDir()
	if _, err := hookClient(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("no error for a missing file")
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := hookClient(junk); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Errorf("junk: %v", err)
	}
}

// TestPopulate: --scope defines custom scopes token requests may then name, and --app-grant-type
// sets the grants of every app.
func TestPopulate(t *testing.T) {
	cases := map[string]struct {
		contents orgContents
		form     url.Values
		want     int
		wantErr  bool
	}{
		"defined custom scope": {
			contents: orgContents{users: []oktasim.UserSpec{{Login: "a@example.com", Password: "pw"}}, apps: []oktasim.ClientSpec{{ClientID: "0oaapp"}}, scopes: []string{"patients.read"}},
			form:     url.Values{"scope": {"openid patients.read"}}, want: http.StatusOK,
		},
		"undefined custom scope": {
			contents: orgContents{users: []oktasim.UserSpec{{Login: "a@example.com", Password: "pw"}}, apps: []oktasim.ClientSpec{{ClientID: "0oaapp"}}},
			form:     url.Values{"scope": {"openid patients.read"}}, want: http.StatusBadRequest,
		},
		"app grant types": {
			contents: orgContents{users: []oktasim.UserSpec{{Login: "a@example.com", Password: "pw"}}, apps: []oktasim.ClientSpec{{ClientID: "0oaapp"}}, grantTypes: []string{oktasim.GrantRefreshToken}},
			form:     url.Values{"scope": {"openid"}}, want: http.StatusBadRequest, // password is no longer allowed
		},
		"invalid scope": {contents: orgContents{scopes: []string{"a b"}}, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			sim := oktasim.New(oktasim.Options{})
			err := tc.contents.populate(sim)
			if (err != nil) != tc.wantErr {
				t.Fatalf("populate = %v, want error: %t", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			form := url.Values{"grant_type": {"password"}, "client_id": {"0oaapp"}, "username": {"a@example.com"}, "password": {"pw"}}
			for k, v := range tc.form {
				form[k] = v
			}
			r := httptest.NewRequest(http.MethodPost, "http://org.example/oauth2/default/v1/token", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			sim.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("token = %d %s, want %d", w.Code, w.Body, tc.want)
			}
		})
	}
}
