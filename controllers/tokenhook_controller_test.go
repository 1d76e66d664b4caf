package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/oktasim"
)

func TestCreateToReady(t *testing.T) {
	f := newFixture(t)
	f.create(f.tokenHook("clinic"))
	th := f.waitReady("clinic")
	ctx := context.Background()

	if th.Status.Patients != 2 {
		t.Errorf("status.patients = %d, want 2", th.Status.Patients)
	}
	if th.Status.ReadyReplicas != 2 {
		t.Errorf("status.readyReplicas = %d, want 2", th.Status.ReadyReplicas)
	}
	if th.Status.PolicyID != f.policyID || th.Status.RuleID != f.ruleID {
		t.Errorf("status policy/rule = %s/%s, want %s/%s", th.Status.PolicyID, th.Status.RuleID, f.policyID, f.ruleID)
	}
	hook, err := sim.Hook(th.Status.InlineHookID)
	if err != nil {
		t.Fatalf("status.inlineHookID %q is not in Okta: %v", th.Status.InlineHookID, err)
	}
	auth := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "clinic-hookserver-auth"}, auth); err != nil {
		t.Fatalf("owned auth Secret: %v", err)
	}
	checks := map[string]struct{ got, want any }{
		"hook name":             {hook.Name, "tokenhook/" + f.ns + "/clinic"},
		"hook status":           {hook.Status, oktasim.StatusActive},
		"hook type":             {hook.Type, oktasim.HookTypeToken},
		"hook URL":              {hook.Channel.URI, "https://hooks.example.com/tokenHook"},
		"auth header":           {hook.Channel.AuthScheme.Key, "Authorization"},
		"auth secret":           {hook.Channel.AuthScheme.Value, string(auth.Data["current"])},
		"pods accept (current)": {string(auth.Data["current"]), string(auth.Data["generated"])},
		"pods accept (prev)":    {string(auth.Data["previous"]), string(auth.Data["generated"])},
		"owner header":          {fmt.Sprint(hook.Channel.Headers), fmt.Sprintf("[{%s %s}]", ownerHeader, th.UID)},
		"rule hook":             {f.rule().Token.InlineHookID, hook.ID},
		"one hook by this name": {len(hooksNamed(hook.Name)), 1},
		// Nobody edited the spec: the operator's own writes must not either.
		"generation":          {th.Generation, int64(1)},
		"observed generation": {th.Status.ObservedGeneration, int64(1)},
	}
	for what, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", what, c.got, c.want)
		}
	}
	if !strings.HasPrefix(string(auth.Data["generated"]), "Bearer ") {
		t.Errorf("generated secret does not look like a bearer credential")
	}

	deploy := &appsv1.Deployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "clinic-hookserver"}, deploy); err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(deploy, th) {
		t.Errorf("Deployment is not controlled by the TokenHook")
	}
	if got := deploy.Spec.Template.Spec.Containers[0].Image; got != "tokenhook:test" {
		t.Errorf("image = %q, want the operator's default", got)
	}
	for _, obj := range []client.Object{&corev1.Service{}, &policyv1.PodDisruptionBudget{}} {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "clinic-hookserver"}, obj); err != nil {
			t.Errorf("%T: %v", obj, err)
		}
	}
}

func TestEditsReachOktaAndTheHookServer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(f.tokenHook("edits"))
	th := f.waitReady("edits")
	hookID := th.Status.InlineHookID

	t.Run("claim and tokens reach the Deployment", func(t *testing.T) {
		f.update("edits", func(th *v1.TokenHook) {
			th.Spec.Claim = v1.ClaimSpec{Name: "extPatientId", Tokens: []v1.TokenType{v1.IDToken, v1.AccessToken}}
		})
		eventually(t, waitFor, func() error {
			d := &appsv1.Deployment{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "edits-hookserver"}, d); err != nil {
				return err
			}
			args := d.Spec.Template.Spec.Containers[0].Args
			if !slices.Contains(args, "--claim=extPatientId") || !slices.Contains(args, "--tokens=id,access") {
				return fmt.Errorf("args %v lack the new claim and tokens", args)
			}
			return nil
		})
	})

	t.Run("URL reaches Okta", func(t *testing.T) {
		f.update("edits", func(th *v1.TokenHook) { th.Spec.HookServer.ExternalURL = "https://hooks2.example.com/okta/hook" })
		eventually(t, waitFor, func() error {
			h, err := sim.Hook(hookID)
			if err != nil {
				return err
			}
			if h.Channel.URI != "https://hooks2.example.com/okta/hook" {
				return fmt.Errorf("Okta has URL %q", h.Channel.URI)
			}
			return nil
		})
		f.waitReady("edits")
	})

	t.Run("secret rotation: pods accept both before Okta moves", func(t *testing.T) {
		old := oktaSecret(t, hookID)
		f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-auth", Namespace: f.ns},
			StringData: map[string]string{"secret": "Basic bmV3OnNlY3JldA==\n"}})
		f.update("edits", func(th *v1.TokenHook) { th.Spec.AuthSecretRef = &v1.SecretKeyRef{Name: "hook-auth", Key: "secret"} })

		// Whenever Okta sends a value, the pods' Secret accepts it.
		deadline := time.Now().Add(waitFor)
		var sawBoth, done bool
		for !done {
			if time.Now().After(deadline) {
				t.Fatalf("rotation did not finish; Okta has the old secret: %v", oktaSecret(t, hookID) == old)
			}
			sent := oktaSecret(t, hookID)
			s := &corev1.Secret{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "edits-hookserver-auth"}, s); err != nil {
				t.Fatal(err)
			}
			cur, prev := string(s.Data["current"]), string(s.Data["previous"])
			if sent != cur && sent != prev {
				t.Fatalf("Okta sends a secret the hook servers do not accept")
			}
			sawBoth = sawBoth || (cur == "Basic bmV3OnNlY3JldA==" && prev == old)
			done = sent == "Basic bmV3OnNlY3JldA==" && cur == sent && prev == sent
			time.Sleep(50 * time.Millisecond)
		}
		if !sawBoth {
			t.Errorf("never saw the pods accept old and new together")
		}
		f.waitReady("edits")
	})

	if n := len(hooksNamed("tokenhook/" + f.ns + "/edits")); n != 1 {
		t.Errorf("%d hooks by our name after edits, want 1", n)
	}
}

