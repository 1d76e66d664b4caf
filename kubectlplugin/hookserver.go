package kubectlplugin

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

// What the operator makes for a TokenHook, as controllers/hookserver_objects.go
// builds it. Only the Deployment's name is taken on trust; everything else
// (pods, ports, flags, mounted Secrets) is read from the running pods, so that
// a preview goes to the hook server as it runs, not as the spec says it will.
const (
	hookServerSuffix  = "-hookserver"      // Deployment and Service: <name>-hookserver
	authSecretSuffix  = "-hookserver-auth" // the owned auth Secret
	hookContainer     = "hookserver"
	authVolume        = "auth"
	tlsVolume         = "tls"
	authKeyCurrent    = "current"  // the value Okta is sent, or is about to be
	authKeyPrevious   = "previous" // the value Okta may still send during a rotation
	portHTTPS         = "https"
	portHTTP          = "http"
	defaultAuthHeader = "Authorization"
	caKey             = "ca.crt" // cert-manager's CA key in a kubernetes.io/tls Secret
	// The hook server's --auth-mode values (cmd/hookserver).
	authModeHeader = "header"
	authModeOAuth  = "oauth"
	authModeBoth   = "both"
)

func hookServerName(name string) string { return name + hookServerSuffix }

// serviceDNSName is the name the hook server's certificate is issued for (the
// README suggests a cert-manager Certificate for it).
func serviceDNSName(th *v1.TokenHook) string {
	return hookServerName(th.Name) + "." + th.Namespace + ".svc"
}

// getTokenHook reads a TokenHook; its error names it.
func getTokenHook(ctx context.Context, c client.Reader, namespace, name string) (*v1.TokenHook, error) {
	th := &v1.TokenHook{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, th); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("TokenHook %s/%s not found", namespace, name)
		}
		return nil, fmt.Errorf("get TokenHook %s/%s: %w", namespace, name, err)
	}
	return th, nil
}

// getDeployment reads the hook server Deployment of th; nil when there is none
// (yet). One of that name that th does not control is an error.
func getDeployment(ctx context.Context, c client.Reader, th *v1.TokenHook) (*appsv1.Deployment, error) {
	dep := &appsv1.Deployment{}
	key := types.NamespacedName{Namespace: th.Namespace, Name: hookServerName(th.Name)}
	if err := c.Get(ctx, key, dep); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get hook server Deployment %s: %w", key, err)
	}
	if !metav1.IsControlledBy(dep, th) {
		return nil, fmt.Errorf("deployment %s is not the hook server of TokenHook %s/%s: the TokenHook does not control it", key, th.Namespace, th.Name)
	}
	return dep, nil
}

