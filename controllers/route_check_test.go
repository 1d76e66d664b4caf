package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/oktasim"
)

// executes counts the simulator's execute calls for a hook.
func executes(hookID string) int {
	n := 0
	for _, c := range sim.Calls() {
		if c.Endpoint == oktasim.EndpointExecuteHook && strings.Contains(c.Path, hookID) {
			n++
		}
	}
	return n
}

// A trailing slash in externalURL: Okta calls /tokenHook/, so that is what
// the hook server must serve; Ready now needs Okta's call to get through.
func TestTrailingSlashRouteIsVerified(t *testing.T) {
	f := newFixture(t)
	th := f.tokenHook("slash")
	th.Spec.HookServer.ExternalURL = "https://hooks.example.com/tokenHook/"
	f.create(th)
	th = f.waitReady("slash")
	if c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionHookReachable); c == nil || c.Reason != v1.ReasonVerified {
		t.Errorf("HookReachable = %+v, want Verified", c)
	}
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "slash-hookserver"}, d); err != nil {
		t.Fatal(err)
	}
	if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--path=/tokenHook/") {
		t.Errorf("hook server args %v; want --path=/tokenHook/", args)
	}
	if executes(th.Status.InlineHookID) == 0 {
		t.Errorf("Ready without Okta executing the hook")
	}
}

// Okta's call does not reach the hook server (a route to nowhere): not
// Ready, the rule is never linked, and the condition says what to check.
func TestMisroutedHookIsNotReady(t *testing.T) {
	f := newFixture(t)
	f.create(f.tokenHook("misrouted-hook"))
	// Its route check retries with backoff, an Okta write each time: gone
	// after the test, it cannot land in another test's steady state.
	t.Cleanup(func() {
		if err := k8s.Delete(context.Background(), f.get("misrouted-hook")); err != nil {
			t.Error(err)
		}
		f.waitGone("misrouted-hook")
	})
	th := f.waitCondition("misrouted-hook", v1.ConditionHookReachable, metav1.ConditionFalse, v1.ReasonUnreachable)
	c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionHookReachable)
	for _, want := range []string{"https://hooks.example.com/tokenHook", "404", "misrouted-hook-hookserver"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("HookReachable message %q does not mention %q", c.Message, want)
		}
	}
	if !isTrue(th, v1.ConditionHookServerAvailable) || !isTrue(th, v1.ConditionInlineHookRegistered) {
		t.Errorf("the earlier stages should be True: %s", conditions(th))
	}
	f.waitCondition("misrouted-hook", v1.ConditionReady, metav1.ConditionFalse, v1.ReasonNotReady)
	f.waitCondition("misrouted-hook", v1.ConditionPolicyRuleLinked, metav1.ConditionFalse, v1.ReasonWaiting)
	if got := f.rule().Token.InlineHookID; got != "" {
		t.Errorf("the rule calls hook %s though Okta's call does not reach the hook server", got)
	}
	var events corev1.EventList
	if err := k8s.List(context.Background(), &events, client.InNamespace(f.ns)); err == nil {
		for _, e := range events.Items {
			if strings.Contains(e.Message, "Bearer ") {
				t.Errorf("an event holds the auth secret: %s", e.Message)
			}
		}
	}
}

// The route check costs an Okta call per route change, none per drift check.
func TestRouteCheckRunsOnlyWhenTheRouteChanges(t *testing.T) {
	f := newFixture(t)
	f.create(f.tokenHook("route"))
	th := f.waitReady("route")
	hookID := th.Status.InlineHookID
	time.Sleep(driftInterval)
	sim.ResetCalls()
	time.Sleep(2 * driftInterval)
	if n := executes(hookID); n != 0 {
		t.Errorf("%d route checks in two drift periods without a change, want 0", n)
	}
	f.update("route", func(th *v1.TokenHook) { th.Spec.HookServer.ExternalURL = "https://hooks.example.com/v2/tokenHook" })
	eventually(t, waitFor, func() error {
		th := f.get("route")
		c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionHookReachable)
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != th.Generation || !strings.Contains(c.Message, "/v2/tokenHook") {
			return fmt.Errorf("HookReachable not verified for the new URL: %s", conditions(th))
		}
		return nil
	})
	if n := executes(hookID); n < 1 {
		t.Errorf("the new URL was not checked through Okta")
	}
}

