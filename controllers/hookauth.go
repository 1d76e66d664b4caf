package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/okta"
)

// How Okta authenticates its calls is the channel of its inline hook: HTTP
// (the shared secret in a header) or OAUTH (a bearer token Okta gets from an
// authorization server). The hook server accepts one or both (--auth-mode).
// A switch from one channel to the other never fails a call:
//  1. the pods roll out accepting both;
//  2. once every replica runs that, Okta's channel is changed;
//  3. after rotationGrace (calls Okta started before the change), the pods
//     roll out accepting only the new way.
//
// The pods check one OAuth client at a time, so a change of what Okta's
// tokens carry (the spec's clientID, scope, audience or issuer) goes by way
// of the header secret: the pods accept both with the old check, Okta moves
// to the header secret, and after the grace the switch to the new OAuth
// check runs as above.
//
// The channel Okta has is recorded on the owned auth Secret, beside the hash
// of the header secret. Absent, it is the HTTP channel: hooks registered by
// versions before OAuth have it, and a lost annotation is safe to assume so,
// since the pods accept both until Okta has been given the desired channel.

// Pod auth modes: the hook server's --auth-mode values.
const (
	podAuthHeader = "header"
	podAuthOAuth  = "oauth"
	podAuthBoth   = "both"
)

// Okta channels as recorded on the auth Secret.
const (
	channelHTTP  = "http"
	channelOAuth = "oauth"
)

// hookAuthPlan is the hook auth step of one reconcile.
type hookAuthPlan struct {
	podMode string // what the hook server pods accept
	// channel is what Okta's hook should have now; awaitRollout holds an
	// existing hook's channel change until every replica runs podMode both.
	channel      string
	awaitRollout bool
	switching    bool // a switch is under way (Okta's or the pods')
	// oktaCheck: the pods check the tokens of the OAuth channel Okta had
	// (on the auth Secret), not the spec's: a change of check is under way.
	oktaCheck bool
	requeueIn time.Duration // > 0 while the pods wait out the grace period
	// clientSecret is the OAuth app's secret, sent with an OAUTH channel.
	clientSecret string
}

// desiredChannel is the channel the spec asks for.
func desiredChannel(th *v1.TokenHook) string {
	if th.Spec.HookAuth.Type == v1.HookAuthOAuth && th.Spec.HookAuth.OAuth != nil {
		return channelOAuth
	}
	return channelHTTP
}

// planHookAuth moves a channel switch on by at most one step. It is pure:
// what Okta has (from the auth Secret), whether a hook is registered, the
// desired channel, whether the spec's OAuth check differs from the one of
// Okta's last OAuth channel, the time and the grace decide.
func planHookAuth(s authSecretState, registered bool, want string, checkChanged bool, now time.Time, grace time.Duration) hookAuthPlan {
	have := s.oktaChannel
	if have == "" {
		have = channelHTTP
	}
	if !registered {
		// The create sends the desired channel: nothing to switch from.
		return hookAuthPlan{podMode: podMode(want), channel: want}
	}
	var wait time.Duration
	if !s.channelSwitched.IsZero() {
		wait = max(0, s.channelSwitched.Add(grace).Sub(now))
	}
	switch {
	case want == channelOAuth && checkChanged && have == channelOAuth:
		// A new check: Okta moves to the header secret first.
		return hookAuthPlan{podMode: podAuthBoth, oktaCheck: true, channel: channelHTTP, awaitRollout: true, switching: true}
	case want == channelOAuth && checkChanged && wait > 0:
		// Okta's calls may still bring tokens of the old check.
		return hookAuthPlan{podMode: podAuthBoth, oktaCheck: true, channel: channelHTTP, switching: true, requeueIn: wait}
	case have != want:
		return hookAuthPlan{podMode: podAuthBoth, channel: want, awaitRollout: true, switching: true}
	case wait > 0:
		return hookAuthPlan{podMode: podAuthBoth, channel: want, switching: true, requeueIn: wait}
	}
	return hookAuthPlan{podMode: podMode(want), channel: want}
}

// oauthCheckChanged says whether Okta's last OAUTH channel (on the auth
// Secret) was for tokens the spec's check refuses. Unknown, it did not.
func oauthCheckChanged(th *v1.TokenHook, s authSecretState) bool {
	had, want := decodeOAuthCheck(s.oktaOAuthCheck), specOAuthCheck(th)
	return had != nil && want != nil && *had != *want
}

func podMode(channel string) string {
	if channel == channelOAuth {
		return podAuthOAuth
	}
	return podAuthHeader
}

// oktaChannelIs records that Okta's hook now has channel; a change starts the
// grace period after which the pods drop the old way.
func (p *authPlan) oktaChannelIs(channel string, now time.Time) {
	if oktaChannelOf(p.next) != channel {
		p.next.channelSwitched = now
	}
	p.next.oktaChannel = channel
	p.hookAuth.awaitRollout = false
}

