package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
	"github.com/tokenhook/tokenhook/internal/oktasim"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/kubectlplugin"
	"github.com/tokenhook/tokenhook/test/localstack"
)

const (
	operatorNS = "tokenhook-system"
	release    = "tokenhook" // the chart's fullname is then "tokenhook"
	leaseName  = "tokenhook-manager.tokenhook.io"
	clinicNS   = "clinic"
	hookName   = "patient-id"
	clientID   = "clinic-portal"
	password   = "correct horse battery staple"
	patient    = "ada.lovelace@example.com" // PT-100001 in config/samples
	patientID  = "PT-100001"
	visitor    = "sam.visitor@example.com"
	newID      = "PT-200001" // the visitor's, once the list is edited
)

var eventually = testenv.Eventually

// TestRealNode walks the user's path in order: each step stands on the last.
func TestRealNode(t *testing.T) {
	ctx := context.Background()
	for _, login := range []string{patient, visitor} {
		if _, err := sim.AddUser(oktasim.UserSpec{Login: login, Password: password, FirstName: "Test", LastName: "User", Email: login}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sim.AddClient(oktasim.ClientSpec{ClientID: clientID, Name: "Clinic portal", GrantTypes: []string{"password"}}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"helm install: the operator runs Ready and holds its lease", testHelmInstall},
		{"kubectl apply of a TokenHook: hook servers Ready under real probes", testApplyTokenHook},
		{"the patient's token carries the claim, the visitor's does not", testClaims},
		{"kubectl tokenhook preview and status agree with Okta's tokens and the status", testPlugin},
		{"a patients ConfigMap edit reaches the pods with 0 failed calls", testConfigMapEdit},
		{"auth secret rotation with 0 failed calls", testRotation},
		{"Okta's calls switch to OAuth access tokens and back with 0 failed calls", testOAuthSwitch},
		{"a rolling update of the hook server with 0 failed calls", testRollingUpdate},
		{"a hook server pod killed mid-load: it converges", testPodKilled},
		{"the operator pod deleted mid-reconcile: no duplicate hook", testOperatorDeleted},
		{"helm upgrade of the image rolls the hook servers with 0 failed calls", testHelmUpgradeImage},
		{"helm upgrade of a value", testHelmUpgradeValue},
		{"helm uninstall with a TokenHook present", testHelmUninstall},
	}
	for _, s := range steps {
		start := time.Now()
		ok := t.Run(s.name, s.run)
		t.Logf("%-75s %5.1fs", s.name, time.Since(start).Seconds())
		if !ok {
			t.Fatalf("stopping: the later steps need %q", s.name)
		}
	}
	_ = ctx
}

func testHelmInstall(t *testing.T) {
	ctx := context.Background()
	createRestrictedNamespace(t, operatorNS)
	ca := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "okta-ca", Namespace: operatorNS}, Data: map[string]string{"ca.crt": string(simSrv.CACertPEM)}}
	if err := k8s.Create(ctx, ca); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	defer kubectlLog(t, "get", "deployments,pods,leases", "-n", operatorNS, "-o", "wide")
	helmRun(t, "install", release, filepath.Join(repo, "charts/tokenhook"), "--namespace", operatorNS,
		"--set", "image.repository="+imageRepository, "--set", "image.tag="+imageTag, "--set", "image.pullPolicy=Never",
		"--set", "manager.oktaCABundle.configMapName=okta-ca",
		// The grace a rotation gives the kubelet to refresh the mounted
		// Secret: this node syncs pods every 10s (a kubelet's default is 1m,
		// the chart's grace 2m).
		"--set", "manager.authRotationGrace=40s",
		"--wait", "--timeout", "3m")
	t.Logf("helm install --wait: %.1fs", time.Since(start).Seconds())

	pod := operatorPod(t)
	if pod.Spec.ServiceAccountName != release {
		t.Errorf("operator runs as ServiceAccount %q, want the chart's %q", pod.Spec.ServiceAccountName, release)
	}
	eventually(t, time.Minute, func() error {
		lease := &coordinationv1.Lease{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: operatorNS, Name: leaseName}, lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || !strings.HasPrefix(*lease.Spec.HolderIdentity, pod.Name) {
			return fmt.Errorf("lease held by %v, want the operator pod %s", lease.Spec.HolderIdentity, pod.Name)
		}
		return nil
	})
}

