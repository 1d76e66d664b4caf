package oktasim

import (
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The JSON Web Keys of an OIDC app (/api/v1/apps/{appId}/credentials/jwks, the management
// OpenAPI's ApplicationSSOPublicKeys tag): the public keys a private_key_jwt client assertion is
// checked against, each with an ID (pks…) and a status; only ACTIVE keys verify assertions. An
// app's ID in the simulator is its client ID, as for every app Okta makes without a chosen
// client_id. Reads need okta.apps.read, writes okta.apps.manage.
//
// Okta's validation, with the error causes of the OpenAPI's examples: a key's kid must be unique
// in the app ("All keys in the 'jwks' must have a unique `kid`."), a key may not be added beside
// one without a kid, RSA keys have at least 2048 bits, an app has at most 50 keys; only INACTIVE
// keys can be deleted, and the only ACTIVE key of a private_key_jwt app cannot be deactivated.
// The simulator takes RSA signing keys only (Okta takes EC keys and encryption keys too): those
// are what hook keys are.

// AppJWK is a key of an app's JWKS as the simulator stores it.
type AppJWK struct {
	ID          string // pks…
	Status      string // JWKActive or JWKInactive
	Created     time.Time
	LastUpdated time.Time
	Key         jose.JSONWebKey // RSA public key, with its kid
}

// JWK statuses.
const (
	JWKActive   = "ACTIVE"
	JWKInactive = "INACTIVE"
)

const (
	prefixJWK = "pks"
	// maxAppJWKs: "You have reached the maximum number of keys allowed (50)."
	maxAppJWKs = 50
	minRSABits = 2048
)

// Okta's error causes for app JWKS (the OpenAPI's examples).
const (
	causeJWKDuplicateKid = "All keys in the 'jwks' must have a unique `kid`."
	causeJWKNoKid        = "Each key should have a unique kid when adding multiple keys. Use the Apps API to update the JWKS to add a kid for the existing key, or delete the existing key and re-add the key with a kid using the JWKS APIs."
	causeJWKShortRSA     = "RSA key length in the 'jwks' is less than '2,048' bits for the given key."
	causeJWKTooMany      = "You can't create a new key. You have reached the maximum number of keys allowed (50). To add another key, you must first delete an existing one."
	causeJWKDeleteActive = "You can't delete an active JSON Web Key. Deactivate the key before deleting it."
	causeJWKLastActive   = "Can't deactivate the only active JSON Web Key when the value for `token_endpoint_auth_method` is `private_key_jwt`."
)

func errJWK(cause string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeValidation, Summary: "Api validation failed: JsonWebKey", Causes: []string{cause}}
}

// activeKeys are the keys that verify assertions, as jose keys.
func activeKeys(keys []*AppJWK) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range keys {
		if k.Status == JWKActive {
			out = append(out, k.Key)
		}
	}
	return out
}

func copyJWKs(keys []*AppJWK) []AppJWK {
	out := make([]AppJWK, 0, len(keys))
	for _, k := range keys {
		out = append(out, *k)
	}
	return out
}

// newJWKsLocked makes stored keys of public keys, ACTIVE. Called with d.mu held.
func (d *directory) newJWKsLocked(keys []jose.JSONWebKey, now time.Time) []*AppJWK {
	out := make([]*AppJWK, 0, len(keys))
	for _, k := range keys {
		out = append(out, &AppJWK{ID: d.jwkIDs.id(prefixJWK), Status: JWKActive, Created: now, LastUpdated: now, Key: k})
	}
	return out
}

// clientLocked returns the stored client with this ID, or 404 as Okta answers for an app.
func (d *directory) clientLocked(appID string) (*ClientSpec, *Error) {
	for _, c := range d.clients {
		if c.ClientID == appID {
			return c, nil
		}
	}
	return nil, errNotFound(appID, "AppInstance")
}

func (d *directory) appJWKs(appID string) ([]AppJWK, *Error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.clientLocked(appID)
	if err != nil {
		return nil, err
	}
	return copyJWKs(c.keys), nil
}

func (d *directory) appJWK(appID, jwkID string) (*ClientSpec, *AppJWK, *Error) {
	c, err := d.clientLocked(appID)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range c.keys {
		if k.ID == jwkID {
			return c, k, nil
		}
	}
	return nil, nil, errNotFound(jwkID, "JsonWebKey")
}

