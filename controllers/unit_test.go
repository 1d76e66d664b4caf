package controllers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/okta/fake"
)

func sampleTokenHook() *v1.TokenHook {
	return &v1.TokenHook{
		ObjectMeta: metav1.ObjectMeta{Name: "clinic", Namespace: "health", UID: "uid-1", Generation: 3},
		Spec: v1.TokenHookSpec{
			Okta:       v1.OktaSpec{OrgURL: "https://dev-1.okta.com", AuthorizationServerID: "default"},
			HookServer: v1.HookServerSpec{ExternalURL: "https://hooks.example.com/okta/tokenHook", Replicas: ptr.To[int32](3)},
			Patients:   v1.PatientsSpec{ConfigMapRef: v1.ConfigMapKeyRef{Name: "patients", Key: "list.json"}},
			Claim:      v1.ClaimSpec{Name: "patientID", Tokens: []v1.TokenType{v1.IDToken, v1.AccessToken}, DenyNonPatients: true},
			AuthHeader: "Authorization",
		},
	}
}

func TestDesiredDeployment(t *testing.T) {
	th := sampleTokenHook()
	d := desiredDeployment(th, "registry.example.com/tokenhook:v1", podAuth{})
	c := d.Spec.Template.Spec.Containers[0]

	wantArgs := []string{
		"--listen=:8080", "--metrics-listen=:9090", "--path=/okta/tokenHook",
		"--patients=/etc/tokenhook/patients/list.json", "--auth-header=Authorization",
		"--auth-secret-file=/etc/tokenhook/auth/current", "--auth-secret-file=/etc/tokenhook/auth/previous",
		"--claim=patientID", "--tokens=id,access", "--deny-non-patients",
	}
	if diff := cmp.Diff(wantArgs, c.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	checks := map[string]struct{ got, want any }{
		"name":                     {d.Name, "clinic-hookserver"},
		"replicas":                 {*d.Spec.Replicas, int32(3)},
		"image":                    {c.Image, "registry.example.com/tokenhook:v1"},
		"command":                  {strings.Join(c.Command, " "), "/hookserver"},
		"readiness path":           {c.ReadinessProbe.HTTPGet.Path, "/readyz"},
		"liveness path":            {c.LivenessProbe.HTTPGet.Path, "/healthz"},
		"runAsNonRoot":             {*c.SecurityContext.RunAsNonRoot, true},
		"readOnlyRootFilesystem":   {*c.SecurityContext.ReadOnlyRootFilesystem, true},
		"allowPrivilegeEscalation": {*c.SecurityContext.AllowPrivilegeEscalation, false},
		"drop":                     {c.SecurityContext.Capabilities.Drop[0], corev1.Capability("ALL")},
		"seccomp":                  {c.SecurityContext.SeccompProfile.Type, corev1.SeccompProfileTypeRuntimeDefault},
		"pod seccomp":              {d.Spec.Template.Spec.SecurityContext.SeccompProfile.Type, corev1.SeccompProfileTypeRuntimeDefault},
		"no SA token":              {*d.Spec.Template.Spec.AutomountServiceAccountToken, false},
		"owner":                    {d.OwnerReferences[0].UID, th.UID},
		"controller owner":         {*d.OwnerReferences[0].Controller, true},
		"patients volume":          {d.Spec.Template.Spec.Volumes[0].ConfigMap.Name, "patients"},
		"auth volume":              {d.Spec.Template.Spec.Volumes[1].Secret.SecretName, "clinic-hookserver-auth"},
		"spread without affinity":  {len(d.Spec.Template.Spec.TopologySpreadConstraints), 1},
		"default memory limit":     {c.Resources.Limits.Memory().String(), "256Mi"},
		"GOMEMLIMIT at 90%":        {fmt.Sprint(c.Env), "[{GOMEMLIMIT 241591905 nil}]"},
	}
	for what, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", what, c.got, c.want)
		}
	}

	// The spec's own image, scheduling and resources win.
	th.Spec.HookServer.Image = "mine:1"
	th.Spec.HookServer.NodeSelector = map[string]string{"pool": "hooks"}
	th.Spec.HookServer.Affinity = &corev1.Affinity{}
	th.Spec.HookServer.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: mustQuantity("1Gi")}}
	d = desiredDeployment(th, "registry.example.com/tokenhook:v1", podAuth{})
	pod := d.Spec.Template.Spec
	if pod.Containers[0].Image != "mine:1" || pod.NodeSelector["pool"] != "hooks" || pod.Affinity == nil ||
		len(pod.TopologySpreadConstraints) != 0 || pod.Containers[0].Resources.Limits.Memory().String() != "1Gi" {
		t.Errorf("spec overrides not honoured: %+v", pod)
	}
}