func oktaSecret(t *testing.T, hookID string) string {
	t.Helper()
	h, err := sim.Hook(hookID)
	if err != nil {
		t.Fatal(err)
	}
	return h.Channel.AuthScheme.Value
}

func TestPatientsConfigMap(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(f.tokenHook("patients"))
	f.waitReady("patients")

	setPatients := func(data string) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			cm := &corev1.ConfigMap{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "patients"}, cm); err != nil {
				return err
			}
			cm.Data["patients.csv"] = data
			return k8s.Update(ctx, cm)
		})
	}

	setPatients(patientsCSV + "carol@example.com,P-003\n")
	eventually(t, waitFor, func() error {
		if n := f.get("patients").Status.Patients; n != 3 {
			return fmt.Errorf("status.patients = %d, want 3", n)
		}
		return nil
	})

	// A duplicate login on line 5: the last good count stays, the
	// condition names the line and not the data.
	setPatients(patientsCSV + "carol@example.com,P-003\nCAROL@example.com,P-004\n")
	th := f.waitCondition("patients", v1.ConditionPatientsLoaded, metav1.ConditionFalse, v1.ReasonInvalidPatients)
	msg := metaMessage(th, v1.ConditionPatientsLoaded)
	if !strings.Contains(msg, "line 5") {
		t.Errorf("message %q does not name line 5", msg)
	}
	if strings.Contains(strings.ToLower(msg), "carol") || strings.Contains(msg, "P-00") {
		t.Errorf("message %q leaks patient data", msg)
	}
	if th.Status.Patients != 3 {
		t.Errorf("status.patients = %d after a bad edit, want the last good 3", th.Status.Patients)
	}
	if isTrue(th, v1.ConditionReady) {
		t.Errorf("Ready is True with a bad patient list")
	}

	if err := k8s.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "patients"}}); err != nil {
		t.Fatal(err)
	}
	f.waitCondition("patients", v1.ConditionPatientsLoaded, metav1.ConditionFalse, v1.ReasonConfigMapNotFound)
}

func metaMessage(th *v1.TokenHook, condType string) string {
	for _, c := range th.Status.Conditions {
		if c.Type == condType {
			return c.Message
		}
	}
	return ""
}

func TestDeletion(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		policy   v1.DeletionPolicy
		wantHook bool
	}{
		"Delete removes the hook and unlinks the rule": {policy: v1.DeletionPolicyDelete, wantHook: false},
		"Orphan leaves both":                           {policy: v1.DeletionPolicyOrphan, wantHook: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			th := f.tokenHook("gone")
			th.Spec.DeletionPolicy = tc.policy
			f.create(th)
			hookID := f.waitReady("gone").Status.InlineHookID
			if err := k8s.Delete(ctx, f.get("gone")); err != nil {
				t.Fatal(err)
			}
			f.waitGone("gone")
			_, err := sim.Hook(hookID)
			if exists := err == nil; exists != tc.wantHook {
				t.Errorf("hook exists after delete = %v, want %v", exists, tc.wantHook)
			}
			linked := f.rule().Token.InlineHookID == hookID
			if linked != tc.wantHook {
				t.Errorf("rule still calls the hook = %v, want %v", linked, tc.wantHook)
			}
		})
	}
}

