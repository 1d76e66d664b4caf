package kubectlplugin

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

// StatusReport is a TokenHook and its hook server Deployment.
type StatusReport struct {
	TokenHook *v1.TokenHook
	// Deployment is nil when there is none, or when it could not be read
	// (DeploymentError says why).
	Deployment      *appsv1.Deployment
	DeploymentError string
}

// Status reads a TokenHook and its hook server Deployment. Only a TokenHook
// that cannot be read is an error: the Deployment's problems are reported.
func Status(ctx context.Context, env *Env, namespace, name string) (*StatusReport, error) {
	th, err := getTokenHook(ctx, env.Client, namespace, name)
	if err != nil {
		return nil, err
	}
	r := &StatusReport{TokenHook: th}
	switch dep, err := getDeployment(ctx, env.Client, th); {
	case err != nil:
		r.DeploymentError = err.Error()
	case dep == nil:
		r.DeploymentError = fmt.Sprintf("Deployment %s not found", hookServerName(th.Name))
	default:
		r.Deployment = dep
	}
	return r, nil
}

// stageConditions are the conditions Ready is derived from, in the
// operator's reconcile order (controllers/conditions.go).
var stageConditions = []string{
	v1.ConditionHookServerAvailable,
	v1.ConditionPatientsLoaded,
	v1.ConditionInlineHookRegistered,
	v1.ConditionHookReachable,
	v1.ConditionPolicyRuleLinked,
}

// Verdict is the one line that says whether the TokenHook works, and if not
// what holds it up.
func Verdict(r *StatusReport) string {
	th := r.TokenHook
	ready := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionReady)
	switch {
	case th.DeletionTimestamp != nil:
		msg := "Deleting: waiting for finalizers " + strings.Join(th.Finalizers, ", ")
		if c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionInlineHookRegistered); c != nil && c.Status != metav1.ConditionTrue {
			msg += ": " + c.Message
		}
		return msg
	case th.Spec.Suspend:
		return "Suspended: spec.suspend is true; the hook server serves on as it is, and nothing is changed in Okta"
	case ready == nil:
		return "Unknown: the operator has not reported on this TokenHook yet (is it running, and watching namespace " + th.Namespace + "?)"
	case ready.ObservedGeneration != th.Generation:
		return fmt.Sprintf("Pending: the operator has not yet acted on generation %d (Ready is for generation %d)", th.Generation, ready.ObservedGeneration)
	case ready.Status != metav1.ConditionTrue:
		return "Not ready: " + ready.Message
	case r.Deployment != nil && r.Deployment.Status.ReadyReplicas == 0:
		return "Not ready: no hook server replica is ready now (the operator has not reported it yet)"
	}
	return fmt.Sprintf("Ready: Okta's calls reach the hook server, and patients get the %s claim in the %s",
		claimName(th), tokenList(claimTokens(th)))
}

