package controllers

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
	"github.com/tokenhook/tokenhook/internal/okta"
)

// The route check: Ready must mean that Okta's call reaches our handler. A
// hook server Ready behind a wrong path, Ingress, certificate or secret looks
// healthy from inside the cluster while every token is issued without the
// claim (and deny mode is silently off). So Okta itself calls the hook,
// through its execute API and the hook's channel, with a probe event that
// only a tokenhook hook server holding this TokenHook's secret answers with
// the probe's nonce (protocol.ProbeEvent). The rule is linked only after that.
//
// The check costs one Okta call and runs only when the route changed (another
// hook, URL, auth header or secret in Okta, or a new hook server rollout); the
// fingerprint of the last route that passed is kept on the owned auth Secret,
// beside the hash of the secret Okta has.

// routeFingerprint names everything Okta's call depends on.
func routeFingerprint(th *v1.TokenHook, hookID string, auth *authPlan, hs hookServerState) string {
	parts := []string{hookID, th.Spec.HookServer.ExternalURL, strings.ToLower(th.Spec.AuthHeader),
		auth.next.oktaHash, strconv.FormatInt(hs.generation, 10)}
	// Another channel or client secret is another route; HTTP, as before
	// OAuth, adds nothing, so that routes proven then stay proven.
	if ch := oktaChannelOf(auth.next); ch != channelHTTP {
		parts = append(parts, ch, auth.next.clientSecretHash)
		if auth.next.oktaHookKey != "" {
			parts = append(parts, auth.next.oktaHookKey)
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:])
}

// checkRoute sets HookReachable. It returns an error (for backoff) when Okta's
// call failed: a route being set up (an Ingress, DNS, a certificate) often
// heals by itself.
func (r *TokenHookReconciler) checkRoute(ctx context.Context, th *v1.TokenHook, c okta.Client, hook *okta.InlineHook, auth *authPlan, hs hookServerState) error {
	cond := v1.ConditionHookReachable
	if !hs.rolledOut {
		setWaiting(th, cond, "waiting for every hook server replica to run the current spec before Okta's call is checked")
		return nil
	}
	fp := routeFingerprint(th, hook.ID, auth, hs)
	if auth.next.routeVerified == fp && isTrue(th, cond) {
		// Proven for this route already: confirm it for this generation.
		c := meta.FindStatusCondition(th.Status.Conditions, cond)
		setTrue(th, cond, c.Reason, c.Message)
		return nil
	}
	nonce, err := newNonce()
	if err != nil {
		return err
	}
	issuer := strings.TrimSuffix(th.Spec.Okta.OrgURL, "/") + "/oauth2/" + th.Spec.Okta.AuthorizationServerID
	payload, err := json.Marshal(protocol.ProbeEvent(nonce, issuer, "tokenhook-route-check"))
	if err != nil {
		return fmt.Errorf("encode the route check event: %w", err)
	}
	url := th.Spec.HookServer.ExternalURL
	raw, err := c.ExecuteInlineHook(ctx, hook.ID, payload)
	switch {
	case err != nil && isExecuteFailure(err):
		msg := fmt.Sprintf("Okta's call to %s did not reach the hook server: %v; check that the URL routes to Service %s (port %d) with the path unchanged, and that its certificate is one Okta trusts",
			url, err, hookServerName(th), servingPort(th).servicePort())
		setFalse(th, cond, v1.ReasonUnreachable, msg)
		r.event(th, corev1.EventTypeWarning, v1.ReasonUnreachable, "CheckRoute", "%s", msg)
		return errors.New(msg)
	case err != nil:
		return r.oktaFailed(th, cond, "check the route through Okta's execute API", err)
	}
	var resp protocol.Response
	if derr := json.NewDecoder(bytes.NewReader(raw)).Decode(&resp); derr != nil || !protocol.IsProbeResponse(&resp, nonce) {
		msg := fmt.Sprintf("Okta's call to %s was answered, but not by this TokenHook's hook server; check that the URL routes to Service %s", url, hookServerName(th))
		setFalse(th, cond, v1.ReasonUnreachable, msg)
		r.event(th, corev1.EventTypeWarning, v1.ReasonUnreachable, "CheckRoute", "%s", msg)
		return errors.New(msg)
	}
	auth.next.routeVerified = fp
	if err := r.saveAuthSecret(ctx, th, auth); err != nil {
		return err
	}
	setTrue(th, cond, v1.ReasonVerified, fmt.Sprintf("Okta called inline hook %s at %s and the hook server answered", hook.ID, url))
	return nil
}

// isExecuteFailure: Okta's 400 for a hook that gave no successful answer.
func isExecuteFailure(err error) bool {
	var ae *okta.APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusBadRequest
}

func newNonce() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a route check nonce: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
