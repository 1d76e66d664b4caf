package kubectlplugin

import (
	"bytes"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// The objects the tests put in a fake cluster: a TokenHook "patients" in
// namespace "clinic" and what the operator makes for it, shaped as
// controllers/hookserver_objects.go builds them.
const (
	testNS   = "clinic"
	testName = "patients"
	testPod  = "patients-hookserver-7d9c5-abcde"
)

// testNow is the status tests' clock.
var testNow = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

func testTokenHook(edits ...func(*v1.TokenHook)) *v1.TokenHook {
	th := &v1.TokenHook{
		ObjectMeta: metav1.ObjectMeta{
			Name: testName, Namespace: testNS, UID: "th-uid", Generation: 3,
			CreationTimestamp: metav1.NewTime(testNow.Add(-72 * time.Hour)),
		},
		Spec: v1.TokenHookSpec{
			Okta: v1.OktaSpec{
				OrgURL:                "https://dev-1.okta.com",
				CredentialsSecretRef:  v1.LocalObjectRef{Name: "okta-credentials"},
				AuthorizationServerID: "default",
				Policy:                v1.OktaObjectSelector{Name: "Patients policy"},
				Rule:                  v1.OktaObjectSelector{ID: "0prRULE1"},
			},
			HookServer: v1.HookServerSpec{
				ExternalURL: "https://hooks.example.com/tokenHook",
				Replicas:    ptr.To[int32](2),
				TLS:         &v1.HookServerTLS{SecretName: "hook-tls"},
			},
			Patients:   v1.PatientsSpec{ConfigMapRef: v1.ConfigMapKeyRef{Name: "patients", Key: "patients.csv"}},
			Claim:      v1.ClaimSpec{Name: "patientID", Tokens: []v1.TokenType{v1.IDToken}},
			AuthHeader: "Authorization",
		},
		Status: v1.TokenHookStatus{
			ObservedGeneration: 3,
			InlineHookID:       "calHOOK1",
			PolicyID:           "00pPOLICY1",
			RuleID:             "0prRULE1",
			Patients:           2,
			ReadyReplicas:      2,
		},
	}
	for _, e := range edits {
		e(th)
	}
	return th
}

// readyConditions are the conditions of a TokenHook that works.
func readyConditions(gen int64) []metav1.Condition {
	at := metav1.NewTime(testNow.Add(-90 * time.Minute))
	c := func(t, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: at}
	}
	return []metav1.Condition{
		c(v1.ConditionHookServerAvailable, v1.ReasonAvailable, "2 of 2 replicas ready"),
		c(v1.ConditionPatientsLoaded, v1.ReasonLoaded, "2 patients"),
		c(v1.ConditionInlineHookRegistered, v1.ReasonRegistered, "inline hook calHOOK1"),
		c(v1.ConditionHookReachable, v1.ReasonVerified, "Okta's call reached the hook server"),
		c(v1.ConditionPolicyRuleLinked, v1.ReasonLinked, "rule 0prRULE1 calls inline hook calHOOK1"),
		c(v1.ConditionReady, v1.ReasonReady, "the hook server is available, Okta's call reaches it, and the policy rule calls it"),
	}
}

func ownerRefs(th *v1.TokenHook) []metav1.OwnerReference {
	return []metav1.OwnerReference{{
		APIVersion: v1.GroupVersion.String(), Kind: "TokenHook", Name: th.Name, UID: th.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
}

var testSelector = map[string]string{"app.kubernetes.io/name": "tokenhook-hookserver", "app.kubernetes.io/instance": testName}

func testDeployment(th *v1.TokenHook, ready int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: testName + "-hookserver", Namespace: testNS, OwnerReferences: ownerRefs(th)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: testSelector},
		},
		Status: appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: ready, AvailableReplicas: ready},
	}
}

// hookConfig is how a test hook server pod runs: its flags and mounts.
type hookConfig struct {
	tls        bool
	authHeader string
	tokens     string // --tokens
	claim      string
	authMode   string       // --auth-mode; "" leaves the flag out (header)
	oauth      *oauthConfig // the --oauth-* flags, with authMode oauth or both
}

// oauthConfig is what a hook server pod checks in access tokens.
type oauthConfig struct {
	issuer, audience, clientID, scope string
	caPEM                             []byte // trusted for the signing keys; mounted from the auth Secret's okta-ca.crt
}

func testHookPod(name string, ready bool, created time.Time, cfg hookConfig) *corev1.Pod {
	port := corev1.ContainerPort{Name: "http", ContainerPort: 8080}
	if cfg.tls {
		port = corev1.ContainerPort{Name: "https", ContainerPort: 8443}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: testSelector, CreationTimestamp: metav1.NewTime(created)},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "hookserver",
				Args: []string{
					"--listen=:" + map[bool]string{true: "8443", false: "8080"}[cfg.tls],
					"--path=/tokenHook",
					"--patients=/etc/tokenhook/patients/patients.csv",
					"--auth-header=" + cfg.authHeader,
					"--auth-secret-file=/etc/tokenhook/auth/current",
					"--auth-secret-file=/etc/tokenhook/auth/previous",
					"--claim=" + cfg.claim,
					"--tokens=" + cfg.tokens,
				},
				Ports: []corev1.ContainerPort{port, {Name: "metrics", ContainerPort: 9090}},
			}},
			Volumes: []corev1.Volume{
				{Name: "auth", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: testName + "-hookserver-auth"}}},
			},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{
			Type: corev1.PodReady, Status: map[bool]corev1.ConditionStatus{true: corev1.ConditionTrue, false: corev1.ConditionFalse}[ready],
		}}},
	}
	if cfg.authMode != "" {
		pod.Spec.Containers[0].Args = append(pod.Spec.Containers[0].Args, "--auth-mode="+cfg.authMode)
	}
	if o := cfg.oauth; o != nil {
		pod.Spec.Containers[0].Args = append(pod.Spec.Containers[0].Args,
			"--oauth-issuer="+o.issuer, "--oauth-audience="+o.audience, "--oauth-client-id="+o.clientID, "--oauth-scope="+o.scope)
		if o.caPEM != nil {
			pod.Spec.Containers[0].Args = append(pod.Spec.Containers[0].Args, "--oauth-jwks-ca-file=/etc/tokenhook/auth/okta-ca.crt")
		}
	}
	if cfg.tls {
		pod.Spec.Containers[0].Args = append(pod.Spec.Containers[0].Args,
			"--tls-cert=/etc/tokenhook/tls/tls.crt", "--tls-key=/etc/tokenhook/tls/tls.key")
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "tls",
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "hook-tls"}}})
	}
	return pod
}

func testSecret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func fakeClient(t *testing.T, objs ...client.Object) client.Reader {
	t.Helper()
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}

// runCmd runs kubectl tokenhook with args against env, and returns what it
// printed on stdout and stderr.
func runCmd(t *testing.T, env *Env, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Setenv("KUBECONFIG", t.TempDir()+"/none") // no kubeconfig: -n alone picks the namespace
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut}
	cmd := newCmdTokenHook(streams, newConfigFlags(false), func() (*Env, error) { return env, nil })
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}
