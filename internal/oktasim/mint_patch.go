package oktasim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Applying a token hook's commands the way Okta does (SPEC 2.2, 2.3): a command may patch only
// a token being minted; operations are add, replace and remove on /claims/<name>[/…] (JSON
// Pointer into existing objects and arrays, "-" appends) or replace on
// /token/lifetime/expiration (integer seconds, 300 to 86400); reserved claims are refused (aud
// and sub may be replaced in access tokens only). One bad operation rejects the whole patch:
// applyCommands then leaves every token as it was.

const (
	lifetimePath = "/token/lifetime/expiration"
	claimsPrefix = "/claims/"
	minLifetime  = 300
	maxLifetime  = 86400
)

// draftToken is a token before signing: its claims in JSON form (map[string]any, []any,
// json.Number, string, bool, nil) and its lifetime in seconds.
type draftToken struct {
	claims   map[string]any
	lifetime int64
}

func (d *draftToken) clone() *draftToken {
	return &draftToken{claims: jsonClone(d.claims), lifetime: d.lifetime}
}

// jsonClone deep-copies v through JSON, so the copy holds only JSON types (numbers as
// json.Number).
func jsonClone(v map[string]any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("oktasim: claims are not JSON: %v", err))
	}
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		panic(fmt.Sprintf("oktasim: claims are not JSON: %v", err))
	}
	return out
}

// tokenKind names a token a command patches.
type tokenKind string

const (
	kindID     tokenKind = "ID token"
	kindAccess tokenKind = "access token"
)

// tokenForCommand returns the token a command type patches. Okta has no command for refresh
// tokens.
func tokenForCommand(commandType string) (tokenKind, bool) {
	switch commandType {
	case commandIdentityPatch:
		return kindID, true
	case commandAccessPatch:
		return kindAccess, true
	}
	return "", false
}

// Claims a hook may not add, change or remove (token inline hook reference, "Reserved claims
// for Token Hooks"). aud and sub are listed too, but "you can modify those claims in access
// tokens. You can't modify these claims in ID tokens."
var (
	reservedInBoth   = words("iss jti token_type ver")
	reservedInAccess = words("acr amr as_uri cid groups rpt rsi uid username")
	reservedInID     = words("active aid app_id app_type at_hash auth_time client_id client_ip " +
		"client_req_id client_type client_user_agent cnf c_hash device_compliance device_id " +
		"device_known device_managed device_name device_trust did dst group groups hotk idp " +
		"idp_iss mac_key may_act nonce oid okta_emailVerified okta_lastUpdated orig permissions " +
		"purpose pwd_exp_days pwd_exp_time rid role scope scopes sid term user_ip aud sub")
)

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// reservedClaim reports whether Okta refuses a patch of claim name in token t.
func reservedClaim(t tokenKind, name string) bool {
	if reservedInBoth[name] {
		return true
	}
	if t == kindID {
		return reservedInID[name]
	}
	return reservedInAccess[name]
}

// applyCommands applies cmds to the minted tokens (id is nil when no ID token is minted). It
// changes nothing and returns the first problem if any operation is invalid.
func applyCommands(cmds []hookCommand, id, access *draftToken) error {
	work := map[tokenKind]*draftToken{kindAccess: access.clone()}
	if id != nil {
		work[kindID] = id.clone()
	}
	for i, c := range cmds {
		t, ok := tokenForCommand(c.Type)
		if !ok {
			return fmt.Errorf("commands[%d]: unknown command type %q", i, c.Type)
		}
		d := work[t]
		if d == nil {
			return fmt.Errorf("commands[%d]: %s patches the %s, which this request does not mint", i, c.Type, t)
		}
		for j, op := range c.Value {
			if err := applyOperation(t, d, op); err != nil {
				return fmt.Errorf("commands[%d].value[%d] (%s %s): %w", i, j, op.Op, op.Path, err)
			}
		}
	}
	*access = *work[kindAccess]
	if id != nil {
		*id = *work[kindID]
	}
	return nil
}

