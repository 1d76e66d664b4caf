// Package crd tests the generated TokenHook CRD against a real API server:
// its defaults, and the OpenAPI and CEL rules that reject bad specs with
// messages that name the field.
package crd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

func validSpec() v1.TokenHookSpec {
	return v1.TokenHookSpec{
		Okta: v1.OktaSpec{
			OrgURL:               "https://dev-123456.okta.com",
			CredentialsSecretRef: v1.LocalObjectRef{Name: "okta-credentials"},
			Policy:               v1.OktaObjectSelector{Name: "Default Policy"},
			Rule:                 v1.OktaObjectSelector{Name: "Default Policy Rule"},
		},
		HookServer: v1.HookServerSpec{ExternalURL: "https://hooks.example.com/tokenHook"},
		Patients:   v1.PatientsSpec{ConfigMapRef: v1.ConfigMapKeyRef{Name: "patients"}},
	}
}

// validOAuth is a complete OAuth hook auth.
func validOAuth() v1.HookAuth {
	return v1.HookAuth{Type: v1.HookAuthOAuth, OAuth: &v1.HookOAuth{
		ClientID: "0oahookcaller", Scope: "tokenhook.call", Audience: "api://default",
		ClientSecretPost: &v1.ClientSecretPost{SecretRef: v1.SecretKeyRef{Name: "hook-caller"}},
	}}
}

