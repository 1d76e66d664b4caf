package controllers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/oktasim"
)

const (
	patientLogin    = "alice@example.com" // P-001 in patientsCSV
	patientPassword = "correct horse"
)

var addPatientOnce sync.Once

// minter signs the patient in through a policy only its own client uses, so
// the tokens come from the rule its TokenHook links, whatever other tests
// did to the default policy.
type minter struct {
	clientID, policyName, ruleName string
}

func (f *fixture) newMinter() *minter {
	f.t.Helper()
	addPatientOnce.Do(func() {
		if _, err := sim.AddUser(oktasim.UserSpec{Login: patientLogin, Password: patientPassword, FirstName: "Alice", LastName: "Liddell"}); err != nil {
			f.t.Fatal(err)
		}
	})
	m := &minter{clientID: "0oamint" + strings.ReplaceAll(f.ns, "-", ""), policyName: "Mint " + f.ns, ruleName: "Mint rule"}
	if err := sim.AddClient(oktasim.ClientSpec{ClientID: m.clientID, GrantTypes: []string{oktasim.GrantPassword}}); err != nil {
		f.t.Fatal(err)
	}
	p, err := sim.AddPolicy("default", oktasim.PolicySpec{Name: m.policyName, Priority: 1, Clients: []string{m.clientID}})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := sim.AddRule("default", p.ID, oktasim.RuleSpec{Name: m.ruleName, Conditions: oktasim.RuleConditions{
		GrantTypes: []string{oktasim.GrantPassword}, Scopes: []string{"*"}, Groups: oktasim.IncludeExclude{Include: []string{oktasim.GroupEveryone}},
	}}); err != nil {
		f.t.Fatal(err)
	}
	return m
}

// tokenHook is the fixture's TokenHook on the minter's rule.
func (m *minter) tokenHook(f *fixture, name string) *v1.TokenHook {
	th := f.tokenHook(name)
	th.Spec.Okta.Policy = v1.OktaObjectSelector{Name: m.policyName}
	th.Spec.Okta.Rule = v1.OktaObjectSelector{Name: m.ruleName}
	return th
}

// mint signs the patient in and returns the patient ID claim of the ID token.
func (m *minter) mint(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"password"}, "username": {patientLogin}, "password": {patientPassword},
		"scope": {"openid profile"}, "client_id": {m.clientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, simSrv.URL+"/oauth2/default/v1/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := simSrv.Client.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var answer struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint answered %d %s", resp.StatusCode, answer.Error)
	}
	parts := strings.Split(answer.IDToken, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("the ID token is no JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", err
	}
	id, _ := claims["patientID"].(string)
	return id, nil
}

// mintSteadily mints until stop is called, which returns how many tokens
// were minted and what went wrong with the others.
// A request under way when stop is called completes: cut short, its hook
// call would count as failed.
func (m *minter) mintSteadily(t *testing.T) (stop func() (minted int, failures []string)) {
	var stopping atomic.Bool
	done := make(chan struct{})
	var minted int
	var failures []string
	go func() {
		defer close(done)
		for !stopping.Load() {
			id, err := m.mint(context.Background())
			switch {
			case err != nil:
				failures = append(failures, err.Error())
			case id != "P-001":
				failures = append(failures, fmt.Sprintf("patientID claim %q", id))
			default:
				minted++
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	stop = func() (int, []string) {
		stopping.Store(true)
		<-done
		return minted, failures
	}
	t.Cleanup(func() { stop() })
	return stop
}

// hookFailures are the simulator's calls of the hook that added no claim.
func hookFailures(hookID string) []string {
	var out []string
	for _, c := range sim.HookCalls() {
		if c.HookID == hookID && c.Outcome != oktasim.HookApplied {
			out = append(out, fmt.Sprintf("%s: %s", c.Outcome, c.Reason))
		}
	}
	return out
}

// authSecret reads the owned auth Secret.
func (f *fixture) authSecret(name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name + "-hookserver-auth"}, s)
	return s, err
}

// waitAuthSettled waits until no rotation is under way: the pods accept
// one value, Okta has it, and the TokenHook is Ready.
func (f *fixture) waitAuthSettled(name, hookID string) {
	f.t.Helper()
	eventually(f.t, waitFor, func() error {
		s, err := f.authSecret(name)
		if err != nil {
			return err
		}
		cur, prev := string(s.Data["current"]), string(s.Data["previous"])
		h, err := sim.Hook(hookID)
		if err != nil {
			return err
		}
		if cur != prev || h.Channel.AuthScheme.Value != cur {
			return fmt.Errorf("auth secret not settled: pods accept two values or Okta has another")
		}
		return nil
	})
	f.waitReady(name)
}

// A lost auth Secret (or the annotation saying what Okta has) must not cost
// a single hook call: the pods keep their files until kubelet refreshes
// them, so the Secret must come back as they have it, and any new value
// must reach the pods before Okta sends it.
func TestLostAuthSecretFailsNoHookCall(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		userSecret      bool // spec.authSecretRef, else the operator's own
		operatorRestart bool // the operator's memory of the Secret is gone too
		lose            func(f *fixture, name string)
	}{
		"the auth Secret is deleted": {
			lose: deleteAuthSecret,
		},
		"the hash of what Okta has is removed": {
			lose: removeOktaHash,
		},
		"the hash is removed while the operator restarts": {
			operatorRestart: true, lose: removeOktaHash,
		},
		"a user's auth Secret is deleted while the operator restarts": {
			userSecret: true, operatorRestart: true, lose: deleteAuthSecret,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			m := f.newMinter()
			th := m.tokenHook(f, "lost-auth")
			if tc.userSecret {
				f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-auth", Namespace: f.ns},
					StringData: map[string]string{"secret": "Basic dXNlcjpzZWNyZXQ="}})
				th.Spec.AuthSecretRef = &v1.SecretKeyRef{Name: "hook-auth", Key: "secret"}
			}
			f.create(th)
			th = f.waitReady("lost-auth")
			hookID := th.Status.InlineHookID
			if id, err := m.mint(ctx); err != nil || id != "P-001" {
				t.Fatalf("minting while Ready: patientID %q, %v", id, err)
			}

			stop := m.mintSteadily(t)
			time.Sleep(200 * time.Millisecond)
			if tc.operatorRestart {
				reconciler.authStates.forget(th.UID)
			}
			tc.lose(f, "lost-auth")
			// Long enough for a rotation's two grace periods and kubelet.
			time.Sleep(2*rotationGrace + kubeletSync)
			f.waitAuthSettled("lost-auth", hookID)
			minted, failures := stop()

			if len(failures) > 0 {
				t.Errorf("%d of %d token requests failed or lacked the claim, e.g. %s", len(failures), minted+len(failures), failures[0])
			}
			if hf := hookFailures(hookID); len(hf) > 0 {
				t.Errorf("%d hook calls added no claim, e.g. %s", len(hf), hf[0])
			}
			if minted < 20 {
				t.Errorf("only %d tokens minted: the test proves little", minted)
			}
		})
	}
}