func (d *directory) addAppJWK(appID string, key jose.JSONWebKey, status string, now time.Time) (AppJWK, *Error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.clientLocked(appID)
	if err != nil {
		return AppJWK{}, err
	}
	switch {
	case len(c.keys) >= maxAppJWKs:
		return AppJWK{}, errJWK(causeJWKTooMany)
	case key.KeyID != "" && slices.ContainsFunc(c.keys, func(k *AppJWK) bool { return k.Key.KeyID == key.KeyID }):
		return AppJWK{}, errJWK(causeJWKDuplicateKid)
	case len(c.keys) > 0 && (key.KeyID == "" || slices.ContainsFunc(c.keys, func(k *AppJWK) bool { return k.Key.KeyID == "" })):
		return AppJWK{}, errJWK(causeJWKNoKid)
	}
	k := &AppJWK{ID: d.jwkIDs.id(prefixJWK), Status: status, Created: now, LastUpdated: now, Key: key}
	c.keys = append(c.keys, k)
	c.JWKS = activeKeys(c.keys)
	return *k, nil
}

func (d *directory) setAppJWKStatus(appID, jwkID, status string, now time.Time) (AppJWK, *Error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, k, err := d.appJWK(appID, jwkID)
	if err != nil {
		return AppJWK{}, err
	}
	if k.Status == status {
		return *k, nil
	}
	if status == JWKInactive && c.TokenEndpointAuthMethod == ClientAuthPrivateKeyJWT && len(activeKeys(c.keys)) == 1 {
		return AppJWK{}, errJWK(causeJWKLastActive)
	}
	k.Status, k.LastUpdated = status, now
	c.JWKS = activeKeys(c.keys)
	return *k, nil
}

func (d *directory) deleteAppJWK(appID, jwkID string) *Error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, k, err := d.appJWK(appID, jwkID)
	if err != nil {
		return err
	}
	if k.Status == JWKActive {
		return errJWK(causeJWKDeleteActive)
	}
	c.keys = slices.DeleteFunc(c.keys, func(x *AppJWK) bool { return x == k })
	c.JWKS = activeKeys(c.keys)
	return nil
}

// ---- the HTTP API

// jwkIn is OAuth2ClientJsonSigningKeyRequest.
type jwkIn struct {
	ID     string  `json:"id"` // in the request example; read-only, ignored
	Kid    *string `json:"kid"`
	Kty    string  `json:"kty"`
	Alg    string  `json:"alg"`
	Use    string  `json:"use"`
	E      string  `json:"e"`
	N      string  `json:"n"`
	Status string  `json:"status"`
}

// jwkOut is OAuth2ClientJsonWebKeyRsaResponse.
type jwkOut struct {
	ID          string         `json:"id"`
	Kid         *string        `json:"kid"`
	Kty         string         `json:"kty"`
	Alg         string         `json:"alg"`
	Use         string         `json:"use"`
	E           string         `json:"e"`
	N           string         `json:"n"`
	Status      string         `json:"status"`
	Created     string         `json:"created"`
	LastUpdated string         `json:"lastUpdated"`
	Links       map[string]any `json:"_links"`
}

func renderJWK(base, appID string, k AppJWK) jwkOut {
	out := jwkOut{ID: k.ID, Kty: "RSA", Alg: k.Key.Algorithm, Use: k.Key.Use, Status: k.Status,
		Created: formatTime(k.Created), LastUpdated: formatTime(k.LastUpdated)}
	if k.Key.KeyID != "" {
		kid := k.Key.KeyID
		out.Kid = &kid
	}
	if pub, ok := k.Key.Key.(*rsa.PublicKey); ok {
		out.N = base64.RawURLEncoding.EncodeToString(pub.N.Bytes())
		out.E = base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	}
	self := base + "/api/v1/apps/" + appID + "/credentials/jwks/" + k.ID
	post := map[string]any{"allow": []string{http.MethodPost}}
	if k.Status == JWKActive {
		out.Links = map[string]any{"deactivate": map[string]any{"href": self + "/lifecycle/deactivate", "hints": post}}
	} else {
		out.Links = map[string]any{
			"activate": map[string]any{"href": self + "/lifecycle/activate", "hints": post},
			"delete":   map[string]any{"href": self, "hints": map[string]any{"allow": []string{http.MethodDelete}}},
		}
	}
	return out
}

