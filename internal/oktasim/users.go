package oktasim

import (
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Users, groups and OIDC apps (clients) of the org: who may ask the custom authorization
// servers for tokens. They live beside the org model (org.go) because the management API the
// operator uses never touches them; tests and demos add them with the Go API below.

// ID prefixes of directory objects, as Okta uses them.
const (
	prefixUser    = "00u"
	prefixGroup   = "00g"
	prefixIdP     = "00o"
	prefixScope   = "scp"
	prefixSession = "102"
)

// Okta's defaults for a new user's profile (unconfirmed; Okta fills locale and timeZone of
// users created without them).
const (
	DefaultUserLocale   = "en_US"
	DefaultUserTimeZone = "America/Los_Angeles"
)

// GroupEveryone is the group every user belongs to; rules name it in conditions.people.groups.
const GroupEveryone = "EVERYONE"

// UserSpec describes a user to add. Login is required and unique (case-insensitively); a user
// without a Password cannot sign in. An empty Email is the Login; empty Locale and TimeZone
// get DefaultUserLocale and DefaultUserTimeZone.
type UserSpec struct {
	Login     string
	Password  string
	FirstName string
	LastName  string
	Email     string
	Locale    string
	TimeZone  string
}

// User is a stored user: an ACTIVE Okta user with a password.
type User struct {
	ID string // 00u…
	UserSpec
	Created time.Time
}

// ClientSpec describes an OIDC app (an OAuth 2.0 client) to add. An empty ClientSecret makes a
// public client (token_endpoint_auth_method none), which cannot use client_credentials and
// must use PKCE with authorization_code, unless the app authenticates with private_key_jwt. An
// empty Name is the ClientID. Empty GrantTypes allow every grant the simulator mints tokens
// for that the client permits: password, authorization_code if it has RedirectURIs,
// client_credentials if it is confidential.
//
// A service app, e.g. the one an OAUTH inline hook channel gets its access token from, is a
// confidential client with GrantTypes client_credentials: with a ClientSecret, or with
// TokenEndpointAuthMethod ClientAuthPrivateKeyJWT and the public keys of its JWKS (a hook
// key's HookKey.PublicKey). The scopes it asks for must be custom scopes of the authorization
// server (AddScope) that a rule allowing client_credentials covers.
type ClientSpec struct {
	ClientID     string
	ClientSecret string
	Name         string
	GrantTypes   []string
	// TokenEndpointAuthMethod is the app's token_endpoint_auth_method, how it authenticates at
	// the token, introspect and revoke endpoints: ClientAuthSecretBasic, ClientAuthSecretPost,
	// ClientAuthPrivateKeyJWT or ClientAuthNone, and no other is accepted. Empty accepts
	// client_secret_basic and client_secret_post from a client with a ClientSecret, none from
	// one without.
	TokenEndpointAuthMethod string
	otherSecrets            []string // active besides ClientSecret (SetClientSecrets)
	// JWKS are the public keys of a private_key_jwt app: its client assertion must be signed
	// (RS256) by one of them, by the one whose kid it names if it names one. AddClient stores
	// them ACTIVE in the app's JWKS (AppJWKs), which SetClientKeys replaces and the apps API
	// (/api/v1/apps/{appId}/credentials/jwks) edits; read back, JWKS holds the ACTIVE keys.
	JWKS []jose.JSONWebKey
	keys []*AppJWK // the app's JWKS, INACTIVE keys included
	// RedirectURIs are the app's sign-in redirect URIs, for authorization_code; a request's
	// redirect_uri must be one of them exactly.
	RedirectURIs []string
	// PostLogoutRedirectURIs are the app's sign-out redirect URIs; a logout's
	// post_logout_redirect_uri must be one of them exactly.
	PostLogoutRedirectURIs []string
}

// Client authentication methods (ClientSpec.TokenEndpointAuthMethod).
const (
	ClientAuthSecretBasic   = "client_secret_basic"
	ClientAuthSecretPost    = "client_secret_post"
	ClientAuthPrivateKeyJWT = "private_key_jwt"
	ClientAuthNone          = "none"
)

// Client types as the token hook event names them (context.protocol.client.type). PUBLIC is
// in Okta's example; CONFIDENTIAL is unconfirmed.
const (
	ClientTypePublic       = "PUBLIC"
	ClientTypeConfidential = "CONFIDENTIAL"
)

// Grant types the token endpoint of a custom authorization server answers (and
// GrantRefreshToken).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantPassword          = "password"
	GrantClientCredentials = "client_credentials"
)

// Group is a group of users; rules name its ID in conditions.people.groups.include.
type Group struct {
	ID      string // 00g…
	Name    string
	UserIDs []string
}

type directory struct {
	jwkIDs  *idSource // the apps' JWK IDs, a stream of their own
	mu      sync.Mutex
	users   []*User
	clients []*ClientSpec
	groups  []*Group
}

