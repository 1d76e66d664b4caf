package kubectlplugin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

func TestStatusText(t *testing.T) {
	ready := func(th *v1.TokenHook) { th.Status.Conditions = readyConditions(3) }
	cases := map[string]struct {
		reason string
		th     *v1.TokenHook
		// ready replicas of the Deployment; -1: no Deployment
		deployReady int32
		want        string
	}{
		"Ready": {
			reason:      "A TokenHook whose conditions are all True for its generation is Ready.",
			th:          testTokenHook(ready),
			deployReady: 2,
			want: `TokenHook:    clinic/patients
Verdict:      Ready: Okta's calls reach the hook server, and patients get the patientID claim in the ID token
Generation:   3, observed 3
Okta org:     https://dev-1.okta.com (authorization server default)
Inline hook:  calHOOK1 (tokenhook/clinic/patients)
Policy:       00pPOLICY1 (name "Patients policy")
Rule:         0prRULE1 (id 0prRULE1)
Patients:     2 in ConfigMap patients, key patients.csv
Claim:        patientID in the ID token
Hook server:  2/2 replicas ready (Deployment patients-hookserver)
Hook URL:     https://hooks.example.com/tokenHook
Conditions:
  TYPE                  STATUS  REASON      AGE  GENERATION  MESSAGE
  Ready                 True    Ready       90m  3           the hook server is available, Okta's call reaches it, and the policy rule calls it
  HookServerAvailable   True    Available   90m  3           2 of 2 replicas ready
  PatientsLoaded        True    Loaded      90m  3           2 patients
  InlineHookRegistered  True    Registered  90m  3           inline hook calHOOK1
  HookReachable         True    Verified    90m  3           Okta's call reached the hook server
  PolicyRuleLinked      True    Linked      90m  3           rule 0prRULE1 calls inline hook calHOOK1
`,
		},
		"NotReady": {
			reason: "A failing stage makes the verdict the Ready condition's message, which names it.",
			th: testTokenHook(ready, func(th *v1.TokenHook) {
				th.Spec.Claim = v1.ClaimSpec{Name: "pid", Tokens: []v1.TokenType{v1.AccessToken, v1.IDToken}, DenyNonPatients: true}
				meta.SetStatusCondition(&th.Status.Conditions, metav1.Condition{Type: v1.ConditionHookReachable, Status: metav1.ConditionFalse,
					Reason: v1.ReasonUnreachable, Message: "Okta's call got 404", ObservedGeneration: 3})
				meta.SetStatusCondition(&th.Status.Conditions, metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionFalse,
					Reason: v1.ReasonNotReady, Message: "HookReachable is False: Okta's call got 404", ObservedGeneration: 3})
				for i := range th.Status.Conditions {
					th.Status.Conditions[i].LastTransitionTime = metav1.NewTime(testNow.Add(-30 * time.Second))
				}
			}),
			deployReady: 1,
			want: `TokenHook:    clinic/patients
Verdict:      Not ready: HookReachable is False: Okta's call got 404
Generation:   3, observed 3
Okta org:     https://dev-1.okta.com (authorization server default)
Inline hook:  calHOOK1 (tokenhook/clinic/patients)
Policy:       00pPOLICY1 (name "Patients policy")
Rule:         0prRULE1 (id 0prRULE1)
Patients:     2 in ConfigMap patients, key patients.csv
Claim:        pid in the ID token and access token; non-patients are denied a token
Hook server:  1/2 replicas ready (Deployment patients-hookserver)
Hook URL:     https://hooks.example.com/tokenHook
Conditions:
  TYPE                  STATUS  REASON       AGE  GENERATION  MESSAGE
  Ready                 False   NotReady     30s  3           HookReachable is False: Okta's call got 404
  HookServerAvailable   True    Available    30s  3           2 of 2 replicas ready
  PatientsLoaded        True    Loaded       30s  3           2 patients
  InlineHookRegistered  True    Registered   30s  3           inline hook calHOOK1
  HookReachable         False   Unreachable  30s  3           Okta's call got 404
  PolicyRuleLinked      True    Linked       30s  3           rule 0prRULE1 calls inline hook calHOOK1
`,
		},
		"Pending": {
			reason: "Conditions for an older generation are marked stale, and the verdict says the operator has not caught up.",
			th: testTokenHook(func(th *v1.TokenHook) {
				th.Generation = 4
				th.Status.Conditions = readyConditions(3)[5:]
			}),
			deployReady: 2,
			want: `TokenHook:    clinic/patients
Verdict:      Pending: the operator has not yet acted on generation 4 (Ready is for generation 3)
Generation:   4, observed 3
Okta org:     https://dev-1.okta.com (authorization server default)
Inline hook:  calHOOK1 (tokenhook/clinic/patients)
Policy:       00pPOLICY1 (name "Patients policy")
Rule:         0prRULE1 (id 0prRULE1)
Patients:     2 in ConfigMap patients, key patients.csv
Claim:        patientID in the ID token
Hook server:  2/2 replicas ready (Deployment patients-hookserver)
Hook URL:     https://hooks.example.com/tokenHook
Conditions:
  TYPE   STATUS  REASON  AGE  GENERATION  MESSAGE
  Ready  True    Ready   90m  3 (stale)   the hook server is available, Okta's call reaches it, and the policy rule calls it
`,
		},
		"New": {
			reason: "A TokenHook the operator has not seen has no IDs, no conditions and no Deployment, and says so.",
			th: testTokenHook(func(th *v1.TokenHook) {
				th.Status = v1.TokenHookStatus{}
				th.Spec.Okta.InlineHookName = "clinic-hook"
				th.Spec.HookServer.Autoscaling = &v1.HookServerAutoscaling{MinReplicas: 2, MaxReplicas: 5}
			}),
			deployReady: -1,
			want: `TokenHook:    clinic/patients
Verdict:      Unknown: the operator has not reported on this TokenHook yet (is it running, and watching namespace clinic?)
Generation:   3, observed 0
Okta org:     https://dev-1.okta.com (authorization server default)
Inline hook:  <none yet> (clinic-hook)
Policy:       <none yet> (name "Patients policy")
Rule:         <none yet> (id 0prRULE1)
Patients:     0 in ConfigMap patients, key patients.csv
Claim:        patientID in the ID token
Hook server:  Deployment patients-hookserver not found (status: 0 ready)
Hook URL:     https://hooks.example.com/tokenHook
Conditions:
  none yet
`,
		},
		"Suspended": {
			reason:      "spec.suspend wins over the conditions.",
			th:          testTokenHook(ready, func(th *v1.TokenHook) { th.Spec.Suspend = true }),
			deployReady: 2,
			want:        "Verdict:      Suspended: spec.suspend is true; the hook server serves on as it is, and nothing is changed in Okta\n",
		},
		"Deleting": {
			reason: "A TokenHook being deleted says what it waits for.",
			th: testTokenHook(ready, func(th *v1.TokenHook) {
				th.DeletionTimestamp = ptrTime(testNow.Add(-time.Minute))
				th.Finalizers = []string{"tokenhook.io/okta-cleanup"}
				meta.SetStatusCondition(&th.Status.Conditions, metav1.Condition{Type: v1.ConditionInlineHookRegistered, Status: metav1.ConditionFalse,
					Reason: v1.ReasonCredentialsInvalid, Message: "Secret \"okta-credentials\" not found", ObservedGeneration: 3})
			}),
			deployReady: 2,
			want:        "Verdict:      Deleting: waiting for finalizers tokenhook.io/okta-cleanup: Secret \"okta-credentials\" not found\n",
		},
		"NoReplicaReady": {
			reason:      "A Ready status is not believed while the Deployment has no ready replica.",
			th:          testTokenHook(ready),
			deployReady: 0,
			want:        "Verdict:      Not ready: no hook server replica is ready now (the operator has not reported it yet)\n",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs := []client.Object{tc.th}
			if tc.deployReady >= 0 {
				objs = append(objs, testDeployment(tc.th, tc.deployReady))
			}
			env := &Env{Client: fakeClient(t, objs...), Now: func() time.Time { return testNow }}
			out, _, err := runCmd(t, env, "status", testName, "-n", testNS)
			if err != nil {
				t.Fatalf("%s\nstatus: %v", tc.reason, err)
			}
			if !strings.Contains(tc.want, "\nConditions:") { // only the verdict line is checked
				out = verdictLine(out)
			}
			if diff := cmp.Diff(tc.want, out); diff != "" {
				t.Errorf("%s\nstatus output (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func verdictLine(out string) string {
	for _, l := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(l, "Verdict:") {
			return l
		}
	}
	return ""
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

func TestStatusOutputFormats(t *testing.T) {
	th := testTokenHook(func(th *v1.TokenHook) { th.Status.Conditions = readyConditions(3) })
	env := &Env{Client: fakeClient(t, th, testDeployment(th, 2))}
	unmarshal := map[string]func([]byte, any) error{"json": json.Unmarshal, "yaml": func(b []byte, v any) error { return yaml.Unmarshal(b, v) }}
	for format, decode := range unmarshal {
		t.Run(format, func(t *testing.T) {
			out, _, err := runCmd(t, env, "status", testName, "-n", testNS, "-o", format)
			if err != nil {
				t.Fatalf("status -o %s: %v", format, err)
			}
			var got v1.TokenHook
			if err := decode([]byte(out), &got); err != nil {
				t.Fatalf("status -o %s printed something that does not decode: %v\n%s", format, err, out)
			}
			if got.APIVersion != "tokenhook.io/v1alpha1" || got.Kind != "TokenHook" {
				t.Errorf("status -o %s: apiVersion %q, kind %q; want tokenhook.io/v1alpha1 TokenHook", format, got.APIVersion, got.Kind)
			}
			if diff := cmp.Diff(th.Status, got.Status); diff != "" {
				t.Errorf("status -o %s: status (-want +got):\n%s", format, diff)
			}
		})
	}
}

func TestStatusErrors(t *testing.T) {
	th := testTokenHook()
	cases := map[string]struct {
		reason string
		args   []string
		want   string
	}{
		"NotFound": {
			reason: "A TokenHook that does not exist is named in the error.",
			args:   []string{"status", "nope", "-n", testNS},
			want:   "TokenHook clinic/nope not found",
		},
		"NoName": {
			reason: "The name is required.",
			args:   []string{"status", "-n", testNS},
			want:   "status needs exactly one argument, the TokenHook's name: kubectl tokenhook status NAME",
		},
		"BadFormat": {
			reason: "An output format the printers do not know is refused before any call.",
			args:   []string{"status", testName, "-n", testNS, "-o", "xml"},
			want:   `unable to match a printer suitable for the output format "xml"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env := &Env{Client: fakeClient(t, th)}
			_, _, err := runCmd(t, env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s\nstatus error: %v; want one containing %q", tc.reason, err, tc.want)
			}
		})
	}
}

// TestStatusShowsHookKeys: a privateKeyJWT TokenHook's hook keys, from status.
func TestStatusShowsHookKeys(t *testing.T) {
	th := testTokenHook(func(th *v1.TokenHook) {
		th.Generation, th.Status.ObservedGeneration = 4, 4
		th.Status.Conditions = readyConditions(4)
		th.Status.HookAuth = &v1.HookAuthStatus{
			HookKey:         &v1.HookKeyStatus{ID: "HKY2", KeyID: "kid-2", Registered: true},
			NextHookKey:     &v1.HookKeyStatus{ID: "HKY3", KeyID: "kid-3"},
			RetiredHookKeys: []v1.RetiredHookKey{{ID: "HKY1", KeyID: "kid-1"}},
		}
	})
	env := &Env{Client: fakeClient(t, th, testDeployment(th, 2)), Now: func() time.Time { return testNow }}
	out, _, err := runCmd(t, env, "status", testName, "-n", testNS)
	if err != nil {
		t.Fatal(err)
	}
	want := "Hook key:     kid kid-2 (HKY2, in the app's JWKS); rotating to kid kid-3 (HKY3, not yet in the app's JWKS); 1 retired, deleted after the grace period\n"
	if !strings.Contains(out, want) {
		t.Errorf("status output lacks %q:\n%s", want, out)
	}
	plain := testTokenHook(func(th *v1.TokenHook) { th.Status.Conditions = readyConditions(3) })
	env = &Env{Client: fakeClient(t, plain, testDeployment(plain, 2)), Now: func() time.Time { return testNow }}
	if out, _, _ := runCmd(t, env, "status", testName, "-n", testNS); strings.Contains(out, "Hook key") {
		t.Errorf("a TokenHook without hook keys shows a Hook key row:\n%s", out)
	}
}