func TestTokenHookCRD(t *testing.T) {
	_, cfg := testenv.Start(t)
	k8s, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("defaults", func(t *testing.T) {
		th := &v1.TokenHook{ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: "default"}, Spec: validSpec()}
		if err := k8s.Create(ctx, th); err != nil {
			t.Fatalf("create: %v", err)
		}
		got := &v1.TokenHook{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(th), got); err != nil {
			t.Fatalf("get: %v", err)
		}
		checks := map[string]struct{ got, want any }{
			"claim.name":                 {got.Spec.Claim.Name, "patientID"},
			"claim.tokens":               {strings.Join(tokenStrings(got.Spec.Claim.Tokens), ","), "ID"},
			"hookServer.replicas":        {ptr.Deref(got.Spec.HookServer.Replicas, 0), int32(2)},
			"okta.authorizationServerID": {got.Spec.Okta.AuthorizationServerID, "default"},
			"patients.configMapRef.key":  {got.Spec.Patients.ConfigMapRef.Key, "patients.csv"},
			"deletionPolicy":             {got.Spec.DeletionPolicy, v1.DeletionPolicyDelete},
			"authHeader":                 {got.Spec.AuthHeader, "Authorization"},
			"hookAuth.type":              {got.Spec.HookAuth.Type, v1.HookAuthHeader},
		}
		for field, c := range checks {
			if c.got != c.want {
				t.Errorf("default of %s = %v, want %v", field, c.got, c.want)
			}
		}
	})

	t.Run("external URLs Okta can call are accepted", func(t *testing.T) {
		for _, u := range []string{"https://hooks.example.com/tokenHook/", "https://hooks.example.com", "https://hooks.example.com:8443/okta//hook?tenant=a"} {
			spec := validSpec()
			spec.HookServer.ExternalURL = u
			th := &v1.TokenHook{ObjectMeta: metav1.ObjectMeta{GenerateName: "url-", Namespace: "default"}, Spec: spec}
			if err := k8s.Create(ctx, th); err != nil {
				t.Errorf("create with externalURL %s: %v", u, err)
			}
		}
	})

	t.Run("OAuth hook auth is accepted, with a custom issuer too", func(t *testing.T) {
		for _, issuer := range []string{"", "https://id.clinic.example/oauth2/aus1hook"} {
			spec := validSpec()
			spec.HookAuth = validOAuth()
			spec.HookAuth.OAuth.Issuer = issuer
			th := &v1.TokenHook{ObjectMeta: metav1.ObjectMeta{GenerateName: "oauth-", Namespace: "default"}, Spec: spec}
			if err := k8s.Create(ctx, th); err != nil {
				t.Fatalf("create with OAuth hook auth (issuer %q): %v", issuer, err)
			}
			if got := th.Spec.HookAuth.OAuth.ClientSecretPost.SecretRef.Key; got != "secret" {
				t.Errorf("default client secret key %q, want secret", got)
			}
		}
	})

	samples := map[string]func(*v1.HookOAuth) bool{
		"tokenhook_oauth.yaml": func(o *v1.HookOAuth) bool { return o.ClientSecretPost != nil && o.PrivateKeyJWT == nil },
		"tokenhook_oauth_pkjwt.yaml": func(o *v1.HookOAuth) bool {
			p := o.PrivateKeyJWT
			return o.ClientSecretPost == nil && p != nil && p.RegisterInApp && p.RotateEvery != nil && p.RotateEvery.Duration == 720*time.Hour
		},
	}
	for file, check := range samples {
		t.Run("the OAuth sample "+file+" is accepted", func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", file))
			if err != nil {
				t.Fatal(err)
			}
			docs := strings.Split(string(raw), "\n---\n")
			th := &v1.TokenHook{}
			if err := yaml.UnmarshalStrict([]byte(docs[len(docs)-1]), th); err != nil {
				t.Fatalf("the sample's TokenHook: %v", err)
			}
			th.Name, th.Namespace = strings.ReplaceAll(strings.TrimSuffix(file, ".yaml"), "_", "-"), "default"
			if err := k8s.Create(ctx, th); err != nil {
				t.Fatalf("create the OAuth sample: %v", err)
			}
			if th.Spec.HookAuth.Type != v1.HookAuthOAuth || !check(th.Spec.HookAuth.OAuth) {
				t.Errorf("the sample's hookAuth %+v", th.Spec.HookAuth.OAuth)
			}
		})
	}

	t.Run("privateKeyJWT hook auth is accepted", func(t *testing.T) {
		for name, p := range map[string]*v1.PrivateKeyJWT{
			"pkjwt-defaults": {},
			"pkjwt-all":      {AppID: "0oahookapp", RegisterInApp: true, RotateEvery: &metav1.Duration{Duration: time.Hour}},
		} {
			spec := validSpec()
			spec.HookAuth = validOAuth()
			spec.HookAuth.OAuth.ClientSecretPost, spec.HookAuth.OAuth.PrivateKeyJWT = nil, p
			th := &v1.TokenHook{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: spec}
			if err := k8s.Create(ctx, th); err != nil {
				t.Errorf("create %s: %v", name, err)
			}
		}
	})

	t.Run("a rotation period that is no duration is refused", func(t *testing.T) {
		spec := validSpec()
		spec.HookAuth = validOAuth()
		spec.HookAuth.OAuth.ClientSecretPost, spec.HookAuth.OAuth.PrivateKeyJWT = nil, &v1.PrivateKeyJWT{}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&v1.TokenHook{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "TokenHook"},
			ObjectMeta: metav1.ObjectMeta{Name: "pkjwt-weekly", Namespace: "default"}, Spec: spec})
		if err != nil {
			t.Fatal(err)
		}
		// "7d" passes the OpenAPI duration format, but is no Go duration,
		// which the operator reads it as: the CEL rule refuses it too.
		for _, bad := range []string{"weekly", "7d", "-2h"} {
			obj := runtime.DeepCopyJSON(u)
			if err := unstructured.SetNestedField(obj, bad, "spec", "hookAuth", "oauth", "privateKeyJWT", "rotateEvery"); err != nil {
				t.Fatal(err)
			}
			err = k8s.Create(ctx, &unstructured.Unstructured{Object: obj})
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.hookAuth.oauth.privateKeyJWT.rotateEvery") {
				t.Errorf("create with rotateEvery %s = %v, want an Invalid error naming rotateEvery", bad, err)
			}
		}
	})

	t.Run("autoscaling defaults, with the default or an explicit CPU request", func(t *testing.T) {
		for name, resources := range map[string]corev1.ResourceRequirements{
			"autoscaled-default-resources": {},
			"autoscaled-cpu-limit":         {Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
		} {
			spec := validSpec()
			spec.HookServer.Autoscaling = &v1.HookServerAutoscaling{MaxReplicas: 6}
			spec.HookServer.Resources = resources
			th := &v1.TokenHook{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: spec}
			if err := k8s.Create(ctx, th); err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
			if a := th.Spec.HookServer.Autoscaling; a.MinReplicas != 2 || a.TargetCPUUtilizationPercentage != 70 {
				t.Errorf("%s: autoscaling defaults min %d, target %d; want 2, 70", name, a.MinReplicas, a.TargetCPUUtilizationPercentage)
			}
		}
	})

	cases := map[string]struct {
		mutate func(*v1.TokenHookSpec)
		name   string // metadata.name, if not generated
		want   string // a part of the API server's message
	}{
		"OAuth hook auth without its settings": {
			mutate: func(s *v1.TokenHookSpec) { s.HookAuth = v1.HookAuth{Type: v1.HookAuthOAuth} },
			want:   "hookAuth.oauth must be set when hookAuth.type is OAuth",
		},
		"header hook auth with OAuth settings": {
			mutate: func(s *v1.TokenHookSpec) {
				s.HookAuth = validOAuth()
				s.HookAuth.Type = v1.HookAuthHeader
			},
			want: "hookAuth.oauth must be set when hookAuth.type is OAuth, and only then",
		},
		"OAuth hook auth with neither client secret nor private key JWT": {
			mutate: func(s *v1.TokenHookSpec) {
				s.HookAuth = validOAuth()
				s.HookAuth.OAuth.ClientSecretPost = nil
			},
			want: "set exactly one of hookAuth.oauth.clientSecretPost and hookAuth.oauth.privateKeyJWT",
		},
		"OAuth hook auth with both client secret and private key JWT": {
			mutate: func(s *v1.TokenHookSpec) {
				s.HookAuth = validOAuth()
				s.HookAuth.OAuth.PrivateKeyJWT = &v1.PrivateKeyJWT{RegisterInApp: true}
			},
			want: "set exactly one of hookAuth.oauth.clientSecretPost and hookAuth.oauth.privateKeyJWT",
		},
		"a hook key rotation period under an hour": {
			mutate: func(s *v1.TokenHookSpec) {
				s.HookAuth = validOAuth()
				s.HookAuth.OAuth.ClientSecretPost = nil
				s.HookAuth.OAuth.PrivateKeyJWT = &v1.PrivateKeyJWT{RotateEvery: &metav1.Duration{Duration: 30 * time.Minute}}
			},
			want: "rotateEvery must be at least 1h",
		},
		"a private key JWT app ID that is no Okta ID": {
			mutate: func(s *v1.TokenHookSpec) {
				s.HookAuth = validOAuth()
				s.HookAuth.OAuth.ClientSecretPost = nil
				s.HookAuth.OAuth.PrivateKeyJWT = &v1.PrivateKeyJWT{AppID: "../apps"}
			},
			want: "spec.hookAuth.oauth.privateKeyJWT.appID",
		},
		"OAuth hook auth without a scope": {
			mutate: func(s *v1.TokenHookSpec) {
				s.HookAuth = validOAuth()
				s.HookAuth.OAuth.Scope = ""
			},
			want: "spec.hookAuth.oauth.scope",
		},
		"OAuth hook auth with an http issuer": {
			mutate: func(s *v1.TokenHookSpec) {
				s.HookAuth = validOAuth()
				s.HookAuth.OAuth.Issuer = "http://id.example.com/oauth2/default"
			},
			want: "spec.hookAuth.oauth.issuer",
		},
		"OAuth hook auth with an issuer ending in a slash": {
			mutate: func(s *v1.TokenHookSpec) {
				s.HookAuth = validOAuth()
				s.HookAuth.OAuth.Issuer = "https://id.example.com/oauth2/default/"
			},
			want: "spec.hookAuth.oauth.issuer",
		},
		"unknown hook auth type": {
			mutate: func(s *v1.TokenHookSpec) { s.HookAuth = v1.HookAuth{Type: "Basic"} },
			want:   "spec.hookAuth.type",
		},
		"http org URL": {
			mutate: func(s *v1.TokenHookSpec) { s.Okta.OrgURL = "http://dev-123456.okta.com" },
			want:   "spec.okta.orgURL",
		},
		"http external URL": {
			mutate: func(s *v1.TokenHookSpec) { s.HookServer.ExternalURL = "http://hooks.example.com/tokenHook" },
			want:   "spec.hookServer.externalURL",
		},
		"external URL with a dot segment": {
			mutate: func(s *v1.TokenHookSpec) { s.HookServer.ExternalURL = "https://hooks.example.com/a/../tokenHook" },
			want:   "path has no . or .. segments",
		},
		"external URL with a fragment": {
			mutate: func(s *v1.TokenHookSpec) { s.HookServer.ExternalURL = "https://hooks.example.com/tokenHook#x" },
			want:   "spec.hookServer.externalURL",
		},
		"external URL on a probe path": {
			mutate: func(s *v1.TokenHookSpec) { s.HookServer.ExternalURL = "https://hooks.example.com/readyz" },
			want:   "cannot use the path /healthz or /readyz",
		},
		"policy with name and id": {
			mutate: func(s *v1.TokenHookSpec) { s.Okta.Policy.ID = "00p1234567890abcdefg" },
			want:   "spec.okta.policy: Invalid value: set exactly one of name or id",
		},
		"rule with neither name nor id": {
			mutate: func(s *v1.TokenHookSpec) { s.Okta.Rule = v1.OktaObjectSelector{} },
			want:   "spec.okta.rule: Invalid value: set exactly one of name or id",
		},
		"claim reserved in ID token": {
			mutate: func(s *v1.TokenHookSpec) { s.Claim.Name = "nonce" },
			want:   "claim.name is reserved by Okta in the ID token",
		},
		"claim reserved in access token": {
			mutate: func(s *v1.TokenHookSpec) {
				s.Claim = v1.ClaimSpec{Name: "uid", Tokens: []v1.TokenType{v1.AccessToken}}
			},
			want: "claim.name is reserved by Okta in the access token",
		},
		"unknown token type": {
			mutate: func(s *v1.TokenHookSpec) { s.Claim.Tokens = []v1.TokenType{"Refresh"} },
			want:   "spec.claim.tokens[0]",
		},
		"zero replicas": {
			mutate: func(s *v1.TokenHookSpec) { s.HookServer.Replicas = ptr.To[int32](0) },
			want:   "spec.hookServer.replicas",
		},
		"unknown deletion policy": {
			mutate: func(s *v1.TokenHookSpec) { s.DeletionPolicy = "Keep" },
			want:   "spec.deletionPolicy",
		},
		"name too long for the hook server objects": {
			mutate: func(s *v1.TokenHookSpec) {},
			name:   "a-name-that-is-far-too-long-to-name-a-service-after-it-x",
			want:   "metadata.name must be a DNS label of at most 52 characters",
		},
		"TLS without a Secret name": {
			mutate: func(s *v1.TokenHookSpec) { s.HookServer.TLS = &v1.HookServerTLS{} },
			want:   "spec.hookServer.tls.secretName",
		},
		"TLS Secret name that is not a Kubernetes name": {
			mutate: func(s *v1.TokenHookSpec) { s.HookServer.TLS = &v1.HookServerTLS{SecretName: "Hooks_TLS"} },
			want:   "spec.hookServer.tls.secretName",
		},
		"autoscaling with min above max": {
			mutate: func(s *v1.TokenHookSpec) {
				s.HookServer.Autoscaling = &v1.HookServerAutoscaling{MinReplicas: 5, MaxReplicas: 3}
			},
			want: "minReplicas must not exceed maxReplicas",
		},
		"autoscaling without a CPU request": {
			mutate: func(s *v1.TokenHookSpec) {
				s.HookServer.Autoscaling = &v1.HookServerAutoscaling{MaxReplicas: 3}
				s.HookServer.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}
			},
			want: "hookServer.resources must request CPU when hookServer.autoscaling is set",
		},
		"autoscaling with a low CPU target": {
			mutate: func(s *v1.TokenHookSpec) {
				s.HookServer.Autoscaling = &v1.HookServerAutoscaling{MaxReplicas: 3, TargetCPUUtilizationPercentage: 5}
			},
			want: "spec.hookServer.autoscaling.targetCPUUtilizationPercentage",
		},
		"claim name with a slash": {
			mutate: func(s *v1.TokenHookSpec) { s.Claim.Name = "a/b" },
			want:   "spec.claim.name",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := validSpec()
			tc.mutate(&spec)
			th := &v1.TokenHook{ObjectMeta: metav1.ObjectMeta{Name: tc.name, GenerateName: "bad-", Namespace: "default"}, Spec: spec}
			err := k8s.Create(ctx, th)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create = %v, want an Invalid error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}

	// Fields whose change would strand objects in Okta are immutable; the
	// rest of the spec stays editable.
	updates := map[string]struct {
		mutate func(*v1.TokenHookSpec)
		want   string // "" if the update is allowed
	}{
		"another org":                  {mutate: func(s *v1.TokenHookSpec) { s.Okta.OrgURL = "https://dev-654321.okta.com" }, want: "okta.orgURL cannot change"},
		"another authorization server": {mutate: func(s *v1.TokenHookSpec) { s.Okta.AuthorizationServerID = "aus1234" }, want: "okta.authorizationServerID cannot change"},
		"another rule":                 {mutate: func(s *v1.TokenHookSpec) { s.Okta.Rule = v1.OktaObjectSelector{Name: "Other rule"} }},
		"other credentials":            {mutate: func(s *v1.TokenHookSpec) { s.Okta.CredentialsSecretRef.Name = "rotated" }},
	}
	for name, tc := range updates {
		t.Run("update to "+name, func(t *testing.T) {
			th := &v1.TokenHook{ObjectMeta: metav1.ObjectMeta{GenerateName: "edit-", Namespace: "default"}, Spec: validSpec()}
			if err := k8s.Create(ctx, th); err != nil {
				t.Fatal(err)
			}
			tc.mutate(&th.Spec)
			err := k8s.Update(ctx, th)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("update refused: %v", err)
			case tc.want != "" && !apierrors.IsInvalid(err):
				t.Fatalf("update = %v, want an Invalid error", err)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func tokenStrings(ts []v1.TokenType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}
