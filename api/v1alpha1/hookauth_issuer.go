package v1alpha1

import "strings"

// OAuthIssuer is the issuer of the access tokens Okta calls the hook with
// under spec.hookAuth.oauth, as the hook servers check it in iss:
// oauth.issuer if set, else <okta.orgURL>/oauth2/<id>, where id is
// oauth.authorizationServerID or else okta.authorizationServerID. It is ""
// when hookAuth has no oauth. The operator (Okta's channel, the pods' check)
// and kubectl tokenhook preview (its own token request) must agree on it.
func (s *TokenHookSpec) OAuthIssuer() string {
	o := s.HookAuth.OAuth
	if o == nil {
		return ""
	}
	if o.Issuer != "" {
		return o.Issuer
	}
	as := o.AuthorizationServerID
	if as == "" {
		as = s.Okta.AuthorizationServerID
	}
	return strings.TrimSuffix(s.Okta.OrgURL, "/") + "/oauth2/" + as
}

// OAuthTokenURL is the token endpoint of OAuthIssuer, <issuer>/v1/token:
// the tokenUrl of Okta's OAUTH channel. It is "" when hookAuth has no oauth.
func (s *TokenHookSpec) OAuthTokenURL() string {
	iss := s.OAuthIssuer()
	if iss == "" {
		return ""
	}
	return iss + "/v1/token"
}
