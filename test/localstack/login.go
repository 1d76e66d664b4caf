package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Tokens are what a login got, verified: claims of the ID and access token,
// and the refresh token if one was issued.
type Tokens struct {
	IDToken, AccessToken map[string]any
	RefreshToken         string
}

// LoginError is an OAuth error answer from the token endpoint.
type LoginError struct {
	Status            int
	Code, Description string
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("token endpoint answered %d %s: %s", e.Status, e.Code, e.Description)
}

// Login signs a user in with the resource owner password grant against an
// authorization server of the org, as a test client would, and verifies the
// tokens' signatures (from the server's JWKS), issuer, audience and expiry.
func (s *Stack) Login(ctx context.Context, authServerID, clientID, username, password string) (*Tokens, error) {
	return s.token(ctx, authServerID, clientID, url.Values{
		"grant_type": {"password"}, "username": {username}, "password": {password},
		"scope": {"openid profile email"}, "client_id": {clientID},
	})
}

// LoginOffline is Login with offline_access: the answer also carries a
// refresh token (when the app and the policy rule allow the grant).
func (s *Stack) LoginOffline(ctx context.Context, authServerID, clientID, username, password string) (*Tokens, error) {
	return s.token(ctx, authServerID, clientID, url.Values{
		"grant_type": {"password"}, "username": {username}, "password": {password},
		"scope": {"openid profile email offline_access"}, "client_id": {clientID},
	})
}

// Refresh redeems a refresh token for new tokens (Okta runs the token
// inline hook again), verified like Login's.
func (s *Stack) Refresh(ctx context.Context, authServerID, clientID, refreshToken string) (*Tokens, error) {
	return s.token(ctx, authServerID, clientID, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
		"scope": {"openid profile email offline_access"}, "client_id": {clientID},
	})
}

func (s *Stack) token(ctx context.Context, authServerID, clientID string, form url.Values) (*Tokens, error) {
	issuer := s.OrgURL + "/oauth2/" + authServerID
	var answer struct {
		IDToken      string `json:"id_token"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	status, err := s.call(ctx, http.MethodPost, issuer+"/v1/token", strings.NewReader(form.Encode()), &answer)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &LoginError{Status: status, Code: answer.Error, Description: answer.Description}
	}
	var keys jose.JSONWebKeySet
	if _, err := s.call(ctx, http.MethodGet, issuer+"/v1/keys", nil, &keys); err != nil {
		return nil, err
	}
	idClaims, err := verify(answer.IDToken, keys, issuer, clientID)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	accessClaims, err := verify(answer.AccessToken, keys, issuer, "")
	if err != nil {
		return nil, fmt.Errorf("access token: %w", err)
	}
	return &Tokens{IDToken: idClaims, AccessToken: accessClaims, RefreshToken: answer.RefreshToken}, nil
}

func (s *Stack) call(ctx context.Context, method, u string, body io.Reader, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.OktaHTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: decode answer (status %d): %w", method, u, resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}

// verify checks an RS256 JWT against the key set and returns its claims.
func verify(raw string, keys jose.JSONWebKeySet, issuer, audience string) (map[string]any, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(tok.Headers) == 0 {
		return nil, fmt.Errorf("no JOSE header")
	}
	matching := keys.Key(tok.Headers[0].KeyID)
	if len(matching) == 0 {
		return nil, fmt.Errorf("no key %q in the JWKS", tok.Headers[0].KeyID)
	}
	var std jwt.Claims
	all := map[string]any{}
	if err := tok.Claims(matching[0].Key, &std, &all); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	want := jwt.Expected{Issuer: issuer, Time: time.Now()}
	if audience != "" {
		want.AnyAudience = jwt.Audience{audience}
	}
	if err := std.Validate(want); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	return all, nil
}