// readyPod picks the pod a preview calls: a ready, running pod of the
// Deployment that is not being deleted, the newest first (the one most
// likely to run the current pod template during a rollout).
func readyPod(ctx context.Context, c client.Reader, th *v1.TokenHook, dep *appsv1.Deployment) (*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: selector: %w", dep.Namespace, dep.Name, err)
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(dep.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("list pods of hook server Deployment %s/%s: %w", dep.Namespace, dep.Name, err)
	}
	var ready []*corev1.Pod
	for i := range pods.Items {
		if p := &pods.Items[i]; podReady(p) {
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 {
		return nil, fmt.Errorf("TokenHook %s/%s has no ready hook server pod (Deployment %s/%s: %d of %d pods ready)",
			th.Namespace, th.Name, dep.Namespace, dep.Name, dep.Status.ReadyReplicas, desiredReplicas(dep))
	}
	sort.Slice(ready, func(i, j int) bool {
		a, b := ready[i].CreationTimestamp, ready[j].CreationTimestamp
		if !a.Equal(&b) {
			return b.Before(&a)
		}
		return ready[i].Name < ready[j].Name
	})
	return ready[0], nil
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func desiredReplicas(dep *appsv1.Deployment) int32 {
	if dep.Spec.Replicas == nil {
		return 1 // the API default
	}
	return *dep.Spec.Replicas
}

// podHook is how one hook server pod serves the hook: read from its spec,
// with the TokenHook's spec for anything the pod does not say.
type podHook struct {
	pod        *corev1.Pod
	port       int32 // the container port
	tls        bool
	path       string
	authHeader string
	claim      string
	tokens     []protocol.Token // the tokens the claim goes to
	authSecret string           // the Secret mounted as the accepted secrets
	tlsSecret  string           // the Secret mounted as the certificate; "" without TLS
	// authMode is the pod's --auth-mode: header (also when absent), oauth or
	// both; with oauth or both, oauth is what the pod checks in tokens.
	authMode string
	oauth    podOAuth
}

// podOAuth is what a hook server pod checks in Okta's access tokens (its
// --oauth-* flags), and the CA it trusts for the signing keys.
type podOAuth struct {
	issuer, clientID, scope string
	// caKey is the auth Secret key mounted as --oauth-jwks-ca-file: the
	// manager's CA for Okta; "" when the pod trusts the system's only.
	caKey string
}

// hookOf reads how pod serves th's hook.
func hookOf(th *v1.TokenHook, pod *corev1.Pod) (*podHook, error) {
	var ctr *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == hookContainer {
			ctr = &pod.Spec.Containers[i]
		}
	}
	if ctr == nil {
		return nil, fmt.Errorf("pod %s/%s has no container %q", pod.Namespace, pod.Name, hookContainer)
	}
	h := &podHook{pod: pod}
	for _, p := range ctr.Ports {
		switch {
		case p.Name == portHTTPS:
			h.port, h.tls = p.ContainerPort, true
		case p.Name == portHTTP && h.port == 0:
			h.port = p.ContainerPort
		}
	}
	if h.port == 0 {
		return nil, fmt.Errorf("pod %s/%s: container %q has no port named %q or %q", pod.Namespace, pod.Name, hookContainer, portHTTPS, portHTTP)
	}
	args := flagValues(ctr.Args)
	h.path = firstOf(args["path"], pathOf(th.Spec.HookServer.ExternalURL))
	h.authHeader = firstOf(args["auth-header"], th.Spec.AuthHeader, defaultAuthHeader)
	h.claim = firstOf(args["claim"], th.Spec.Claim.Name, "patientID")
	tokens := args["tokens"]
	if tokens == "" {
		var names []string
		for _, t := range th.Spec.Claim.Tokens {
			names = append(names, string(t))
		}
		tokens = firstOf(strings.Join(names, ","), string(protocol.IDToken))
	}
	var err error
	if h.tokens, err = protocol.ParseTokens(tokens); err != nil {
		return nil, fmt.Errorf("pod %s/%s: tokens: %w", pod.Namespace, pod.Name, err)
	}
	h.authSecret = firstOf(secretVolume(pod, authVolume), th.Name+authSecretSuffix)
	h.authMode = firstOf(args["auth-mode"], authModeHeader)
	h.oauth = podOAuth{issuer: args["oauth-issuer"], clientID: args["oauth-client-id"], scope: args["oauth-scope"]}
	if f := args["oauth-jwks-ca-file"]; f != "" {
		h.oauth.caKey = path.Base(f)
	}
	if h.tls {
		var specTLS string
		if th.Spec.HookServer.TLS != nil {
			specTLS = th.Spec.HookServer.TLS.SecretName
		}
		h.tlsSecret = firstOf(secretVolume(pod, tlsVolume), specTLS)
	}
	return h, nil
}

// flagValues reads "--name=value" arguments; the operator writes them so.
func flagValues(args []string) map[string]string {
	m := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if ok && strings.HasPrefix(a, "--") {
			if _, seen := m[name]; !seen { // repeated flags (--auth-secret-file) are not read
				m[name] = value
			}
		}
	}
	return m
}

func secretVolume(pod *corev1.Pod, name string) string {
	for _, v := range pod.Spec.Volumes {
		if v.Name == name && v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	return ""
}

// pathOf is the path of the external URL, as the operator passes it to --path.
func pathOf(externalURL string) string {
	u, err := url.Parse(externalURL)
	if err != nil || u.Path == "" {
		return "/"
	}
	return u.Path
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
