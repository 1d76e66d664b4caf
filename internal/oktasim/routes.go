package oktasim

import (
	"net/http"
	"strings"
)

// Endpoints, named "METHOD /path/{param}" as in Okta's API reference. Call.Endpoint carries one,
// and SetFaults takes one (or the path alone for every method, or "*").
const (
	EndpointListHooks      = "GET /api/v1/inlineHooks"
	EndpointCreateHook     = "POST /api/v1/inlineHooks"
	EndpointGetHook        = "GET /api/v1/inlineHooks/{inlineHookId}"
	EndpointReplaceHook    = "PUT /api/v1/inlineHooks/{inlineHookId}"
	EndpointDeleteHook     = "DELETE /api/v1/inlineHooks/{inlineHookId}"
	EndpointActivateHook   = "POST /api/v1/inlineHooks/{inlineHookId}/lifecycle/activate"
	EndpointDeactivateHook = "POST /api/v1/inlineHooks/{inlineHookId}/lifecycle/deactivate"
	EndpointExecuteHook    = "POST /api/v1/inlineHooks/{inlineHookId}/execute"

	EndpointListHookKeys     = "GET /api/v1/hook-keys"
	EndpointCreateHookKey    = "POST /api/v1/hook-keys"
	EndpointGetHookKey       = "GET /api/v1/hook-keys/{id}"
	EndpointReplaceHookKey   = "PUT /api/v1/hook-keys/{id}"
	EndpointDeleteHookKey    = "DELETE /api/v1/hook-keys/{id}"
	EndpointGetPublicHookKey = "GET /api/v1/hook-keys/public/{keyId}"

	EndpointListAppJWKs      = "GET /api/v1/apps/{appId}/credentials/jwks"
	EndpointAddAppJWK        = "POST /api/v1/apps/{appId}/credentials/jwks"
	EndpointGetAppJWK        = "GET /api/v1/apps/{appId}/credentials/jwks/{keyId}"
	EndpointDeleteAppJWK     = "DELETE /api/v1/apps/{appId}/credentials/jwks/{keyId}"
	EndpointActivateAppJWK   = "POST /api/v1/apps/{appId}/credentials/jwks/{keyId}/lifecycle/activate"
	EndpointDeactivateAppJWK = "POST /api/v1/apps/{appId}/credentials/jwks/{keyId}/lifecycle/deactivate"

	EndpointListUserGroups  = "GET /api/v1/users/{userId}/groups"
	EndpointListUserFactors = "GET /api/v1/users/{userId}/factors"

	EndpointListAuthServers = "GET /api/v1/authorizationServers"
	EndpointGetAuthServer   = "GET /api/v1/authorizationServers/{authServerId}"

	EndpointListPolicies     = "GET /api/v1/authorizationServers/{authServerId}/policies"
	EndpointCreatePolicy     = "POST /api/v1/authorizationServers/{authServerId}/policies"
	EndpointGetPolicy        = "GET /api/v1/authorizationServers/{authServerId}/policies/{policyId}"
	EndpointReplacePolicy    = "PUT /api/v1/authorizationServers/{authServerId}/policies/{policyId}"
	EndpointDeletePolicy     = "DELETE /api/v1/authorizationServers/{authServerId}/policies/{policyId}"
	EndpointActivatePolicy   = "POST /api/v1/authorizationServers/{authServerId}/policies/{policyId}/lifecycle/activate"
	EndpointDeactivatePolicy = "POST /api/v1/authorizationServers/{authServerId}/policies/{policyId}/lifecycle/deactivate"

	EndpointListRules      = "GET /api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules"
	EndpointCreateRule     = "POST /api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules"
	EndpointGetRule        = "GET /api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}"
	EndpointReplaceRule    = "PUT /api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}"
	EndpointDeleteRule     = "DELETE /api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}"
	EndpointActivateRule   = "POST /api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}/lifecycle/activate"
	EndpointDeactivateRule = "POST /api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}/lifecycle/deactivate"

	// EndpointOrgToken is the org authorization server's token endpoint, used by service apps
	// (the SDK's PrivateKey mode) to get an access token for the management API.
	EndpointOrgToken = "POST /oauth2/v1/token"

	// Endpoints of custom authorization servers, which mint tokens and run token inline
	// hooks (mint.go, authorize.go, jwks.go) and answer apps about them (oidc.go). Like the
	// org token endpoint they need no API token.
	EndpointAuthorize           = "GET /oauth2/{authServerId}/v1/authorize"
	EndpointToken               = "POST /oauth2/{authServerId}/v1/token"
	EndpointKeys                = "GET /oauth2/{authServerId}/v1/keys"
	EndpointOpenIDConfiguration = "GET /oauth2/{authServerId}/.well-known/openid-configuration"
	EndpointAuthServerMetadata  = "GET /oauth2/{authServerId}/.well-known/oauth-authorization-server"
	EndpointUserinfo            = "GET /oauth2/{authServerId}/v1/userinfo"
	EndpointIntrospect          = "POST /oauth2/{authServerId}/v1/introspect"
	EndpointRevoke              = "POST /oauth2/{authServerId}/v1/revoke"
	EndpointLogout              = "GET /oauth2/{authServerId}/v1/logout"
	EndpointLogoutPost          = "POST /oauth2/{authServerId}/v1/logout"

	// EndpointAuthn is the classic Authentication API: a password for a one-time sessionToken
	// that the authorize endpoint takes instead of an interactive sign-in.
	EndpointAuthn = "POST /api/v1/authn"
)