func TestHookPath(t *testing.T) {
	// Okta POSTs to the URL as written, so the path is served as written.
	cases := map[string]string{
		"https://hooks.example.com/tokenHook":        "/tokenHook",
		"https://hooks.example.com/tokenHook/":       "/tokenHook/",
		"https://hooks.example.com/okta//tokenHook":  "/okta//tokenHook",
		"https://hooks.example.com":                  "/",
		"https://hooks.example.com/":                 "/",
		"https://hooks.example.com?tenant=a":         "/",
		"https://hooks.example.com/token%20hook?x=1": "/token hook",
	}
	for url, want := range cases {
		th := sampleTokenHook()
		th.Spec.HookServer.ExternalURL = url
		if got := hookPath(th); got != want {
			t.Errorf("hookPath(%q) = %q, want %q", url, got, want)
		}
	}
}

// TestHookServerServesThePathOktaCalls: the --path the Deployment passes is
// the path net/http sees when Okta POSTs to spec.hookServer.externalURL.
func TestHookServerServesThePathOktaCalls(t *testing.T) {
	for _, external := range []string{
		"https://hooks.example.com/tokenHook",
		"https://hooks.example.com/tokenHook/",
		"https://hooks.example.com/okta/v1/token-hook/",
		"https://hooks.example.com",
		"https://hooks.example.com/a%20b/hook?tenant=x",
	} {
		th := sampleTokenHook()
		th.Spec.HookServer.ExternalURL = external
		var served string
		for _, a := range hookServerArgs(th, podAuth{}) {
			if v, ok := strings.CutPrefix(a, "--path="); ok {
				served = v
			}
		}
		u, err := url.Parse(external)
		if err != nil {
			t.Fatal(err)
		}
		// What Okta's request line carries, as the hook server parses it.
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		if req.URL.Path != served {
			t.Errorf("externalURL %s: Okta calls path %q, the hook server serves --path=%q", external, req.URL.Path, served)
		}
	}
}

func TestPDBOnlyWithSeveralReplicas(t *testing.T) {
	th := sampleTokenHook()
	for replicas, want := range map[int32]bool{1: false, 2: true, 5: true} {
		th.Spec.HookServer.Replicas = ptr.To(replicas)
		if got := wantsPDB(th); got != want {
			t.Errorf("wantsPDB with %d replicas = %v, want %v", replicas, got, want)
		}
	}
	if got := desiredPDB(th).Spec.MaxUnavailable.IntValue(); got != 1 {
		t.Errorf("PDB maxUnavailable = %d, want 1", got)
	}
}

