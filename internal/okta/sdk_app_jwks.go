package okta

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// The JSON Web Keys of an OAuth 2.0 app (/api/v1/apps/{appId}/credentials/jwks, the management
// OpenAPI's ApplicationSSOPublicKeys tag): the public keys Okta checks a private_key_jwt client
// assertion against. SDK v2 has no API for them, so they go through the request executor with
// this package's wire types, like the hook keys. Reads need okta.apps.read, writes
// okta.apps.manage.

// AppJWK statuses.
const (
	JWKActive   = "ACTIVE"
	JWKInactive = "INACTIVE"
)

// AppJWK is one key of an app's JWKS.
type AppJWK struct {
	ID     string // pks…: the key's ID in Okta's API (not its kid)
	KeyID  string // kid; "" for a key added without one
	Status string // JWKActive or JWKInactive: only active keys verify assertions
	Type   string // kty
	Use    string // "sig" for signing keys
	N, E   string // RSA modulus and exponent, base64url
}

func appJWKSPath(appID string) string { return "/api/v1/apps/" + appID + "/credentials/jwks" }

func (c *sdkClient) ListAppJWKs(ctx context.Context, appID string) ([]*AppJWK, error) {
	if err := checkID("app", appID); err != nil {
		return nil, fmt.Errorf("list JWKS of app: %w", err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, appJWKSPath(appID), nil, &raw); err != nil {
		return nil, fmt.Errorf("list JWKS of app %s: %w", appID, err)
	}
	ws, err := decodeJWKList(raw)
	if err != nil {
		return nil, fmt.Errorf("list JWKS of app %s: %w", appID, err)
	}
	out := make([]*AppJWK, 0, len(ws))
	for _, w := range ws {
		if w.ID != "" {
			out = append(out, w.jwk())
		}
	}
	return out, nil
}

// decodeJWKList reads the list answer: an array in the spec's schema, {"jwks":{"keys":[…]}} in its
// example. Either is read.
func decodeJWKList(raw json.RawMessage) ([]appJWKWire, error) {
	var list []appJWKWire
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var nested struct {
		JWKS struct {
			Keys []appJWKWire `json:"keys"`
		} `json:"jwks"`
	}
	if err := json.Unmarshal(raw, &nested); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return nested.JWKS.Keys, nil
}

func (c *sdkClient) AddAppJWK(ctx context.Context, appID string, key PublicKey) (*AppJWK, error) {
	if err := checkID("app", appID); err != nil {
		return nil, fmt.Errorf("add JWK to app: %w", err)
	}
	// A signing key, active at once: the only kind a private_key_jwt assertion is checked with.
	// Okta reports a hook key's alg as "RSA"; Okta signs its assertions with RS256.
	body, err := json.Marshal(appJWKWire{KeyID: key.KeyID, Type: "RSA", Algorithm: "RS256", Use: "sig",
		E: key.E, N: key.N, Status: JWKActive})
	if err != nil {
		return nil, fmt.Errorf("add JWK %s to app %s: %w", key.KeyID, appID, err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var w appJWKWire
	if err := c.do(ctx, http.MethodPost, appJWKSPath(appID), body, &w); err != nil {
		return nil, fmt.Errorf("add JWK %s to app %s: %w", key.KeyID, appID, err)
	}
	return jwkOrError(fmt.Sprintf("add JWK %s to app %s", key.KeyID, appID), &w)
}

func (c *sdkClient) DeactivateAppJWK(ctx context.Context, appID, jwkID string) (*AppJWK, error) {
	if err := checkID("app", appID); err != nil {
		return nil, fmt.Errorf("deactivate JWK: %w", err)
	}
	if err := checkID("JWK", jwkID); err != nil {
		return nil, fmt.Errorf("deactivate JWK of app %s: %w", appID, err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var w appJWKWire
	if err := c.do(ctx, http.MethodPost, appJWKSPath(appID)+"/"+jwkID+"/lifecycle/deactivate", nil, &w); err != nil {
		return nil, fmt.Errorf("deactivate JWK %s of app %s: %w", jwkID, appID, err)
	}
	return jwkOrError(fmt.Sprintf("deactivate JWK %s of app %s", jwkID, appID), &w)
}

func (c *sdkClient) DeleteAppJWK(ctx context.Context, appID, jwkID string) error {
	if err := checkID("app", appID); err != nil {
		return fmt.Errorf("delete JWK: %w", err)
	}
	if err := checkID("JWK", jwkID); err != nil {
		return fmt.Errorf("delete JWK of app %s: %w", appID, err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	if err := c.do(ctx, http.MethodDelete, appJWKSPath(appID)+"/"+jwkID, nil, nil); err != nil {
		return fmt.Errorf("delete JWK %s of app %s: %w", jwkID, appID, err)
	}
	return nil
}

// appJWKWire is OAuth2ClientJsonSigningKeyRequest out and OAuth2ClientJsonSigningKeyResponse in.
type appJWKWire struct {
	ID        string `json:"id,omitempty"`
	KeyID     string `json:"kid,omitempty"`
	Type      string `json:"kty"`
	Algorithm string `json:"alg,omitempty"`
	Use       string `json:"use,omitempty"`
	E         string `json:"e,omitempty"`
	N         string `json:"n,omitempty"`
	Status    string `json:"status,omitempty"`
}

func (w *appJWKWire) jwk() *AppJWK {
	return &AppJWK{ID: w.ID, KeyID: w.KeyID, Status: w.Status, Type: w.Type, Use: w.Use, N: w.N, E: w.E}
}

func jwkOrError(op string, w *appJWKWire) (*AppJWK, error) {
	if w.ID == "" {
		return nil, fmt.Errorf("%s: okta answered without a JWK", op)
	}
	return w.jwk(), nil
}

// AppJWKWithKeyID picks the key with this kid from an app's JWKS; nil if none.
func AppJWKWithKeyID(keys []*AppJWK, kid string) *AppJWK {
	for _, k := range keys {
		if k.KeyID == kid {
			return k
		}
	}
	return nil
}
