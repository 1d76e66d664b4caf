package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/okta"
)

// ownerHeader is a channel header on every inline hook we create, naming
// the TokenHook's UID. A hook found by name is adopted only when it carries
// ours; Okta sends it along on each call, where it is harmless.
const ownerHeader = "X-Tokenhook-Owner"

// inlineHookName is the hook's name in Okta, unique in the org. The default
// joins namespace and name with '/', which neither may contain, so no two
// TokenHooks share it (at most 5+63+52 characters; Okta allows 255).
func inlineHookName(th *v1.TokenHook) string {
	if th.Spec.Okta.InlineHookName != "" {
		return th.Spec.Okta.InlineHookName
	}
	return "tokenhook/" + th.Namespace + "/" + th.Name
}

// legacyInlineHookName is the default name of hooks registered by earlier
// versions, "" with spec.okta.inlineHookName. Namespace a-b with TokenHook c
// and namespace a with TokenHook b-c shared it, so only a hook with our marker
// under it is ours, and it is renamed on adoption.
func legacyInlineHookName(th *v1.TokenHook) string {
	if th.Spec.Okta.InlineHookName != "" {
		return ""
	}
	return "tokenhook-" + th.Namespace + "-" + th.Name
}

// desiredInlineHook is the hook as Okta should have it: with an HTTP
// channel carrying the header secret, or an OAUTH channel (with the client
// secret, or naming the hook key hookKeyID).
func desiredInlineHook(th *v1.TokenHook, secret, channel, clientSecret, hookKeyID string) okta.InlineHook {
	h := okta.InlineHook{
		Name:    inlineHookName(th),
		URL:     th.Spec.HookServer.ExternalURL,
		Headers: []okta.Header{{Key: ownerHeader, Value: string(th.UID)}},
	}
	if channel == channelOAuth {
		h.OAuth = desiredOAuthChannel(th, clientSecret, hookKeyID)
	} else {
		h.AuthHeader, h.AuthSecret = th.Spec.AuthHeader, secret
	}
	return h
}

// ownedBy says whether an Okta hook carries the TokenHook's marker.
func ownedBy(h *okta.InlineHook, th *v1.TokenHook) bool {
	for _, hd := range h.Headers {
		if strings.EqualFold(hd.Key, ownerHeader) && hd.Value == string(th.UID) {
			return true
		}
	}
	return false
}

// hookDiff names the fields (never the values) in which Okta's hook differs
// from the desired one; "" means up to date. Okta never returns secrets, so
// the caller says whether Okta is known to hold the one the channel sends.
func hookDiff(got *okta.InlineHook, want okta.InlineHook, secretKnown bool) string {
	var diff []string
	if got.Name != want.Name {
		diff = append(diff, "name")
	}
	if got.URL != want.URL {
		diff = append(diff, "url")
	}
	if !sameHeaders(got.Headers, want.Headers) {
		diff = append(diff, "headers")
	}
	switch g, w := got.OAuth, want.OAuth; {
	case (g == nil) != (w == nil):
		diff = append(diff, "channel.type")
	case w != nil:
		for _, f := range []struct {
			name      string
			got, want string
		}{
			{"authType", g.AuthType, w.AuthType}, {"clientId", g.ClientID, w.ClientID},
			{"tokenUrl", g.TokenURL, w.TokenURL}, {"scope", g.Scope, w.Scope}, {"hookKeyId", g.HookKeyID, w.HookKeyID},
		} {
			if f.got != f.want {
				diff = append(diff, "channel.config."+f.name)
			}
		}
		if !secretKnown && w.AuthType == okta.AuthTypeClientSecretPost {
			diff = append(diff, "channel.config.clientSecret")
		}
	default:
		// Okta has been seen to lower-case the auth header's name.
		if !strings.EqualFold(got.AuthHeader, want.AuthHeader) {
			diff = append(diff, "authScheme.key")
		}
		if !secretKnown {
			diff = append(diff, "authScheme.value")
		}
	}
	return strings.Join(diff, ", ")
}