func TestPlanAuthSecret(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	grace := time.Minute
	state := func(cur, prev, oktaHas string, started, updated time.Time) *authSecretState {
		s := &authSecretState{current: cur, previous: prev, rotationStarted: started, oktaUpdated: updated}
		if oktaHas != "" {
			s.oktaHash = secretHash(oktaHas)
		}
		return s
	}
	unknown := func(s *authSecretState) *authSecretState { s.oktaUnknown = true; return s }
	type want struct {
		cur, prev, oktaValue string
		oktaKnown, rotating  bool
		requeueIn            time.Duration
		awaitRollout         bool
	}
	cases := map[string]struct {
		existing   *authSecretState
		desired    string
		registered bool // a hook is registered in Okta
		want       want
	}{
		"first reconcile": {
			existing: nil, desired: "A",
			want: want{cur: "A", prev: "A", oktaValue: "A"},
		},
		"steady": {
			existing: state("A", "A", "A", time.Time{}, time.Time{}), desired: "A",
			want: want{cur: "A", prev: "A", oktaValue: "A", oktaKnown: true},
		},
		"new value: pods get both, Okta keeps the old": {
			existing: state("A", "A", "A", time.Time{}, time.Time{}), desired: "B",
			want: want{cur: "B", prev: "A", oktaValue: "A", oktaKnown: true, rotating: true, requeueIn: grace},
		},
		"new value after the grace: Okta gets it": {
			existing: state("B", "A", "A", now.Add(-2*grace), time.Time{}), desired: "B",
			want: want{cur: "B", prev: "A", oktaValue: "B", rotating: true},
		},
		"Okta has the new value: the old one stays for a while": {
			existing: state("B", "A", "B", time.Time{}, now.Add(-grace/2)), desired: "B",
			want: want{cur: "B", prev: "A", oktaValue: "B", oktaKnown: true, rotating: true, requeueIn: grace / 2},
		},
		"then the old one goes": {
			existing: state("B", "A", "B", time.Time{}, now.Add(-grace)), desired: "B",
			want: want{cur: "B", prev: "B", oktaValue: "B", oktaKnown: true},
		},
		"a third value mid-rotation restarts it from what Okta has": {
			existing: state("B", "A", "A", now.Add(-grace/2), time.Time{}), desired: "C",
			want: want{cur: "C", prev: "A", oktaValue: "A", oktaKnown: true, rotating: true, requeueIn: grace},
		},
		"no hook yet and what Okta has is unknown: the create sends the desired value": {
			existing: state("X", "Y", "lost", time.Time{}, time.Time{}), desired: "B",
			want: want{cur: "B", prev: "B", oktaValue: "B"},
		},
		"hash lost, steady: the pods accept the desired value, Okta gets it now": {
			existing: state("A", "A", "", time.Time{}, time.Time{}), desired: "A", registered: true,
			want: want{cur: "A", prev: "A", oktaValue: "A"},
		},
		"hash lost mid-rotation: both values stay, Okta gets the new one now": {
			existing: state("B", "A", "", now.Add(-grace/2), time.Time{}), desired: "B", registered: true,
			want: want{cur: "B", prev: "A", oktaValue: "B"},
		},
		"hash lost and a new value: rotate from what the pods accept": {
			existing: state("A", "A", "", time.Time{}, time.Time{}), desired: "B", registered: true,
			want: want{cur: "B", prev: "A", oktaValue: "A", oktaKnown: true, rotating: true, requeueIn: grace},
		},
		"hash lost mid-rotation, then a third value: the old one stays": {
			existing: state("B", "A", "", now.Add(-grace/2), time.Time{}), desired: "C", registered: true,
			want: want{cur: "C", prev: "A", oktaValue: "A", oktaKnown: true, rotating: true, requeueIn: grace},
		},
		"Secret lost with a hook registered: Okta waits for the pods": {
			existing: nil, desired: "B", registered: true,
			want: want{cur: "B", prev: "B", oktaValue: "B", rotating: true, awaitRollout: true},
		},
		"Secret made after a loss: Okta still waits": {
			existing: unknown(state("B", "B", "", time.Time{}, time.Time{})), desired: "B", registered: true,
			want: want{cur: "B", prev: "B", oktaValue: "B", rotating: true, awaitRollout: true},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := planAuthSecret(tc.existing, tc.desired, now, grace, tc.registered)
			got := want{p.next.current, p.next.previous, p.oktaValue, p.okta, p.rotating, p.requeueIn, p.awaitRollout}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			// Invariant: the pods always accept what Okta sends.
			if p.oktaValue != p.next.current && p.oktaValue != p.next.previous {
				t.Errorf("Okta would send %q, which the pods (%q, %q) refuse", p.oktaValue, p.next.current, p.next.previous)
			}
		})
	}
}

