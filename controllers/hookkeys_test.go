package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/okta/fake"
)

func pkjwtTokenHook(register bool) *v1.TokenHook {
	th := oauthTokenHook()
	th.Spec.HookAuth.OAuth.ClientSecretPost = nil
	th.Spec.HookAuth.OAuth.PrivateKeyJWT = &v1.PrivateKeyJWT{RegisterInApp: register}
	return th
}

func TestHookKeyNames(t *testing.T) {
	th := pkjwtTokenHook(false)
	if got, want := hookKeyName(th, 3), "tokenhook/health/clinic/uid-1/3"; got != want {
		t.Errorf("name = %q, want %q", got, want)
	}
	cases := map[string]struct {
		name string
		n    int
		ours bool
	}{
		"ours":                              {name: "tokenhook/health/clinic/uid-1/12", n: 12, ours: true},
		"another incarnation (UID)":         {name: "tokenhook/health/clinic/uid-0/1"},
		"another TokenHook":                 {name: "tokenhook/health/clinic-2/uid-1/1"},
		"a name that only starts like ours": {name: "tokenhook/health/clinic/uid-1/1/x"},
		"no number":                         {name: "tokenhook/health/clinic/uid-1/"},
		"zero":                              {name: "tokenhook/health/clinic/uid-1/0"},
		"an admin's key":                    {name: "my key"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			n, ours := hookKeyNumber(th, tc.name)
			if n != tc.n && tc.ours || ours != tc.ours {
				t.Errorf("hookKeyNumber(%q) = %d, %v; want %d, %v", tc.name, n, ours, tc.n, tc.ours)
			}
		})
	}
	long := pkjwtTokenHook(false)
	long.Namespace, long.Name, long.UID = strings.Repeat("n", 63), strings.Repeat("t", 52), "6a0b5c3e-8f1d-4b7a-9c2e-0d1f2a3b4c5d"
	if l := len(hookKeyName(long, 999999)); l > 255 {
		t.Errorf("the longest name has %d characters; Okta allows 255", l)
	}
}

func TestRotationDue(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(d)); return &t }
	cases := map[string]struct {
		annotation, handled string
		every               time.Duration
		rotatedAt           *metav1.Time
		noKey, header       bool
		due                 bool
		request             string
		next                time.Time
	}{
		"no key yet":                        {noKey: true, annotation: "1"},
		"not privateKeyJWT":                 {header: true, annotation: "1"},
		"nothing asked":                     {rotatedAt: at(-time.Hour)},
		"a new request":                     {annotation: "2026-12-04", rotatedAt: at(-time.Minute), due: true, request: "2026-12-04"},
		"a request already made":            {annotation: "2026-12-04", handled: "2026-12-04", rotatedAt: at(-time.Minute)},
		"schedule not yet due":              {every: 24 * time.Hour, rotatedAt: at(-time.Hour), next: now.Add(23 * time.Hour)},
		"schedule due":                      {every: 24 * time.Hour, rotatedAt: at(-24 * time.Hour), due: true, next: now},
		"schedule before the key is in use": {every: time.Hour},
		"a request wins over the schedule":  {annotation: "x", every: 24 * time.Hour, rotatedAt: at(-time.Hour), due: true, request: "x"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			th := pkjwtTokenHook(true)
			if tc.header {
				th.Spec.HookAuth = v1.HookAuth{Type: v1.HookAuthHeader}
			}
			if tc.every > 0 {
				th.Spec.HookAuth.OAuth.PrivateKeyJWT.RotateEvery = &metav1.Duration{Duration: tc.every}
			}
			th.Annotations = map[string]string{v1.AnnotationRotateHookKey: tc.annotation}
			th.Status.HookAuth = &v1.HookAuthStatus{RotationRequest: tc.handled}
			if !tc.noKey {
				th.Status.HookAuth.HookKey = &v1.HookKeyStatus{ID: "HKY1", RotatedAt: tc.rotatedAt}
			}
			due, request, next := rotationDue(th, now)
			if due != tc.due || request != tc.request || !next.Equal(tc.next) {
				t.Errorf("rotationDue = %v, %q, %v; want %v, %q, %v", due, request, next, tc.due, tc.request, tc.next)
			}
		})
	}
}

func TestRetirementsDue(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	grace := 2 * time.Minute
	retired := func(id string, ago time.Duration) v1.RetiredHookKey {
		return v1.RetiredHookKey{ID: id, RetiredAt: metav1.NewTime(now.Add(-ago))}
	}
	st := &v1.HookAuthStatus{RetiredHookKeys: []v1.RetiredHookKey{retired("old", 3*time.Minute), retired("young", 30*time.Second),
		retired("just", grace), retired("younger", 90*time.Second)}}
	due, wait := retirementsDue(st, now, grace)
	var ids []string
	for _, k := range due {
		ids = append(ids, k.ID)
	}
	if !slices.Equal(ids, []string{"old", "just"}) || wait != 30*time.Second {
		t.Errorf("due %v, wait %v; want [old just], 30s", ids, wait)
	}
	if due, wait := retirementsDue(nil, now, grace); due != nil || wait != 0 {
		t.Errorf("nothing retired: %v, %v", due, wait)
	}
}