func sameHeaders(a, b []okta.Header) bool {
	key := func(hs []okta.Header) []string {
		out := make([]string, len(hs))
		for i, h := range hs {
			out[i] = strings.ToLower(h.Key) + ":" + h.Value
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// reconcileOkta registers the inline hook, proves that Okta's call reaches
// the hook server, then links the rule to it (an unreachable hook would make
// Okta wait on every login, and issue every token without the claim). While
// the route is unproven, a rule already linked is left as it is. It returns
// errors only for what backoff can fix.
func (r *TokenHookReconciler) reconcileOkta(ctx context.Context, th *v1.TokenHook, c okta.Client, auth *authPlan, hs hookServerState) error {
	hook, err := r.syncInlineHook(ctx, th, c, auth, hs)
	if err != nil || hook == nil {
		setWaiting(th, v1.ConditionHookReachable, "waiting for the inline hook to be registered")
		setWaiting(th, v1.ConditionPolicyRuleLinked, "waiting for the inline hook to be registered")
		return err
	}
	if !isTrue(th, v1.ConditionHookServerAvailable) {
		setWaiting(th, v1.ConditionHookReachable, "waiting for the hook server to be available")
		waitForRoute(th, "waiting for the hook server to be available before the rule calls it")
		return nil
	}
	if err := r.checkRoute(ctx, th, c, hook, auth, hs); err != nil || !isTrue(th, v1.ConditionHookReachable) {
		waitForRoute(th, "waiting for Okta's call to reach the hook server before the rule calls it")
		return err
	}
	provenByOkta(th, hook)
	return r.syncPolicyRule(ctx, th, c, hook.ID)
}

// waitForRoute reports PolicyRuleLinked while the rule is not (re)linked: a
// link made earlier stays, and its condition keeps the generation it was
// observed at.
func waitForRoute(th *v1.TokenHook, msg string) {
	if !isTrue(th, v1.ConditionPolicyRuleLinked) {
		setFalse(th, v1.ConditionPolicyRuleLinked, v1.ReasonWaiting, msg)
	}
}

// observeInlineHook finds our hook: by the id in status, else by name. Either
// way it returns only a hook that carries our marker: a status restored from
// a backup or copied from another cluster may name a hook that another
// TokenHook owns, and what this returns is updated and, in the end, deleted.
// A foreign hook by that id or name is a conflict.
func (r *TokenHookReconciler) observeInlineHook(ctx context.Context, th *v1.TokenHook, c okta.Client) (*okta.InlineHook, error) {
	if id := th.Status.InlineHookID; id != "" {
		h, err := c.GetInlineHook(ctx, id)
		switch {
		case err == nil && !ownedBy(h, th):
			return nil, &conflictError{msg: fmt.Sprintf(
				"status.inlineHookID names Okta inline hook %s, which this TokenHook did not create (no %s header with its UID; "+
					"was the status restored or copied from another cluster?); nothing is changed in Okta. "+
					"Delete that hook in Okta if nothing uses it, or remove status.inlineHookID", h.ID, ownerHeader)}
		case err == nil:
			return h, nil
		case !errors.Is(err, okta.ErrNotFound):
			return nil, fmt.Errorf("get inline hook %s: %w", id, err)
		}
		th.Status.InlineHookID = "" // deleted in Okta: look again by name, else recreate
	}
	name := inlineHookName(th)
	h, err := c.FindInlineHookByName(ctx, name)
	switch {
	case err == nil && !ownedBy(h, th):
		return nil, &conflictError{msg: fmt.Sprintf(
			"Okta already has an inline hook named %q (%s) that this TokenHook did not create (no %s header with its UID); "+
				"set spec.okta.inlineHookName to another name, or delete that hook", name, h.ID, ownerHeader)}
	case err == nil:
		return h, nil // created by us before a crash lost its id: adopt it
	case !errors.Is(err, okta.ErrNotFound):
		return nil, fmt.Errorf("find inline hook %q: %w", name, err)
	}
	return r.observeLegacyInlineHook(ctx, th, c)
}

// observeLegacyInlineHook finds our hook under the default name of earlier
// versions, so an upgrade adopts it (finishInlineHook renames it) instead of
// creating a second one. Another TokenHook's hook under that name is no
// conflict: the new name is not taken.
func (r *TokenHookReconciler) observeLegacyInlineHook(ctx context.Context, th *v1.TokenHook, c okta.Client) (*okta.InlineHook, error) {
	legacy := legacyInlineHookName(th)
	if legacy == "" {
		return nil, nil
	}
	h, err := c.FindInlineHookByName(ctx, legacy)
	switch {
	case errors.Is(err, okta.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("find inline hook %q: %w", legacy, err)
	case !ownedBy(h, th):
		return nil, nil
	}
	logf.FromContext(ctx).Info("Adopting Okta inline hook under its earlier default name", "id", h.ID, "name", legacy)
	return h, nil
}

// syncInlineHook creates, updates or activates the hook as needed, and
// records its id in status straight after creating it.
func (r *TokenHookReconciler) syncInlineHook(ctx context.Context, th *v1.TokenHook, c okta.Client, auth *authPlan, hs hookServerState) (*okta.InlineHook, error) {
	log := logf.FromContext(ctx)
	cond := v1.ConditionInlineHookRegistered
	got, err := r.observeInlineHook(ctx, th, c)
	if err != nil {
		return nil, r.oktaFailed(th, cond, "observe inline hook", err)
	}
	keys, err := r.prepareHookKeys(ctx, th, c, got)
	if errors.Is(err, errConditionSet) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	auth.keys = keys
	want := desiredInlineHook(th, auth.oktaValue, auth.hookAuth.channel, auth.hookAuth.clientSecret, keys.channelKeyID)
	if got != nil {
		return r.finishInlineHook(ctx, th, c, auth, hs, got, want)
	}
	if want.OAuth != nil && want.OAuth.AuthType == okta.AuthTypePrivateKeyJWT && want.OAuth.HookKeyID == "" {
		// The hook is made once its channel's key is in the app's JWKS.
		setFalse(th, cond, v1.ReasonHookKeyNotRegistered, hookKeyWaitMessage(th))
		return nil, nil
	}

	created, err := c.CreateInlineHook(ctx, want)
	if err != nil {
		// A create whose answer was lost (a dropped connection that the
		// SDK retried) comes back as a duplicate name: look again, and
		// adopt our own hook instead of reporting an error.
		if again, oerr := r.observeInlineHook(ctx, th, c); oerr == nil && again != nil {
			log.Info("Adopted Okta inline hook created by an earlier attempt", "id", again.ID)
			return r.finishInlineHook(ctx, th, c, auth, hs, again, want)
		}
		return nil, r.oktaFailed(th, cond, "create inline hook", err)
	}
	if err := r.recordInlineHookID(ctx, th, created.ID); err != nil {
		return nil, err
	}
	r.event(th, corev1.EventTypeNormal, "CreatedInlineHook", "Create", "Created Okta inline hook %s", created.ID)
	if err := r.oktaHas(ctx, th, auth, want); err != nil {
		return nil, err
	}
	// No call came the other way: the pods need no grace for it.
	auth.next.channelSwitched = time.Time{}
	return r.finishInlineHook(ctx, th, c, auth, hs, created, want)
}

// finishInlineHook brings an existing hook up to date and active, and sets
// InlineHookRegistered.
func (r *TokenHookReconciler) finishInlineHook(ctx context.Context, th *v1.TokenHook, c okta.Client, auth *authPlan,
	hs hookServerState, got *okta.InlineHook, want okta.InlineHook) (*okta.InlineHook, error) {
	cond := v1.ConditionInlineHookRegistered
	if !ownedBy(got, th) {
		// observeInlineHook never returns such a hook; this guards the update.
		return nil, r.oktaFailed(th, cond, "update inline hook", &conflictError{msg: fmt.Sprintf(
			"Okta inline hook %s does not carry this TokenHook's %s header; it is left as it is", got.ID, ownerHeader)})
	}
	th.Status.InlineHookID = got.ID
	if auth.awaitRollout && !hs.rolledOut {
		// Every update sends a secret, and the one Okta has is lost: the
		// hook stays as it is until the pods accept the new one.
		setTrue(th, cond, v1.ReasonRotatingSecret, fmt.Sprintf(
			"inline hook %s is registered; the hook server auth Secret was lost with what Okta sends: Okta gets the new one once every hook server replica has it", got.ID))
		return got, nil
	}
	if auth.hookAuth.awaitRollout && !hs.rolledOut {
		if auth.hookAuth.oktaCheck && oktaChannelOf(auth.next) == channelOAuth {
			// Okta's OAuth channel is no longer the spec's: it stays as Okta
			// has it until every replica accepts the header secret too.
			if err := r.activate(ctx, th, c, got); err != nil {
				return nil, err
			}
			setTrue(th, cond, v1.ReasonSwitchingHookAuth, fmt.Sprintf(
				"inline hook %s is active; Okta's calls move to the header secret on the way to the new OAuth client: the hook server accepts both ways meanwhile", got.ID))
			return got, nil
		}
		// The channel changes once every replica accepts both ways.
		want = desiredInlineHook(th, auth.oktaValue, oktaChannelOf(auth.next), auth.hookAuth.clientSecret, auth.keys.channelKeyID)
	}
	if want.OAuth != nil && want.OAuth.AuthType == okta.AuthTypePrivateKeyJWT && want.OAuth.HookKeyID == "" {
		// No key the channel may name is in the app's JWKS yet: Okta's
		// hook stays as it is, calls keep coming the way they do.
		if err := r.activate(ctx, th, c, got); err != nil {
			return nil, err
		}
		setFalse(th, cond, v1.ReasonHookKeyNotRegistered, fmt.Sprintf("inline hook %s keeps its channel until then: %s", got.ID, hookKeyWaitMessage(th)))
		return got, nil
	}
	if want.OAuth != nil && !auth.okta {
		// Okta sends no header secret on an OAUTH channel: the pods may
		// move on to the new one (a switch back sends it to Okta).
		auth.oktaUpdatedWith(auth.oktaValue, r.Clock.Now())
		if err := r.saveAuthSecret(ctx, th, auth); err != nil {
			return nil, err
		}
	}
	if diff := hookDiff(got, want, oktaHasSecretOf(auth, want)); diff != "" {
		logf.FromContext(ctx).V(1).Info("Okta inline hook differs", "id", got.ID, "fields", diff)
		want.ID = got.ID
		updated, err := c.UpdateInlineHook(ctx, want)
		if err != nil {
			return nil, r.oktaFailed(th, cond, "update inline hook", err)
		}
		r.event(th, corev1.EventTypeNormal, "UpdatedInlineHook", "Update", "Updated Okta inline hook %s: %s", got.ID, diff)
		if err := r.oktaHas(ctx, th, auth, want); err != nil {
			return nil, err
		}
		got = updated
	}
	if got.Status != okta.StatusActive {
		activated, err := c.ActivateInlineHook(ctx, got.ID)
		if err != nil {
			return nil, r.oktaFailed(th, cond, "activate inline hook", err)
		}
		r.event(th, corev1.EventTypeNormal, "ActivatedInlineHook", "Activate", "Activated Okta inline hook %s", got.ID)
		got = activated
	}
	// The hook keys follow the channel as Okta now has it.
	if err := r.settleHookKeys(ctx, th, c, got, &auth.keys); errors.Is(err, errConditionSet) {
		return got, nil
	} else if err != nil {
		return nil, err
	}
	keyReason, keyMsg, keyNews := hookKeyCondition(th, got.ID, auth.keys)
	switch {
	case auth.hookAuth.switching:
		way := "the header secret"
		switch {
		case auth.hookAuth.channel == channelOAuth:
			way = "OAuth 2.0 access tokens"
		case auth.hookAuth.oktaCheck:
			way += " on the way to the new OAuth client"
		}
		setTrue(th, cond, v1.ReasonSwitchingHookAuth, fmt.Sprintf(
			"inline hook %s is active; Okta's calls move to %s: the hook server accepts both ways meanwhile", got.ID, way))
	case auth.rotating && want.OAuth == nil:
		setTrue(th, cond, v1.ReasonRotatingSecret, fmt.Sprintf("inline hook %s is active; its auth secret is being rotated", got.ID))
	case keyNews:
		setTrue(th, cond, keyReason, keyMsg)
	case auth.rotating:
		setTrue(th, cond, v1.ReasonRotatingSecret, fmt.Sprintf("inline hook %s is active; its auth secret is being rotated", got.ID))
	default:
		setTrue(th, cond, v1.ReasonRegistered, fmt.Sprintf("inline hook %s is active and up to date", got.ID))
	}
	return got, nil
}

// activate makes the hook ACTIVE if it is not.
func (r *TokenHookReconciler) activate(ctx context.Context, th *v1.TokenHook, c okta.Client, h *okta.InlineHook) error {
	if h.Status == okta.StatusActive {
		return nil
	}
	if _, err := c.ActivateInlineHook(ctx, h.ID); err != nil {
		return r.oktaFailed(th, v1.ConditionInlineHookRegistered, "activate inline hook", err)
	}
	r.event(th, corev1.EventTypeNormal, "ActivatedInlineHook", "Activate", "Activated Okta inline hook %s", h.ID)
	return nil
}

// recordInlineHookID writes the new hook's id to status at once, so that a
// crash right after cannot lose it. (If this write fails too, the next
// reconcile still finds the hook by name and our marker.)
// Only the id is written, and into a copy: the answer holds the status as
// stored, which must not replace what this reconcile has found so far. The
// copy's new resourceVersion is taken over, so the status patch at the end
// of the reconcile is not refused as a conflict with this write of its own.
func (r *TokenHookReconciler) recordInlineHookID(ctx context.Context, th *v1.TokenHook, id string) error {
	th.Status.InlineHookID = id
	written := th.DeepCopy()
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"status":{"inlineHookID":%q}}`, id))
	if err := r.Status().Patch(ctx, written, patch); err != nil {
		return fmt.Errorf("record inline hook id %s in status: %w", id, err)
	}
	th.ResourceVersion = written.ResourceVersion
	return nil
}

// oktaHas records, in the owned Secret, the channel and secret that Okta
// accepted in a create or update of h.
func (r *TokenHookReconciler) oktaHas(ctx context.Context, th *v1.TokenHook, auth *authPlan, h okta.InlineHook) error {
	now := r.Clock.Now()
	if h.OAuth != nil {
		auth.oktaChannelIs(channelOAuth, now)
		auth.next.clientSecretHash = secretHash(h.OAuth.ClientSecret)
		auth.next.oktaOAuthCheck = specOAuthCheck(th).encode()
		auth.next.oktaHookKey = h.OAuth.HookKeyID
	} else {
		auth.next.oktaHookKey = ""
		auth.oktaChannelIs(channelHTTP, now)
		auth.oktaUpdatedWith(h.AuthSecret, now)
	}
	return r.saveAuthSecret(ctx, th, auth)
}

// oktaChannelOf is the channel Okta's hook has, as recorded.
func oktaChannelOf(s authSecretState) string {
	if s.oktaChannel == "" {
		return channelHTTP
	}
	return s.oktaChannel
}

// oktaHasSecretOf says whether Okta is known to hold the secret of want's
// channel: the header secret, or the OAuth app's client secret.
func oktaHasSecretOf(auth *authPlan, want okta.InlineHook) bool {
	if want.OAuth != nil {
		// A private_key_jwt channel has no secret: Okta holds the key.
		return oktaChannelOf(auth.next) == channelOAuth &&
			(want.OAuth.AuthType == okta.AuthTypePrivateKeyJWT || auth.next.clientSecretHash == secretHash(want.OAuth.ClientSecret))
	}
	return auth.okta
}

// syncPolicyRule makes the rule call our hook by a read-modify-write of the
// whole rule. A rule that calls another hook is left alone unless that hook
// is gone or ours.
func (r *TokenHookReconciler) syncPolicyRule(ctx context.Context, th *v1.TokenHook, c okta.Client, hookID string) error {
	cond := v1.ConditionPolicyRuleLinked
	asID := th.Spec.Okta.AuthorizationServerID
	rule, err := r.findRule(ctx, th, c)
	if err != nil {
		return r.oktaFailed(th, cond, "find policy rule", err)
	}
	// The spec moved to another rule: the old one stops calling our hook.
	if old := th.Status.RuleID; old != "" && (old != rule.ID || th.Status.PolicyID != rule.PolicyID) {
		if err := r.unlinkRule(ctx, th, c, th.Status.PolicyID, old, hookID); err != nil {
			return r.oktaFailed(th, cond, "unlink previous policy rule", err)
		}
	}
	th.Status.PolicyID, th.Status.RuleID = rule.PolicyID, rule.ID

	if rule.InlineHookID != hookID {
		if rule.InlineHookID != "" {
			other, err := c.GetInlineHook(ctx, rule.InlineHookID)
			switch {
			case errors.Is(err, okta.ErrNotFound):
				// A dangling link to a deleted hook: ours to replace.
			case err != nil:
				return r.oktaFailed(th, cond, "get the rule's current inline hook", err)
			case !ownedBy(other, th):
				return r.oktaFailed(th, cond, "link policy rule", &conflictError{msg: fmt.Sprintf(
					"policy rule %s already calls inline hook %s, which this TokenHook does not own; unlink it in Okta or pick another rule",
					rule.ID, other.ID)})
			}
		}
		rule.InlineHookID = hookID
		if _, err := c.UpdatePolicyRule(ctx, asID, rule); err != nil {
			return r.oktaFailed(th, cond, "link policy rule", err)
		}
		r.event(th, corev1.EventTypeNormal, "LinkedPolicyRule", "Update", "Policy rule %s now calls Okta inline hook %s", rule.ID, hookID)
	}
	setTrue(th, cond, v1.ReasonLinked, fmt.Sprintf("policy rule %s of policy %s calls inline hook %s", rule.ID, rule.PolicyID, hookID))
	return nil
}

// findRule resolves the rule. Once the rule was linked under the current
// spec generation, its ids in status stand, and one read by id does (two
// reads per drift check in all).
func (r *TokenHookReconciler) findRule(ctx context.Context, th *v1.TokenHook, c okta.Client) (*okta.PolicyRule, error) {
	asID := th.Spec.Okta.AuthorizationServerID
	linked := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionPolicyRuleLinked)
	resolvedForThisSpec := linked != nil && linked.Status == metav1.ConditionTrue && linked.ObservedGeneration == th.Generation
	if th.Status.PolicyID != "" && th.Status.RuleID != "" && resolvedForThisSpec {
		rule, err := c.GetPolicyRule(ctx, asID, th.Status.PolicyID, th.Status.RuleID)
		if err == nil && selects(th.Spec.Okta.Rule, rule.ID, rule.Name) {
			return rule, nil
		}
		if err != nil && !errors.Is(err, okta.ErrNotFound) {
			return nil, fmt.Errorf("get policy rule %s: %w", th.Status.RuleID, err)
		}
	}
	pol := th.Spec.Okta.Policy
	policy, err := c.FindPolicy(ctx, asID, selector(pol))
	if err != nil {
		return nil, notFoundAsSpecError(err, fmt.Sprintf("authorization server %q has no policy %s", asID, describe(pol)))
	}
	rsel := th.Spec.Okta.Rule
	rule, err := c.FindPolicyRule(ctx, asID, policy.ID, selector(rsel))
	if err != nil {
		return nil, notFoundAsSpecError(err, fmt.Sprintf("policy %s has no rule %s", policy.ID, describe(rsel)))
	}
	return rule, nil
}

// unlinkRule removes hookID from a rule, if the rule still calls it.
func (r *TokenHookReconciler) unlinkRule(ctx context.Context, th *v1.TokenHook, c okta.Client, policyID, ruleID, hookID string) error {
	if policyID == "" || ruleID == "" || hookID == "" {
		return nil
	}
	asID := th.Spec.Okta.AuthorizationServerID
	rule, err := c.GetPolicyRule(ctx, asID, policyID, ruleID)
	if errors.Is(err, okta.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get policy rule %s: %w", ruleID, err)
	}
	if rule.InlineHookID != hookID {
		return nil
	}
	rule.InlineHookID = ""
	if _, err := c.UpdatePolicyRule(ctx, asID, rule); err != nil {
		return fmt.Errorf("unlink policy rule %s: %w", ruleID, err)
	}
	r.event(th, corev1.EventTypeNormal, "UnlinkedPolicyRule", "Update", "Policy rule %s no longer calls Okta inline hook %s", ruleID, hookID)
	return nil
}

// cleanupOkta undoes what the TokenHook did in Okta: the rule stops calling
// the hook, then the hook is deactivated and deleted, then its hook keys
// (with the JWKS entries the operator added). Anything already gone counts
// as done.
func (r *TokenHookReconciler) cleanupOkta(ctx context.Context, th *v1.TokenHook) error {
	c, err := r.oktaClientFor(ctx, th)
	if err != nil {
		return err
	}
	// Only a hook that carries our marker is ours to unlink and delete;
	// a conflict means the hook by our id or name is someone else's.
	hook, err := r.observeInlineHook(ctx, th, c)
	var conflict *conflictError
	if errors.As(err, &conflict) {
		return r.cleanupHookKeys(ctx, th, c)
	}
	if err != nil {
		return err
	}
	if hook == nil {
		// Never created, or already deleted in Okta; its keys may exist.
		return r.cleanupHookKeys(ctx, th, c)
	}
	policyID, ruleID := th.Status.PolicyID, th.Status.RuleID
	if ruleID == "" {
		if rule, err := r.findRule(ctx, th, c); err == nil {
			policyID, ruleID = rule.PolicyID, rule.ID
		} else if !errors.Is(err, okta.ErrNotFound) && !isSpecError(err) {
			return err
		}
	}
	if err := r.unlinkRule(ctx, th, c, policyID, ruleID, hook.ID); err != nil {
		return err
	}
	if hook.Status == okta.StatusActive {
		if _, err := c.DeactivateInlineHook(ctx, hook.ID); err != nil && !errors.Is(err, okta.ErrNotFound) {
			return fmt.Errorf("deactivate inline hook %s: %w", hook.ID, err)
		}
	}
	if err := c.DeleteInlineHook(ctx, hook.ID); err != nil && !errors.Is(err, okta.ErrNotFound) {
		return fmt.Errorf("delete inline hook %s: %w", hook.ID, err)
	}
	r.event(th, corev1.EventTypeNormal, "DeletedInlineHook", "Delete", "Deleted Okta inline hook %s", hook.ID)
	// The hook used one of the keys: they go only after it.
	return r.cleanupHookKeys(ctx, th, c)
}

// oktaFailed sets a False condition for err and decides whether to retry:
// problems only a spec change can fix (Okta 4xx, conflicts, missing objects,
// bad credentials) return nil, so nothing hot-loops; the periodic drift check
// and watches bring the TokenHook back. Transient ones return err for backoff.
func (r *TokenHookReconciler) oktaFailed(th *v1.TokenHook, cond, action string, err error) error {
	var se *specError
	var conflict *conflictError
	switch {
	case errors.As(err, &se):
		setFalse(th, cond, se.reason, se.msg)
		return nil
	case errors.As(err, &conflict):
		setFalse(th, cond, v1.ReasonConflict, conflict.msg)
		return nil
	case isHookLimit(err):
		msg := fmt.Sprintf("%s: the Okta org has reached its cap of inline hooks (Okta allows %d per org); delete unused hooks or use another org: %v",
			action, oktaHookCap, err)
		setFalse(th, cond, v1.ReasonHookLimitReached, msg)
		r.event(th, corev1.EventTypeWarning, v1.ReasonHookLimitReached, "Sync", "%s", msg)
		return nil
	case okta.IsTerminal(err):
		msg := fmt.Sprintf("%s: Okta refused the request: %v", action, err)
		setFalse(th, cond, v1.ReasonOktaRejected, msg)
		r.event(th, corev1.EventTypeWarning, "OktaSyncFailed", "Sync", "%s", msg)
		return nil
	default:
		setFalse(th, cond, v1.ReasonOktaUnavailable, fmt.Sprintf("%s: %v; retrying with backoff", action, err))
		return fmt.Errorf("%s: %w", action, err)
	}
}

// oktaHookCap is the number of inline hooks Okta's API reference allows per
// org (newer guides say 100; the lower number is the safe one to quote).
const oktaHookCap = 50

// isHookLimit recognises Okta's refusal of a hook past the org's cap.
func isHookLimit(err error) bool {
	var ae *okta.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest {
		return false
	}
	text := strings.ToLower(ae.ErrorSummary + " " + strings.Join(ae.ErrorCauses, " "))
	return strings.Contains(text, "maximum number of inline hooks")
}

func notFoundAsSpecError(err error, msg string) error {
	if errors.Is(err, okta.ErrNotFound) {
		return &specError{reason: v1.ReasonNotFound, msg: msg}
	}
	if errors.Is(err, okta.ErrAmbiguous) {
		return &specError{reason: v1.ReasonOktaRejected, msg: msg + " that is unique by name; select it by id"}
	}
	return err
}

func selector(s v1.OktaObjectSelector) string {
	if s.ID != "" {
		return s.ID
	}
	return s.Name
}

func selects(s v1.OktaObjectSelector, id, name string) bool {
	if s.ID != "" {
		return s.ID == id
	}
	return s.Name == name
}

func describe(s v1.OktaObjectSelector) string {
	if s.ID != "" {
		return fmt.Sprintf("with id %q", s.ID)
	}
	return fmt.Sprintf("named %q", s.Name)
}