func TestInlineHookName(t *testing.T) {
	named := func(ns, name, specName string) *v1.TokenHook {
		return &v1.TokenHook{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1.TokenHookSpec{Okta: v1.OktaSpec{InlineHookName: specName}}}
	}
	cases := map[string]struct {
		th         *v1.TokenHook
		name       string
		legacyName string
	}{
		"namespace a-b, TokenHook c": {th: named("a-b", "c", ""), name: "tokenhook/a-b/c", legacyName: "tokenhook-a-b-c"},
		"namespace a, TokenHook b-c": {th: named("a", "b-c", ""), name: "tokenhook/a/b-c", legacyName: "tokenhook-a-b-c"},
		"spec.okta.inlineHookName":   {th: named("a", "b-c", "Patients"), name: "Patients", legacyName: ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := inlineHookName(tc.th); got != tc.name {
				t.Errorf("inlineHookName = %q, want %q", got, tc.name)
			}
			if got := legacyInlineHookName(tc.th); got != tc.legacyName {
				t.Errorf("legacyInlineHookName = %q, want %q", got, tc.legacyName)
			}
		})
	}
	// The pairs that shared the old default name no longer share one.
	if a, b := inlineHookName(named("a-b", "c", "")), inlineHookName(named("a", "b-c", "")); a == b {
		t.Errorf("namespace a-b/TokenHook c and namespace a/TokenHook b-c share the hook name %q", a)
	}
}

func TestHookDiff(t *testing.T) {
	th := sampleTokenHook()
	want := desiredInlineHook(th, "s3cret", channelHTTP, "", "")
	same := want
	same.AuthSecret = ""
	cases := map[string]struct {
		got         okta.InlineHook
		secretKnown bool
		diff        string
	}{
		"up to date":               {got: same, secretKnown: true, diff: ""},
		"secret unknown":           {got: same, secretKnown: false, diff: "authScheme.value"},
		"header name lower-cased":  {got: with(same, func(h *okta.InlineHook) { h.AuthHeader = "authorization" }), secretKnown: true},
		"url changed":              {got: with(same, func(h *okta.InlineHook) { h.URL = "https://x" }), secretKnown: true, diff: "url"},
		"marker missing and named": {got: with(same, func(h *okta.InlineHook) { h.Headers = nil; h.Name = "x" }), secretKnown: true, diff: "name, headers"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := hookDiff(&tc.got, want, tc.secretKnown)
			if got != tc.diff {
				t.Errorf("diff = %q, want %q", got, tc.diff)
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("diff leaks the secret")
			}
		})
	}
}

func with(h okta.InlineHook, fn func(*okta.InlineHook)) okta.InlineHook {
	h.Headers = slices.Clone(h.Headers)
	fn(&h)
	return h
}

func TestCredentialsConfig(t *testing.T) {
	cases := map[string]struct {
		data    map[string]string
		wantErr string
	}{
		"API token":             {data: map[string]string{"apiToken": "t"}},
		"service app":           {data: map[string]string{"clientID": "0oa1", "privateKey": "-----BEGIN"}},
		"both":                  {data: map[string]string{"apiToken": "t", "clientID": "0oa1", "privateKey": "k"}, wantErr: "not both"},
		"neither":               {data: map[string]string{"other": "x"}, wantErr: `needs key "apiToken"`},
		"service app sans key":  {data: map[string]string{"clientID": "0oa1"}, wantErr: "needs both"},
		"service app sans id":   {data: map[string]string{"privateKey": "k"}, wantErr: "needs both"},
		"empty token is absent": {data: map[string]string{"apiToken": ""}, wantErr: `needs key "apiToken"`},
		"service app with scopes": {data: map[string]string{"clientID": "0oa1", "privateKey": "-----BEGIN",
			"scopes": "okta.inlineHooks.manage okta.authorizationServers.manage okta.apps.read"}},
		"API token with scopes": {data: map[string]string{"apiToken": "t", "scopes": "okta.apps.read"}, wantErr: `key "scopes" is for a service app`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			data := map[string][]byte{}
			for k, v := range tc.data {
				data[k] = []byte(v)
			}
			_, err := credentialsConfig("https://dev-1.okta.com", "okta", data)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var se *specError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want a specError containing %q", err, tc.wantErr)
			}
			for _, v := range tc.data {
				if len(v) > 2 && strings.Contains(err.Error(), v) {
					t.Errorf("error leaks a credential: %v", err)
				}
			}
		})
	}
}

