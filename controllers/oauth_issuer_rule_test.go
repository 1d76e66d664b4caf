package controllers

import (
	"testing"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// kubectl tokenhook preview gets its access token where Okta's channel does,
// by the API package's rule (TokenHookSpec.OAuthIssuer): the operator's rule
// must not drift from it, or preview would ask another issuer than the one
// the pods check. (Only oauthIssuer is compared: desiredOAuthChannel may
// take more as private_key_jwt comes.)
func TestOAuthIssuerAgreesWithAPIRule(t *testing.T) {
	cases := map[string]struct {
		orgURL, specAS string
		oauth          v1.HookOAuth
	}{
		"TokenHooksServer": {orgURL: "https://dev-1.okta.com", specAS: "default"},
		"TrailingSlash":    {orgURL: "https://dev-1.okta.com/", specAS: "aus1"},
		"OwnServer":        {orgURL: "https://dev-1.okta.com", specAS: "default", oauth: v1.HookOAuth{AuthorizationServerID: "aushooks"}},
		"CustomDomain":     {orgURL: "https://dev-1.okta.com", specAS: "default", oauth: v1.HookOAuth{Issuer: "https://login.example.com/oauth2/default"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			th := &v1.TokenHook{Spec: v1.TokenHookSpec{
				Okta:     v1.OktaSpec{OrgURL: tc.orgURL, AuthorizationServerID: tc.specAS},
				HookAuth: v1.HookAuth{Type: v1.HookAuthOAuth, OAuth: &tc.oauth},
			}}
			if got, want := oauthIssuer(th), th.Spec.OAuthIssuer(); got != want {
				t.Errorf("the operator's issuer %q, the API rule's %q", got, want)
			}
		})
	}
}