// OAuth scope families of the management API.
const (
	scopeHooks       = "okta.inlineHooks"
	scopeAuthServers = "okta.authorizationServers"
	scopeUsers       = "okta.users"
	scopeApps        = "okta.apps"
)

type handlerFunc func(s *Sim, w http.ResponseWriter, r *http.Request, p params)

type route struct {
	name     string // endpoint constant
	method   string
	segments []string
	scope    string // "" = no API authentication (the token endpoint)
	handle   handlerFunc
}

// params are the values of a route's {placeholders}.
type params map[string]string

func newRoute(name, scope string, h handlerFunc) route {
	method, path, _ := strings.Cut(name, " ")
	return route{name: name, method: method, segments: strings.Split(strings.Trim(path, "/"), "/"), scope: scope, handle: h}
}

func (rt route) path() string {
	_, p, _ := strings.Cut(rt.name, " ")
	return p
}

func (rt route) write() bool { return rt.method != http.MethodGet }

func (rt route) match(segments []string) (params, bool) {
	if len(segments) != len(rt.segments) {
		return nil, false
	}
	var p params
	for i, want := range rt.segments {
		if strings.HasPrefix(want, "{") {
			if segments[i] == "" {
				return nil, false
			}
			if p == nil {
				p = params{}
			}
			p[strings.Trim(want, "{}")] = segments[i]
			continue
		}
		if segments[i] != want {
			return nil, false
		}
	}
	return p, true
}

