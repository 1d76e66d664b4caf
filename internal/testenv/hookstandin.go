package testenv

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenhook/tokenhook/hookserver"
	"github.com/tokenhook/tokenhook/hookserver/patients"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
	"github.com/tokenhook/tokenhook/internal/selfsigned"
)

// HookStandIn answers Okta's calls to the hook server pods that envtest does
// not run. Whatever host a hook URL names, the Okta simulator's HookClient
// sends the call here; the stand-in finds the hook server Deployment of the
// TokenHook that the call's X-Tokenhook-Owner header names, and answers as
// its pods would: with the hook server's own handler, at the path and with the
// auth header its container arguments give, accepting the secrets its mounted
// auth Secret holds, with the patient list of its ConfigMap. A Deployment that
// is not available has no pods, so its calls fail as a refused connection
// would (503). No call leaves the machine.
type HookStandIn struct {
	srv *httptest.Server
	// Client is the simulator's HookClient: it dials the stand-in for any
	// address and trusts its certificate.
	Client *http.Client
}

// StartHookStandIn serves on loopback; c reads TokenHooks' objects (an
// uncached client keeps it in step with the controller's writes). Calls for a
// Deployment for which misrouted returns true get 404, as from an Ingress
// that routes the hook URL nowhere.
func StartHookStandIn(c client.Reader, misrouted func(*appsv1.Deployment) bool) (*HookStandIn, error) {
	const name = "hook-stand-in.test"
	cert, err := selfsigned.New(selfsigned.Options{Hosts: []string{name}, CA: true})
	if err != nil {
		return nil, err
	}
	pair, err := cert.TLS()
	if err != nil {
		return nil, err
	}
	s := &HookStandIn{}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, h, msg := podFor(r.Context(), c, r, misrouted)
		if h == nil {
			http.Error(w, msg, status)
			return
		}
		h.ServeHTTP(w, r)
	}))
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	s.srv.StartTLS()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cert.CertPEM)
	addr := s.srv.Listener.Addr().String()
	s.Client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name, MinVersion: tls.VersionTLS12},
	}}
	return s, nil
}

// Close stops the stand-in.
func (s *HookStandIn) Close() { s.srv.Close() }

const ownerHeader = "X-Tokenhook-Owner"