func testApplyTokenHook(t *testing.T) {
	createRestrictedNamespace(t, clinicNS)
	samples, err := os.ReadFile(filepath.Join(repo, "config/samples/patients_configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: okta-credentials
stringData:
  apiToken: %q
---
apiVersion: v1
kind: Secret
metadata:
  name: hook-auth
stringData:
  value: "Bearer first-%d"
---
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata:
  name: patient-id-hookserver-tls
data:
  tls.crt: %s
  tls.key: %s
---
%s
---
apiVersion: tokenhook.io/v1alpha1
kind: TokenHook
metadata:
  name: %s
spec:
  okta:
    orgURL: %s
    credentialsSecretRef:
      name: okta-credentials
    authorizationServerID: default
    policy:
      name: Default Policy
    rule:
      name: Default Policy Rule
  hookServer:
    externalURL: %s
    replicas: 2
    tls:
      secretName: patient-id-hookserver-tls
  authSecretRef:
    name: hook-auth
    key: value
  patients:
    configMapRef:
      name: patients
      key: patients.csv
  claim:
    name: patientID
    tokens: [ID]
`, apiToken, time.Now().UnixNano(), b64(hookCert.CertPEM), b64(hookCert.KeyPEM), samples, hookName, simSrv.URL, hookURL(hookName, clinicNS))
	start := time.Now()
	kubectlApply(t, clinicNS, manifest)
	waitReady(t, 3*time.Minute)
	t.Logf("kubectl apply to Ready: %.1fs", time.Since(start).Seconds())
	dep := hookDeployment(t)
	for _, p := range podsOf(t, dep) {
		if !podReady(&p) {
			t.Errorf("hook server pod %s is not Ready", p.Name)
		}
		if p.Spec.Containers[0].ReadinessProbe == nil {
			t.Errorf("hook server pod %s has no readiness probe", p.Name)
		}
	}
}

func testClaims(t *testing.T) {
	kubectlLog(t, "get", "tokenhooks,deployments,pods,services", "-n", clinicNS, "-o", "wide")
	for _, login := range []string{patient, visitor} {
		tokens, err := org().Login(context.Background(), "default", clientID, login, password)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("ID token of %s: sub=%v patientID=%v", login, tokens.IDToken["sub"], tokens.IDToken["patientID"])
	}
	if got := claimOf(t, patient); got != patientID {
		t.Errorf("the patient's patientID = %q, want %s", got, patientID)
	}
	if got := claimOf(t, visitor); got != "" {
		t.Errorf("the visitor got patientID %q", got)
	}
	// Both went through the hook server: the patient's call applied a
	// command, the visitor's was answered 204 (nothing to add).
	calls := sim.HookCalls()
	if n := len(calls); n < 2 || calls[n-2].Outcome != oktasim.HookApplied || calls[n-1].Outcome != oktasim.HookSkipped {
		t.Errorf("the simulator's hook calls: %+v, want the last two applied and skipped", calls)
	}
}

// testPlugin runs the kubectl plugin as a user does, against the node's API
// server: preview port-forwards to a hook server pod and must answer what
// Okta's tokens carry; status must show what the operator reported. Neither
// may print the auth secret or the Okta API token.
func testPlugin(t *testing.T) {
	want := claimOf(t, patient) // the reference: the simulator's ID token now
	if want != patientID {
		t.Fatalf("the patient's ID token carries patientID %q, want %s", want, patientID)
	}
	never := secretValues(t)

	out := runPlugin(t, never, "preview", hookName, "-n", clinicNS, "--login", patient)
	quoted, _ := json.Marshal(want)
	if got := field(out, "ID token"); got != "patientID: "+string(quoted) {
		t.Errorf("preview of the patient: ID token %q, want patientID: %s (as Okta's token carries)", got, quoted)
	}
	if got := field(out, "access token"); got != "no claim" {
		t.Errorf("preview of the patient: access token %q, want no claim (spec.claim.tokens is [ID])", got)
	}
	out = runPlugin(t, never, "preview", hookName, "-n", clinicNS, "--login", visitor)
	if !strings.Contains(out, "\nno claim: not a patient\n") || strings.Contains(out, "patientID") {
		t.Errorf("preview of the visitor: want no claim: not a patient, and no patientID")
	}

	th := tokenHook(t)
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: clinicNS, Name: "patients"}, cm); err != nil {
		t.Fatal(err)
	}
	rows := strings.Count(strings.TrimSpace(cm.Data["patients.csv"]), "\n") // lines minus the header
	if int(th.Status.Patients) != rows {
		t.Errorf("status.patients = %d, the ConfigMap has %d patients", th.Status.Patients, rows)
	}
	out = runPlugin(t, never, "status", hookName, "-n", clinicNS)
	if got := field(out, "Verdict"); !strings.HasPrefix(got, "Ready: ") {
		t.Errorf("status verdict %q, want Ready", got)
	}
	if got := field(out, "Inline hook"); th.Status.InlineHookID == "" || !strings.HasPrefix(got, th.Status.InlineHookID+" ") {
		t.Errorf("status inline hook %q, want status.inlineHookID %q", got, th.Status.InlineHookID)
	}
	if got, p := field(out, "Patients"), fmt.Sprintf("%d in ConfigMap patients", rows); !strings.HasPrefix(got, p) {
		t.Errorf("status patients %q, want %q", got, p)
	}

	// Through kubectl: with the plugin on the PATH, kubectl tokenhook is it.
	out = runTokenHook(t, never, kubectl, "tokenhook", "preview", hookName, "-n", clinicNS, "--login", patient, "--token", "id", "-o", "json")
	var res kubectlplugin.PreviewResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("kubectl tokenhook preview -o json: %v", err)
	}
	if res.Outcome != kubectlplugin.OutcomePatient || res.Claims[protocol.IDToken]["patientID"] != want {
		t.Errorf("kubectl tokenhook preview -o json: outcome %s, claims %v; want patient, patientID %s", res.Outcome, res.Claims, want)
	}
}

// secretValues are what the plugin must never print: the auth secret as the
// user gave it and as the operator copied it for the pods, and the Okta API
// token.
func secretValues(t *testing.T) []string {
	t.Helper()
	values := []string{apiToken}
	for _, name := range []string{"hook-auth", hookName + "-hookserver-auth"} {
		s := &corev1.Secret{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: clinicNS, Name: name}, s); err != nil {
			t.Fatal(err)
		}
		for _, v := range s.Data {
			for _, line := range strings.Split(string(v), "\n") {
				if line = strings.TrimSpace(line); line != "" {
					values = append(values, line, strings.TrimPrefix(line, "Bearer "))
				}
			}
		}
	}
	return values
}

func runPlugin(t *testing.T, never []string, args ...string) string {
	t.Helper()
	return runTokenHook(t, never, filepath.Join(pluginDir, "kubectl-tokenhook"), args...)
}

// runTokenHook runs the plugin (or kubectl, which finds it on the PATH) with
// the node's kubeconfig, and returns its stdout; stdout and stderr are logged
// and must hold none of never.
func runTokenHook(t *testing.T, never []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append(args, "--kubeconfig", node.Kubeconfig)...)
	cmd.Env = append(os.Environ(), "PATH="+pluginDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("$ %s %s (%.2fs, %v)\n%s%s", filepath.Base(bin), strings.Join(args, " "), time.Since(start).Seconds(), err, stdout.String(), stderr.String())
	for _, s := range never {
		if strings.Contains(stdout.String()+stderr.String(), s) {
			t.Errorf("%s %s printed a secret (auth secret or Okta API token)", filepath.Base(bin), args[0])
		}
	}
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return stdout.String()
}

// field is the value of the line "label: value" of a plugin's text output.
func field(out, label string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, label+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func testConfigMapEdit(t *testing.T) {
	ctx := context.Background()
	l := startLoad(t, map[string]string{patient: patientID})
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: clinicNS, Name: "patients"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["patients.csv"] += visitor + "," + newID + "\n"
	start := time.Now()
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	// Okta's connections are kept alive, so logins alone may meet one pod:
	// every pod's own gauge must show the new list.
	want := strings.Count(strings.TrimSpace(cm.Data["patients.csv"]), "\n") // lines minus the header
	served := map[string]time.Duration{}
	pods := podsOf(t, hookDeployment(t))
	eventually(t, 3*time.Minute, func() error {
		for _, p := range pods {
			if _, ok := served[p.Name]; ok {
				continue
			}
			n, err := podGauge(p, "tokenhook_hook_patients")
			if err != nil {
				return err
			}
			if int(n) != want {
				return fmt.Errorf("pod %s serves %v patients, want %d", p.Name, n, want)
			}
			served[p.Name] = time.Since(start)
		}
		return nil
	})
	for name, d := range served {
		t.Logf("pod %s serves the edited list after %.1fs (the kubelet's projected update, then the reload)", name, d.Seconds())
	}
	if got := claimOf(t, visitor); got != newID {
		t.Errorf("the visitor's patientID is %q, want %s", got, newID)
	}
	l.finish(t)
}

func testRotation(t *testing.T) {
	ctx := context.Background()
	l := startLoad(t, map[string]string{patient: patientID, visitor: newID})
	secret := &corev1.Secret{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: clinicNS, Name: "hook-auth"}, secret); err != nil {
		t.Fatal(err)
	}
	value := fmt.Sprintf("Bearer second-%d", time.Now().UnixNano())
	secret.Data = map[string][]byte{"value": []byte(value)}
	start := time.Now()
	if err := k8s.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, 4*time.Minute, func() error {
		h, err := sim.Hook(tokenHook(t).Status.InlineHookID)
		if err != nil {
			return err
		}
		if h.Channel.AuthScheme == nil || h.Channel.AuthScheme.Value != value {
			return fmt.Errorf("okta does not send the new secret yet")
		}
		return nil
	})
	t.Logf("okta sends the new secret after %.1fs", time.Since(start).Seconds())
	time.Sleep(45 * time.Second) // past the grace period, the old value is gone from the pods
	waitReady(t, 2*time.Minute)
	l.finish(t)
}

// testOAuthSwitch moves Okta's calls to OAuth access tokens and back under
// load: on the way, the hook servers on the node fetch Okta's signing keys
// over HTTPS (trusting the chart's Okta CA bundle) and verify every token.
func testOAuthSwitch(t *testing.T) {
	ctx := context.Background()
	caller, err := (&localstack.Stack{Sim: sim}).AddOAuthCaller(tokenHook(t).Spec.Okta.AuthorizationServerID)
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-caller", Namespace: clinicNS},
		StringData: map[string]string{"secret": caller.ClientSecret}}
	if err := k8s.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	l := startLoad(t, map[string]string{patient: patientID, visitor: newID})
	switchTo := func(auth v1.HookAuth, channel, mode string) {
		t.Helper()
		th := tokenHook(t)
		th.Spec.HookAuth = auth
		start := time.Now()
		if err := k8s.Update(ctx, th); err != nil {
			t.Fatal(err)
		}
		eventually(t, 4*time.Minute, func() error {
			th := tokenHook(t)
			h, err := sim.Hook(th.Status.InlineHookID)
			if err != nil {
				return err
			}
			if h.Channel.Type != channel {
				return fmt.Errorf("Okta's channel is %s", h.Channel.Type)
			}
			args := hookDeployment(t).Spec.Template.Spec.Containers[0].Args
			if got := podAuthMode(args); got != mode {
				return fmt.Errorf("the hook servers run --auth-mode=%s", got)
			}
			c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionReady)
			if c == nil || c.Status != metav1.ConditionTrue || th.Status.ObservedGeneration != th.Generation {
				return fmt.Errorf("TokenHook not Ready for generation %d: %v", th.Generation, th.Status.Conditions)
			}
			return nil
		})
		t.Logf("Okta's channel %s and the hook servers on %s alone after %.1fs", channel, mode, time.Since(start).Seconds())
	}
	switchTo(v1.HookAuth{Type: v1.HookAuthOAuth, OAuth: &v1.HookOAuth{
		ClientID: caller.ClientID, Scope: caller.Scope, Audience: "api://default",
		ClientSecretPost: &v1.ClientSecretPost{SecretRef: v1.SecretKeyRef{Name: "hook-caller", Key: "secret"}},
	}}, "OAUTH", "oauth")
	// Logins while only access tokens get in.
	time.Sleep(3 * time.Second)
	switchTo(v1.HookAuth{Type: v1.HookAuthHeader}, "HTTP", "header")
	l.finish(t)
}

// podAuthMode is the hook server's --auth-mode in args (header by default).
func podAuthMode(args []string) string {
	for _, a := range args {
		if m, ok := strings.CutPrefix(a, "--auth-mode="); ok {
			return m
		}
	}
	return "header"
}

func testRollingUpdate(t *testing.T) {
	ctx := context.Background()
	before := hookDeployment(t)
	l := startLoad(t, map[string]string{patient: patientID, visitor: newID})
	th := tokenHook(t)
	th.Spec.HookServer.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: mustQuantity("20m")}
	start := time.Now()
	if err := k8s.Update(ctx, th); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, before.Generation)
	t.Logf("rolled out in %.1fs", time.Since(start).Seconds())
	time.Sleep(3 * time.Second)
	l.finish(t)
}

func testPodKilled(t *testing.T) {
	ctx := context.Background()
	l := startLoad(t, map[string]string{patient: patientID})
	pods := podsOf(t, hookDeployment(t))
	victim := pods[0]
	if err := k8s.Delete(ctx, &victim, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, 2*time.Minute, func() error {
		pods := podsOf(t, hookDeployment(t))
		ready := 0
		for _, p := range pods {
			if p.Name == victim.Name {
				return fmt.Errorf("the killed pod %s is still listed", victim.Name)
			}
			if podReady(&p) {
				ready++
			}
		}
		if ready != 2 || len(pods) != 2 {
			return fmt.Errorf("%d of %d hook server pods ready, want 2", ready, len(pods))
		}
		return nil
	})
	t.Logf("a replacement pod was Ready %.1fs after the kill", time.Since(start).Seconds())
	waitReady(t, time.Minute)
	for i := 0; i < 200 && l.count() < 20; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	total, failed := l.stop()
	// A SIGKILLed pod drops the calls it held and those routed to it before
	// kube-proxy learns it is gone: that is what the figure says.
	t.Logf("pod killed under load: %d of %d logins lost their claim", failed, total)
	if got := claimOf(t, patient); got != patientID {
		t.Errorf("after the kill, patientID = %q", got)
	}
}

func testOperatorDeleted(t *testing.T) {
	ctx := context.Background()
	th := tokenHook(t)
	th.Spec.Claim.Tokens = []v1.TokenType{v1.IDToken, v1.AccessToken}
	if err := k8s.Update(ctx, th); err != nil {
		t.Fatal(err)
	}
	old := operatorPod(t)
	if err := k8s.Delete(ctx, &old); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, func() error {
		pods := operatorPods(t)
		if len(pods) != 1 || pods[0].Name == old.Name || !podReady(&pods[0]) {
			return fmt.Errorf("waiting for a new operator pod")
		}
		return nil
	})
	waitReady(t, 3*time.Minute)
	var ours int
	for _, h := range sim.Hooks() {
		if strings.Contains(h.Name, hookName) {
			ours++
		}
	}
	if ours != 1 {
		t.Errorf("okta holds %d hooks for the TokenHook, want 1: %+v", ours, sim.Hooks())
	}
	tokens, err := org().Login(ctx, "default", clientID, patient, password)
	if err != nil {
		t.Fatal(err)
	}
	if tokens.AccessToken["patientID"] != patientID {
		t.Errorf("the access token's patientID = %v after the edit, want %s", tokens.AccessToken["patientID"], patientID)
	}
}

func testHelmUpgradeImage(t *testing.T) {
	if err := node.TagImage("docker.io/library/"+imageRepository+":"+imageTag, "docker.io/library/"+imageRepository+":"+imageTag+"-2"); err != nil {
		t.Fatal(err)
	}
	before := hookDeployment(t)
	l := startLoad(t, map[string]string{patient: patientID, visitor: newID})
	start := time.Now()
	helmRun(t, "upgrade", release, filepath.Join(repo, "charts/tokenhook"), "--namespace", operatorNS, "--reuse-values",
		"--set", "image.tag="+imageTag+"-2", "--wait", "--timeout", "3m")
	waitRolledOut(t, before.Generation)
	t.Logf("operator and hook servers on the new image in %.1fs", time.Since(start).Seconds())
	dep := hookDeployment(t)
	if img := dep.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, ":"+imageTag+"-2") {
		t.Errorf("hook server image %s, want the upgraded tag", img)
	}
	time.Sleep(3 * time.Second)
	l.finish(t)
}

func testHelmUpgradeValue(t *testing.T) {
	old := operatorPod(t)
	helmRun(t, "upgrade", release, filepath.Join(repo, "charts/tokenhook"), "--namespace", operatorNS, "--reuse-values",
		"--set", "manager.logLevel=debug", "--wait", "--timeout", "3m")
	p := operatorPod(t)
	if p.Name == old.Name {
		t.Errorf("the operator pod did not restart with the new value")
	}
	if !strings.Contains(strings.Join(p.Spec.Containers[0].Args, " "), "debug") {
		t.Errorf("operator args %q do not carry logLevel=debug", p.Spec.Containers[0].Args)
	}
	waitReady(t, 2*time.Minute)
}

// testHelmUninstall: the chart keeps its CRD (crds.keep), so TokenHooks and
// what they own stay, and the hook keeps serving; with no operator, nothing
// changes in Okta. Deleting TokenHooks before the uninstall cleans Okta up.
func testHelmUninstall(t *testing.T) {
	ctx := context.Background()
	helmRun(t, "uninstall", release, "--namespace", operatorNS, "--wait", "--timeout", "2m")
	eventually(t, time.Minute, func() error {
		var pods corev1.PodList
		if err := k8s.List(ctx, &pods, client.InNamespace(operatorNS)); err != nil {
			return err
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("%d operator pods left", len(pods.Items))
		}
		return nil
	})
	th := tokenHook(t)
	if _, err := sim.Hook(th.Status.InlineHookID); err != nil {
		t.Errorf("the inline hook left Okta with the operator: %v", err)
	}
	if got := claimOf(t, patient); got != patientID {
		t.Errorf("after helm uninstall, patientID = %q: the hook servers should keep serving", got)
	}
}

// load signs the given users in, in a loop on two workers, and counts logins
// whose ID token lacks the expected claim (Okta never retries a token hook:
// a failed call is a login without its claim).
type load struct {
	want     map[string]string
	stopping chan struct{}
	wg       sync.WaitGroup
	calls0   int

	mu       sync.Mutex
	total    int
	failures []string
}

func startLoad(t *testing.T, want map[string]string) *load {
	l := &load{want: want, stopping: make(chan struct{}), calls0: len(sim.HookCalls())}
	for w := 0; w < 2; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				for login, id := range l.want {
					select {
					case <-l.stopping:
						return
					default:
					}
					got, err := login1(login)
					l.mu.Lock()
					l.total++
					if err != nil || got != id {
						l.failures = append(l.failures, fmt.Sprintf("%s %s: got %q, err %v", time.Now().Format("15:04:05.000"), login, got, err))
					}
					l.mu.Unlock()
					time.Sleep(40 * time.Millisecond)
				}
			}
		}()
	}
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) stop() (total, failed int) {
	select {
	case <-l.stopping:
	default:
		close(l.stopping)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, len(l.failures)
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// finish stops the load and fails the test on any failed call.
func (l *load) finish(t *testing.T) {
	t.Helper()
	// A step that was over quickly still has its calls checked: run on
	// to a minimum number of logins.
	for i := 0; i < 200 && l.count() < 20; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	total, failed := l.stop()
	var hookFailures []string
	for _, c := range sim.HookCalls()[l.calls0:] {
		// Anything but a 200 (a patient) or a 204 (nobody's patient) means
		// a login went without what the hook would have said.
		if c.Outcome == oktasim.HookFailed || c.Outcome == oktasim.HookDenied || c.Status != 200 && c.Status != 204 {
			hookFailures = append(hookFailures, fmt.Sprintf("status %d: %s", c.Status, c.Reason))
		}
	}
	t.Logf("%d logins under load, %d without their claim, %d failed hook calls", total, failed, len(hookFailures))
	if total < 20 {
		t.Errorf("only %d logins ran: the load did not load", total)
	}
	if failed > 0 || len(hookFailures) > 0 {
		t.Errorf("failed logins (first 5): %s; failed hook calls (first 5): %s", first(l.failures, 5), first(hookFailures, 5))
		dumpClinic(t)
	}
}

func first(s []string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Join(s, "; ")
}

func login1(login string) (string, error) {
	tokens, err := org().Login(context.Background(), "default", clientID, login, password)
	if err != nil {
		return "", err
	}
	v, _ := tokens.IDToken["patientID"].(string)
	return v, nil
}

func claimOf(t *testing.T, login string) string {
	t.Helper()
	v, err := login1(login)
	if err != nil {
		t.Fatalf("login %s: %v", login, err)
	}
	return v
}

func createRestrictedNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted",
	}}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}

func tokenHook(t *testing.T) *v1.TokenHook {
	t.Helper()
	th := &v1.TokenHook{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: clinicNS, Name: hookName}, th); err != nil {
		t.Fatal(err)
	}
	return th
}

// waitReady waits for Ready=True on the TokenHook's current generation.
func waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func() error {
		th := tokenHook(t)
		c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue || th.Status.ObservedGeneration != th.Generation {
			return fmt.Errorf("TokenHook not Ready for generation %d: %v", th.Generation, th.Status.Conditions)
		}
		return nil
	})
}

func hookDeployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	dep := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: clinicNS, Name: hookName + "-hookserver"}, dep); err != nil {
		t.Fatal(err)
	}
	return dep
}

// waitRolledOut waits for a new Deployment generation to be fully rolled out.
func waitRolledOut(t *testing.T, before int64) {
	t.Helper()
	eventually(t, 4*time.Minute, func() error {
		dep := hookDeployment(t)
		s := dep.Status
		want := *dep.Spec.Replicas
		if dep.Generation == before || s.ObservedGeneration != dep.Generation || s.UpdatedReplicas != want ||
			s.ReadyReplicas != want || s.Replicas != want {
			return fmt.Errorf("rollout: generation %d (was %d), observed %d, %d updated, %d ready, %d total",
				dep.Generation, before, s.ObservedGeneration, s.UpdatedReplicas, s.ReadyReplicas, s.Replicas)
		}
		return nil
	})
}

func podsOf(t *testing.T, dep *appsv1.Deployment) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	sel := labels.SelectorFromSet(dep.Spec.Selector.MatchLabels)
	if err := k8s.List(context.Background(), &pods, client.InNamespace(dep.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		t.Fatal(err)
	}
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live
}

func operatorPods(t *testing.T) []corev1.Pod {
	t.Helper()
	dep := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: operatorNS, Name: release}, dep); err != nil {
		t.Fatal(err)
	}
	return podsOf(t, dep)
}

func operatorPod(t *testing.T) corev1.Pod {
	t.Helper()
	pods := operatorPods(t)
	if len(pods) != 1 {
		names := make([]string, 0, len(pods))
		for _, p := range pods {
			names = append(names, p.Name)
		}
		t.Fatalf("want one operator pod, have %v", names)
	}
	return pods[0]
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func helmRun(t *testing.T, args ...string) {
	t.Helper()
	runTool(t, helm, append(args, "--kubeconfig", node.Kubeconfig)...)
}

func kubectlApply(t *testing.T, namespace, manifest string) {
	t.Helper()
	cmd := exec.Command(kubectl, "--kubeconfig", node.Kubeconfig, "apply", "-n", namespace, "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out.String())
	}
	t.Logf("kubectl apply:\n%s", out.String())
}

func runTool(t *testing.T, tool string, args ...string) {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(tool), strings.Join(args, " "), err, out)
	}
	t.Logf("%s %s:\n%s", filepath.Base(tool), args[0], out)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

// kubectlLog logs a kubectl command's output, for the record.
func kubectlLog(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(kubectl, append([]string{"--kubeconfig", node.Kubeconfig}, args...)...).CombinedOutput()
	t.Logf("$ kubectl %s (%v)\n%s", strings.Join(args, " "), err, out)
}

// dumpClinic logs what a failed step needs to be understood: the clinic's
// pods and ReplicaSets, and the hook servers' recent logs.
func dumpClinic(t *testing.T) {
	t.Helper()
	for _, args := range [][]string{
		{"get", "pods,replicasets", "-n", clinicNS, "-o", "wide"},
		{"logs", "-n", clinicNS, "-l", "app.kubernetes.io/instance=" + hookName, "--prefix", "--tail=60", "--timestamps"},
		{"get", "events", "-n", clinicNS, "--sort-by=.lastTimestamp"},
	} {
		out, err := exec.Command(kubectl, append([]string{"--kubeconfig", node.Kubeconfig}, args...)...).CombinedOutput()
		t.Logf("kubectl %s (%v):\n%s", strings.Join(args, " "), err, out)
	}
}

// podGauge reads one gauge from a hook server pod's metrics port, straight
// at the pod's IP (the node's bridge routes it).
func podGauge(p corev1.Pod, name string) (float64, error) {
	if p.Status.PodIP == "" {
		return 0, fmt.Errorf("pod %s has no IP yet", p.Name)
	}
	resp, err := http.Get("http://" + net.JoinHostPort(p.Status.PodIP, "9090") + "/metrics")
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("pod %s: no %s in its metrics", p.Name, name)
}