func deleteAuthSecret(f *fixture, name string) {
	f.t.Helper()
	err := k8s.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name + "-hookserver-auth"}})
	if err != nil {
		f.t.Fatal(err)
	}
}

func removeOktaHash(f *fixture, name string) {
	f.t.Helper()
	eventually(f.t, 10*time.Second, func() error {
		s, err := f.authSecret(name)
		if err != nil {
			return err
		}
		delete(s.Annotations, "tokenhook.io/okta-secret-sha256")
		return k8s.Update(context.Background(), s)
	})
}

// With the Secret and the operator's memory of it both lost, the operator's
// own secret cannot be recovered: a new one goes to the pods first (their
// Deployment rolls out, as the new Secret's UID is on the pod template), and
// Okta gets it only once every pod has it.
func TestLostAuthSecretReachesThePodsBeforeOkta(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	th := f.tokenHook("lost-all")
	f.create(th)
	th = f.waitReady("lost-all")
	hookID := th.Status.InlineHookID
	old := oktaSecret(t, hookID)
	oldSecret, err := f.authSecret("lost-all")
	if err != nil {
		t.Fatal(err)
	}

	// Suspended, so that no reconcile under way puts the Secret back as
	// it read it before the deletion.
	f.update("lost-all", func(th *v1.TokenHook) { th.Spec.Suspend = true })
	f.waitCondition("lost-all", v1.ConditionReady, metav1.ConditionFalse, v1.ReasonSuspended)
	reconciler.authStates.forget(th.UID)
	deleteAuthSecret(f, "lost-all")
	f.update("lost-all", func(th *v1.TokenHook) { th.Spec.Suspend = false })
	deadline := time.Now().Add(waitFor)
	for oktaSecret(t, hookID) == old {
		if time.Now().After(deadline) {
			t.Fatalf("Okta never got a new auth secret")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Okta moved: the pods must all mount the new Secret by now.
	sec, err := f.authSecret("lost-all")
	if err != nil {
		t.Fatal(err)
	}
	if sec.UID == oldSecret.UID {
		t.Fatalf("the auth Secret was not replaced")
	}
	d := &appsv1.Deployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "lost-all-hookserver"}, d); err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Annotations["tokenhook.io/auth-secret-uid"]; got != string(sec.UID) {
		t.Errorf("the pod template names auth Secret %q, not the new %q: Okta moved before the pods did", got, sec.UID)
	}
	if !rolledOut(d) {
		t.Errorf("Okta got the new auth secret before the hook server rolled out")
	}
	if sent := oktaSecret(t, hookID); sent != string(sec.Data["current"]) {
		t.Errorf("Okta sends a secret the new auth Secret does not hold")
	}
	f.waitAuthSettled("lost-all", hookID)
	if _, err := f.authSecret("lost-all"); apierrors.IsNotFound(err) {
		t.Errorf("no auth Secret after recovery")
	}
}
