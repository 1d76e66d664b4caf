package oktasim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Hook keys (/api/v1/hook-keys, the management OpenAPI's HookKey tag): key pairs Okta generates
// and keeps. An OAUTH channel with authType private_key_jwt names one by its id (hookKeyId);
// Okta signs that channel's client assertion with the private key, which never leaves Okta, and
// an admin registers the public key (GET /api/v1/hook-keys/public/{keyId}) with the channel's
// OAuth app. What the spec leaves open the simulator reads strictly: deleting a key a hook
// uses is 400 E0000001, like deleting an ACTIVE hook; the cap and a duplicate name are 400
// E0000001 too, the only 400 the spec lists for create.

// HookKey is a stored hook key.
type HookKey struct {
	ID    string // HKY…: what an OAUTH channel's hookKeyId names
	KeyID string // the public key's alias, a UUID: the kid of the assertions signed with it
	Name  string // unique in the org
	// IsUsed says whether an inline hook's OAUTH channel names the key, which then cannot be
	// deleted.
	IsUsed      bool
	Created     time.Time
	LastUpdated time.Time
	// PublicKey is the public key as a JWKS entry: RSA, kid KeyID, alg RS256, use sig. Register
	// it with the channel's OAuth app (ClientSpec.JWKS). The API answers the same key with
	// Okta's alg "RSA" and use null.
	PublicKey jose.JSONWebKey
}

type hookKeyState struct {
	HookKey // IsUsed is computed on each snapshot
	private *rsa.PrivateKey
}

// hookKeyBits is the size of the RSA keys Okta generates for hook keys (unconfirmed; the
// modulus of the API reference's example has 2048 bits).
const hookKeyBits = 2048

// ---- the model

func (o *org) hookKeyLocked(id string) *hookKeyState {
	for _, k := range o.hookKeys {
		if k.ID == id {
			return k
		}
	}
	return nil
}

// hookUsingKeyLocked returns the inline hook whose OAUTH channel names the key, if any.
func (o *org) hookUsingKeyLocked(id string) *Hook {
	for _, h := range o.hooks {
		if h.Channel.Type == channelOAuth && h.Channel.OAuth != nil && h.Channel.OAuth.HookKeyID == id {
			return h
		}
	}
	return nil
}

func (o *org) snapshotKeyLocked(k *hookKeyState) HookKey {
	out := k.HookKey
	out.IsUsed = o.hookUsingKeyLocked(k.ID) != nil
	return out
}

func (o *org) validateKeyNameLocked(name string, self *hookKeyState) *Error {
	v := &validation{}
	switch {
	case strings.TrimSpace(name) == "":
		v.add("name", "The field cannot be left blank")
	case len(name) > 255:
		v.add("name", "The field cannot exceed 255 characters")
	case slices.ContainsFunc(o.hookKeys, func(k *hookKeyState) bool { return k.Name == name && k != self }):
		v.add("name", "An object with this field already exists in the current organization")
	}
	return v.err()
}

// createHookKey generates a key pair (outside the lock: it takes a while) and stores it.
func (o *org) createHookKey(name string) (HookKey, *Error) {
	priv, err := rsa.GenerateKey(rand.Reader, hookKeyBits)
	if err != nil {
		return HookKey{}, errInternal()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.validateKeyNameLocked(name, nil); err != nil {
		return HookKey{}, err
	}
	if len(o.hookKeys) >= o.hookKeyLimit {
		v := &validation{}
		v.add("hookKey", "The maximum number of keys (%d) has been reached for this organization.", o.hookKeyLimit)
		return HookKey{}, v.err()
	}
	now := o.timestamp()
	kid := o.keyIDs.uuid()
	k := &hookKeyState{private: priv, HookKey: HookKey{
		ID: o.keyIDs.id(prefixHookKey), KeyID: kid, Name: name, Created: now, LastUpdated: now,
		PublicKey: jose.JSONWebKey{Key: &priv.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"},
	}}
	o.hookKeys = append(o.hookKeys, k)
	return o.snapshotKeyLocked(k), nil
}

// HookKeys returns the hook keys in creation order.
func (o *org) HookKeys() []HookKey {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]HookKey, 0, len(o.hookKeys))
	for _, k := range o.hookKeys {
		out = append(out, o.snapshotKeyLocked(k))
	}
	return out
}

// HookKey returns the hook key with this id.
func (o *org) HookKey(id string) (HookKey, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := o.hookKeyLocked(id)
	if k == nil {
		return HookKey{}, errNotFound(id, "HookKey")
	}
	return o.snapshotKeyLocked(k), nil
}

// hookKeyByKID returns the hook key whose public key has this alias.
func (o *org) hookKeyByKID(kid string) (HookKey, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, k := range o.hookKeys {
		if k.KeyID == kid {
			return o.snapshotKeyLocked(k), nil
		}
	}
	return HookKey{}, errNotFound(kid, "HookKey")
}

// hookKeySigner returns the key's alias and private key, to sign a client assertion.
func (o *org) hookKeySigner(id string) (string, *rsa.PrivateKey, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := o.hookKeyLocked(id)
	if k == nil {
		return "", nil, errNotFound(id, "HookKey")
	}
	return k.KeyID, k.private, nil
}

// renameHookKey is the replace: "The only parameter that you can update is the name of the
// key, which must be unique at all times."
func (o *org) renameHookKey(id, name string) (HookKey, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := o.hookKeyLocked(id)
	if k == nil {
		return HookKey{}, errNotFound(id, "HookKey")
	}
	if err := o.validateKeyNameLocked(name, k); err != nil {
		return HookKey{}, err
	}
	if k.Name != name {
		k.Name = name
		k.LastUpdated = o.timestamp()
	}
	return o.snapshotKeyLocked(k), nil
}

// deleteHookKey deletes a key no hook uses: "As a safety precaution, only keys that aren't
// being used are eligible for deletion."
func (o *org) deleteHookKey(id string) *Error {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := o.hookKeyLocked(id)
	if k == nil {
		return errNotFound(id, "HookKey")
	}
	if h := o.hookUsingKeyLocked(id); h != nil {
		v := &validation{}
		v.add("hookKey", "The key is used by inline hook %s; only keys that aren't being used are eligible for deletion.", h.ID)
		return v.err()
	}
	o.hookKeys = slices.DeleteFunc(o.hookKeys, func(x *hookKeyState) bool { return x == k })
	return nil
}

// ---- the HTTP API

// hookKeyIn is the KeyRequest of create and replace.
type hookKeyIn struct {
	Name string `json:"name"`
}

// hookKeyOut is HookKey, and with its public key DetailedHookKeyInstance. isUsed is a string
// (type string, format boolean, and "false" in the spec's examples).
type hookKeyOut struct {
	ID          string        `json:"id"`
	KeyID       string        `json:"keyId"`
	Name        string        `json:"name"`
	Created     string        `json:"created"`
	LastUpdated string        `json:"lastUpdated"`
	IsUsed      string        `json:"isUsed"`
	Embedded    *publicKeyOut `json:"_embedded,omitempty"`
}

// publicKeyOut is the spec's _embedded schema: the public key as Okta answers it, alg "RSA"
// and use null as in all its examples.
type publicKeyOut struct {
	Kty string  `json:"kty"`
	Alg string  `json:"alg"`
	Kid string  `json:"kid"`
	Use *string `json:"use"`
	E   string  `json:"e"`
	N   string  `json:"n"`
}

func renderHookKey(k HookKey, withPublicKey bool) hookKeyOut {
	out := hookKeyOut{ID: k.ID, KeyID: k.KeyID, Name: k.Name, Created: formatTime(k.Created),
		LastUpdated: formatTime(k.LastUpdated), IsUsed: fmt.Sprint(k.IsUsed)}
	if withPublicKey {
		pk := renderPublicKey(k)
		out.Embedded = &pk
	}
	return out
}

func renderPublicKey(k HookKey) publicKeyOut {
	out := publicKeyOut{Kty: "RSA", Alg: "RSA", Kid: k.KeyID}
	if pub, ok := k.PublicKey.Key.(*rsa.PublicKey); ok {
		out.N = base64.RawURLEncoding.EncodeToString(pub.N.Bytes())
		out.E = base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	}
	return out
}

func (s *Sim) listHookKeys(w http.ResponseWriter, _ *http.Request, _ params) {
	out := []hookKeyOut{}
	for _, k := range s.org.HookKeys() {
		out = append(out, renderHookKey(k, false))
	}
	s.writeJSON(w, http.StatusOK, out)
}

// createHookKey answers 200 with the key and its public key (DetailedHookKeyInstance).
func (s *Sim) createHookKey(w http.ResponseWriter, r *http.Request, _ params) {
	var in hookKeyIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	k, err := s.org.createHookKey(in.Name)
	s.writeResult(w, http.StatusOK, renderHookKey(k, true), err)
}

// getHookKey answers the key, with its public key under _embedded for ?expand=publickey.
func (s *Sim) getHookKey(w http.ResponseWriter, r *http.Request, p params) {
	k, err := s.org.HookKey(p["id"])
	s.writeResult(w, http.StatusOK, renderHookKey(k, r.URL.Query().Get("expand") == "publickey"), err)
}

// replaceHookKey renames the key and answers DetailedHookKeyInstance.
func (s *Sim) replaceHookKey(w http.ResponseWriter, r *http.Request, p params) {
	var in hookKeyIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	k, err := s.org.renameHookKey(p["id"], in.Name)
	s.writeResult(w, http.StatusOK, renderHookKey(k, true), err)
}

func (s *Sim) deleteHookKey(w http.ResponseWriter, _ *http.Request, p params) {
	s.noContent(w, s.org.deleteHookKey(p["id"]))
}

// getPublicHookKey answers the public key of the key whose alias is keyId. The body is the
// spec's _embedded schema itself, as the legacy reference's example shows it (the OpenAPI
// example nests it under "_embedded"; the schema wins).
func (s *Sim) getPublicHookKey(w http.ResponseWriter, _ *http.Request, p params) {
	k, err := s.org.hookKeyByKID(p["keyId"])
	s.writeResult(w, http.StatusOK, renderPublicKey(k), err)
}

// ---- the Go API

// AddHookKey creates a hook key, as an admin would in the Okta console (Workflow > Key
// Management). It is validated like the API's create.
func (s *Sim) AddHookKey(name string) (HookKey, error) {
	k, err := s.org.createHookKey(name)
	return k, asError(err)
}

// HookKeys returns the hook keys in creation order.
func (s *Sim) HookKeys() []HookKey { return s.org.HookKeys() }

// HookKey returns the hook key with this id.
func (s *Sim) HookKey(id string) (HookKey, error) {
	k, err := s.org.HookKey(id)
	return k, asError(err)
}