func TestConflicts(t *testing.T) {
	t.Run("a foreign hook by our name", func(t *testing.T) {
		f := newFixture(t)
		foreign, err := sim.AddHook(oktasim.HookSpec{
			Name: "tokenhook/" + f.ns + "/taken", Type: oktasim.HookTypeToken, Version: "1.0.0",
			Channel: oktasim.Channel{Type: "HTTP", Version: "1.0.0", URI: "https://other.example.com/hook", Method: "POST",
				AuthScheme: &oktasim.AuthScheme{Type: "HEADER", Key: "Authorization", Value: "theirs"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		f.create(f.tokenHook("taken"))
		th := f.waitCondition("taken", v1.ConditionInlineHookRegistered, metav1.ConditionFalse, v1.ReasonConflict)
		if !strings.Contains(metaMessage(th, v1.ConditionInlineHookRegistered), foreign.ID) {
			t.Errorf("conflict message does not name the foreign hook")
		}
		h, _ := sim.Hook(foreign.ID)
		if h.Channel.URI != "https://other.example.com/hook" || h.Channel.AuthScheme.Value != "theirs" {
			t.Errorf("the foreign hook was changed")
		}
		// Deleting leaves the foreign hook alone.
		if err := k8s.Delete(context.Background(), th); err != nil {
			t.Fatal(err)
		}
		f.waitGone("taken")
		if _, err := sim.Hook(foreign.ID); err != nil {
			t.Errorf("the foreign hook was deleted: %v", err)
		}
	})

	t.Run("a foreign hook in status.inlineHookID", func(t *testing.T) {
		// A restored or cloned cluster: the status names a hook that
		// another TokenHook (another UID) owns, and the rule calls it.
		f := newFixture(t)
		ctx := context.Background()
		foreign, err := sim.AddHook(oktasim.HookSpec{
			Name: "their-hook-" + f.ns, Type: oktasim.HookTypeToken, Version: "1.0.0",
			Channel: oktasim.Channel{Type: "HTTP", Version: "1.0.0", URI: "https://other.example.com/hook", Method: "POST",
				Headers:    []oktasim.Header{{Key: ownerHeader, Value: "uid-of-another-tokenhook"}},
				AuthScheme: &oktasim.AuthScheme{Type: "HEADER", Key: "Authorization", Value: "theirs"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sim.UpdateRule("default", f.policyID, f.ruleID, func(r *oktasim.Rule) { r.Token.InlineHookID = foreign.ID }); err != nil {
			t.Fatal(err)
		}
		// Suspended, so the status is in place before the controller acts.
		th := f.tokenHook("copied")
		th.Spec.Suspend = true
		f.create(th)
		eventually(t, 10*time.Second, func() error {
			th := f.get("copied")
			th.Status.InlineHookID = foreign.ID
			return k8s.Status().Update(ctx, th)
		})
		f.update("copied", func(th *v1.TokenHook) { th.Spec.Suspend = false })

		th = f.waitCondition("copied", v1.ConditionInlineHookRegistered, metav1.ConditionFalse, v1.ReasonConflict)
		if !strings.Contains(metaMessage(th, v1.ConditionInlineHookRegistered), foreign.ID) {
			t.Errorf("conflict message does not name the foreign hook")
		}
		unchanged := func() {
			t.Helper()
			h, err := sim.Hook(foreign.ID)
			if err != nil {
				t.Fatalf("the foreign hook was deleted: %v", err)
			}
			if h.Name != foreign.Name || h.Channel.URI != foreign.Channel.URI || h.Channel.AuthScheme.Value != "theirs" ||
				h.Status != oktasim.StatusActive || fmt.Sprint(h.Channel.Headers) != fmt.Sprint(foreign.Channel.Headers) {
				t.Errorf("the foreign hook was changed: %+v", h)
			}
			if got := f.rule().Token.InlineHookID; got != foreign.ID {
				t.Errorf("rule calls %q, want it left on the foreign hook %s", got, foreign.ID)
			}
		}
		unchanged()
		if err := k8s.Delete(ctx, th); err != nil {
			t.Fatal(err)
		}
		f.waitGone("copied")
		unchanged()
	})

	t.Run("a rule that calls someone else's hook", func(t *testing.T) {
		f := newFixture(t)
		foreign, err := sim.AddHook(oktasim.HookSpec{
			Name: "someone-else-" + f.ns, Type: oktasim.HookTypeToken, Version: "1.0.0",
			Channel: oktasim.Channel{Type: "HTTP", Version: "1.0.0", URI: "https://other.example.com/hook", Method: "POST",
				AuthScheme: &oktasim.AuthScheme{Type: "HEADER", Key: "Authorization", Value: "theirs"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sim.UpdateRule("default", f.policyID, f.ruleID, func(r *oktasim.Rule) { r.Token.InlineHookID = foreign.ID }); err != nil {
			t.Fatal(err)
		}
		f.create(f.tokenHook("stealer"))
		f.waitCondition("stealer", v1.ConditionPolicyRuleLinked, metav1.ConditionFalse, v1.ReasonConflict)
		if got := f.rule().Token.InlineHookID; got != foreign.ID {
			t.Errorf("rule calls %s, want it left on the foreign hook %s", got, foreign.ID)
		}
	})
}

func TestAdoptsItsOwnHookAfterACrash(t *testing.T) {
	f := newFixture(t)
	// Suspended, so we know its UID before the controller acts in Okta.
	th := f.tokenHook("adopt")
	th.Spec.Suspend = true
	f.create(th)
	th = f.get("adopt")
	// What a manager that crashed between the Okta create and the status
	// write leaves behind: a hook with our name and marker, no id in status.
	orphan, err := sim.AddHook(oktasim.HookSpec{
		Name: "tokenhook/" + f.ns + "/adopt", Type: oktasim.HookTypeToken, Version: "1.0.0",
		Channel: oktasim.Channel{Type: "HTTP", Version: "1.0.0", URI: "https://hooks.example.com/tokenHook", Method: "POST",
			Headers:    []oktasim.Header{{Key: ownerHeader, Value: string(th.UID)}},
			AuthScheme: &oktasim.AuthScheme{Type: "HEADER", Key: "Authorization", Value: "lost"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.update("adopt", func(th *v1.TokenHook) { th.Spec.Suspend = false })
	th = f.waitReady("adopt")
	if th.Status.InlineHookID != orphan.ID {
		t.Errorf("status.inlineHookID = %s, want the adopted %s", th.Status.InlineHookID, orphan.ID)
	}
	if n := len(hooksNamed(orphan.Name)); n != 1 {
		t.Errorf("%d hooks named %q, want 1", n, orphan.Name)
	}
	// The secret Okta had was unknown, so it was replaced by ours.
	if oktaSecret(t, orphan.ID) == "lost" {
		t.Errorf("the adopted hook kept a secret the hook servers do not know")
	}
}

// Hooks registered before the default name became tokenhook/<ns>/<name>
// are named tokenhook-<ns>-<name>: an upgrade adopts and renames its own,
// and leaves another TokenHook's alone (the old form let two share a name).
func TestLegacyHookNames(t *testing.T) {
	cases := map[string]struct {
		ownedByUs bool
	}{
		"its own hook is adopted and renamed":        {ownedByUs: true},
		"another TokenHook's hook is left as it was": {ownedByUs: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			th := f.tokenHook("legacy")
			th.Spec.Suspend = true // so we know its UID before it acts in Okta
			f.create(th)
			th = f.get("legacy")
			owner := "uid-of-another-tokenhook"
			if tc.ownedByUs {
				owner = string(th.UID)
			}
			// An upgrade lost nothing, but a crash before the upgrade may
			// have lost the id: look-up by name is what is tested.
			old, err := sim.AddHook(oktasim.HookSpec{
				Name: "tokenhook-" + f.ns + "-legacy", Type: oktasim.HookTypeToken, Version: "1.0.0",
				Channel: oktasim.Channel{Type: "HTTP", Version: "1.0.0", URI: "https://other.example.com/hook", Method: "POST",
					Headers:    []oktasim.Header{{Key: ownerHeader, Value: owner}},
					AuthScheme: &oktasim.AuthScheme{Type: "HEADER", Key: "Authorization", Value: "old"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			// The new version starts after the old one made its hook: it
			// has no listing of the org yet.
			reconciler.okta.dropListings()
			f.update("legacy", func(th *v1.TokenHook) { th.Spec.Suspend = false })
			th = f.waitReady("legacy")

			newName := "tokenhook/" + f.ns + "/legacy"
			if n := len(hooksNamed(newName)); n != 1 {
				t.Errorf("%d hooks named %q, want 1", n, newName)
			}
			adopted := th.Status.InlineHookID == old.ID
			if adopted != tc.ownedByUs {
				t.Errorf("adopted the legacy-named hook = %v, want %v", adopted, tc.ownedByUs)
			}
			h, err := sim.Hook(old.ID)
			if err != nil {
				t.Fatalf("the legacy-named hook is gone: %v", err)
			}
			if tc.ownedByUs && h.Name != newName {
				t.Errorf("adopted hook is named %q, want it renamed to %q", h.Name, newName)
			}
			if !tc.ownedByUs && (h.Name != old.Name || h.Channel.URI != old.Channel.URI || h.Channel.AuthScheme.Value != "old") {
				t.Errorf("another TokenHook's hook was changed: %+v", h)
			}
		})
	}
}

func TestTransientOktaFaultsConverge(t *testing.T) {
	f := newFixture(t)
	t.Cleanup(sim.ClearFaults)
	// Fail the first calls of the write endpoints with 429s and 5xx.
	for pattern, faults := range map[string]oktasim.Faults{
		oktasim.EndpointCreateHook:  {ServerErrorRate: 1, MaxFaults: 2},
		oktasim.EndpointReplaceRule: {RateLimitRate: 1, MaxFaults: 5},
	} {
		if err := sim.SetFaults(pattern, faults); err != nil {
			t.Fatal(err)
		}
	}
	sim.ResetCalls()
	f.create(f.tokenHook("flaky"))
	// Each failed reconcile backs off (5 s, then 10 s, ...): on a busy
	// machine the faults can take longer than the suite's usual wait.
	eventually(t, 2*time.Minute, func() error {
		if got := f.get("flaky"); !isTrue(got, v1.ConditionReady) || got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("not Ready yet: %s", conditions(got))
		}
		return nil
	})
	th := f.waitReady("flaky")
	injected := 0
	for _, c := range sim.Calls() {
		if c.Fault != "" {
			injected++
		}
	}
	if injected != 7 {
		t.Errorf("%d faults injected, want 2 + 5", injected)
	}
	if n := len(hooksNamed("tokenhook/" + f.ns + "/flaky")); n != 1 {
		t.Errorf("%d hooks after faults, want exactly 1", n)
	}
	if f.rule().Token.InlineHookID != th.Status.InlineHookID {
		t.Errorf("rule not linked after faults")
	}
}

func TestSteadyStateMakesNoOktaWrites(t *testing.T) {
	f := newFixture(t)
	f.create(f.tokenHook("steady"))
	f.waitReady("steady")
	time.Sleep(driftInterval) // let the reconciles that Ready itself caused settle
	sim.ResetCalls()
	time.Sleep(3 * driftInterval)
	var reads, writes int
	for _, c := range sim.Calls() {
		if c.IsWrite() {
			writes++
			t.Errorf("steady state wrote to Okta: %s %s -> %d", c.Method, c.Path, c.Status)
		} else {
			reads++
		}
	}
	if reads == 0 {
		t.Errorf("no Okta reads in %s: the drift check did not run", 3*driftInterval)
	}
	t.Logf("steady state over %s: %d reads, %d writes (all TokenHooks of the suite)", 3*driftInterval, reads, writes)
}

func TestDriftInOktaIsRepaired(t *testing.T) {
	f := newFixture(t)
	f.create(f.tokenHook("drift"))
	th := f.waitReady("drift")
	id := th.Status.InlineHookID
	if _, err := sim.UpdateHook(id, func(h *oktasim.Hook) { h.Status = oktasim.StatusInactive; h.Channel.URI = "https://evil.example.com/" }); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.UpdateRule("default", f.policyID, f.ruleID, func(r *oktasim.Rule) { r.Token.InlineHookID = "" }); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		h, err := sim.Hook(id)
		if err != nil {
			return err
		}
		if h.Status != oktasim.StatusActive || h.Channel.URI != "https://hooks.example.com/tokenHook" {
			return fmt.Errorf("hook is %s at %s", h.Status, h.Channel.URI)
		}
		if f.rule().Token.InlineHookID != id {
			return fmt.Errorf("rule not relinked")
		}
		return nil
	})
}

func TestSpecProblemsAreReported(t *testing.T) {
	cases := map[string]struct {
		mutate func(*fixture, *v1.TokenHook)
		cond   string
		reason string
	}{
		"missing credentials Secret": {
			mutate: func(_ *fixture, th *v1.TokenHook) { th.Spec.Okta.CredentialsSecretRef.Name = "nope" },
			cond:   v1.ConditionInlineHookRegistered, reason: v1.ReasonCredentialsInvalid,
		},
		"wrong API token": {
			mutate: func(f *fixture, th *v1.TokenHook) {
				f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bad-token", Namespace: f.ns},
					StringData: map[string]string{"apiToken": "wrong"}})
				th.Spec.Okta.CredentialsSecretRef.Name = "bad-token"
			},
			cond: v1.ConditionInlineHookRegistered, reason: v1.ReasonOktaRejected,
		},
		"unknown rule": {
			mutate: func(_ *fixture, th *v1.TokenHook) { th.Spec.Okta.Rule.Name = "No Such Rule" },
			cond:   v1.ConditionPolicyRuleLinked, reason: v1.ReasonNotFound,
		},
		"missing auth Secret": {
			mutate: func(_ *fixture, th *v1.TokenHook) {
				th.Spec.AuthSecretRef = &v1.SecretKeyRef{Name: "nope", Key: "secret"}
			},
			cond: v1.ConditionHookServerAvailable, reason: v1.ReasonAuthSecretNotFound,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			th := f.tokenHook("problem")
			tc.mutate(f, th)
			f.create(th)
			got := f.waitCondition("problem", tc.cond, metav1.ConditionFalse, tc.reason)
			if isTrue(got, v1.ConditionReady) {
				t.Errorf("Ready is True")
			}
			if strings.Contains(conditions(got), simToken) || strings.Contains(conditions(got), "wrong") {
				t.Errorf("a credential leaked into status: %s", conditions(got))
			}
		})
	}
}

func TestHookServerUnavailableKeepsTheRuleUnlinked(t *testing.T) {
	f := newFixture(t)
	f.create(f.tokenHook("unavailable-server"))
	th := f.waitCondition("unavailable-server", v1.ConditionInlineHookRegistered, metav1.ConditionTrue, "")
	f.waitCondition("unavailable-server", v1.ConditionPolicyRuleLinked, metav1.ConditionFalse, v1.ReasonWaiting)
	if got := f.rule().Token.InlineHookID; got != "" {
		t.Errorf("rule calls %s before the hook server %s is available", got, th.Status.InlineHookID)
	}
}

func TestHookLimitIsReported(t *testing.T) {
	f := newFixture(t)
	// Fill the org to Okta's cap with hooks of others.
	var fillers []string
	t.Cleanup(func() {
		for _, id := range fillers {
			sim.RemoveHook(id)
		}
	})
	for i := len(sim.Hooks()); i < oktasim.DefaultHookLimit; i++ {
		h, err := sim.AddHook(oktasim.HookSpec{
			Name: fmt.Sprintf("filler-%s-%d", f.ns, i), Type: oktasim.HookTypeToken, Version: "1.0.0",
			Channel: oktasim.Channel{Type: "HTTP", Version: "1.0.0", URI: "https://other.example.com/hook", Method: "POST",
				AuthScheme: &oktasim.AuthScheme{Type: "HEADER", Key: "Authorization", Value: "x"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		fillers = append(fillers, h.ID)
	}
	f.create(f.tokenHook("capped"))
	th := f.waitCondition("capped", v1.ConditionInlineHookRegistered, metav1.ConditionFalse, v1.ReasonHookLimitReached)
	if msg := metaMessage(th, v1.ConditionInlineHookRegistered); !strings.Contains(msg, "50") {
		t.Errorf("message %q does not name the cap", msg)
	}
	// Room again: the next drift check registers it.
	for _, id := range fillers[:1] {
		sim.RemoveHook(id)
	}
	f.waitReady("capped")
}

func TestDeletionWithoutCredentialsWaitsThenOrphanReleases(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(f.tokenHook("stuck"))
	hookID := f.waitReady("stuck").Status.InlineHookID
	// The credentials go first, and someone forces them out past the
	// finalizer that protects them while in use.
	f.forceDeleteSecret("okta")
	if err := k8s.Delete(ctx, f.get("stuck")); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		msg := metaMessage(f.get("stuck"), v1.ConditionInlineHookRegistered)
		if !strings.Contains(msg, "deletionPolicy to Orphan") {
			return fmt.Errorf("condition %q does not say how to get out", msg)
		}
		return nil
	})
	if _, err := sim.Hook(hookID); err != nil {
		t.Fatalf("the hook went away without credentials: %v", err)
	}
	f.update("stuck", func(th *v1.TokenHook) { th.Spec.DeletionPolicy = v1.DeletionPolicyOrphan })
	f.waitGone("stuck")
}

// forceDeleteSecret deletes a Secret and strips its finalizers, as an admin
// forcing it out would.
func (f *fixture) forceDeleteSecret(name string) {
	f.t.Helper()
	ctx := context.Background()
	key := client.ObjectKey{Namespace: f.ns, Name: name}
	if err := k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name}}); err != nil {
		f.t.Fatal(err)
	}
	eventually(f.t, 10*time.Second, func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx, key, s); apierrors.IsNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		s.Finalizers = nil
		if err := k8s.Update(ctx, s); err != nil {
			return err
		}
		return fmt.Errorf("Secret %s still exists", name)
	})
}

// secretState reads a Secret: whether it exists, is being deleted, and
// carries the credentials-in-use finalizer.
func (f *fixture) secretState(name string) (exists, deleting, protected bool) {
	f.t.Helper()
	s := &corev1.Secret{}
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, s)
	if apierrors.IsNotFound(err) {
		return false, false, false
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return true, !s.DeletionTimestamp.IsZero(), slices.Contains(s.Finalizers, "tokenhook.io/credentials-in-use")
}

// Deleting a namespace deletes its Secrets and TokenHooks in no particular
// order. envtest runs no namespace controller, so the test deletes them as it
// would, credentials first: the Okta clean-up must still complete, and only
// then may the credentials Secret go.
func TestNamespaceDeletionCleansUpOktaFirst(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(f.tokenHook("ns-gone"))
	hookID := f.waitReady("ns-gone").Status.InlineHookID
	if _, _, protected := f.secretState("okta"); !protected {
		t.Fatalf("the credentials Secret has no credentials-in-use finalizer while a TokenHook uses it")
	}

	if err := k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}}); err != nil {
		t.Fatal(err)
	}
	if err := k8s.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	if err := k8s.DeleteAllOf(ctx, &v1.TokenHook{}, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for {
		_, hookErr := sim.Hook(hookID)
		oktaClean := hookErr != nil && f.rule().Token.InlineHookID == ""
		credsExist, _, _ := f.secretState("okta")
		err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "ns-gone"}, &v1.TokenHook{})
		thGone := apierrors.IsNotFound(err)
		if !credsExist && !oktaClean {
			t.Fatalf("the credentials Secret went before the Okta clean-up was done (hook still there: %v)", hookErr == nil)
		}
		if oktaClean && thGone && !credsExist {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: Okta clean = %v, TokenHook gone = %v, credentials Secret gone = %v", waitFor, oktaClean, thGone, !credsExist)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(hooksNamed("tokenhook/" + f.ns + "/ns-gone")); n != 0 {
		t.Errorf("%d tokenhook inline hooks left in Okta", n)
	}
}

// A credentials Secret deleted while a TokenHook uses it stays (Terminating)
// until the TokenHook stops referring to it, as a PersistentVolumeClaim in
// use does.
func TestCredentialsSecretInUseIsKept(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(f.tokenHook("user"))
	f.waitReady("user")
	if err := k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "okta"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * driftInterval)
	if exists, deleting, protected := f.secretState("okta"); !exists || !deleting || !protected {
		t.Fatalf("credentials Secret in use: exists %v, deleting %v, protected %v; want it kept, Terminating", exists, deleting, protected)
	}
	f.waitReady("user")

	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "okta-2", Namespace: f.ns},
		StringData: map[string]string{"apiToken": simToken}})
	f.update("user", func(th *v1.TokenHook) { th.Spec.Okta.CredentialsSecretRef.Name = "okta-2" })
	eventually(t, waitFor, func() error {
		if exists, _, _ := f.secretState("okta"); exists {
			return fmt.Errorf("the Secret no TokenHook uses any more is still there")
		}
		if _, _, protected := f.secretState("okta-2"); !protected {
			return fmt.Errorf("the Secret now in use is not protected")
		}
		return nil
	})
	f.waitReady("user")
}

func TestMovingToAnotherRuleUnlinksTheOldOne(t *testing.T) {
	f := newFixture(t)
	f.create(f.tokenHook("mover"))
	hookID := f.waitReady("mover").Status.InlineHookID
	other, err := sim.AddRule("default", f.policyID, oktasim.RuleSpec{
		Name: f.ruleName + " (other)", Priority: 90,
		Conditions: oktasim.RuleConditions{GrantTypes: []string{"password"}, Scopes: []string{"*"},
			Groups: oktasim.IncludeExclude{Include: []string{"EVERYONE"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.update("mover", func(th *v1.TokenHook) { th.Spec.Okta.Rule = v1.OktaObjectSelector{ID: other.ID} })
	th := f.waitReady("mover")
	if th.Status.RuleID != other.ID {
		t.Errorf("status.ruleID = %s, want %s", th.Status.RuleID, other.ID)
	}
	if got, _ := sim.Rule("default", f.policyID, other.ID); got.Token.InlineHookID != hookID {
		t.Errorf("the new rule calls %q, want %s", got.Token.InlineHookID, hookID)
	}
	if got := f.rule().Token.InlineHookID; got != "" {
		t.Errorf("the old rule still calls %s", got)
	}
}

func TestHookServerTLS(t *testing.T) {
	f := newFixture(t)
	f.create(f.tokenHook("tls"))
	ready := f.waitReady("tls")
	ctx := context.Background()
	deployKey := client.ObjectKey{Namespace: f.ns, Name: "tls-hookserver"}
	before := &appsv1.Deployment{}
	if err := k8s.Get(ctx, deployKey, before); err != nil {
		t.Fatal(err)
	}

	// A TLS Secret that does not exist yet: reported, and the running
	// hook server is left as it is, still linked in Okta.
	f.update("tls", func(th *v1.TokenHook) { th.Spec.HookServer.TLS = &v1.HookServerTLS{SecretName: "hooks-tls"} })
	th := f.waitCondition("tls", v1.ConditionHookServerAvailable, metav1.ConditionFalse, v1.ReasonTLSSecretInvalid)
	if msg := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionHookServerAvailable).Message; !strings.Contains(msg, `spec.hookServer.tls.secretName: Secret "hooks-tls" not found`) {
		t.Errorf("message %q does not name the field and the Secret", msg)
	}
	during := &appsv1.Deployment{}
	if err := k8s.Get(ctx, deployKey, during); err != nil {
		t.Fatal(err)
	}
	if during.Generation != before.Generation {
		t.Errorf("the Deployment changed (generation %d -> %d) although its TLS Secret is missing", before.Generation, during.Generation)
	}
	if f.rule().Token.InlineHookID != ready.Status.InlineHookID {
		t.Errorf("the rule lost its hook while the TLS Secret was missing")
	}

	// The Secret appears (as cert-manager would issue it): the watch picks
	// it up and the hook server moves to HTTPS.
	now := time.Now()
	crt, key := testCertificate(t, now.Add(-time.Hour), now.Add(24*time.Hour))
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hooks-tls", Namespace: f.ns}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}})
	f.waitReady("tls")
	after := &appsv1.Deployment{}
	if err := k8s.Get(ctx, deployKey, after); err != nil {
		t.Fatal(err)
	}
	c := after.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--tls-cert=/etc/tokenhook/tls/tls.crt") || c.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
		t.Errorf("the Deployment does not serve HTTPS: args %v, probe %s", c.Args, c.ReadinessProbe.HTTPGet.Scheme)
	}
	svc := &corev1.Service{}
	if err := k8s.Get(ctx, deployKey, svc); err != nil {
		t.Fatal(err)
	}
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%s/%d", p.Name, p.Port))
	}
	if got := strings.Join(ports, ","); got != "https/443,metrics/9090" {
		t.Errorf("Service ports %s, want https/443,metrics/9090 (the http port released)", got)
	}

	// A renewal to a broken pair is reported; the pods keep their files.
	eventually(t, 10*time.Second, func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "hooks-tls"}, s); err != nil {
			return err
		}
		s.Data[corev1.TLSPrivateKeyKey] = []byte("truncated")
		return k8s.Update(ctx, s)
	})
	th = f.waitCondition("tls", v1.ConditionHookServerAvailable, metav1.ConditionFalse, v1.ReasonTLSSecretInvalid)
	if msg := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionHookServerAvailable).Message; strings.Contains(msg, "truncated") {
		t.Errorf("message %q holds Secret data", msg)
	}
}

// TestKubectlAppliedTokenHookKeepsItsGeneration: a TokenHook written as a
// user writes it (no empty fields, as kubectl sends YAML) stays at
// generation 1 through the operator's own writes; an Update of the typed
// object once added "resources: {}" and made the first Ready generation 2.
func TestKubectlAppliedTokenHookKeepsItsGeneration(t *testing.T) {
	f := newFixture(t)
	u := &unstructured.Unstructured{}
	manifest := fmt.Sprintf(`apiVersion: tokenhook.io/v1alpha1
kind: TokenHook
metadata:
  name: applied
  namespace: %s
spec:
  okta:
    orgURL: %s
    credentialsSecretRef: {name: okta}
    policy: {name: Default Policy}
    rule: {name: %q}
  hookServer:
    externalURL: https://hooks.example.com/tokenHook
  patients:
    configMapRef: {name: patients}
`, f.ns, simSrv.URL, f.ruleName)
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatal(err)
	}
	f.create(u)
	th := f.waitReady("applied")
	if th.Generation != 1 || th.Status.ObservedGeneration != 1 {
		t.Errorf("generation %d, observedGeneration %d after the operator's writes; want 1 and 1 (nobody edited the spec)",
			th.Generation, th.Status.ObservedGeneration)
	}
}

