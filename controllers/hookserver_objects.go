package controllers

import (
	"net/url"
	"path"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// Pure builders for the objects a TokenHook owns. They read only the
// TokenHook and their arguments, so tests can check them without a cluster,
// and the reconciler applies their whole result (server-side apply), which
// puts back any field someone changed by hand.

const (
	hookServerPort  = 8080
	hookServerTLS   = 8443
	metricsPort     = 9090
	patientsDir     = "/etc/tokenhook/patients"
	authDir         = "/etc/tokenhook/auth"
	tlsDir          = "/etc/tokenhook/tls"
	hookServerUID   = 65532 // distroless "nonroot"
	containerName   = "hookserver"
	defaultHookPath = "/tokenHook"
)

// Keys of the owned auth Secret that the hook server pods mount. Both are
// always present: outside a rotation they hold the same value; during one,
// "previous" keeps the value Okta still sends while "current" is the new one.
const (
	authKeyCurrent   = "current"
	authKeyPrevious  = "previous"
	authKeyGenerated = "generated" // the operator's own secret when spec.authSecretRef is absent
	// authKeyOktaCA is the manager's --okta-ca-file, which the pods trust
	// for fetching the signing keys of OAuth tokens (the simulator, or a
	// TLS-intercepting proxy in front of Okta).
	authKeyOktaCA = "okta-ca.crt"
)

// podAuth is how the hook server pods authenticate Okta's calls.
type podAuth struct {
	mode   string      // podAuthHeader (or ""), podAuthOAuth or podAuthBoth
	check  *oauthCheck // what tokens must carry; the pods accept none without
	oktaCA bool        // the auth Secret holds authKeyOktaCA
}

func (a podAuth) oauth() bool {
	return (a.mode == podAuthOAuth || a.mode == podAuthBoth) && a.check != nil
}

func hookServerName(th *v1.TokenHook) string { return th.Name + "-hookserver" }
func authSecretName(th *v1.TokenHook) string { return th.Name + "-hookserver-auth" }

// selectorLabels pick the hook server pods of one TokenHook.
func selectorLabels(th *v1.TokenHook) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     "tokenhook-hookserver",
		"app.kubernetes.io/instance": th.Name,
	}
}

func objectLabels(th *v1.TokenHook) map[string]string {
	l := selectorLabels(th)
	l["app.kubernetes.io/component"] = "hookserver"
	l["app.kubernetes.io/managed-by"] = "tokenhook-operator"
	return l
}

func objectMeta(th *v1.TokenHook, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: th.Namespace,
		Labels:    objectLabels(th),
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion:         v1.GroupVersion.String(),
			Kind:               "TokenHook",
			Name:               th.Name,
			UID:                th.UID,
			Controller:         ptr.To(true),
			BlockOwnerDeletion: ptr.To(true),
		}},
	}
}

// hookPath is the path Okta calls, exactly as spec.hookServer.externalURL
// has it (a trailing slash included: Okta POSTs to the URL as written); an
// Ingress in front of the Service passes it through unchanged. The hook
// server compares it with the request's decoded path, so it is decoded too.
func hookPath(th *v1.TokenHook) string {
	u, err := url.Parse(th.Spec.HookServer.ExternalURL)
	if err != nil || u.Path == "" {
		return "/"
	}
	return u.Path
}

// hookPort is the hook server's serving port: its name (also the Service
// port's), number, and the scheme of its probes.
type hookPort struct {
	name   string
	number int32
	scheme corev1.URIScheme
}

func servingPort(th *v1.TokenHook) hookPort {
	if th.Spec.HookServer.TLS != nil {
		return hookPort{name: "https", number: hookServerTLS, scheme: corev1.URISchemeHTTPS}
	}
	return hookPort{name: "http", number: hookServerPort, scheme: corev1.URISchemeHTTP}
}

// servicePort is where the Service exposes the hook: 443 with TLS, else 80.
func (p hookPort) servicePort() int32 {
	if p.scheme == corev1.URISchemeHTTPS {
		return 443
	}
	return 80
}

