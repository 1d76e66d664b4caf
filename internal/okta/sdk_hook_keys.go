package okta

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
)

// Hook keys (/api/v1/hook-keys): SDK v2 has no API for them, so they go through the request
// executor with this package's wire types.

const hookKeysPath = "/api/v1/hook-keys"

func (c *sdkClient) CreateHookKey(ctx context.Context, name string) (*HookKey, error) {
	body, err := json.Marshal(struct {
		Name string `json:"name"`
	}{name})
	if err != nil {
		return nil, fmt.Errorf("create hook key %q: %w", name, err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var w hookKeyWire
	if err := c.do(ctx, http.MethodPost, hookKeysPath, body, &w); err != nil {
		return nil, fmt.Errorf("create hook key %q: %w", name, err)
	}
	return hookKeyOrError("create hook key "+name, &w)
}

func (c *sdkClient) GetHookKey(ctx context.Context, id string) (*HookKey, error) {
	if err := checkID("hook key", id); err != nil {
		return nil, fmt.Errorf("get hook key: %w", err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var w hookKeyWire
	if err := c.do(ctx, http.MethodGet, hookKeysPath+"/"+id, nil, &w); err != nil {
		return nil, fmt.Errorf("get hook key %s: %w", id, err)
	}
	return hookKeyOrError("get hook key "+id, &w)
}

func (c *sdkClient) ListHookKeys(ctx context.Context) ([]*HookKey, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	raws, err := c.listRaw(ctx, hookKeysPath)
	if err != nil {
		return nil, fmt.Errorf("list hook keys: %w", err)
	}
	out := make([]*HookKey, 0, len(raws))
	for _, raw := range raws {
		var w hookKeyWire
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, fmt.Errorf("list hook keys: decode: %w", err)
		}
		if w.ID != "" {
			out = append(out, w.key())
		}
	}
	return out, nil
}

func (c *sdkClient) FindHookKeyByName(ctx context.Context, name string) (*HookKey, error) {
	keys, err := c.ListHookKeys(ctx)
	if err != nil {
		return nil, err
	}
	return HookKeyNamed(keys, name)
}

// HookKeyNamed picks the hook key with this exact name from a listing; ErrNotFound if none.
func HookKeyNamed(keys []*HookKey, name string) (*HookKey, error) {
	for _, k := range keys {
		if k.Name == name {
			return k, nil
		}
	}
	return nil, fmt.Errorf("find hook key named %q: %w", name, ErrNotFound)
}

func (c *sdkClient) GetPublicHookKey(ctx context.Context, keyID string) (*PublicKey, error) {
	if err := checkID("public key", keyID); err != nil {
		return nil, fmt.Errorf("get public hook key: %w", err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var w struct {
		publicKeyWire
		// The spec's schema is the key itself; its example nests it here. Either is read.
		Embedded *publicKeyWire `json:"_embedded"`
	}
	if err := c.do(ctx, http.MethodGet, hookKeysPath+"/public/"+keyID, nil, &w); err != nil {
		return nil, fmt.Errorf("get public hook key %s: %w", keyID, err)
	}
	pk := w.publicKeyWire
	if w.Embedded != nil {
		pk = *w.Embedded
	}
	if pk.N == "" || pk.E == "" {
		return nil, fmt.Errorf("get public hook key %s: okta answered without a key", keyID)
	}
	return pk.key(), nil
}

func (c *sdkClient) DeleteHookKey(ctx context.Context, id string) error {
	if err := checkID("hook key", id); err != nil {
		return fmt.Errorf("delete hook key: %w", err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	if err := c.do(ctx, http.MethodDelete, hookKeysPath+"/"+id, nil, nil); err != nil {
		return fmt.Errorf("delete hook key %s: %w", id, err)
	}
	return nil
}

// hookKeyWire is HookKey and DetailedHookKeyInstance.
type hookKeyWire struct {
	ID       string         `json:"id"`
	KeyID    string         `json:"keyId"`
	Name     string         `json:"name"`
	IsUsed   looseBool      `json:"isUsed"`
	Embedded *publicKeyWire `json:"_embedded"`
}

func (w *hookKeyWire) key() *HookKey {
	k := &HookKey{ID: w.ID, KeyID: w.KeyID, Name: w.Name, IsUsed: bool(w.IsUsed)}
	if w.Embedded != nil && w.Embedded.N != "" {
		k.PublicKey = w.Embedded.key()
	}
	return k
}

func hookKeyOrError(op string, w *hookKeyWire) (*HookKey, error) {
	if w.ID == "" {
		return nil, fmt.Errorf("%s: okta answered without a hook key", op)
	}
	return w.key(), nil
}

type publicKeyWire struct {
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	E   string `json:"e"`
	N   string `json:"n"`
}

func (w publicKeyWire) key() *PublicKey {
	return &PublicKey{KeyID: w.Kid, Type: w.Kty, Algorithm: w.Alg, Use: w.Use, N: w.N, E: w.E}
}

// looseBool reads isUsed, a string in the spec ("false") and a boolean in the legacy reference.
type looseBool bool

func (b *looseBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		*b = false
	case bool:
		*b = looseBool(x)
	case string:
		p, err := strconv.ParseBool(x)
		if err != nil {
			return fmt.Errorf("isUsed %q is not a boolean", x)
		}
		*b = looseBool(p)
	default:
		return fmt.Errorf("isUsed %s is not a boolean", data)
	}
	return nil
}

// RSA returns the public key, e.g. to put it in the JWKS of the channel's OAuth app.
func (k *PublicKey) RSA() (*rsa.PublicKey, error) {
	if k.Type != "RSA" {
		return nil, fmt.Errorf("public key %s has kty %q, not RSA", k.KeyID, k.Type)
	}
	n, err := base64.RawURLEncoding.DecodeString(k.N)
	if err != nil || len(n) == 0 {
		return nil, fmt.Errorf("public key %s: malformed n", k.KeyID)
	}
	e, err := base64.RawURLEncoding.DecodeString(k.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, fmt.Errorf("public key %s: malformed e", k.KeyID)
	}
	exp := new(big.Int).SetBytes(e)
	if exp.Int64() < 3 {
		return nil, errors.New("public key " + k.KeyID + ": exponent too small")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, nil
}