// AddUser adds an ACTIVE user with a password, as an admin would in the Okta console.
func (s *Sim) AddUser(u UserSpec) (User, error) {
	if strings.TrimSpace(u.Login) == "" {
		return User{}, errors.New("oktasim: a user needs a Login")
	}
	if u.Email == "" {
		u.Email = u.Login
	}
	if u.Locale == "" {
		u.Locale = DefaultUserLocale
	}
	if u.TimeZone == "" {
		u.TimeZone = DefaultUserTimeZone
	}
	d := s.mint.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range d.users {
		if sameLogin(x.Login, u.Login) {
			return User{}, fmt.Errorf("oktasim: a user with login %q already exists", x.Login)
		}
	}
	user := &User{ID: s.mint.ids.id(prefixUser), UserSpec: u, Created: s.now().UTC().Truncate(time.Millisecond)}
	d.users = append(d.users, user)
	return *user, nil
}

// Users returns the users in creation order, passwords included.
func (s *Sim) Users() []User {
	d := s.mint.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]User, 0, len(d.users))
	for _, u := range d.users {
		out = append(out, *u)
	}
	return out
}

// AddClient adds an OIDC app. Policies name its ClientID in conditions.clients.include (or use
// ALL_CLIENTS).
func (s *Sim) AddClient(c ClientSpec) error {
	if strings.TrimSpace(c.ClientID) == "" {
		return errors.New("oktasim: a client needs a ClientID")
	}
	if c.Name == "" {
		c.Name = c.ClientID
	}
	if err := c.checkAuthentication(); err != nil {
		return err
	}
	if len(c.GrantTypes) == 0 {
		if len(c.RedirectURIs) > 0 {
			c.GrantTypes = append(c.GrantTypes, GrantAuthorizationCode)
		}
		c.GrantTypes = append(c.GrantTypes, GrantPassword)
		if !c.public() {
			c.GrantTypes = append(c.GrantTypes, GrantClientCredentials)
		}
	}
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	c.JWKS = slices.Clone(c.JWKS)
	if slices.Contains(c.GrantTypes, GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		return fmt.Errorf("oktasim: client %s: authorization_code needs RedirectURIs", c.ClientID)
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(grantTypes, g) {
			return fmt.Errorf("oktasim: client %s: unknown grant type %q", c.ClientID, g)
		}
	}
	if c.public() && slices.Contains(c.GrantTypes, GrantClientCredentials) {
		return fmt.Errorf("oktasim: client %s: a public client (no ClientSecret) cannot use client_credentials", c.ClientID)
	}
	d := s.mint.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range d.clients {
		if x.ClientID == c.ClientID {
			return fmt.Errorf("oktasim: a client with ID %q already exists", c.ClientID)
		}
	}
	c.keys = d.newJWKsLocked(c.JWKS, s.now().UTC().Truncate(time.Millisecond))
	d.clients = append(d.clients, &c)
	return nil
}

// checkAuthentication checks that the client's secret and keys fit its authentication method.
func (c ClientSpec) checkAuthentication() error {
	switch c.TokenEndpointAuthMethod {
	case "":
	case ClientAuthSecretBasic, ClientAuthSecretPost:
		if c.ClientSecret == "" {
			return fmt.Errorf("oktasim: client %s: %s needs a ClientSecret", c.ClientID, c.TokenEndpointAuthMethod)
		}
	case ClientAuthPrivateKeyJWT, ClientAuthNone:
		if c.ClientSecret != "" {
			return fmt.Errorf("oktasim: client %s: %s takes no ClientSecret", c.ClientID, c.TokenEndpointAuthMethod)
		}
	default:
		return fmt.Errorf("oktasim: client %s: unknown token endpoint auth method %q", c.ClientID, c.TokenEndpointAuthMethod)
	}
	if len(c.JWKS) > 0 && c.TokenEndpointAuthMethod != ClientAuthPrivateKeyJWT {
		return fmt.Errorf("oktasim: client %s: JWKS are for %s clients", c.ClientID, ClientAuthPrivateKeyJWT)
	}
	return checkPublicKeys(c.ClientID, c.JWKS)
}

func checkPublicKeys(clientID string, keys []jose.JSONWebKey) error {
	for i, k := range keys {
		if _, ok := k.Key.(*rsa.PublicKey); !ok {
			return fmt.Errorf("oktasim: client %s: JWKS key %d is not an RSA public key", clientID, i)
		}
	}
	return nil
}

// SetClientKeys replaces the public keys of a private_key_jwt app, as an admin editing the
// app's JWKS in the Okta console would, e.g. to register a hook key made after the app.
func (s *Sim) SetClientKeys(clientID string, keys ...jose.JSONWebKey) error {
	if err := checkPublicKeys(clientID, keys); err != nil {
		return err
	}
	d := s.mint.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.clients {
		if c.ClientID != clientID {
			continue
		}
		if c.TokenEndpointAuthMethod != ClientAuthPrivateKeyJWT {
			return fmt.Errorf("oktasim: client %s does not authenticate with %s", clientID, ClientAuthPrivateKeyJWT)
		}
		c.keys = d.newJWKsLocked(keys, s.now().UTC().Truncate(time.Millisecond))
		c.JWKS = activeKeys(c.keys)
		return nil
	}
	return fmt.Errorf("oktasim: no client %s", clientID)
}

