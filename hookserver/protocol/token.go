package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// Token names a token a hook can patch.
type Token string

// The tokens a token inline hook can patch. Okta has no command for refresh tokens.
const (
	IDToken     Token = "id"
	AccessToken Token = "access"
)

// AllTokens lists every token, in the order commands are sent.
var AllTokens = []Token{IDToken, AccessToken}

// String returns the token's human name, as used in messages.
func (t Token) String() string {
	switch t {
	case IDToken:
		return "ID token"
	case AccessToken:
		return "access token"
	}
	return fmt.Sprintf("token %q", string(t))
}

// PatchType is the command type that patches t, or "" for an unknown token.
func (t Token) PatchType() string {
	switch t {
	case IDToken:
		return IdentityPatch
	case AccessToken:
		return AccessPatch
	}
	return ""
}

// TokenForPatch returns the token a command type patches.
func TokenForPatch(commandType string) (Token, bool) {
	switch commandType {
	case IdentityPatch:
		return IDToken, true
	case AccessPatch:
		return AccessToken, true
	}
	return "", false
}

// ParseTokens parses a comma-separated token list such as "id,access".
// Names are case-insensitive; duplicates are ignored. The result is in the
// order of AllTokens and never empty.
func ParseTokens(s string) ([]Token, error) {
	seen := map[Token]bool{}
	for _, part := range strings.Split(s, ",") {
		name := Token(strings.ToLower(strings.TrimSpace(part)))
		switch name {
		case IDToken, AccessToken:
			seen[name] = true
		case "":
			return nil, fmt.Errorf("token list %q has an empty entry; want a comma-separated list of id and access", s)
		default:
			return nil, fmt.Errorf("unknown token %q; want id or access", string(name))
		}
	}
	var ts []Token
	for _, t := range AllTokens {
		if seen[t] {
			ts = append(ts, t)
		}
	}
	return ts, nil
}

// Claims Okta reserves (SPEC 2.3): a patch that adds or changes one of them is
// rejected whole, and the token issues without any of the hook's claims.
var (
	reservedBoth   = words("iss jti token_type ver")
	reservedAccess = words("acr amr as_uri cid groups rpt rsi uid username")
	reservedID     = words("active aid app_id app_type at_hash auth_time client_id client_ip " +
		"client_req_id client_type client_user_agent cnf c_hash device_compliance device_id " +
		"device_known device_managed device_name device_trust did dst group groups hotk idp " +
		"idp_iss mac_key may_act nonce oid okta_emailVerified okta_lastUpdated orig permissions " +
		"purpose pwd_exp_days pwd_exp_time rid role scope scopes sid term user_ip " +
		// aud and sub may be replaced in access tokens only.
		"aud sub")
)

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// ReservedClaim reports whether Okta refuses patches of claim name in token t.
// Claim names are case-sensitive.
func ReservedClaim(t Token, name string) bool {
	if reservedBoth[name] {
		return true
	}
	switch t {
	case IDToken:
		return reservedID[name]
	case AccessToken:
		return reservedAccess[name]
	}
	return false
}

// ValidateClaimName checks that a hook may add claim name to each of tokens.
// The error names the claim and the first token that refuses it.
func ValidateClaimName(name string, tokens []Token) error {
	switch {
	case name == "":
		return errors.New("claim name is empty")
	case strings.ContainsAny(name, "/~"):
		// The name goes into a JSON-Pointer-style path; '/' would address a nested claim.
		return fmt.Errorf("claim %q contains '/' or '~', which Okta reads as a path into another claim", name)
	}
	for _, t := range tokens {
		if ReservedClaim(t, name) {
			return fmt.Errorf("claim %q is reserved by Okta in the %s", name, t)
		}
	}
	return nil
}