// parseJWK validates a signing key request the way Okta does, as far as the simulator goes.
func parseJWK(in jwkIn) (jose.JSONWebKey, string, *Error) {
	v := &validation{}
	status := in.Status
	switch status {
	case "":
		status = JWKActive
	case JWKActive, JWKInactive:
	default:
		v.add("status", "Does not match required enum: ACTIVE, INACTIVE")
	}
	if in.Use != "" && in.Use != "sig" {
		v.add("use", "Only signing keys (use sig) are supported by the simulator")
	}
	if in.Kty != "RSA" {
		v.add("kty", "Only RSA keys are supported by the simulator")
	}
	n, errN := base64.RawURLEncoding.DecodeString(in.N)
	e, errE := base64.RawURLEncoding.DecodeString(in.E)
	if in.Kty == "RSA" && (errN != nil || errE != nil || len(n) == 0 || len(e) == 0 || len(e) > 4) {
		v.add("n", "The RSA modulus and exponent must be base64url")
	}
	if err := v.err(); err != nil {
		return jose.JSONWebKey{}, "", err
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	if pub.N.BitLen() < minRSABits {
		return jose.JSONWebKey{}, "", errJWK(causeJWKShortRSA)
	}
	alg := in.Alg
	if alg == "" {
		alg = string(jose.RS256)
	}
	key := jose.JSONWebKey{Key: pub, Algorithm: alg, Use: "sig"}
	if in.Kid != nil {
		key.KeyID = *in.Kid
	}
	return key, status, nil
}

// listAppJWKs answers the app's keys as an array, the spec's schema (its example nests them
// under jwks.keys; the schema wins).
func (s *Sim) listAppJWKs(w http.ResponseWriter, r *http.Request, p params) {
	keys, err := s.mint.dir.appJWKs(p["appId"])
	out := []jwkOut{}
	for _, k := range keys {
		out = append(out, renderJWK(baseURL(r), p["appId"], k))
	}
	s.writeResult(w, http.StatusOK, out, err)
}

// addAppJWK answers 201 with the stored key.
func (s *Sim) addAppJWK(w http.ResponseWriter, r *http.Request, p params) {
	var in jwkIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	if _, err := s.mint.dir.appJWKs(p["appId"]); err != nil {
		s.writeError(w, err)
		return
	}
	key, status, err := parseJWK(in)
	if err != nil {
		s.writeError(w, err)
		return
	}
	k, err := s.mint.dir.addAppJWK(p["appId"], key, status, s.now().UTC().Truncate(time.Millisecond))
	s.writeResult(w, http.StatusCreated, renderJWK(baseURL(r), p["appId"], k), err)
}

func (s *Sim) getAppJWK(w http.ResponseWriter, r *http.Request, p params) {
	d := s.mint.dir
	d.mu.Lock()
	_, k, err := d.appJWK(p["appId"], p["keyId"])
	var snapshot AppJWK
	if err == nil {
		snapshot = *k
	}
	d.mu.Unlock()
	s.writeResult(w, http.StatusOK, renderJWK(baseURL(r), p["appId"], snapshot), err)
}

func (s *Sim) activateAppJWK(w http.ResponseWriter, r *http.Request, p params) {
	k, err := s.mint.dir.setAppJWKStatus(p["appId"], p["keyId"], JWKActive, s.now().UTC().Truncate(time.Millisecond))
	s.writeResult(w, http.StatusOK, renderJWK(baseURL(r), p["appId"], k), err)
}

func (s *Sim) deactivateAppJWK(w http.ResponseWriter, r *http.Request, p params) {
	k, err := s.mint.dir.setAppJWKStatus(p["appId"], p["keyId"], JWKInactive, s.now().UTC().Truncate(time.Millisecond))
	s.writeResult(w, http.StatusOK, renderJWK(baseURL(r), p["appId"], k), err)
}

func (s *Sim) deleteAppJWK(w http.ResponseWriter, _ *http.Request, p params) {
	s.noContent(w, s.mint.dir.deleteAppJWK(p["appId"], p["keyId"]))
}

// ---- the Go API

// AppJWKs returns the keys of an app's JWKS (appID is its client ID), INACTIVE ones included.
func (s *Sim) AppJWKs(appID string) ([]AppJWK, error) {
	keys, err := s.mint.dir.appJWKs(appID)
	return keys, asError(err)
}

// AddAppJWK adds a key to an app's JWKS, ACTIVE, as an admin would in the Okta console, e.g. to
// register a hook key's public key (HookKey.PublicKey). It is validated like the API's add.
func (s *Sim) AddAppJWK(appID string, key jose.JSONWebKey) (AppJWK, error) {
	if _, ok := key.Key.(*rsa.PublicKey); !ok {
		return AppJWK{}, fmt.Errorf("oktasim: app %s: the key is not an RSA public key", appID)
	}
	k, err := s.mint.dir.addAppJWK(appID, key, JWKActive, s.now().UTC().Truncate(time.Millisecond))
	return k, asError(err)
}