// TestFailedReconcileClaimsNothing: while every reconcile of a new
// generation fails on a Kubernetes call, status keeps the last generation
// it achieved, Ready is False naming the failure, and an event says so; a
// later success clears it.
func TestFailedReconcileClaimsNothing(t *testing.T) {
	cases := map[string]struct {
		err  error
		want string // in the Ready message
	}{
		"a forbidden call": {
			err: apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "clinic-hookserver",
				errors.New(`User "system:serviceaccount:tokenhook-system:tokenhook" cannot patch resource "deployments" in API group "apps"`)),
			want: `cannot patch resource "deployments"`,
		},
		"an API server error": {
			err:  apierrors.NewInternalError(errors.New("etcdserver: request timed out")),
			want: "etcdserver: request timed out",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			f.create(f.tokenHook("clinic"))
			f.waitReady("clinic")

			failingApplies.Store(f.ns, c.err)
			t.Cleanup(func() { failingApplies.Delete(f.ns) })
			th := f.get("clinic")
			before := th.DeepCopy()
			th.Spec.HookServer.Replicas = ptr.To[int32](3)
			if err := k8s.Patch(ctx, th, client.MergeFrom(before)); err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, func() error {
				got := f.get("clinic")
				ready := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionReady)
				if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != v1.ReasonKubernetesAPIError ||
					!strings.Contains(ready.Message, c.want) {
					return fmt.Errorf("Ready = %+v, want False/%s naming %q", ready, v1.ReasonKubernetesAPIError, c.want)
				}
				if got.Status.ObservedGeneration != 1 {
					return fmt.Errorf("observedGeneration = %d, want 1: generation %d was never reconciled", got.Status.ObservedGeneration, got.Generation)
				}
				return nil
			})
			eventually(t, 20*time.Second, func() error {
				var events eventsv1.EventList
				if err := k8s.List(ctx, &events, client.InNamespace(f.ns)); err != nil {
					return err
				}
				for _, e := range events.Items {
					if e.Reason == v1.ReasonKubernetesAPIError && e.Type == corev1.EventTypeWarning && strings.Contains(e.Note, c.want) {
						return nil
					}
				}
				return fmt.Errorf("no Warning event %s naming %q", v1.ReasonKubernetesAPIError, c.want)
			})

			failingApplies.Delete(f.ns)
			eventually(t, 30*time.Second, func() error {
				got := f.get("clinic")
				if !isTrue(got, v1.ConditionReady) || got.Status.ObservedGeneration != got.Generation {
					return fmt.Errorf("not Ready for generation %d after the failure cleared: %v", got.Generation, got.Status.Conditions)
				}
				return nil
			})
		})
	}
}
