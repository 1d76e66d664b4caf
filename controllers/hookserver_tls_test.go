package controllers

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/selfsigned"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

func TestHookServerObjectsWithTLS(t *testing.T) {
	th := sampleTokenHook()
	th.Spec.HookServer.TLS = &v1.HookServerTLS{SecretName: "hooks-example-com"}
	d := desiredDeployment(th, "registry.example.com/tokenhook:v1", podAuth{})
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]

	if c.Args[0] != "--listen=:8443" {
		t.Errorf("first arg %q, want --listen=:8443", c.Args[0])
	}
	if diff := cmp.Diff([]string{"--tls-cert=/etc/tokenhook/tls/tls.crt", "--tls-key=/etc/tokenhook/tls/tls.key"}, c.Args[len(c.Args)-2:]); diff != "" {
		t.Errorf("TLS args (-want +got):\n%s", diff)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p.HTTPGet.Scheme != corev1.URISchemeHTTPS || p.HTTPGet.Port.String() != "https" {
			t.Errorf("%s probe %s on port %s, want HTTPS on https", name, p.HTTPGet.Scheme, p.HTTPGet.Port.String())
		}
	}
	if c.Ports[0].Name != "https" || c.Ports[0].ContainerPort != 8443 {
		t.Errorf("serving port %+v, want https 8443", c.Ports[0])
	}
	vol := pod.Volumes[len(pod.Volumes)-1]
	mount := c.VolumeMounts[len(c.VolumeMounts)-1]
	if vol.Name != "tls" || vol.Secret == nil || vol.Secret.SecretName != "hooks-example-com" || len(vol.Secret.Items) != 2 ||
		mount.Name != "tls" || mount.MountPath != "/etc/tokenhook/tls" || !mount.ReadOnly {
		t.Errorf("TLS volume %+v mounted as %+v", vol, mount)
	}

	svc := desiredService(th)
	if p := svc.Spec.Ports[0]; p.Name != "https" || p.Port != 443 || p.TargetPort.String() != "https" {
		t.Errorf("Service port %+v, want https 443 -> https", p)
	}
	if len(svc.Spec.Ports) != 2 {
		t.Errorf("Service has %d ports, want https and metrics", len(svc.Spec.Ports))
	}

	// Without TLS nothing of it remains.
	th.Spec.HookServer.TLS = nil
	d = desiredDeployment(th, "x", podAuth{})
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if strings.HasPrefix(a, "--tls") {
			t.Errorf("arg %s without spec.hookServer.tls", a)
		}
	}
	if n := len(d.Spec.Template.Spec.Volumes); n != 2 {
		t.Errorf("%d volumes without TLS, want 2", n)
	}
	if p := desiredService(th).Spec.Ports[0]; p.Name != "http" || p.Port != 80 {
		t.Errorf("Service port %+v without TLS, want http 80", p)
	}
}

func TestValidateTLSSecret(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cert, key := testCertificate(t, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	expiredCert, expiredKey := testCertificate(t, now.Add(-48*time.Hour), now.Add(-time.Hour))
	futureCert, futureKey := testCertificate(t, now.Add(time.Hour), now.Add(48*time.Hour))
	_, otherKey := testCertificate(t, now.Add(-time.Hour), now.Add(time.Hour))

	cases := map[string]struct {
		crt, key []byte
		wantErr  string
	}{
		"valid":                {crt: cert, key: key},
		"no certificate":       {key: key, wantErr: `has no key "tls.crt"`},
		"no key":               {crt: cert, wantErr: `has no key "tls.key"`},
		"not PEM":              {crt: []byte("not a certificate"), key: key, wantErr: "does not hold a PEM certificate"},
		"key of another":       {crt: cert, key: otherKey, wantErr: "does not hold a PEM certificate and matching private key"},
		"expired":              {crt: expiredCert, key: expiredKey, wantErr: "expired at 2026-11-26T11:00:00Z"},
		"not yet valid":        {crt: futureCert, key: futureKey, wantErr: "not valid before 2026-11-26T13:00:00Z"},
		"key and cert swapped": {crt: key, key: cert, wantErr: "does not hold a PEM certificate"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			data := map[string][]byte{}
			if tc.crt != nil {
				data[corev1.TLSCertKey] = tc.crt
			}
			if tc.key != nil {
				data[corev1.TLSPrivateKeyKey] = tc.key
			}
			err := validateTLSSecret("hooks-tls", data, now)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var se *specError
			if !errors.As(err, &se) || se.reason != v1.ReasonTLSSecretInvalid {
				t.Fatalf("error %v, want a %s specError", err, v1.ReasonTLSSecretInvalid)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantErr) || !strings.Contains(msg, `spec.hookServer.tls.secretName: Secret "hooks-tls"`) {
				t.Errorf("message %q, want the field, the Secret and %q", msg, tc.wantErr)
			}
			if strings.Contains(msg, "PRIVATE KEY") || strings.Contains(msg, "BEGIN") {
				t.Errorf("message %q leaks key material", msg)
			}
		})
	}
}

// testCertificate is a self-signed certificate and key, PEM-encoded.
func testCertificate(t *testing.T, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	c, err := selfsigned.New(selfsigned.Options{Hosts: []string{"clinic-hookserver.health.svc"}, NotBefore: notBefore, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	return c.CertPEM, c.KeyPEM
}