func TestSetReady(t *testing.T) {
	th := sampleTokenHook()
	setReady(th)
	if c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionReady); c.Status != metav1.ConditionFalse {
		t.Fatalf("Ready = %s with no stage conditions", c.Status)
	}
	for _, ct := range stageConditions {
		setTrue(th, ct, "R", "m")
	}
	setReady(th)
	if !isTrue(th, v1.ConditionReady) {
		t.Fatalf("Ready is not True with every stage True")
	}
	setFalse(th, v1.ConditionPatientsLoaded, v1.ReasonInvalidPatients, "line 3: empty patientID")
	setReady(th)
	c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionReady)
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "PatientsLoaded") || c.ObservedGeneration != th.Generation {
		t.Errorf("Ready = %+v, want False naming PatientsLoaded for generation %d", c, th.Generation)
	}
	th.Spec.Suspend = true
	setReady(th)
	if c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionReady); c.Reason != v1.ReasonSuspended {
		t.Errorf("Ready reason = %s while suspended", c.Reason)
	}
}

func TestIsHookLimit(t *testing.T) {
	limit := &okta.APIError{StatusCode: 400, ErrorCode: "E0000001", ErrorSummary: "Api validation failed: inlineHook",
		ErrorCauses: []string{"inlineHook: The maximum number of inline hooks (50) has been reached for this organization."}}
	other := &okta.APIError{StatusCode: 400, ErrorCode: "E0000001", ErrorSummary: "Api validation failed: name"}
	if !isHookLimit(limit) || isHookLimit(other) || isHookLimit(errors.New("maximum number of inline hooks")) {
		t.Errorf("isHookLimit misclassifies")
	}
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func TestOktaClientsReuseAndDropIdle(t *testing.T) {
	const ttl = time.Hour
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	built := 0
	factory := func(context.Context, okta.Config) (okta.Client, error) {
		built++
		return &fake.Client{}, nil
	}
	c := newOktaClients(factory, nil, nil, 600, time.Minute, clk, ttl)
	get := func(token string) okta.Client {
		t.Helper()
		client, err := c.get(context.Background(), okta.Config{OrgURL: "https://dev-1.okta.com", APIToken: token})
		if err != nil {
			t.Fatal(err)
		}
		return client
	}

	oldClient := get("old")
	if get("old") != oldClient || built != 1 {
		t.Fatalf("same credentials: built %d clients, want 1 reused", built)
	}
	// The credentials rotate; the old client is still used for a while.
	clk.SetTime(clk.Now().Add(ttl / 2))
	get("new")
	if built != 2 || len(c.clients) != 2 {
		t.Fatalf("after rotation: built %d, cached %d; want 2 and 2", built, len(c.clients))
	}
	// Past the TTL only the client still in use survives.
	clk.SetTime(clk.Now().Add(ttl / 2))
	get("new")
	clk.SetTime(clk.Now().Add(ttl / 2))
	get("new")
	if built != 2 || len(c.clients) != 1 {
		t.Fatalf("after the idle TTL: built %d, cached %d; want 2 and 1 (the rotated-away client dropped)", built, len(c.clients))
	}
	if len(c.orgs) != 1 {
		t.Errorf("%d budgets for one org, want 1 kept across rotation", len(c.orgs))
	}
	// A dropped client is rebuilt on demand.
	if get("old") == oldClient || built != 3 {
		t.Errorf("the dropped client came back from the cache (built %d)", built)
	}
}