// oauthCheck is what the hook server checks in Okta's access tokens. The
// one of the channel Okta has is kept on the auth Secret: switching back to
// header auth, the spec no longer holds it, and the pods accept both ways
// until Okta's channel has moved.
type oauthCheck struct {
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	ClientID string `json:"clientID"`
	Scope    string `json:"scope"`
}

// specOAuthCheck is the check of the spec's OAuth settings; nil without.
func specOAuthCheck(th *v1.TokenHook) *oauthCheck {
	o := th.Spec.HookAuth.OAuth
	if th.Spec.HookAuth.Type != v1.HookAuthOAuth || o == nil {
		return nil
	}
	return &oauthCheck{Issuer: oauthIssuer(th), Audience: o.Audience, ClientID: o.ClientID, Scope: o.Scope}
}

func (c *oauthCheck) encode() string {
	if c == nil {
		return ""
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func decodeOAuthCheck(s string) *oauthCheck {
	var c oauthCheck
	if s == "" || json.Unmarshal([]byte(s), &c) != nil || c.Issuer == "" {
		return nil
	}
	return &c
}

// podOAuthCheck is the check the pods make: the spec's, else (on the way
// back to header auth, or to another check: oktaCheck) the one of the
// channel Okta had.
func podOAuthCheck(th *v1.TokenHook, s authSecretState, oktaCheck bool) *oauthCheck {
	if c := specOAuthCheck(th); c != nil && !oktaCheck {
		return c
	}
	return decodeOAuthCheck(s.oktaOAuthCheck)
}

// oauthIssuer is the issuer of the hook's tokens: the spec's, else the
// authorization server's at the org's URL.
func oauthIssuer(th *v1.TokenHook) string {
	o := th.Spec.HookAuth.OAuth
	if o.Issuer != "" {
		return o.Issuer
	}
	as := o.AuthorizationServerID
	if as == "" {
		as = th.Spec.Okta.AuthorizationServerID
	}
	return strings.TrimSuffix(th.Spec.Okta.OrgURL, "/") + "/oauth2/" + as
}

// desiredOAuthChannel is the OAUTH channel Okta's hook should have: with the
// client secret, or (privateKeyJWT) naming the hook key hookKeyID.
func desiredOAuthChannel(th *v1.TokenHook, clientSecret, hookKeyID string) *okta.OAuthChannel {
	o := th.Spec.HookAuth.OAuth
	ch := &okta.OAuthChannel{
		AuthType: okta.AuthTypeClientSecretPost,
		ClientID: o.ClientID,
		TokenURL: oauthIssuer(th) + "/v1/token",
		Scope:    o.Scope,
	}
	if o.PrivateKeyJWT != nil {
		ch.AuthType, ch.HookKeyID = okta.AuthTypePrivateKeyJWT, hookKeyID
	} else {
		ch.ClientSecret = clientSecret
	}
	return ch
}

// oauthClientSecret reads the OAuth app's client secret the spec names.
func (r *TokenHookReconciler) oauthClientSecret(ctx context.Context, th *v1.TokenHook) (string, error) {
	ref := th.Spec.HookAuth.OAuth.ClientSecretPost.SecretRef
	field := "spec.hookAuth.oauth.clientSecretPost.secretRef"
	sec := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: th.Namespace, Name: ref.Name}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return "", &specError{reason: v1.ReasonClientSecretNotFound, msg: fmt.Sprintf("%s: Secret %q not found", field, ref.Name)}
		}
		return "", fmt.Errorf("get client secret Secret %q: %w", ref.Name, err)
	}
	v := strings.TrimSpace(string(sec.Data[ref.Key]))
	if v == "" {
		return "", &specError{reason: v1.ReasonClientSecretNotFound, msg: fmt.Sprintf("%s: Secret %q has no non-empty key %q", field, ref.Name, ref.Key)}
	}
	return v, nil
}

// reconcileHookAuth plans the channel step; with clientSecretPost it reads
// the client secret.
func (r *TokenHookReconciler) reconcileHookAuth(ctx context.Context, th *v1.TokenHook, auth *authPlan) error {
	want := desiredChannel(th)
	var secret string
	if want == channelOAuth && th.Spec.HookAuth.OAuth.ClientSecretPost != nil {
		var err error
		if secret, err = r.oauthClientSecret(ctx, th); err != nil {
			return err
		}
	}
	auth.hookAuth = planHookAuth(auth.next, th.Status.InlineHookID != "", want, oauthCheckChanged(th, auth.next), r.Clock.Now(), r.RotationGrace)
	auth.hookAuth.clientSecret = secret
	return nil
}
