// Package e2e runs the reference scenario end to end on one machine: the
// local control plane, the Okta simulator minting real signed tokens, the
// operator, and the hook server run exactly as its Deployment says. A
// patient's login gets the patientID claim; anyone else's does not.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/selfsigned"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/oktasim"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/test/localstack"
)

const (
	ns        = "clinic"
	clientID  = "clinic-portal"
	password  = "correct horse battery staple"
	patient   = "ada.lovelace@example.com" // in config/samples' patient list as PT-100001
	patientID = "PT-100001"
	visitor   = "sam.visitor@example.com" // not a patient
	// lookalike is another Okta user whose login Unicode case folding
	// equates with visitor's (U+017F, long s): it must never get visitor's ID.
	lookalike = "\u017fam.visitor@example.com"
)

var eventually = testenv.Eventually

func TestPatientLoginEndToEnd(t *testing.T) {
	if _, err := testenv.Assets(); err != nil {
		testenv.Unavailable(t, err)
	}
	ctx := context.Background()
	var logs testLog
	if os.Getenv("TEST_LOG") != "" {
		logs.t = t
	}
	// The operator logs at its most verbose, so that debug lines are checked
	// for secrets too.
	stack, err := localstack.Start(ctx, localstack.Options{Progress: &logs, ProcessLog: &logs, OperatorVerbosity: 2, DriftInterval: 5 * time.Second})
	if err != nil {
		t.Fatalf("start the local stack: %v", err)
	}
	t.Cleanup(stack.Stop)
	k8s := stack.Client

	for _, login := range []string{patient, visitor, lookalike} {
		if _, err := stack.Sim.AddUser(oktasim.UserSpec{Login: login, Password: password, FirstName: "Test", LastName: "User", Email: login}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stack.Sim.AddClient(oktasim.ClientSpec{ClientID: clientID, Name: "Clinic portal", GrantTypes: []string{"password"}}); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	th, err := stack.ApplySamples(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(th)
	eventually(t, 2*time.Minute, func() error {
		got := &v1.TokenHook{}
		if err := k8s.Get(ctx, key, got); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(got.Status.Conditions, v1.ConditionReady) {
			return fmt.Errorf("TokenHook not Ready: %v", got.Status.Conditions)
		}
		if got.Status.ReadyReplicas < 1 {
			return fmt.Errorf("no ready hook server replica")
		}
		return nil
	})

	claimOf := func(login string) (any, bool) {
		t.Helper()
		tokens, err := stack.Login(ctx, "default", clientID, login, password)
		if err != nil {
			t.Fatalf("login %s: %v", login, err)
		}
		if _, ok := tokens.AccessToken["patientID"]; ok {
			t.Errorf("the access token got the claim; the sample asks for the ID token only")
		}
		v, ok := tokens.IDToken["patientID"]
		return v, ok
	}

	t.Run("a patient's ID token carries the patient ID", func(t *testing.T) {
		if v, ok := claimOf(patient); !ok || v != patientID {
			t.Errorf("patientID = %v (present %v), want %s", v, ok, patientID)
		}
	})
	t.Run("anyone else's token has no patientID", func(t *testing.T) {
		if v, ok := claimOf(visitor); ok {
			t.Errorf("a non-patient got patientID %v", v)
		}
	})

	t.Run("a ConfigMap edit reaches the running hook server without a restart", func(t *testing.T) {
		dep := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: th.Name + "-hookserver"}, dep); err != nil {
			t.Fatal(err)
		}
		generation := dep.Generation
		eventually(t, 10*time.Second, func() error {
			cm := &corev1.ConfigMap{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: th.Spec.Patients.ConfigMapRef.Name}, cm); err != nil {
				return err
			}
			cm.Data[th.Spec.Patients.ConfigMapRef.Key] += visitor + ",PT-200001\n"
			return k8s.Update(ctx, cm)
		})
		eventually(t, time.Minute, func() error {
			if v, ok := claimOf(visitor); !ok || v != "PT-200001" {
				return fmt.Errorf("the new patient's claim = %v (present %v)", v, ok)
			}
			return nil
		})
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
			t.Fatal(err)
		}
		if dep.Generation != generation {
			t.Errorf("the Deployment changed (generation %d -> %d): the edit caused a rollout", generation, dep.Generation)
		}
	})

	t.Run("a lookalike login does not get the patient's ID", func(t *testing.T) {
		if v, ok := claimOf(visitor); !ok || v != "PT-200001" {
			t.Fatalf("precondition: %s should be a patient now, patientID = %v", visitor, v)
		}
		if v, ok := claimOf(lookalike); ok {
			t.Errorf("the lookalike user got patientID %v", v)
		}
	})

	tlsKey := ""
	t.Run("switching the hook server to TLS keeps the claim flowing", func(t *testing.T) {
		crt, privateKey := selfSignedCert(t, th.Name+"-hookserver."+ns+".svc")
		tlsKey = string(privateKey)
		if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hookserver-tls"},
			Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: privateKey}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() error {
			got := &v1.TokenHook{}
			if err := k8s.Get(ctx, key, got); err != nil {
				return err
			}
			got.Spec.HookServer.TLS = &v1.HookServerTLS{SecretName: "hookserver-tls"}
			return k8s.Update(ctx, got)
		})
		var addrs []string
		eventually(t, time.Minute, func() error {
			got := &v1.TokenHook{}
			if err := k8s.Get(ctx, key, got); err != nil {
				return err
			}
			if got.Status.ObservedGeneration != got.Generation || !meta.IsStatusConditionTrue(got.Status.Conditions, v1.ConditionReady) {
				return fmt.Errorf("TokenHook not Ready at generation %d: %v", got.Generation, got.Status.Conditions)
			}
			pods := stack.Pods(ns, th.Name)
			if pods == nil {
				return fmt.Errorf("no hook server running")
			}
			if addrs = pods.Addrs("https"); len(addrs) == 0 || len(pods.Addrs("http")) > 0 {
				return fmt.Errorf("hook server not rolled over to HTTPS yet (https %v, http %v)", addrs, pods.Addrs("http"))
			}
			return nil
		})
		// The pods serve the Secret's certificate, not some other.
		conn, err := tls.Dial("tcp", addrs[0], &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // inspected below
		if err != nil {
			t.Fatalf("TLS handshake with a hook server pod: %v", err)
		}
		defer func() { _ = conn.Close() }()
		if peer := conn.ConnectionState().PeerCertificates; len(peer) == 0 || !bytes.Equal(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: peer[0].Raw}), crt) {
			t.Errorf("the pod serves another certificate than the Secret's")
		}
		eventually(t, 30*time.Second, func() error {
			if v, ok := claimOf(patient); !ok || v != patientID {
				return fmt.Errorf("over HTTPS, patientID = %v (present %v)", v, ok)
			}
			return nil
		})
	})

	// What must never be written anywhere: collected now, since deletion
	// removes the TokenHook and its auth Secret.
	secrets := map[string]string{"Okta API token": stack.APIToken, "user password": password}
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: th.Spec.Patients.ConfigMapRef.Name}, cm); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(cm.Data[th.Spec.Patients.ConfigMapRef.Key]), "\n")[1:] {
		login, id, _ := strings.Cut(line, ",")
		secrets[fmt.Sprintf("patient %d's login", i+1)] = login
		secrets[fmt.Sprintf("patient %d's ID", i+1)] = id
	}
	auth := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: th.Name + "-hookserver-auth"}, auth); err != nil {
		t.Fatal(err)
	}
	for k, v := range auth.Data {
		secrets["hook auth secret key "+k] = string(v)
	}
	if tlsKey != "" {
		secrets["hook server TLS key"] = tlsKey
	}
	statusBeforeDelete := &v1.TokenHook{}
	if err := k8s.Get(ctx, key, statusBeforeDelete); err != nil {
		t.Fatal(err)
	}

	t.Run("deleting the TokenHook unlinks the rule and stops the claim", func(t *testing.T) {
		got := &v1.TokenHook{}
		if err := k8s.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		policyID, ruleID, hookID := got.Status.PolicyID, got.Status.RuleID, got.Status.InlineHookID
		if err := k8s.Delete(ctx, got); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, func() error {
			if err := k8s.Get(ctx, key, &v1.TokenHook{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("TokenHook still there (%w)", err)
			}
			return nil
		})
		rule, err := stack.Sim.Rule("default", policyID, ruleID)
		if err != nil {
			t.Fatal(err)
		}
		if rule.Token.InlineHookID != "" {
			t.Errorf("the rule still calls %s", rule.Token.InlineHookID)
		}
		if _, err := stack.Sim.Hook(hookID); err == nil {
			t.Errorf("the inline hook %s is still in Okta", hookID)
		}
		if v, ok := claimOf(patient); ok {
			t.Errorf("after delete, a patient still gets patientID %v", v)
		}
	})
	// As make demo -oauth sets it up: the org gets a service app, its scope
	// and a rule granting it, and the OAuth sample is applied (in a new
	// namespace; the header TokenHook above has let go of the rule).
	var oauthStatus []byte
	t.Run("with OAuth hook auth from the OAuth sample, the hook servers let Okta's calls in by access token only", func(t *testing.T) {
		caller, err := stack.AddOAuthCaller("default")
		if err != nil {
			t.Fatal(err)
		}
		secrets["OAuth client secret"] = caller.ClientSecret
		const oauthNS = ns + "-oauth"
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: oauthNS}}); err != nil {
			t.Fatal(err)
		}
		oth, err := stack.ApplyOAuthSamples(ctx, oauthNS, caller)
		if err != nil {
			t.Fatal(err)
		}
		got := &v1.TokenHook{}
		eventually(t, 2*time.Minute, func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(oth), got); err != nil {
				return err
			}
			if !meta.IsStatusConditionTrue(got.Status.Conditions, v1.ConditionReady) || got.Status.ObservedGeneration != got.Generation {
				return fmt.Errorf("OAuth TokenHook not Ready: %v", got.Status.Conditions)
			}
			return nil
		})
		if got.Spec.HookAuth.Type != v1.HookAuthOAuth || got.Spec.HookAuth.OAuth == nil || got.Spec.HookAuth.OAuth.ClientID != caller.ClientID {
			t.Fatalf("the applied TokenHook's hookAuth is %+v, want OAuth as client %s", got.Spec.HookAuth, caller.ClientID)
		}
		hook, err := stack.Sim.Hook(got.Status.InlineHookID)
		if err != nil {
			t.Fatal(err)
		}
		if hook.Channel.Type != "OAUTH" || hook.Channel.OAuth == nil || hook.Channel.OAuth.ClientID != caller.ClientID ||
			hook.Channel.OAuth.TokenURL != stack.OrgURL+"/oauth2/default/v1/token" || hook.Channel.OAuth.Scope != "tokenhook.call" {
			t.Fatalf("Okta's inline hook has channel %s %+v; want OAUTH as the caller at the default authorization server", hook.Channel.Type, hook.Channel.OAuth)
		}
		before, err := stack.HookAuthCalls(ctx, oauthNS, got.Name)
		if err != nil {
			t.Fatal(err)
		}
		calls := len(stack.Sim.HookCalls())
		if v, ok := claimOf(patient); !ok || v != patientID {
			t.Errorf("with OAuth hook auth, patientID = %v (present %v), want %s", v, ok, patientID)
		}
		if v, ok := claimOf(visitor); ok {
			t.Errorf("with OAuth hook auth, a non-patient got patientID %v", v)
		}
		after, err := stack.HookAuthCalls(ctx, oauthNS, got.Name)
		if err != nil {
			t.Fatal(err)
		}
		if n := after["oauth"] - before["oauth"]; n < 2 {
			t.Errorf("the hook servers let in %g calls by access token for the 2 logins", n)
		}
		if n := after["header"] - before["header"]; n != 0 {
			t.Errorf("the hook servers let in %g calls by header secret", n)
		}
		for _, c := range stack.Sim.HookCalls()[calls:] {
			if c.HookID == hook.ID && c.Outcome != oktasim.HookApplied && c.Outcome != oktasim.HookSkipped {
				t.Errorf("Okta's hook call failed: %s %s", c.Outcome, c.Reason)
			}
		}
		// The pods refuse the header secret, which they would have taken
		// with header hook auth.
		auth := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: oauthNS, Name: got.Name + "-hookserver-auth"}, auth); err != nil {
			t.Fatal(err)
		}
		if status := postWithSecret(t, stack, got.Spec.HookServer.ExternalURL, string(auth.Data["current"])); status != http.StatusUnauthorized {
			t.Errorf("the OAuth hook servers answered %d to the header secret, want 401", status)
		}
		for k, v := range auth.Data {
			secrets["OAuth hook auth Secret key "+k] = string(v)
		}
		if oauthStatus, err = json.Marshal(got.Status); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("no secret, login or patient ID in logs, events or status", func(t *testing.T) {
		status, err := json.Marshal(statusBeforeDelete.Status)
		if err != nil {
			t.Fatal(err)
		}
		places := map[string]string{"the operator's and hook servers' logs": logs.String(), "TokenHook status": string(status), "OAuth TokenHook status": string(oauthStatus)}
		events := &eventsv1.EventList{}
		if err := k8s.List(ctx, events, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		coreEvents := &corev1.EventList{}
		if err := k8s.List(ctx, coreEvents, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(events.Items)+len(coreEvents.Items) == 0 {
			t.Error("no events recorded: the check below would prove nothing")
		}
		var eventText strings.Builder
		for _, e := range events.Items {
			fmt.Fprintln(&eventText, e.Reason, e.Note)
		}
		for _, e := range coreEvents.Items {
			fmt.Fprintln(&eventText, e.Reason, e.Message)
		}
		places["events"] = eventText.String()
		if !strings.Contains(places["the operator's and hook servers' logs"], "tokenHook") {
			t.Error("the logs hold no hook call: the check below would prove nothing")
		}

		for where, text := range places {
			text = strings.ToLower(text)
			for what, secret := range secrets {
				if len(secret) < 6 {
					t.Fatalf("%s %q is too short to search for", what, secret)
				}
				if strings.Contains(text, strings.ToLower(secret)) {
					t.Errorf("%s contain the %s", where, what)
				}
			}
		}
	})
}

// testLog keeps the stack's output for the leak check, and sends it to the
// test log too when TEST_LOG is set.
type testLog struct {
	t   *testing.T
	mu  sync.Mutex
	buf strings.Builder
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	if l.t != nil {
		l.t.Log(string(p))
	}
	return len(p), nil
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// postWithSecret posts a hook event through the ingress, as Okta's HTTP
// channel would with secret in the Authorization header, and returns the status.
func postWithSecret(t *testing.T, stack *localstack.Stack, url, secret string) int {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(stack.Ingress.CACertPEM)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"eventType":"com.okta.oauth2.tokens.transform","data":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", secret)
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("post to the hook through the ingress: %v", err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

// selfSignedCert is a certificate and key for the hook server's Service name,
// as cert-manager would issue them.
func selfSignedCert(t *testing.T, dnsName string) (certPEM, keyPEM []byte) {
	t.Helper()
	c, err := selfsigned.New(selfsigned.Options{Hosts: []string{dnsName}})
	if err != nil {
		t.Fatal(err)
	}
	return c.CertPEM, c.KeyPEM
}