// WriteStatus prints the one-screen summary of r; now dates the conditions.
func WriteStatus(w io.Writer, r *StatusReport, now time.Time) error {
	th := r.TokenHook
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(label, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t%s\n", label, fmt.Sprintf(format, args...))
	}
	row("TokenHook", "%s/%s", th.Namespace, th.Name)
	row("Verdict", "%s", Verdict(r))
	row("Generation", "%d, observed %d", th.Generation, th.Status.ObservedGeneration)

	okta := th.Spec.Okta
	row("Okta org", "%s (authorization server %s)", okta.OrgURL, firstOf(okta.AuthorizationServerID, "default"))
	row("Inline hook", "%s (%s)", idOrNone(th.Status.InlineHookID), firstOf(okta.InlineHookName, "tokenhook/"+th.Namespace+"/"+th.Name))
	row("Policy", "%s (%s)", idOrNone(th.Status.PolicyID), selectorText(okta.Policy))
	row("Rule", "%s (%s)", idOrNone(th.Status.RuleID), selectorText(okta.Rule))
	if text := hookKeyText(th); text != "" {
		row("Hook key", "%s", text)
	}

	cm := th.Spec.Patients.ConfigMapRef
	row("Patients", "%d in ConfigMap %s, key %s", th.Status.Patients, cm.Name, firstOf(cm.Key, "patients.csv"))
	claim := fmt.Sprintf("%s in the %s", claimName(th), tokenList(claimTokens(th)))
	if th.Spec.Claim.DenyNonPatients {
		claim += "; non-patients are denied a token"
	}
	row("Claim", "%s", claim)
	row("Hook server", "%s", replicasText(r))
	row("Hook URL", "%s", th.Spec.HookServer.ExternalURL)
	if err := tw.Flush(); err != nil {
		return err
	}

	if _, err := io.WriteString(w, "Conditions:\n"); err != nil {
		return err
	}
	if len(th.Status.Conditions) == 0 {
		_, err := io.WriteString(w, "  none yet\n")
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tAGE\tGENERATION\tMESSAGE")
	for _, c := range orderedConditions(th.Status.Conditions) {
		gen := fmt.Sprint(c.ObservedGeneration)
		if c.ObservedGeneration != th.Generation {
			gen += " (stale)"
		}
		age := "<unknown>"
		if !c.LastTransitionTime.IsZero() {
			age = duration.HumanDuration(now.Sub(c.LastTransitionTime.Time))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, age, gen, c.Message)
	}
	return tw.Flush()
}

// orderedConditions puts Ready first, then the stages in reconcile order,
// then any others by type.
func orderedConditions(cs []metav1.Condition) []metav1.Condition {
	rank := func(t string) int {
		if t == v1.ConditionReady {
			return 0
		}
		if i := slices.Index(stageConditions, t); i >= 0 {
			return i + 1
		}
		return len(stageConditions) + 1
	}
	out := slices.Clone(cs)
	slices.SortStableFunc(out, func(a, b metav1.Condition) int {
		if ra, rb := rank(a.Type), rank(b.Type); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.Type, b.Type)
	})
	return out
}

func replicasText(r *StatusReport) string {
	th, dep := r.TokenHook, r.Deployment
	if dep == nil {
		return fmt.Sprintf("%s (status: %d ready)", r.DeploymentError, th.Status.ReadyReplicas)
	}
	s := fmt.Sprintf("%d/%d replicas ready (Deployment %s)", dep.Status.ReadyReplicas, desiredReplicas(dep), dep.Name)
	if a := th.Spec.HookServer.Autoscaling; a != nil {
		s += fmt.Sprintf(", autoscaling %d to %d", max(a.MinReplicas, 1), a.MaxReplicas)
	}
	if dep.Status.UpdatedReplicas < desiredReplicas(dep) || dep.Status.Replicas > desiredReplicas(dep) {
		s += fmt.Sprintf(", rolling out (%d of %d updated)", dep.Status.UpdatedReplicas, desiredReplicas(dep))
	}
	return s
}

func claimName(th *v1.TokenHook) string { return firstOf(th.Spec.Claim.Name, "patientID") }

// claimTokens are the tokens of spec.claim.tokens, as the hook server names them.
func claimTokens(th *v1.TokenHook) []protocol.Token {
	var ts []protocol.Token
	for _, t := range protocol.AllTokens {
		for _, s := range th.Spec.Claim.Tokens {
			if strings.EqualFold(string(s), string(t)) {
				ts = append(ts, t)
			}
		}
	}
	if len(ts) == 0 {
		return []protocol.Token{protocol.IDToken} // the API default
	}
	return ts
}

func idOrNone(id string) string { return firstOf(id, "<none yet>") }

func selectorText(s v1.OktaObjectSelector) string {
	if s.Name != "" {
		return fmt.Sprintf("name %q", s.Name)
	}
	return "id " + s.ID
}

// hookKeyText describes the privateKeyJWT hook keys in status; "" without.
func hookKeyText(th *v1.TokenHook) string {
	st := th.Status.HookAuth
	if st == nil || st.HookKey == nil {
		return ""
	}
	registered := func(k *v1.HookKeyStatus) string {
		if k.Registered {
			return "in the app's JWKS"
		}
		return "not yet in the app's JWKS"
	}
	text := fmt.Sprintf("kid %s (%s, %s)", st.HookKey.KeyID, st.HookKey.ID, registered(st.HookKey))
	if n := st.NextHookKey; n != nil {
		text += fmt.Sprintf("; rotating to kid %s (%s, %s)", n.KeyID, n.ID, registered(n))
	}
	if n := len(st.RetiredHookKeys); n > 0 {
		text += fmt.Sprintf("; %d retired, deleted after the grace period", n)
	}
	return text
}