// hookServerArgs are the hookserver flags for a TokenHook's spec.
func hookServerArgs(th *v1.TokenHook, auth podAuth) []string {
	tokens := make([]string, 0, len(th.Spec.Claim.Tokens))
	for _, t := range th.Spec.Claim.Tokens {
		tokens = append(tokens, strings.ToLower(string(t)))
	}
	args := []string{
		"--listen=:" + strconv.Itoa(int(servingPort(th).number)),
		"--metrics-listen=:9090",
		"--path=" + hookPath(th),
		"--patients=" + path.Join(patientsDir, th.Spec.Patients.ConfigMapRef.Key),
		"--auth-header=" + th.Spec.AuthHeader,
		"--auth-secret-file=" + path.Join(authDir, authKeyCurrent),
		"--auth-secret-file=" + path.Join(authDir, authKeyPrevious),
		"--claim=" + th.Spec.Claim.Name,
		"--tokens=" + strings.Join(tokens, ","),
	}
	if th.Spec.Claim.DenyNonPatients {
		args = append(args, "--deny-non-patients")
	}
	// Header mode is the hook server's default: no flag, so that TokenHooks
	// made before OAuth keep their pods through an operator upgrade.
	if auth.oauth() {
		c := auth.check
		args = append(args, "--auth-mode="+auth.mode,
			"--oauth-issuer="+c.Issuer,
			"--oauth-audience="+c.Audience,
			"--oauth-client-id="+c.ClientID,
			"--oauth-scope="+c.Scope)
		if auth.oktaCA {
			args = append(args, "--oauth-jwks-ca-file="+path.Join(authDir, authKeyOktaCA))
		}
	}
	if th.Spec.HookServer.TLS != nil {
		args = append(args,
			"--tls-cert="+path.Join(tlsDir, corev1.TLSCertKey),
			"--tls-key="+path.Join(tlsDir, corev1.TLSPrivateKeyKey))
	}
	return args
}

// defaultResources fit the hook server's measured footprint (about 40 MiB
// with 100,000 patients) when the spec names none.
func hookServerResources(th *v1.TokenHook) corev1.ResourceRequirements {
	r := th.Spec.HookServer.Resources
	if len(r.Requests) == 0 && len(r.Limits) == 0 {
		return corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("50m"),
				corev1.ResourceMemory: resource.MustParse("64Mi"),
			},
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		}
	}
	return r
}

// goMemLimit lets the Go runtime collect harder before the container's
// memory limit, instead of being killed at it: 90% of the limit, if any.
func goMemLimit(r corev1.ResourceRequirements) []corev1.EnvVar {
	limit, ok := r.Limits[corev1.ResourceMemory]
	if !ok || limit.Value() <= 0 {
		return nil
	}
	return []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: strconv.FormatInt(limit.Value()/10*9, 10)}}
}

// desiredDeployment is the hook server Deployment: restricted pod security,
// the patients ConfigMap and the auth Secret mounted as files (both hot
// reloaded by the hook server, so edits need no restart).
func desiredDeployment(th *v1.TokenHook, image string, auth podAuth) *appsv1.Deployment {
	if th.Spec.HookServer.Image != "" {
		image = th.Spec.HookServer.Image
	}
	serving := servingPort(th)
	probe := func(p string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: p, Port: intstr.FromString(serving.name), Scheme: serving.scheme,
			}},
			PeriodSeconds:    period,
			TimeoutSeconds:   2,
			FailureThreshold: 3,
		}
	}
	cm := th.Spec.Patients.ConfigMapRef
	spec := th.Spec.HookServer
	pod := corev1.PodSpec{
		AutomountServiceAccountToken: ptr.To(false),
		EnableServiceLinks:           ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To[int64](hookServerUID),
			RunAsGroup:     ptr.To[int64](hookServerUID),
			FSGroup:        ptr.To[int64](hookServerUID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:  containerName,
			Image: image,
			// The image holds both binaries; its entrypoint is the manager.
			Command: []string{"/hookserver"},
			Args:    hookServerArgs(th, auth),
			Ports: []corev1.ContainerPort{
				{Name: serving.name, ContainerPort: serving.number, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", ContainerPort: metricsPort, Protocol: corev1.ProtocolTCP},
			},
			Env:            goMemLimit(hookServerResources(th)),
			ReadinessProbe: probe("/readyz", 5),
			LivenessProbe:  probe("/healthz", 10),
			Resources:      hookServerResources(th),
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				ReadOnlyRootFilesystem:   ptr.To(true),
				RunAsNonRoot:             ptr.To(true),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "patients", MountPath: patientsDir, ReadOnly: true},
				{Name: "auth", MountPath: authDir, ReadOnly: true},
			},
		}},
		Volumes: []corev1.Volume{
			{Name: "patients", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name},
				Items:                []corev1.KeyToPath{{Key: cm.Key, Path: cm.Key}},
				// A missing ConfigMap leaves the pod unready (no patients
				// file), instead of stuck in ContainerCreating.
				Optional: ptr.To(true),
			}}},
			{Name: "auth", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: authSecretName(th),
				Items:      authItems(auth),
			}}},
		},
		NodeSelector: spec.NodeSelector,
		Tolerations:  spec.Tolerations,
		Affinity:     spec.Affinity,
	}
	if spec.TLS != nil {
		pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts,
			corev1.VolumeMount{Name: "tls", MountPath: tlsDir, ReadOnly: true})
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: spec.TLS.SecretName,
			Items: []corev1.KeyToPath{
				{Key: corev1.TLSCertKey, Path: corev1.TLSCertKey},
				{Key: corev1.TLSPrivateKeyKey, Path: corev1.TLSPrivateKeyKey},
			},
		}}})
	}
	if spec.Affinity == nil {
		// Spread replicas over nodes so one node's loss leaves the hook up.
		pod.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew:           1,
			TopologyKey:       corev1.LabelHostname,
			WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: selectorLabels(th)},
		}}
	}
	var replicas *int32 // with autoscaling, the HorizontalPodAutoscaler's
	if spec.Autoscaling == nil {
		replicas = ptr.To(ptr.Deref(spec.Replicas, 2))
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(th, hookServerName(th)),
		Spec: appsv1.DeploymentSpec{
			Replicas: replicas,
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(th)},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				// Never fewer ready servers than asked for during a rollout.
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: objectLabels(th)},
				Spec:       pod,
			},
		},
	}
}

