package oktasim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Signing keys and the discovery documents of custom authorization servers, so any OIDC library
// can verify the tokens they mint: RS256, one 2048-bit key per authorization server, made on
// first use, its kid the key's RFC 7638 thumbprint.

type signingKey struct {
	jwk     jose.JSONWebKey // the private key
	signer  jose.Signer
	created time.Time // credentials.signing.lastRotated
}

type keyRing struct {
	mu   sync.Mutex
	keys map[string]*signingKey // by authorization server ID
	now  func() time.Time
}

func (k *keyRing) get(authServerID string) (*signingKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if sk := k.keys[authServerID]; sk != nil {
		return sk, nil
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("oktasim: signing key: %w", err)
	}
	jwk := jose.JSONWebKey{Key: priv, Algorithm: string(jose.RS256), Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("oktasim: signing key: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jwk}, nil)
	if err != nil {
		return nil, fmt.Errorf("oktasim: signing key: %w", err)
	}
	sk := &signingKey{jwk: jwk, signer: signer, created: k.now().UTC().Truncate(time.Millisecond)}
	k.keys[authServerID] = sk
	return sk, nil
}

// keyRotationPeriod is how long Okta's AUTO rotation keeps a signing key: nextRotation is 90
// days after lastRotated in the management API's examples.
const keyRotationPeriod = 90 * 24 * time.Hour

// signingCredentials is credentials.signing of an authorization server, as Okta returns it.
type signingCredentials struct {
	RotationMode string `json:"rotationMode"`
	LastRotated  string `json:"lastRotated"`
	NextRotation string `json:"nextRotation"`
	KID          string `json:"kid"`
	Use          string `json:"use"`
}

// credentials describes the key, which the simulator never rotates: nextRotation is when Okta
// would.
func (sk *signingKey) credentials() signingCredentials {
	return signingCredentials{RotationMode: "AUTO", LastRotated: formatTime(sk.created),
		NextRotation: formatTime(sk.created.Add(keyRotationPeriod)), KID: sk.jwk.KeyID, Use: "sig"}
}

// sign returns the compact JWS of payload, with header {"alg":"RS256","kid":…} like Okta's.
func (sk *signingKey) sign(payload []byte) (string, error) {
	jws, err := sk.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("oktasim: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// SigningKey returns the public key (with kid, alg and use) the authorization server signs its
// tokens with, as its JWKS serves it.
func (s *Sim) SigningKey(authServerID string) (jose.JSONWebKey, error) {
	if _, err := s.org.AuthServer(authServerID); err != nil {
		return jose.JSONWebKey{}, err
	}
	sk, err := s.mint.keys.get(authServerID)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	return sk.jwk.Public(), nil
}

// issuer is the issuer URI of a custom authorization server as the client addressed the org.
func issuer(r *http.Request, authServerID string) string {
	return baseURL(r) + "/oauth2/" + authServerID
}

// jwks serves GET /oauth2/{authServerId}/v1/keys.
func (s *Sim) jwks(w http.ResponseWriter, r *http.Request, p params) {
	as := p["authServerId"]
	if _, err := s.org.AuthServer(as); err != nil {
		s.writeError(w, err)
		return
	}
	sk, err := s.mint.keys.get(as)
	if err != nil {
		s.serverError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "max-age=3600, must-revalidate")
	s.writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{sk.jwk.Public()}})
}

// Metadata lists what the simulator does, not all Okta does: only the grants, response types
// and client authentication methods it implements. Okta's OAuth OpenAPI gives the fields:
// OAuthMetadata for /.well-known/oauth-authorization-server, and OidcMetadata, which adds
// userinfo_endpoint and the ID token algorithms, for /.well-known/openid-configuration.
type serverMetadata struct {
	Issuer                                    string   `json:"issuer"`
	AuthorizationEndpoint                     string   `json:"authorization_endpoint"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	UserinfoEndpoint                          string   `json:"userinfo_endpoint,omitempty"`
	JWKSURI                                   string   `json:"jwks_uri"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	ResponseModesSupported                    []string `json:"response_modes_supported"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	SubjectTypesSupported                     []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported          []string `json:"id_token_signing_alg_values_supported,omitempty"`
	ScopesSupported                           []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	ClaimsSupported                           []string `json:"claims_supported"`
	CodeChallengeMethodsSupported             []string `json:"code_challenge_methods_supported"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	EndSessionEndpoint                        string   `json:"end_session_endpoint"`
}

// oidcScopes are the OpenID Connect scopes every custom authorization server has.
var oidcScopes = []string{"openid", "profile", "email", "address", "phone", "offline_access"}

// clientAuthMethods are the client authentication methods of token, introspect and revoke.
var clientAuthMethods = []string{ClientAuthSecretBasic, ClientAuthSecretPost, ClientAuthPrivateKeyJWT, ClientAuthNone}

func (s *Sim) metadata(r *http.Request, authServerID string, oidc bool) serverMetadata {
	iss := issuer(r, authServerID)
	m := serverMetadata{
		Issuer:                            iss,
		AuthorizationEndpoint:             iss + "/v1/authorize",
		TokenEndpoint:                     iss + "/v1/token",
		JWKSURI:                           iss + "/v1/keys",
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               mintGrantTypes,
		SubjectTypesSupported:             []string{"public"},
		ScopesSupported:                   oidcScopes,
		TokenEndpointAuthMethodsSupported: clientAuthMethods,
		ClaimsSupported: []string{"iss", "ver", "sub", "aud", "iat", "exp", "jti", "auth_time", "amr", "idp",
			"nonce", "name", "preferred_username", "given_name", "family_name", "email", "locale", "zoneinfo", "at_hash"},
		CodeChallengeMethodsSupported:             []string{"S256"},
		IntrospectionEndpoint:                     iss + "/v1/introspect",
		IntrospectionEndpointAuthMethodsSupported: clientAuthMethods,
		RevocationEndpoint:                        iss + "/v1/revoke",
		RevocationEndpointAuthMethodsSupported:    clientAuthMethods,
		EndSessionEndpoint:                        iss + "/v1/logout",
	}
	if oidc {
		m.UserinfoEndpoint = iss + "/v1/userinfo"
		m.IDTokenSigningAlgValuesSupported = []string{string(jose.RS256)}
	}
	return m
}

// openIDConfiguration serves GET /oauth2/{authServerId}/.well-known/openid-configuration.
func (s *Sim) openIDConfiguration(w http.ResponseWriter, r *http.Request, p params) {
	s.serveMetadata(w, r, p, true)
}

// authServerMetadata serves GET /oauth2/{authServerId}/.well-known/oauth-authorization-server.
func (s *Sim) authServerMetadata(w http.ResponseWriter, r *http.Request, p params) {
	s.serveMetadata(w, r, p, false)
}

func (s *Sim) serveMetadata(w http.ResponseWriter, r *http.Request, p params, oidc bool) {
	as := p["authServerId"]
	if _, err := s.org.AuthServer(as); err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, s.metadata(r, as, oidc))
}

func (s *Sim) serverError(w http.ResponseWriter, err error) {
	if s.opts.Logf != nil {
		s.opts.Logf("oktasim: %v", err)
	}
	s.writeError(w, errInternal())
}