func routes() []route {
	return []route{
		newRoute(EndpointListHooks, scopeHooks, (*Sim).listHooks),
		newRoute(EndpointCreateHook, scopeHooks, (*Sim).createHook),
		newRoute(EndpointGetHook, scopeHooks, (*Sim).getHook),
		newRoute(EndpointReplaceHook, scopeHooks, (*Sim).replaceHook),
		newRoute(EndpointDeleteHook, scopeHooks, (*Sim).deleteHook),
		newRoute(EndpointActivateHook, scopeHooks, (*Sim).activateHook),
		newRoute(EndpointDeactivateHook, scopeHooks, (*Sim).deactivateHook),
		newRoute(EndpointExecuteHook, scopeHooks, (*Sim).executeHook),

		// The spec secures the hook keys with the inline hook scopes.
		newRoute(EndpointListHookKeys, scopeHooks, (*Sim).listHookKeys),
		newRoute(EndpointCreateHookKey, scopeHooks, (*Sim).createHookKey),
		newRoute(EndpointGetHookKey, scopeHooks, (*Sim).getHookKey),
		newRoute(EndpointReplaceHookKey, scopeHooks, (*Sim).replaceHookKey),
		newRoute(EndpointDeleteHookKey, scopeHooks, (*Sim).deleteHookKey),
		newRoute(EndpointGetPublicHookKey, scopeHooks, (*Sim).getPublicHookKey),

		newRoute(EndpointListAppJWKs, scopeApps, (*Sim).listAppJWKs),
		newRoute(EndpointAddAppJWK, scopeApps, (*Sim).addAppJWK),
		newRoute(EndpointGetAppJWK, scopeApps, (*Sim).getAppJWK),
		newRoute(EndpointDeleteAppJWK, scopeApps, (*Sim).deleteAppJWK),
		newRoute(EndpointActivateAppJWK, scopeApps, (*Sim).activateAppJWK),
		newRoute(EndpointDeactivateAppJWK, scopeApps, (*Sim).deactivateAppJWK),

		newRoute(EndpointListUserGroups, scopeUsers, (*Sim).listUserGroups),
		newRoute(EndpointListUserFactors, scopeUsers, (*Sim).listUserFactors),

		newRoute(EndpointListAuthServers, scopeAuthServers, (*Sim).listAuthServers),
		newRoute(EndpointGetAuthServer, scopeAuthServers, (*Sim).getAuthServer),

		newRoute(EndpointListPolicies, scopeAuthServers, (*Sim).listPolicies),
		newRoute(EndpointCreatePolicy, scopeAuthServers, (*Sim).createPolicy),
		newRoute(EndpointGetPolicy, scopeAuthServers, (*Sim).getPolicy),
		newRoute(EndpointReplacePolicy, scopeAuthServers, (*Sim).replacePolicy),
		newRoute(EndpointDeletePolicy, scopeAuthServers, (*Sim).deletePolicy),
		newRoute(EndpointActivatePolicy, scopeAuthServers, (*Sim).activatePolicy),
		newRoute(EndpointDeactivatePolicy, scopeAuthServers, (*Sim).deactivatePolicy),

		newRoute(EndpointListRules, scopeAuthServers, (*Sim).listRules),
		newRoute(EndpointCreateRule, scopeAuthServers, (*Sim).createRule),
		newRoute(EndpointGetRule, scopeAuthServers, (*Sim).getRule),
		newRoute(EndpointReplaceRule, scopeAuthServers, (*Sim).replaceRule),
		newRoute(EndpointDeleteRule, scopeAuthServers, (*Sim).deleteRule),
		newRoute(EndpointActivateRule, scopeAuthServers, (*Sim).activateRule),
		newRoute(EndpointDeactivateRule, scopeAuthServers, (*Sim).deactivateRule),

		newRoute(EndpointOrgToken, "", (*Sim).orgToken),

		newRoute(EndpointAuthn, "", (*Sim).authn),
		newRoute(EndpointAuthorize, "", (*Sim).authorize),
		newRoute(EndpointToken, "", (*Sim).token),
		newRoute(EndpointKeys, "", (*Sim).jwks),
		newRoute(EndpointOpenIDConfiguration, "", (*Sim).openIDConfiguration),
		newRoute(EndpointAuthServerMetadata, "", (*Sim).authServerMetadata),
		newRoute(EndpointUserinfo, "", (*Sim).userinfo),
		newRoute(EndpointIntrospect, "", (*Sim).introspect),
		newRoute(EndpointRevoke, "", (*Sim).revoke),
		newRoute(EndpointLogout, "", (*Sim).logout),
		newRoute(EndpointLogoutPost, "", (*Sim).logout),
	}
}

// match finds the route for a request: ok, or 404 for an unknown path, or 405 for a known path
// with another method.
func match(table []route, method, path string) (route, params, int) {
	segments := strings.Split(strings.Trim(path, "/"), "/")
	status := http.StatusNotFound
	for _, rt := range table {
		p, ok := rt.match(segments)
		if !ok {
			continue
		}
		if rt.method == method {
			return rt, p, http.StatusOK
		}
		status = http.StatusMethodNotAllowed
	}
	return route{}, nil, status
}