// SetClientSecrets replaces a confidential app's client secrets, as an admin
// does in Okta's console: an app may have two active at once, so that a new
// one can be handed out before the old one is deactivated.
func (s *Sim) SetClientSecrets(clientID string, secrets ...string) error {
	if len(secrets) == 0 || len(secrets) > maxClientSecrets || slices.Contains(secrets, "") {
		return fmt.Errorf("oktasim: client %s: 1 to %d non-empty secrets", clientID, maxClientSecrets)
	}
	d := s.mint.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.clients {
		if c.ClientID != clientID {
			continue
		}
		if c.public() || c.TokenEndpointAuthMethod == ClientAuthPrivateKeyJWT {
			return fmt.Errorf("oktasim: client %s has no client secret", clientID)
		}
		c.ClientSecret, c.otherSecrets = secrets[0], slices.Clone(secrets[1:])
		return nil
	}
	return fmt.Errorf("oktasim: no client %s", clientID)
}

// maxClientSecrets: Okta lets an app have two active client secrets.
const maxClientSecrets = 2

// secretMatches says whether secret is one of the app's active client secrets.
func (c ClientSpec) secretMatches(secret string) bool {
	ok := constantTimeEqual(secret, c.ClientSecret)
	for _, o := range c.otherSecrets {
		ok = constantTimeEqual(secret, o) || ok
	}
	return ok
}

// AddGroup adds a group with these members (user IDs).
func (s *Sim) AddGroup(name string, userIDs ...string) (Group, error) {
	if strings.TrimSpace(name) == "" {
		return Group{}, errors.New("oktasim: a group needs a name")
	}
	d := s.mint.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range userIDs {
		if d.userByIDLocked(id) == nil {
			return Group{}, fmt.Errorf("oktasim: group %s: no user %s", name, id)
		}
	}
	for _, g := range d.groups {
		if g.Name == name {
			return Group{}, fmt.Errorf("oktasim: a group named %q already exists", name)
		}
	}
	g := &Group{ID: s.mint.ids.id(prefixGroup), Name: name, UserIDs: slices.Clone(userIDs)}
	d.groups = append(d.groups, g)
	out := *g
	out.UserIDs = slices.Clone(g.UserIDs)
	return out, nil
}

func (d *directory) userByIDLocked(id string) *User {
	for _, u := range d.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

// authenticate returns the user whose login (see sameLogin) and password match.
func (d *directory) authenticate(login, password string) (User, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.users {
		if sameLogin(u.Login, login) {
			ok := u.Password != "" && subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) == 1
			return *u, ok
		}
	}
	return User{}, false
}

func (d *directory) user(id string) (User, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if u := d.userByIDLocked(id); u != nil {
		return *u, true
	}
	return User{}, false
}

func (d *directory) client(id string) (ClientSpec, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.clients {
		if c.ClientID == id {
			out := *c
			out.GrantTypes = slices.Clone(c.GrantTypes)
			out.RedirectURIs = slices.Clone(c.RedirectURIs)
			out.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
			out.JWKS = slices.Clone(c.JWKS)
			out.keys = nil
			return out, true
		}
	}
	return ClientSpec{}, false
}

// groupsOf returns copies of the groups userID belongs to, GroupEveryone aside.
func (d *directory) groupsOf(userID string) []Group {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Group
	for _, g := range d.groups {
		if slices.Contains(g.UserIDs, userID) {
			out = append(out, Group{ID: g.ID, Name: g.Name, UserIDs: slices.Clone(g.UserIDs)})
		}
	}
	return out
}

// groupIDs returns the IDs of the groups userID belongs to, GroupEveryone first.
func (d *directory) groupIDs(userID string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := []string{GroupEveryone}
	for _, g := range d.groups {
		if slices.Contains(g.UserIDs, userID) {
			ids = append(ids, g.ID)
		}
	}
	return ids
}

// public reports whether the client has no credentials: token_endpoint_auth_method none.
func (c ClientSpec) public() bool {
	return c.TokenEndpointAuthMethod == ClientAuthNone || (c.TokenEndpointAuthMethod == "" && c.ClientSecret == "")
}

func (c ClientSpec) clientType() string {
	if c.public() {
		return ClientTypePublic
	}
	return ClientTypeConfidential
}

// sameLogin compares logins as this simulator's org does: ASCII letters
// case-insensitively, every other character exactly. Okta documents logins as
// case-insensitive but no rule beyond ASCII, so the simulator keeps Unicode
// lookalikes (ſam and sam, the Kelvin sign and k) apart as distinct users:
// the case a hook must not confuse.
func sameLogin(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
