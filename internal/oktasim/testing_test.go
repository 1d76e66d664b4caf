package oktasim

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestGoAPIValidatesLikeTheHTTPAPI(t *testing.T) {
	s := New(Options{Token: token})
	spec := HookSpec{Name: "h", Type: HookTypeToken, Version: "1.0.0",
		Channel: Channel{Type: "HTTP", Version: "1.0.0", URI: "https://h.example.com", AuthScheme: &AuthScheme{Type: "HEADER", Key: "Authorization", Value: "s3cret"}}}
	h, err := s.AddHook(spec)
	if err != nil {
		t.Fatal(err)
	}
	var apiErr *Error
	if _, err := s.AddHook(spec); !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != CodeValidation {
		t.Errorf("duplicate AddHook = %v", err)
	}
	if _, err := s.UpdateHook(h.ID, func(h *Hook) { h.Channel.URI = "http://insecure" }); err == nil {
		t.Error("UpdateHook accepted an http URI")
	}
	if _, err := s.UpdateHook(h.ID, func(h *Hook) { h.Status = "PAUSED" }); err == nil {
		t.Error("UpdateHook accepted an unknown status")
	}
	got, err := s.UpdateHook(h.ID, func(h *Hook) { h.Channel.AuthScheme.Value = "rotated"; h.ID = "calother" })
	if err != nil || got.ID != h.ID || got.Channel.AuthScheme.Value != "rotated" {
		t.Errorf("UpdateHook = %+v, %v", got, err)
	}
	// Snapshots are copies.
	got.Channel.AuthScheme.Value = "changed"
	if stored, _ := s.Hook(h.ID); stored.Channel.AuthScheme.Value != "rotated" {
		t.Error("a snapshot aliases the stored hook")
	}
	if _, err := s.Hook("calnope"); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("Hook(missing) = %v", err)
	}
	if _, err := s.AddAuthServer(AuthServerSpec{ID: "default", Name: "x", Audiences: []string{"api://x"}}); err == nil {
		t.Error("AddAuthServer accepted a duplicate ID")
	}
	if _, err := s.AddPolicy("nope", PolicySpec{Name: "p", Clients: []string{"ALL_CLIENTS"}}); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("AddPolicy on a missing server = %v", err)
	}
	if err := s.AddServiceApp(ServiceApp{ClientID: "x"}); err == nil {
		t.Error("AddServiceApp accepted an app without a key")
	}
}

func TestStartTLS(t *testing.T) {
	s := New(Options{Token: token})
	srv, err := s.StartTLS()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Errorf("URL %s", srv.URL)
	}
	block, _ := pem.Decode(srv.CACertPEM)
	if block == nil {
		t.Fatal("CACertPEM is not PEM")
	}
	if ca, err := x509.ParseCertificate(block.Bytes); err != nil || !ca.IsCA {
		t.Fatalf("CA certificate: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/inlineHooks/calnope", nil)
	req.Header.Set("Authorization", "SSWS "+token)
	resp, err := srv.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Proto != "HTTP/1.1" {
		t.Errorf("GET = %d %s", resp.StatusCode, resp.Proto)
	}
	if !strings.Contains(string(body), "calnope") {
		t.Errorf("body %s", body)
	}

	// _links use the URL the client addressed.
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/api/v1/inlineHooks", strings.NewReader(validHook))
	req.Header.Set("Authorization", "SSWS "+token)
	resp, err = srv.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var h hookOut
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if want := srv.URL + "/api/v1/inlineHooks/" + h.ID; h.Links["self"].Href != want {
		t.Errorf("self link %q, want %q", h.Links["self"].Href, want)
	}
	if resp, err := http.Get(srv.URL); err == nil {
		_ = resp.Body.Close()
		t.Error("the default client trusted the simulator's self-signed CA")
	}
}