// Right after an edit, the Deployment's controller has not seen the new
// spec, and the informer cache may still hold the old Deployment: the
// TokenHook must never report the old pods as available for the new spec.
func TestAvailabilityIsJudgedOnTheAppliedSpec(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(f.tokenHook("unavailable-edit"))
	key := client.ObjectKey{Namespace: f.ns, Name: "unavailable-edit-hookserver"}
	// Play the Deployment controller by hand: available at generation 1.
	eventually(t, waitFor, func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, key, d); err != nil {
			return err
		}
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
				LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}}}
		return k8s.Status().Update(ctx, d)
	})
	f.waitReady("unavailable-edit")

	wc, err := client.NewWithWatch(restCfg, client.Options{Scheme: k8s.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &v1.TokenHookList{}, client.InNamespace(f.ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// The controller's cache keeps showing the Deployment as it was.
	before := &appsv1.Deployment{}
	if err := k8s.Get(ctx, key, before); err != nil {
		t.Fatal(err)
	}
	laggingDeployments.Store(key, before)
	defer laggingDeployments.Delete(key)
	f.update("unavailable-edit", func(th *v1.TokenHook) { th.Spec.HookServer.Replicas = ptr.To[int32](3) })
	edited := f.get("unavailable-edit").Generation

	// No status written for the edit may call the old pods available.
	deadline := time.After(3 * time.Second)
	sawProgressing := false
	for done := false; !done; {
		select {
		case ev := <-w.ResultChan():
			th, ok := ev.Object.(*v1.TokenHook)
			if !ok || ev.Type != watch.Modified {
				continue
			}
			c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionHookServerAvailable)
			if c == nil || c.ObservedGeneration < edited {
				continue
			}
			if c.Status == metav1.ConditionTrue {
				t.Fatalf("at generation %d, HookServerAvailable=True (%s) while the Deployment controller has not seen the new spec", edited, c.Message)
			}
			sawProgressing = sawProgressing || c.Reason == v1.ReasonProgressing
		case <-deadline:
			done = true
		}
	}
	if !sawProgressing {
		t.Errorf("never reported Progressing for generation %d", edited)
	}
}

// Deployment status churn (pods flipping ready) reaches the TokenHook's
// status without costing Okta calls.
func TestDeploymentStatusChurnMakesNoOktaCalls(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(f.tokenHook("churn"))
	th := f.waitReady("churn")
	key := client.ObjectKey{Namespace: f.ns, Name: "churn-hookserver"}
	time.Sleep(driftInterval / 2)
	sim.ResetCalls()
	start := time.Now()
	for i := range 10 {
		eventually(t, 5*time.Second, func() error {
			d := &appsv1.Deployment{}
			if err := k8s.Get(ctx, key, d); err != nil {
				return err
			}
			d.Status.ReadyReplicas = int32(1 + i%2)
			d.Status.AvailableReplicas = d.Status.ReadyReplicas
			return k8s.Status().Update(ctx, d)
		})
		time.Sleep(50 * time.Millisecond)
	}
	eventually(t, 5*time.Second, func() error {
		if got := f.get("churn").Status.ReadyReplicas; got != 2 {
			return fmt.Errorf("status.readyReplicas = %d, want the Deployment's 2", got)
		}
		return nil
	})
	took := time.Since(start)
	calls := 0
	for _, c := range sim.Calls() {
		if strings.Contains(c.Path, th.Status.InlineHookID) || strings.Contains(c.Path, th.Status.RuleID) {
			calls++
		}
	}
	// At most the drift checks that fell in the window (two reads each).
	if limit := 2 * (int(took/(driftInterval*9/10)) + 1); calls > limit {
		t.Errorf("%d Okta calls for this TokenHook during 10 Deployment status changes in %s; drift checks allow %d", calls, took.Round(time.Millisecond), limit)
	}
}