// authItems are the auth Secret's files the pods read.
func authItems(auth podAuth) []corev1.KeyToPath {
	items := []corev1.KeyToPath{
		{Key: authKeyCurrent, Path: authKeyCurrent},
		{Key: authKeyPrevious, Path: authKeyPrevious},
	}
	if auth.oauth() && auth.oktaCA {
		items = append(items, corev1.KeyToPath{Key: authKeyOktaCA, Path: authKeyOktaCA})
	}
	return items
}

// desiredService fronts the hook server pods; an Ingress or gateway of the
// user's routes spec.hookServer.externalURL to its "http" port, or its
// "https" port with spec.hookServer.tls.
func desiredService(th *v1.TokenHook) *corev1.Service {
	serving := servingPort(th)
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(th, hookServerName(th)),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selectorLabels(th),
			Ports: []corev1.ServicePort{
				{Name: serving.name, Port: serving.servicePort(), TargetPort: intstr.FromString(serving.name), Protocol: corev1.ProtocolTCP},
				{Name: "metrics", Port: metricsPort, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

// desiredPDB keeps one hook server up through voluntary disruptions; it is
// only built when there is more than one replica (with one, it would block
// node drains forever).
func desiredPDB(th *v1.TokenHook) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(th, hookServerName(th)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(th)},
		},
	}
}

func wantsPDB(th *v1.TokenHook) bool { return minReplicas(th) > 1 }

// minReplicas is the fewest hook server replicas the spec allows.
func minReplicas(th *v1.TokenHook) int32 {
	if a := th.Spec.HookServer.Autoscaling; a != nil {
		if a.MinReplicas > 0 {
			return a.MinReplicas
		}
		return 2 // the API default
	}
	return ptr.Deref(th.Spec.HookServer.Replicas, 2)
}

// desiredHPA scales the hook server on CPU; only built with
// spec.hookServer.autoscaling.
func desiredHPA(th *v1.TokenHook) *autoscalingv2.HorizontalPodAutoscaler {
	a := th.Spec.HookServer.Autoscaling
	target := a.TargetCPUUtilizationPercentage
	if target <= 0 {
		target = 70 // the API default
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: objectMeta(th, hookServerName(th)),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: hookServerName(th)},
			MinReplicas:    ptr.To(minReplicas(th)),
			MaxReplicas:    max(a.MaxReplicas, minReplicas(th)),
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(target)},
				},
			}},
		},
	}
}

// desiredAuthSecret holds the secrets the hook server pods accept, and the
// bookkeeping of what Okta has (annotations: Okta never returns the secret).
func desiredAuthSecret(th *v1.TokenHook, s authSecretState, oktaCA []byte) *corev1.Secret {
	data := map[string][]byte{
		authKeyCurrent:  []byte(s.current),
		authKeyPrevious: []byte(s.previous),
	}
	if len(oktaCA) > 0 {
		data[authKeyOktaCA] = oktaCA
	}
	if s.generated != "" {
		data[authKeyGenerated] = []byte(s.generated)
	}
	meta := objectMeta(th, authSecretName(th))
	meta.Annotations = s.annotations()
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: meta,
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}