// podFor builds the handler one of the Deployment's pods would run, or says
// why there is none.
func podFor(ctx context.Context, c client.Reader, r *http.Request, misrouted func(*appsv1.Deployment) bool) (int, http.Handler, string) {
	uid := r.Header.Get(ownerHeader)
	var deps appsv1.DeploymentList
	if err := c.List(ctx, &deps, client.MatchingLabels{"app.kubernetes.io/name": "tokenhook-hookserver"}); err != nil {
		return http.StatusBadGateway, nil, err.Error()
	}
	var d *appsv1.Deployment
	for i := range deps.Items {
		for _, o := range deps.Items[i].OwnerReferences {
			if uid != "" && string(o.UID) == uid {
				d = &deps.Items[i]
			}
		}
	}
	if d == nil {
		return http.StatusBadGateway, nil, "no hook server Deployment for this owner"
	}
	if misrouted != nil && misrouted(d) {
		return http.StatusNotFound, nil, "404 page not found"
	}
	if !available(d) {
		return http.StatusServiceUnavailable, nil, "no hook server pod is available"
	}
	args := map[string][]string{}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		args[k] = append(args[k], v)
	}
	arg := func(k string) string {
		if v := args[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	if r.URL.Path != arg("path") {
		return http.StatusNotFound, nil, "404 page not found"
	}
	secrets, err := mounted(ctx, c, d, "auth", args["auth-secret-file"])
	if err != nil {
		return http.StatusInternalServerError, nil, err.Error()
	}
	lists, err := mounted(ctx, c, d, "patients", []string{arg("patients")})
	if err != nil {
		return http.StatusInternalServerError, nil, err.Error()
	}
	list, err := patients.Parse([]byte(lists[0]))
	if err != nil {
		return http.StatusServiceUnavailable, nil, "patient list not loaded"
	}
	tokens, err := protocol.ParseTokens(arg("tokens"))
	if err != nil {
		return http.StatusInternalServerError, nil, err.Error()
	}
	cfg := hookserver.HandlerConfig{
		Claim: arg("claim"), Tokens: tokens, AuthHeader: arg("auth-header"), DenyNonPatients: len(args["deny-non-patients"]) > 0,
		AuthMode: hookserver.AuthMode(arg("auth-mode")),
	}
	if cfg.AuthMode == hookserver.AuthModeOAuth || cfg.AuthMode == hookserver.AuthModeBoth {
		if cfg.Bearer, err = verifierFor(ctx, c, d, arg); err != nil {
			return http.StatusInternalServerError, nil, err.Error()
		}
	}
	h, err := hookserver.NewHandler(cfg, fixedList{list}, anyOf(secrets), nil, nil)
	if err != nil {
		return http.StatusInternalServerError, nil, err.Error()
	}
	return http.StatusOK, h, ""
}

// verifiers are the pods' bearer token checks, by their flags: a pod keeps
// its verifier (and its cache of signing keys) for its life.
var verifiers sync.Map // string -> hookserver.BearerVerifier

// verifierFor is the bearer token check of the pod's --oauth-* flags, the
// CA file read from the auth volume as the pod would.
func verifierFor(ctx context.Context, c client.Reader, d *appsv1.Deployment, arg func(string) string) (hookserver.BearerVerifier, error) {
	o := hookserver.OAuthOptions{Issuer: arg("oauth-issuer"), Audience: arg("oauth-audience"),
		ClientID: arg("oauth-client-id"), Scope: arg("oauth-scope")}
	var ca string
	if f := arg("oauth-jwks-ca-file"); f != "" {
		files, err := mounted(ctx, c, d, "auth", []string{f})
		if err != nil {
			return nil, err
		}
		ca = files[0]
	}
	key := strings.Join([]string{o.Issuer, o.Audience, o.ClientID, o.Scope, ca}, "\n")
	if v, ok := verifiers.Load(key); ok {
		return v.(hookserver.BearerVerifier), nil
	}
	if ca != "" {
		sum := sha256.Sum256([]byte(ca))
		o.JWKSCAFile = filepath.Join(os.TempDir(), "tokenhook-standin-ca-"+hex.EncodeToString(sum[:8])+".crt")
		if err := writeOnce(o.JWKSCAFile, []byte(ca)); err != nil {
			return nil, err
		}
	}
	v, err := hookserver.NewBearerVerifier(o)
	if err != nil {
		return nil, err
	}
	actual, _ := verifiers.LoadOrStore(key, v)
	return actual.(hookserver.BearerVerifier), nil
}

// writeOnce writes a file named by its content's hash, unless it is there.
// Pods' calls make verifiers concurrently: a rewrite in place let one read
// the file while another had truncated it (a 500 under load), so the file
// appears whole, by rename.
func writeOnce(name string, data []byte) error {
	if _, err := os.Stat(name); err == nil {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

func available(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return d.Status.AvailableReplicas > 0
		}
	}
	return false
}

// mounted reads the files a pod would see at paths, from the Secret or
// ConfigMap of the Deployment's volume volName.
func mounted(ctx context.Context, c client.Reader, d *appsv1.Deployment, volName string, paths []string) ([]string, error) {
	var vol *corev1.Volume
	for i, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == volName {
			vol = &d.Spec.Template.Spec.Volumes[i]
		}
	}
	if vol == nil {
		return nil, fmt.Errorf("no volume %q", volName)
	}
	data := map[string]string{}
	key := client.ObjectKey{Namespace: d.Namespace}
	switch {
	case vol.Secret != nil:
		key.Name = vol.Secret.SecretName
		sec := &corev1.Secret{}
		if err := c.Get(ctx, key, sec); err != nil {
			return nil, err
		}
		for k, v := range sec.Data {
			data[k] = string(v)
		}
	case vol.ConfigMap != nil:
		key.Name = vol.ConfigMap.Name
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, key, cm); err != nil {
			return nil, err
		}
		data = cm.Data
	default:
		return nil, fmt.Errorf("volume %q is neither a Secret nor a ConfigMap", volName)
	}
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		v, ok := data[path.Base(p)]
		if !ok {
			return nil, fmt.Errorf("volume %q has no file %s", volName, path.Base(p))
		}
		out = append(out, v)
	}
	return out, nil
}

type fixedList struct{ l *patients.List }

func (f fixedList) Current() *patients.List { return f.l }

// anyOf accepts any of the secret files' values, trimmed as the hook server
// trims them.
type anyOf []string

func (a anyOf) Valid(secret string) bool {
	ok := false
	for _, v := range a {
		v = strings.TrimSpace(v)
		if v != "" && subtle.ConstantTimeCompare([]byte(v), []byte(secret)) == 1 {
			ok = true
		}
	}
	return ok
}

var _ hookserver.Authenticator = anyOf(nil)
