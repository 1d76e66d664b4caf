package v1alpha1

import "testing"

func TestOAuthIssuer(t *testing.T) {
	spec := func(orgURL, specAS string, o *HookOAuth) TokenHookSpec {
		s := TokenHookSpec{Okta: OktaSpec{OrgURL: orgURL, AuthorizationServerID: specAS}}
		if o != nil {
			s.HookAuth = HookAuth{Type: HookAuthOAuth, OAuth: o}
		}
		return s
	}
	cases := map[string]struct {
		reason           string
		spec             TokenHookSpec
		issuer, tokenURL string
	}{
		"NoOAuth": {
			reason: "Header hook auth has no issuer.",
			spec:   spec("https://dev-1.okta.com", "default", nil),
		},
		"TokenHooksServer": {
			reason:   "Without oauth.authorizationServerID, the TokenHook's authorization server issues.",
			spec:     spec("https://dev-1.okta.com", "aus1", &HookOAuth{}),
			issuer:   "https://dev-1.okta.com/oauth2/aus1",
			tokenURL: "https://dev-1.okta.com/oauth2/aus1/v1/token",
		},
		"OwnServer": {
			reason:   "oauth.authorizationServerID wins over the TokenHook's; the org URL's trailing slash is dropped.",
			spec:     spec("https://dev-1.okta.com/", "default", &HookOAuth{AuthorizationServerID: "aushooks"}),
			issuer:   "https://dev-1.okta.com/oauth2/aushooks",
			tokenURL: "https://dev-1.okta.com/oauth2/aushooks/v1/token",
		},
		"CustomDomain": {
			reason:   "oauth.issuer is taken as written.",
			spec:     spec("https://dev-1.okta.com", "default", &HookOAuth{Issuer: "https://login.example.com/oauth2/default", AuthorizationServerID: "x"}),
			issuer:   "https://login.example.com/oauth2/default",
			tokenURL: "https://login.example.com/oauth2/default/v1/token",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := tc.spec.OAuthIssuer(); got != tc.issuer {
				t.Errorf("%s\nOAuthIssuer() = %q, want %q", tc.reason, got, tc.issuer)
			}
			if got := tc.spec.OAuthTokenURL(); got != tc.tokenURL {
				t.Errorf("%s\nOAuthTokenURL() = %q, want %q", tc.reason, got, tc.tokenURL)
			}
		})
	}
}