func TestChannelKey(t *testing.T) {
	used := metav1.NewTime(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	cases := map[string]struct {
		st           *v1.HookAuthStatus
		unverifiable bool
		inUse        string
		want         string
	}{
		"no key":                         {st: &v1.HookAuthStatus{}},
		"a new key the app lacks":        {st: &v1.HookAuthStatus{HookKey: &v1.HookKeyStatus{ID: "A"}}},
		"a new key the app has":          {st: &v1.HookAuthStatus{HookKey: &v1.HookKeyStatus{ID: "A", Registered: true}}, want: "A"},
		"a new key no one can check":     {st: &v1.HookAuthStatus{HookKey: &v1.HookKeyStatus{ID: "A"}}, unverifiable: true, want: "A"},
		"rotation waits for the app":     {st: &v1.HookAuthStatus{HookKey: &v1.HookKeyStatus{ID: "A", Registered: true, RotatedAt: &used}, NextHookKey: &v1.HookKeyStatus{ID: "B"}}, want: "A"},
		"rotation, the app has the next": {st: &v1.HookAuthStatus{HookKey: &v1.HookKeyStatus{ID: "A", Registered: true, RotatedAt: &used}, NextHookKey: &v1.HookKeyStatus{ID: "B", Registered: true}}, want: "B"},
		"rotation, no one can check the next": {st: &v1.HookAuthStatus{HookKey: &v1.HookKeyStatus{ID: "A", Registered: true, RotatedAt: &used},
			NextHookKey: &v1.HookKeyStatus{ID: "B"}}, unverifiable: true, want: "A"},
		"a used key dropped from the app is not used again blindly": {st: &v1.HookAuthStatus{HookKey: &v1.HookKeyStatus{ID: "A", RotatedAt: &used}}, unverifiable: true},
		"the key the channel names stays":                           {st: &v1.HookAuthStatus{HookKey: &v1.HookKeyStatus{ID: "A", RotatedAt: &used}}, inUse: "A", want: "A"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := channelKey(tc.st, tc.unverifiable, tc.inUse); got != tc.want {
				t.Errorf("channelKey = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPrivateKeyJWTChannel(t *testing.T) {
	th := pkjwtTokenHook(true)
	want := desiredInlineHook(th, "header-secret", channelOAuth, "", "HKYkey")
	o := want.OAuth
	if o == nil || o.AuthType != okta.AuthTypePrivateKeyJWT || o.HookKeyID != "HKYkey" || o.ClientSecret != "" || want.AuthSecret != "" {
		t.Fatalf("channel %+v", o)
	}
	asRead := want
	cp := *o
	asRead.OAuth = &cp
	if d := hookDiff(&asRead, want, false); d != "" {
		t.Errorf("an up to date private_key_jwt channel differs in %q (it has no secret to send)", d)
	}
	cp.HookKeyID = "HKYold"
	if d := hookDiff(&asRead, want, true); d != "channel.config.hookKeyId" {
		t.Errorf("another hook key: diff %q", d)
	}
	secretPost := desiredInlineHook(oauthTokenHook(), "", channelOAuth, "s3cret", "")
	secretPost.OAuth.ClientSecret = ""
	if d := hookDiff(&secretPost, want, true); d != "channel.config.authType, channel.config.hookKeyId" {
		t.Errorf("client_secret_post to private_key_jwt: diff %q", d)
	}
	auth := &authPlan{next: authSecretState{oktaChannel: channelOAuth, clientSecretHash: secretHash("s3cret")}}
	if !oktaHasSecretOf(auth, want) {
		t.Error("a private_key_jwt channel has no secret Okta could lack")
	}
}

func TestPublicJWKRoundTrip(t *testing.T) {
	pk := &okta.PublicKey{KeyID: "kid-1", Type: "RSA", Algorithm: "RSA", N: "AQAB-n", E: "AQAB"}
	s := encodePublicJWK(pk)
	if s != `{"kty":"RSA","kid":"kid-1","use":"sig","alg":"RS256","n":"AQAB-n","e":"AQAB"}` {
		t.Errorf("public JWK %s", s)
	}
	back, err := decodePublicJWK(s)
	if err != nil || back.KeyID != "kid-1" || back.N != "AQAB-n" || back.E != "AQAB" {
		t.Errorf("decoded %+v, %v", back, err)
	}
	if _, err := decodePublicJWK(""); err == nil {
		t.Error("an empty JWK decoded")
	}
}

func TestOperatorScopes(t *testing.T) {
	if got := operatorScopes(oauthTokenHook()); !slices.Equal(got, okta.DefaultScopes) {
		t.Errorf("client_secret_post: %v", got)
	}
	if got := operatorScopes(pkjwtTokenHook(false)); !slices.Equal(got, okta.DefaultScopes) {
		t.Errorf("privateKeyJWT without registerInApp asks for %v: an ungranted scope would fail every call", got)
	}
	if got := operatorScopes(pkjwtTokenHook(true)); !slices.Contains(got, scopeAppsManage) || len(got) != len(okta.DefaultScopes)+1 {
		t.Errorf("registerInApp: %v, want the defaults and %s", got, scopeAppsManage)
	}
	if slices.Contains(okta.DefaultScopes, scopeAppsManage) {
		t.Error("operatorScopes changed the SDK's defaults")
	}
}

func TestIsHookKeyLimit(t *testing.T) {
	cases := map[string]struct {
		err  error
		want bool
	}{
		"hook keys": {&okta.APIError{StatusCode: 400, ErrorCode: "E0000001", ErrorSummary: "Api validation failed: hookKey",
			ErrorCauses: []string{"hookKey: The maximum number of keys (50) has been reached for this organization."}}, true},
		"app JWKS": {&okta.APIError{StatusCode: 400, ErrorCode: "E0000001", ErrorSummary: "Api validation failed: JsonWebKey",
			ErrorCauses: []string{"You can't create a new key. You have reached the maximum number of keys allowed (50)."}}, true},
		"another 400":      {&okta.APIError{StatusCode: 400, ErrorSummary: "Api validation failed: name"}, false},
		"inline hooks cap": {&okta.APIError{StatusCode: 400, ErrorCauses: []string{"maximum number of inline hooks"}}, false},
		"not an API error": {errors.New("maximum number of keys"), false},
	}
	for name, tc := range cases {
		if got := isHookKeyLimit(fmt.Errorf("create hook key: %w", tc.err)); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}

// keyOrg is a tiny Okta org of hook keys and one app's JWKS behind the
// function-field fake, for the hook key steps without a control plane.
type keyOrg struct {
	mu        sync.Mutex
	keys      []*okta.HookKey
	jwks      []*okta.AppJWK
	n         int
	appsRead  bool // the operator may read the app's JWKS
	keyCap    int
	calls     []string
	failNames map[string]error // CreateHookKey fails for these names
}

func (o *keyOrg) client() *fake.Client {
	log := func(f string, a ...any) { o.calls = append(o.calls, fmt.Sprintf(f, a...)) }
	find := func(name string) *okta.HookKey {
		for _, k := range o.keys {
			if k.Name == name {
				return k
			}
		}
		return nil
	}
	return &fake.Client{
		ListHookKeysFn: func(context.Context) ([]*okta.HookKey, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			log("ListHookKeys")
			return slices.Clone(o.keys), nil
		},
		FindHookKeyByNameFn: func(_ context.Context, name string) (*okta.HookKey, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			log("FindHookKeyByName %s", name)
			if k := find(name); k != nil {
				return k, nil
			}
			return nil, okta.ErrNotFound
		},
		CreateHookKeyFn: func(_ context.Context, name string) (*okta.HookKey, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			log("CreateHookKey %s", name)
			if err := o.failNames[name]; err != nil {
				return nil, err
			}
			if o.keyCap > 0 && len(o.keys) >= o.keyCap {
				return nil, &okta.APIError{StatusCode: http.StatusBadRequest, ErrorCode: "E0000001",
					ErrorCauses: []string{"hookKey: The maximum number of keys (50) has been reached for this organization."}}
			}
			o.n++
			k := &okta.HookKey{ID: fmt.Sprintf("HKY%d", o.n), KeyID: fmt.Sprintf("kid-%d", o.n), Name: name}
			o.keys = append(o.keys, k)
			cp := *k
			cp.PublicKey = &okta.PublicKey{KeyID: k.KeyID, Type: "RSA", N: "n" + k.KeyID, E: "AQAB"}
			return &cp, nil
		},
		GetPublicHookKeyFn: func(_ context.Context, kid string) (*okta.PublicKey, error) {
			log("GetPublicHookKey %s", kid)
			return &okta.PublicKey{KeyID: kid, Type: "RSA", N: "n" + kid, E: "AQAB"}, nil
		},
		DeleteHookKeyFn: func(_ context.Context, id string) error {
			o.mu.Lock()
			defer o.mu.Unlock()
			log("DeleteHookKey %s", id)
			o.keys = slices.DeleteFunc(o.keys, func(k *okta.HookKey) bool { return k.ID == id })
			return nil
		},
		ListAppJWKsFn: func(_ context.Context, app string) ([]*okta.AppJWK, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			log("ListAppJWKs %s", app)
			if !o.appsRead {
				return nil, &okta.APIError{StatusCode: http.StatusForbidden, ErrorSummary: "The access token provided does not contain the required scopes."}
			}
			return slices.Clone(o.jwks), nil
		},
		AddAppJWKFn: func(_ context.Context, app string, key okta.PublicKey) (*okta.AppJWK, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			log("AddAppJWK %s %s", app, key.KeyID)
			j := &okta.AppJWK{ID: "pks" + key.KeyID, KeyID: key.KeyID, Status: okta.JWKActive}
			o.jwks = append(o.jwks, j)
			return j, nil
		},
		DeactivateAppJWKFn: func(_ context.Context, app, id string) (*okta.AppJWK, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			log("DeactivateAppJWK %s %s", app, id)
			active := 0
			for _, j := range o.jwks {
				if j.Status == okta.JWKActive {
					active++
				}
			}
			for _, j := range o.jwks {
				if j.ID == id && j.Status == okta.JWKActive {
					if active == 1 {
						return nil, &okta.APIError{StatusCode: http.StatusBadRequest, ErrorCode: "E0000001", ErrorSummary: "Api validation failed: JsonWebKey",
							ErrorCauses: []string{"Can't deactivate the only active JSON Web Key when the value for `token_endpoint_auth_method` is `private_key_jwt`."}}
					}
					j.Status = okta.JWKInactive
				}
			}
			return &okta.AppJWK{ID: id, Status: okta.JWKInactive}, nil
		},
		DeleteAppJWKFn: func(_ context.Context, app, id string) error {
			o.mu.Lock()
			defer o.mu.Unlock()
			log("DeleteAppJWK %s %s", app, id)
			o.jwks = slices.DeleteFunc(o.jwks, func(j *okta.AppJWK) bool { return j.ID == id })
			return nil
		},
	}
}

func (o *keyOrg) takeCalls() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.calls
	o.calls = nil
	return c
}

func keyReconciler(clk *clocktesting.FakePassiveClock) *TokenHookReconciler {
	return &TokenHookReconciler{Options: Options{Clock: clk, RotationGrace: 2 * time.Minute}}
}

// pkjwtHook is Okta's hook with a private_key_jwt channel naming key.
func pkjwtHook(key string) *okta.InlineHook {
	return &okta.InlineHook{ID: "cal1", Status: okta.StatusActive, OAuth: &okta.OAuthChannel{AuthType: okta.AuthTypePrivateKeyJWT, ClientID: "0oahookcaller", HookKeyID: key}}
}

// TestHookKeyRotation walks one TokenHook's keys through creation,
// registration by the operator, a requested rotation and the retirement of
// the old key, checking the Okta calls at each step: the channel moves only
// to a key the app has, and the old key goes only after the grace.
func TestHookKeyRotation(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	r := keyReconciler(clk)
	org := &keyOrg{appsRead: true}
	c := org.client()
	th := pkjwtTokenHook(true)
	app := th.Spec.HookAuth.OAuth.ClientID

	goal, err := r.prepareHookKeys(ctx, th, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	name1 := hookKeyName(th, 1)
	if diff := cmp.Diff([]string{"ListHookKeys", "FindHookKeyByName " + name1, "CreateHookKey " + name1, "ListAppJWKs " + app, "AddAppJWK " + app + " kid-1"}, org.takeCalls()); diff != "" {
		t.Errorf("first key's calls (-want +got):\n%s", diff)
	}
	st := th.Status.HookAuth
	if goal.channelKeyID != "HKY1" || st.HookKey.KeyID != "kid-1" || !st.HookKey.Registered || st.HookKey.AppJWKID != "pkskid-1" ||
		!strings.Contains(st.HookKey.PublicJWK, `"kid":"kid-1"`) {
		t.Fatalf("goal %+v, status %+v", goal, st.HookKey)
	}
	// Okta's channel now names it.
	if err := r.settleHookKeys(ctx, th, c, pkjwtHook("HKY1"), &goal); err != nil {
		t.Fatal(err)
	}
	if st.HookKey.RotatedAt == nil || len(org.takeCalls()) != 0 {
		t.Errorf("the key in use has no rotatedAt, or settling called Okta")
	}
	// A steady reconcile costs nothing.
	if goal, err = r.prepareHookKeys(ctx, th, c, pkjwtHook("HKY1")); err != nil || goal.channelKeyID != "HKY1" || len(org.takeCalls()) != 0 {
		t.Errorf("steady state: %+v, %v, calls %v", goal, err, org.calls)
	}

	// A rotation on request: the next key is made and registered, and the
	// channel is to name it.
	th.Annotations = map[string]string{v1.AnnotationRotateHookKey: "now"}
	goal, err = r.prepareHookKeys(ctx, th, c, pkjwtHook("HKY1"))
	if err != nil {
		t.Fatal(err)
	}
	name2 := hookKeyName(th, 2)
	if diff := cmp.Diff([]string{"FindHookKeyByName " + name2, "CreateHookKey " + name2, "ListAppJWKs " + app, "AddAppJWK " + app + " kid-2"}, org.takeCalls()); diff != "" {
		t.Errorf("rotation's calls (-want +got):\n%s", diff)
	}
	if goal.channelKeyID != "HKY2" || st.RotationRequest != "now" || st.NextHookKey == nil {
		t.Fatalf("goal %+v, status %+v", goal, st)
	}
	if _, _, ok := hookKeyCondition(th, "cal1", goal); !ok {
		t.Error("no condition for a rotation under way")
	}
	clk.SetTime(clk.Now().Add(time.Second))
	if err := r.settleHookKeys(ctx, th, c, pkjwtHook("HKY2"), &goal); err != nil {
		t.Fatal(err)
	}
	if st.HookKey.ID != "HKY2" || st.NextHookKey != nil || len(st.RetiredHookKeys) != 1 || st.RetiredHookKeys[0].AppJWKID != "pkskid-1" ||
		goal.requeueIn != r.RotationGrace {
		t.Fatalf("after the switch: %+v (requeue in %v)", st, goal.requeueIn)
	}
	if reason, _, _ := hookKeyCondition(th, "cal1", goal); reason != v1.ReasonRotatingHookKey {
		t.Errorf("while the old key waits: reason %s", reason)
	}
	// The request is not made twice.
	if goal, err = r.prepareHookKeys(ctx, th, c, pkjwtHook("HKY2")); err != nil || st.NextHookKey != nil || len(org.takeCalls()) != 0 {
		t.Errorf("the handled request rotated again: %+v, %v", st, err)
	}
	clk.SetTime(clk.Now().Add(r.RotationGrace - time.Second))
	if err := r.settleHookKeys(ctx, th, c, pkjwtHook("HKY2"), &goal); err != nil || len(org.takeCalls()) != 0 {
		t.Fatalf("the old key went before its grace: %v", err)
	}
	clk.SetTime(clk.Now().Add(time.Second))
	goal = hookKeyGoal{}
	if err := r.settleHookKeys(ctx, th, c, pkjwtHook("HKY2"), &goal); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"DeactivateAppJWK " + app + " pkskid-1", "DeleteAppJWK " + app + " pkskid-1", "DeleteHookKey HKY1"}, org.takeCalls()); diff != "" {
		t.Errorf("retirement's calls (-want +got):\n%s", diff)
	}
	if len(st.RetiredHookKeys) != 0 || len(org.keys) != 1 || len(org.jwks) != 1 {
		t.Errorf("after the grace: status %+v, keys %d, JWKS %d", st, len(org.keys), len(org.jwks))
	}

	// Switching away from privateKeyJWT retires the key once Okta's channel moved.
	th.Spec.HookAuth = v1.HookAuth{Type: v1.HookAuthHeader}
	if err := r.settleHookKeys(ctx, th, c, pkjwtHook("HKY2"), &goal); err != nil || st.HookKey == nil {
		t.Fatalf("the key in use was retired before the channel moved: %v", err)
	}
	if err := r.settleHookKeys(ctx, th, c, &okta.InlineHook{ID: "cal1"}, &goal); err != nil || st.HookKey != nil || len(st.RetiredHookKeys) != 1 {
		t.Fatalf("after the channel moved: %+v, %v", st, err)
	}
	clk.SetTime(clk.Now().Add(r.RotationGrace))
	if err := r.settleHookKeys(ctx, th, c, &okta.InlineHook{ID: "cal1"}, &goal); err != nil || th.Status.HookAuth != nil || len(org.keys) != 0 {
		t.Errorf("after the grace: status %+v, keys %v, %v", th.Status.HookAuth, org.keys, err)
	}
	// Okta keeps a private_key_jwt app's only active key: it stays, harmless.
	if len(org.jwks) != 1 || org.jwks[0].KeyID != "kid-2" {
		t.Errorf("JWKS %v, want the app's last key kept", org.jwks)
	}
}

// TestFirstKeyAnswersEarlierRotationRequests: a TokenHook applied with the
// rotation annotation (from a manifest) makes one key, not two.
func TestFirstKeyAnswersEarlierRotationRequests(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	r := keyReconciler(clk)
	org := &keyOrg{appsRead: true}
	th := pkjwtTokenHook(true)
	th.Annotations = map[string]string{v1.AnnotationRotateHookKey: "from-git"}
	if _, err := r.prepareHookKeys(context.Background(), th, org.client(), nil); err != nil {
		t.Fatal(err)
	}
	if st := th.Status.HookAuth; len(org.keys) != 1 || st.NextHookKey != nil || st.RotationRequest != "from-git" {
		t.Errorf("%d keys, status %+v; want one key and the request answered", len(org.keys), st)
	}
}

// TestHookKeyWithoutRegisterInApp: the admin's turn. The channel waits until
// the app's JWKS holds the key; without okta.apps.read a first key is used
// (Okta's call proves it), a rotation's waits for the admin's annotation.
func TestHookKeyWithoutRegisterInApp(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	r := keyReconciler(clk)

	t.Run("the operator reads the JWKS", func(t *testing.T) {
		org := &keyOrg{appsRead: true}
		c := org.client()
		th := pkjwtTokenHook(false)
		goal, err := r.prepareHookKeys(ctx, th, c, nil)
		if err != nil || goal.channelKeyID != "" || goal.requeueIn != pollForAdmin {
			t.Fatalf("before the admin: %+v, %v", goal, err)
		}
		if slices.ContainsFunc(org.takeCalls(), func(s string) bool { return strings.HasPrefix(s, "AddAppJWK") }) {
			t.Error("the operator added the key without registerInApp")
		}
		if msg := hookKeyWaitMessage(th); !strings.Contains(msg, "kid-1") || !strings.Contains(msg, "0oahookcaller") {
			t.Errorf("wait message %q names neither the kid nor the app", msg)
		}
		org.jwks = append(org.jwks, &okta.AppJWK{ID: "pksadmin", KeyID: "kid-1", Status: okta.JWKActive})
		goal, err = r.prepareHookKeys(ctx, th, c, nil)
		if err != nil || goal.channelKeyID != "HKY1" || th.Status.HookAuth.HookKey.AppJWKID != "" {
			t.Fatalf("after the admin: %+v, %v (an entry the admin made is not the operator's to delete)", goal, err)
		}
	})

	t.Run("the operator cannot read the JWKS", func(t *testing.T) {
		org := &keyOrg{}
		c := org.client()
		th := pkjwtTokenHook(false)
		goal, err := r.prepareHookKeys(ctx, th, c, nil)
		if err != nil || goal.channelKeyID != "HKY1" || !goal.unverifiable {
			t.Fatalf("first key: %+v, %v", goal, err)
		}
		if reason, msg, _ := hookKeyCondition(th, "cal1", goal); reason != v1.ReasonRegistered || !strings.Contains(msg, scopeAppsRead) {
			t.Errorf("condition %s %q does not say the check is Okta's call", reason, msg)
		}
		if err := r.settleHookKeys(ctx, th, c, pkjwtHook("HKY1"), &goal); err != nil {
			t.Fatal(err)
		}
		th.Annotations = map[string]string{v1.AnnotationRotateHookKey: "1"}
		if goal, err = r.prepareHookKeys(ctx, th, c, pkjwtHook("HKY1")); err != nil || goal.channelKeyID != "HKY1" {
			t.Fatalf("rotation without the admin's word: %+v, %v", goal, err)
		}
		if reason, msg, _ := hookKeyCondition(th, "cal1", goal); reason != v1.ReasonRotatingHookKey || !strings.Contains(msg, v1.AnnotationHookKeyRegistered+"=kid-2") {
			t.Errorf("condition %s %q does not ask for the annotation", reason, msg)
		}
		th.Annotations[v1.AnnotationHookKeyRegistered] = "kid-2"
		if goal, err = r.prepareHookKeys(ctx, th, c, pkjwtHook("HKY1")); err != nil || goal.channelKeyID != "HKY2" {
			t.Fatalf("rotation after the admin's word: %+v, %v", goal, err)
		}
	})
}

// TestHookKeysAfterALostStatus: a crash between a create and the status
// write, or a status lost whole, makes no second key: the key Okta's channel
// uses is adopted, else the newest of the TokenHook's, and the others retire.
func TestHookKeysAfterALostStatus(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	r := keyReconciler(clk)
	th := pkjwtTokenHook(true)
	org := &keyOrg{appsRead: true, n: 7, keys: []*okta.HookKey{
		{ID: "HKYused", KeyID: "kid-used", Name: hookKeyName(th, 4)},
		{ID: "HKYnewer", KeyID: "kid-newer", Name: hookKeyName(th, 5)},
		{ID: "HKYforeign", KeyID: "kid-foreign", Name: "someone else's"},
	}, jwks: []*okta.AppJWK{{ID: "pksused", KeyID: "kid-used", Status: okta.JWKActive}, {ID: "pksnewer", KeyID: "kid-newer", Status: okta.JWKActive}}}
	c := org.client()
	goal, err := r.prepareHookKeys(ctx, th, c, pkjwtHook("HKYused"))
	if err != nil {
		t.Fatal(err)
	}
	st := th.Status.HookAuth
	if st.HookKey.ID != "HKYused" || goal.channelKeyID != "HKYused" {
		t.Errorf("adopted %+v, goal %+v", st.HookKey, goal)
	}
	if len(st.RetiredHookKeys) != 1 || st.RetiredHookKeys[0].ID != "HKYnewer" {
		t.Errorf("retired %+v, want the other key of ours only", st.RetiredHookKeys)
	}
	if slices.ContainsFunc(org.takeCalls(), func(s string) bool { return strings.HasPrefix(s, "Create") || strings.HasPrefix(s, "AddAppJWK") }) {
		t.Error("a key was created although ours exist, or added to the JWKS that has it")
	}
	// A rotation now makes key 6: key 5 is on its way out, not the next.
	if n := nextKeyNumber(th, st); n != 6 {
		t.Errorf("next key number %d, want 6", n)
	}
	if st.HookKey.AppJWKID != "pksused" {
		t.Errorf("the adopted key's JWKS entry %q, want it found by kid", st.HookKey.AppJWKID)
	}
	// After the grace the other key goes, with its JWKS entry found by kid.
	org.takeCalls()
	clk.SetTime(clk.Now().Add(r.RotationGrace))
	if err := r.settleHookKeys(ctx, th, c, pkjwtHook("HKYused"), &goal); err != nil {
		t.Fatal(err)
	}
	app := th.Spec.HookAuth.OAuth.ClientID
	if diff := cmp.Diff([]string{"ListAppJWKs " + app, "DeactivateAppJWK " + app + " pksnewer", "DeleteAppJWK " + app + " pksnewer", "DeleteHookKey HKYnewer"},
		org.takeCalls()); diff != "" {
		t.Errorf("retiring a key status had lost (-want +got):\n%s", diff)
	}

	// No hook yet and the key made before a crash: found by name.
	th2 := pkjwtTokenHook(true)
	th2.UID = "uid-2"
	org2 := &keyOrg{appsRead: true, keys: []*okta.HookKey{{ID: "HKYmade", KeyID: "kid-made", Name: hookKeyName(th2, 1)}}}
	if _, err := r.prepareHookKeys(ctx, th2, org2.client(), nil); err != nil || th2.Status.HookAuth.HookKey.ID != "HKYmade" {
		t.Fatalf("after a crash: %+v, %v", th2.Status.HookAuth, err)
	}
	for _, call := range org2.takeCalls() {
		if strings.HasPrefix(call, "CreateHookKey") {
			t.Errorf("a second key was made: %s", call)
		}
	}
}

// TestHookKeyCap: a first key past Okta's cap stops with HookKeyLimitReached;
// a rotation past it keeps the key in use and says why it did not rotate.
func TestHookKeyCap(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	r := keyReconciler(clk)
	th := pkjwtTokenHook(true)
	org := &keyOrg{appsRead: true, keyCap: 1, keys: []*okta.HookKey{{ID: "HKYother", Name: "someone else's"}}}
	c := org.client()
	if _, err := r.prepareHookKeys(ctx, th, c, nil); !errors.Is(err, errConditionSet) {
		t.Fatalf("past the cap: %v, want errConditionSet", err)
	}
	if c := findCondition(th, v1.ConditionInlineHookRegistered); c == nil || c.Reason != v1.ReasonHookKeyLimitReached || !strings.Contains(c.Message, "50") {
		t.Errorf("condition %+v", c)
	}

	org = &keyOrg{appsRead: true}
	c = org.client()
	th = pkjwtTokenHook(true)
	goal, err := r.prepareHookKeys(ctx, th, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.settleHookKeys(ctx, th, c, pkjwtHook("HKY1"), &goal); err != nil {
		t.Fatal(err)
	}
	org.keyCap = 1
	th.Annotations = map[string]string{v1.AnnotationRotateHookKey: "1"}
	goal, err = r.prepareHookKeys(ctx, th, c, pkjwtHook("HKY1"))
	if err != nil || goal.channelKeyID != "HKY1" || goal.rotationFailed == "" {
		t.Fatalf("rotation past the cap: %+v, %v", goal, err)
	}
	if reason, msg, _ := hookKeyCondition(th, "cal1", goal); reason != v1.ReasonHookKeyLimitReached || !strings.Contains(msg, "is active") {
		t.Errorf("condition %s %q", reason, msg)
	}
}

// TestCleanupHookKeys: the finalizer deletes every key of the TokenHook (in
// status or only in Okta) and the JWKS entries the operator added, nothing
// else.
func TestCleanupHookKeys(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	r := keyReconciler(clk)
	th := pkjwtTokenHook(true)
	org := &keyOrg{appsRead: true,
		keys: []*okta.HookKey{{ID: "HKYa", KeyID: "kid-a", Name: hookKeyName(th, 1)}, {ID: "HKYb", KeyID: "kid-b", Name: hookKeyName(th, 2)},
			{ID: "HKYforeign", KeyID: "kid-f", Name: "someone else's"}},
		jwks: []*okta.AppJWK{{ID: "pksa", KeyID: "kid-a", Status: okta.JWKActive}, {ID: "pksb", KeyID: "kid-b", Status: okta.JWKActive},
			{ID: "pksf", KeyID: "kid-f", Status: okta.JWKActive}},
	}
	th.Status.HookAuth = &v1.HookAuthStatus{HookKey: &v1.HookKeyStatus{ID: "HKYa", KeyID: "kid-a", AppID: "0oahookcaller", AppJWKID: "pksa"}}
	if err := r.cleanupHookKeys(ctx, th, org.client()); err != nil {
		t.Fatal(err)
	}
	if len(org.keys) != 1 || org.keys[0].ID != "HKYforeign" || len(org.jwks) != 1 || org.jwks[0].ID != "pksf" || th.Status.HookAuth != nil {
		t.Errorf("left keys %v, JWKS %v, status %+v", org.keys, org.jwks, th.Status.HookAuth)
	}
}

func findCondition(th *v1.TokenHook, t string) *metav1.Condition {
	for i := range th.Status.Conditions {
		if th.Status.Conditions[i].Type == t {
			return &th.Status.Conditions[i]
		}
	}
	return nil
}

func TestProvenByOkta(t *testing.T) {
	cases := map[string]struct {
		reachable  bool
		channelKey string
		client     string // the channel's, when not the spec's
		want       bool
	}{
		"Okta's call through the key reached the hook": {reachable: true, channelKey: "A", want: true},
		"the call failed":               {channelKey: "A"},
		"the channel names another key": {reachable: true, channelKey: "B"},
		"the channel's app is not the spec's (a change of client under way)": {reachable: true, channelKey: "A", client: "0oaoldcaller"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			th := pkjwtTokenHook(false)
			th.Status.HookAuth = &v1.HookAuthStatus{HookKey: &v1.HookKeyStatus{ID: "A"}}
			if tc.reachable {
				setTrue(th, v1.ConditionHookReachable, v1.ReasonVerified, "")
			}
			hook := pkjwtHook(tc.channelKey)
			if tc.client != "" {
				hook.OAuth.ClientID = tc.client
			}
			provenByOkta(th, hook)
			if got := th.Status.HookAuth.HookKey; got.Registered != tc.want || tc.want && got.RegisteredIn != hookKeyApp(th) {
				t.Errorf("registered = %v in %q, want %v", got.Registered, got.RegisteredIn, tc.want)
			}
		})
	}
}

// TestHookKeyAppChange: the spec moves to another app. While Okta's channel
// still signs with the key through the old app, its registration stands;
// once the channel has left it (by way of the header secret), the entry the
// operator added to the old app goes and the key is added to the new app.
func TestHookKeyAppChange(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	r := keyReconciler(clk)
	org := &keyOrg{appsRead: true}
	c := org.client()
	th := pkjwtTokenHook(true)
	oldApp := th.Spec.HookAuth.OAuth.ClientID
	if _, err := r.prepareHookKeys(ctx, th, c, nil); err != nil {
		t.Fatal(err)
	}
	st := th.Status.HookAuth
	if st.HookKey.RegisteredIn != oldApp || st.HookKey.AppID != oldApp {
		t.Fatalf("first key: %+v", st.HookKey)
	}
	org.takeCalls()
	// Another key of the old app's, so that Okta lets ours go.
	org.jwks = append(org.jwks, &okta.AppJWK{ID: "pksother", KeyID: "other", Status: okta.JWKActive})

	newApp := "0oanewcaller"
	th.Spec.HookAuth.OAuth.ClientID = newApp
	goal, err := r.prepareHookKeys(ctx, th, c, pkjwtHook("HKY1"))
	if err != nil || goal.channelKeyID != "HKY1" || !st.HookKey.Registered || st.HookKey.RegisteredIn != oldApp {
		t.Fatalf("while the channel signs through the old app: goal %+v, %v, key %+v", goal, err, st.HookKey)
	}
	if calls := org.takeCalls(); len(calls) != 0 {
		t.Errorf("calls while the channel signs through the old app: %v", calls)
	}

	// The channel is on the header secret now.
	goal, err = r.prepareHookKeys(ctx, th, c, &okta.InlineHook{ID: "cal1", Status: okta.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"DeactivateAppJWK " + oldApp + " pkskid-1", "DeleteAppJWK " + oldApp + " pkskid-1",
		"ListAppJWKs " + newApp, "AddAppJWK " + newApp + " kid-1"}
	if diff := cmp.Diff(want, org.takeCalls()); diff != "" {
		t.Errorf("calls once the channel left the old app (-want +got):\n%s", diff)
	}
	if k := st.HookKey; goal.channelKeyID != "HKY1" || !k.Registered || k.RegisteredIn != newApp || k.AppID != newApp || k.AppJWKID != "pkskid-1" {
		t.Errorf("after the move: goal %+v, key %+v", goal, k)
	}
	// Registered before registeredIn was kept: taken as the app it was added to.
	legacy := &v1.HookKeyStatus{ID: "HKY9", KeyID: "kid-9", Registered: true, AppID: newApp, AppJWKID: "pkskid-9"}
	if err := r.forgetStaleRegistration(ctx, th, c, legacy, ""); err != nil || !legacy.Registered || legacy.RegisteredIn != newApp {
		t.Errorf("a key registered before registeredIn: %+v, %v", legacy, err)
	}
}