func applyOperation(t tokenKind, d *draftToken, op patchOperation) error {
	switch op.Op {
	case opAdd, opReplace, opRemove:
	default:
		return fmt.Errorf("unsupported operation %q", op.Op)
	}
	if op.Op == opRemove && op.Value != nil {
		return fmt.Errorf("remove takes no value")
	}
	if op.Path == lifetimePath {
		if op.Op != opReplace {
			return fmt.Errorf("the lifetime can only be replaced")
		}
		n, ok := op.Value.(json.Number)
		if !ok {
			return fmt.Errorf("the lifetime must be an integer")
		}
		secs, err := n.Int64()
		if err != nil {
			return fmt.Errorf("the lifetime must be an integer")
		}
		if secs < minLifetime || secs > maxLifetime {
			return fmt.Errorf("the lifetime must be between %d and %d seconds", minLifetime, maxLifetime)
		}
		d.lifetime = secs
		return nil
	}
	rest, ok := strings.CutPrefix(op.Path, claimsPrefix)
	if !ok {
		return fmt.Errorf("unsupported path")
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		segs[i] = unescapePointer(s)
	}
	name := segs[0]
	if name == "" {
		return fmt.Errorf("no claim name")
	}
	if reservedClaim(t, name) {
		return fmt.Errorf("claim %q is reserved in the %s", name, t)
	}
	if t == kindAccess && (name == "aud" || name == "sub") && (op.Op == opRemove || len(segs) > 1) {
		return fmt.Errorf("claim %q can only be replaced", name)
	}
	if len(segs) == 1 {
		_, exists := d.claims[name]
		switch op.Op {
		case opAdd:
			d.claims[name] = op.Value
		case opReplace:
			if !exists {
				return fmt.Errorf("claim %q does not exist", name)
			}
			d.claims[name] = op.Value
		case opRemove:
			if !exists {
				return fmt.Errorf("claim %q does not exist", name)
			}
			delete(d.claims, name)
		}
		return nil
	}
	parent, exists := d.claims[name]
	if !exists {
		return fmt.Errorf("claim %q does not exist", name)
	}
	updated, err := applyAt(parent, segs[1:], op)
	if err != nil {
		return err
	}
	d.claims[name] = updated
	return nil
}

// applyAt applies op at path (at least one segment) inside container and returns the updated
// container: arrays may have to be reallocated.
func applyAt(container any, path []string, op patchOperation) (any, error) {
	key := path[0]
	last := len(path) == 1
	switch c := container.(type) {
	case map[string]any:
		child, exists := c[key]
		if !last {
			if !exists {
				return nil, fmt.Errorf("no member %q", key)
			}
			updated, err := applyAt(child, path[1:], op)
			if err != nil {
				return nil, err
			}
			c[key] = updated
			return c, nil
		}
		switch op.Op {
		case opAdd:
			c[key] = op.Value
		case opReplace:
			if !exists {
				return nil, fmt.Errorf("no member %q", key)
			}
			c[key] = op.Value
		case opRemove:
			if !exists {
				return nil, fmt.Errorf("no member %q", key)
			}
			delete(c, key)
		}
		return c, nil
	case []any:
		if key == "-" {
			if !last || op.Op != opAdd {
				return nil, fmt.Errorf(`"-" can only be added to`)
			}
			return append(c, op.Value), nil
		}
		i, ok := arrayIndex(key)
		if !ok {
			return nil, fmt.Errorf("%q is not an array index", key)
		}
		if !last {
			if i >= len(c) {
				return nil, fmt.Errorf("index %d out of range", i)
			}
			updated, err := applyAt(c[i], path[1:], op)
			if err != nil {
				return nil, err
			}
			c[i] = updated
			return c, nil
		}
		switch op.Op {
		case opAdd:
			if i > len(c) {
				return nil, fmt.Errorf("index %d out of range", i)
			}
			out := make([]any, 0, len(c)+1)
			out = append(out, c[:i]...)
			out = append(out, op.Value)
			return append(out, c[i:]...), nil
		case opReplace:
			if i >= len(c) {
				return nil, fmt.Errorf("index %d out of range", i)
			}
			c[i] = op.Value
			return c, nil
		default: // remove
			if i >= len(c) {
				return nil, fmt.Errorf("index %d out of range", i)
			}
			return append(c[:i:i], c[i+1:]...), nil
		}
	}
	return nil, fmt.Errorf("cannot address %q inside a value that is neither an object nor an array", key)
}

// arrayIndex parses an RFC 6901 array index: digits, no leading zeros.
func arrayIndex(s string) (int, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}

// unescapePointer undoes RFC 6901 escaping: ~1 is '/', ~0 is '~'.
func unescapePointer(s string) string {
	if !strings.Contains(s, "~") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}
