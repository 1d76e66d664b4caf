package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TokenHookSpec says what the user wants: a hook server in this namespace that
// adds a patient claim to tokens, registered as an Okta token inline hook and
// called by one authorization server policy rule.
type TokenHookSpec struct {
	// okta says which Okta org, authorization server, policy and rule the hook
	// is registered in and linked to, and how the operator authenticates.
	// +required
	Okta OktaSpec `json:"okta"`

	// hookServer configures the hook server Deployment that Okta calls.
	// +required
	HookServer HookServerSpec `json:"hookServer"`

	// patients names the ConfigMap key that holds the patient list
	// (CSV with a "login,patientID" header, or a JSON array of objects).
	// +required
	Patients PatientsSpec `json:"patients"`

	// claim configures the claim added to the tokens of patients.
	// +kubebuilder:default={}
	// +optional
	Claim ClaimSpec `json:"claim,omitempty"`

	// authSecretRef names the Secret key whose value Okta sends in the auth
	// header of every hook call (sent verbatim, e.g. "Basic dXNlcjpwYXNz").
	// When absent, the operator generates a random secret into an owned Secret.
	// Changing the value rotates it with zero failed calls: the hook servers
	// accept the old and the new value until Okta has the new one.
	// +optional
	AuthSecretRef *SecretKeyRef `json:"authSecretRef,omitempty"`

	// authHeader is the name of the HTTP header that carries the secret.
	// +kubebuilder:default=Authorization
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9-]+$`
	// +kubebuilder:validation:MaxLength=64
	// +optional
	AuthHeader string `json:"authHeader,omitempty"`

	// hookAuth says how Okta authenticates its calls to the hook server:
	// Header (the default) sends the secret of authSecretRef in authHeader;
	// OAuth, which Okta recommends, sends an OAuth 2.0 access token that Okta
	// gets from an authorization server with the client credentials grant.
	// Switching either way fails no call: the hook servers accept both while
	// Okta's channel changes, then the old way is retired.
	// +kubebuilder:default={type: Header}
	// +optional
	HookAuth HookAuth `json:"hookAuth,omitempty"`

	// deletionPolicy says what happens in Okta when the TokenHook is deleted:
	// Delete unlinks the rule and deletes the inline hook; Orphan leaves both.
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// suspend stops all changes in Okta and to the hook server objects while
	// true; the hook server keeps serving as it is.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// HookAuthType is how Okta authenticates its hook calls.
// +kubebuilder:validation:Enum=Header;OAuth
type HookAuthType string

const (
	// HookAuthHeader: a shared secret in spec.authHeader (Okta's HTTP channel).
	HookAuthHeader HookAuthType = "Header"
	// HookAuthOAuth: an OAuth 2.0 bearer token (Okta's OAUTH channel).
	HookAuthOAuth HookAuthType = "OAuth"
)

// HookAuth chooses the authentication of Okta's hook calls.
// +kubebuilder:validation:XValidation:rule="self.type == 'OAuth' ? has(self.oauth) : !has(self.oauth)",message="hookAuth.oauth must be set when hookAuth.type is OAuth, and only then"
type HookAuth struct {
	// type is Header or OAuth.
	// +kubebuilder:default=Header
	// +optional
	Type HookAuthType `json:"type,omitempty"`

	// oauth configures the OAuth 2.0 channel; required when type is OAuth.
	// +optional
	OAuth *HookOAuth `json:"oauth,omitempty"`
}

// HookOAuth is Okta's OAUTH channel: before calling the hook, Okta gets an
// access token at the authorization server's token endpoint as a service app
// (client credentials grant) and reuses it until it expires. The hook servers
// accept only tokens from that issuer, for that audience and app, with the scope.
// +kubebuilder:validation:XValidation:rule="has(self.clientSecretPost) != has(self.privateKeyJWT)",message="set exactly one of hookAuth.oauth.clientSecretPost and hookAuth.oauth.privateKeyJWT: how Okta authenticates as the service app"
type HookOAuth struct {
	// authorizationServerID is the custom authorization server that issues
	// the hook's tokens. Defaults to spec.okta.authorizationServerID.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]+$`
	// +optional
	AuthorizationServerID string `json:"authorizationServerID,omitempty"`

	// issuer is the authorization server's issuer as its tokens carry it in
	// iss. Defaults to <orgURL>/oauth2/<authorizationServerID>; set it when
	// the authorization server issues under a custom domain. The token URL
	// is <issuer>/v1/token and the signing keys are at <issuer>/v1/keys.
	// +kubebuilder:validation:Pattern=`^https://[^\s?#]+[^/\s?#]$`
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Issuer string `json:"issuer,omitempty"`

	// clientID of the service app (grant type client_credentials) that Okta
	// authenticates as; tokens must carry it in cid.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	// +required
	ClientID string `json:"clientID"`

	// scope is a custom scope of the authorization server, granted to the
	// app, that every token must carry in scp.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.:/-]+$`
	// +required
	Scope string `json:"scope"`

	// audience is the authorization server's audience, which tokens must
	// carry in aud, e.g. api://default.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Audience string `json:"audience"`

	// clientSecretPost: Okta authenticates as the app with its client secret
	// (Okta's client_secret_post). Changing the Secret's value updates Okta's
	// channel; keep the old secret active on the app until the TokenHook is
	// Ready again, so no token request fails meanwhile.
	// +optional
	ClientSecretPost *ClientSecretPost `json:"clientSecretPost,omitempty"`

	// privateKeyJWT: Okta authenticates as the app with a client assertion
	// signed by a hook key (Okta's private_key_jwt), which the operator has
	// Okta generate: the private key never leaves Okta, and the app's JWKS
	// must hold the public key (status.hookAuth.hookKey.publicJWK). Set
	// exactly one of clientSecretPost and privateKeyJWT.
	// +optional
	PrivateKeyJWT *PrivateKeyJWT `json:"privateKeyJWT,omitempty"`
}

// PrivateKeyJWT configures the hook keys of a private_key_jwt channel.
//
// A rotation never fails a call: the operator has Okta make a new hook key,
// waits until the app's JWKS holds its public key (adding it itself with
// registerInApp), only then moves Okta's channel to it, and deletes the old
// key (and the JWKS entry it added) after the rotation grace period. Request
// a rotation now by setting the annotation tokenhook.io/rotate-hook-key to a
// new value (e.g. a timestamp); status.hookAuth.rotationRequest shows the
// value last acted on.
type PrivateKeyJWT struct {
	// appID is the Okta app ID of the service app whose JWKS holds the hook
	// keys (the path of Okta's /api/v1/apps/{appId}/credentials/jwks).
	// Defaults to clientID: Okta uses an app's ID as its client ID unless
	// one was chosen when the app was created.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	// +optional
	AppID string `json:"appID,omitempty"`

	// registerInApp makes the operator add each new hook key's public key to
	// the app's JWKS (and remove the keys it added once they are retired),
	// which needs the management scope okta.apps.manage for the operator's
	// own Okta service app (an API token needs an admin allowed to edit the
	// app). When false (the default), an admin adds the key shown in
	// status.hookAuth; the operator checks the app's JWKS for it with
	// okta.apps.read, and without that scope says so and relies on Okta's
	// call through the hook.
	// +optional
	RegisterInApp bool `json:"registerInApp,omitempty"`

	// rotateEvery rotates the hook key on a schedule, counted from when
	// Okta's channel moved to the current key: a Go duration such as 720h,
	// at least 1h. Unset: no
	// scheduled rotation (the annotation tokenhook.io/rotate-hook-key still
	// rotates on request).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="hookAuth.oauth.privateKeyJWT.rotateEvery must be at least 1h: each rotation makes a new hook key (Okta allows 50 per org) and waits out a grace period"
	// +optional
	RotateEvery *metav1.Duration `json:"rotateEvery,omitempty"`
}

// ClientSecretPost names the service app's client secret.
type ClientSecretPost struct {
	// secretRef names the Secret key in this namespace that holds the app's
	// client secret. The hook servers never get it; only Okta does.
	// +required
	SecretRef SecretKeyRef `json:"secretRef"`
}

// OktaSpec locates the Okta org objects the operator manages.
// +kubebuilder:validation:XValidation:rule="!has(self.inlineHookName) || self.inlineHookName.size() > 0",message="okta.inlineHookName must not be empty when set"
type OktaSpec struct {
	// orgURL is the Okta org, e.g. https://dev-123456.okta.com. It cannot
	// change: to move to another org, delete the TokenHook (its finalizer
	// cleans up the old org) and create it anew.
	// +kubebuilder:validation:Pattern=`^https://[^/\s]+/?$`
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="okta.orgURL cannot change: Okta objects do not move between orgs; delete this TokenHook (its finalizer cleans up the old org) and create a new one"
	// +required
	OrgURL string `json:"orgURL"`

	// credentialsSecretRef names a Secret in this namespace that holds either
	// an API token (key "apiToken"), or an OAuth 2.0 service app's client id
	// (key "clientID") and PEM private key (key "privateKey", optional key
	// "privateKeyID"), which Okta recommends for automation.
	// +required
	CredentialsSecretRef LocalObjectRef `json:"credentialsSecretRef"`

	// authorizationServerID is the custom authorization server whose tokens
	// the hook extends. Token hooks never run for the org authorization server.
	// It cannot change: delete the TokenHook and create it anew to move.
	// +kubebuilder:default=default
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="okta.authorizationServerID cannot change: the rule linked in the old authorization server would keep calling the hook; delete this TokenHook and create a new one"
	// +optional
	AuthorizationServerID string `json:"authorizationServerID,omitempty"`

	// policy is the authorization server policy that holds the rule.
	// +required
	Policy OktaObjectSelector `json:"policy"`

	// rule is the policy rule that will call the inline hook.
	// +required
	Rule OktaObjectSelector `json:"rule"`

	// inlineHookName is the inline hook's name in Okta (unique in the org).
	// Defaults to "tokenhook/<namespace>/<name>"; a hook registered under the earlier
	// default "tokenhook-<namespace>-<name>" is renamed to it.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	InlineHookName string `json:"inlineHookName,omitempty"`
}

// OktaObjectSelector picks an Okta object by exactly one of name or id.
// +kubebuilder:validation:XValidation:rule="has(self.name) != has(self.id)",message="set exactly one of name or id"
type OktaObjectSelector struct {
	// name of the Okta object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Name string `json:"name,omitempty"`

	// id of the Okta object.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]+$`
	// +kubebuilder:validation:MaxLength=64
	// +optional
	ID string `json:"id,omitempty"`
}

// HookServerSpec configures the hook server Deployment.
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || !has(self.resources) || ((!has(self.resources.requests) || size(self.resources.requests) == 0) && (!has(self.resources.limits) || size(self.resources.limits) == 0)) || (has(self.resources.requests) && 'cpu' in self.resources.requests) || (has(self.resources.limits) && 'cpu' in self.resources.limits)",message="hookServer.resources must request CPU when hookServer.autoscaling is set: the autoscaler scales on CPU use as a share of the request"
type HookServerSpec struct {
	// externalURL is the HTTPS URL Okta calls, routed (by an Ingress or a
	// gateway of yours) to the hook server Service. Okta requires https.
	// The hook server serves its path exactly as written, trailing slash
	// included, so the Ingress must pass the path through unchanged.
	// +kubebuilder:validation:Pattern=`^https://[^\s#]+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^https://[^/?]+(/[^?]*)?/[.][.]?([/?]|$)')",message="hookServer.externalURL must be a URL whose path has no . or .. segments: HTTP clients may resolve them, and the hook server serves the path exactly as written"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^https://[^/?]+/(healthz|readyz)([?]|$)')",message="hookServer.externalURL cannot use the path /healthz or /readyz: the hook server's probes answer there"
	// +kubebuilder:validation:MaxLength=1024
	// +required
	ExternalURL string `json:"externalURL"`

	// image of the hook server. Defaults to the operator's own image.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`

	// replicas of the hook server; ignored when autoscaling is set.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// resources of the hook server container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// nodeSelector for the hook server pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations for the hook server pods.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity for the hook server pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// autoscaling scales the hook server with a HorizontalPodAutoscaler on
	// CPU, between minReplicas and maxReplicas, instead of a fixed
	// replicas. The pods must request CPU (the default resources do).
	// +optional
	Autoscaling *HookServerAutoscaling `json:"autoscaling,omitempty"`

	// tls makes the hook server pods serve HTTPS, so that the hop from your
	// Ingress or gateway to the pods is encrypted too. The Service then
	// exposes port 443 (named "https") instead of 80; point your Ingress's
	// backend at it with the HTTPS protocol. Renewed certificates are picked
	// up without a restart.
	// +optional
	TLS *HookServerTLS `json:"tls,omitempty"`
}

// HookServerAutoscaling bounds the hook server's HorizontalPodAutoscaler.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="spec.hookServer.autoscaling: minReplicas must not exceed maxReplicas"
type HookServerAutoscaling struct {
	// minReplicas is the fewest hook server replicas; 2 or more keeps the
	// hook up through a node's loss.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the most hook server replicas.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +required
	MaxReplicas int32 `json:"maxReplicas"`

	// targetCPUUtilizationPercentage is the average CPU use, as a share of
	// the pods' CPU request, that the autoscaler keeps the pods at. Okta
	// waits at most 3 seconds for the hook, so leave headroom.
	// +kubebuilder:default=70
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=100
	// +optional
	TargetCPUUtilizationPercentage int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// HookServerTLS names the hook server's certificate.
type HookServerTLS struct {
	// secretName is a Secret of type kubernetes.io/tls in this namespace
	// (keys tls.crt and tls.key), for example one that cert-manager issues
	// and renews.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +required
	SecretName string `json:"secretName"`
}

// PatientsSpec locates the patient list.
type PatientsSpec struct {
	// configMapRef names the ConfigMap key in this namespace that holds the
	// patient list. Edits reach the running hook servers without a restart.
	// +required
	ConfigMapRef ConfigMapKeyRef `json:"configMapRef"`
}

// TokenType is a kind of token the claim is added to.
// +kubebuilder:validation:Enum=ID;Access
type TokenType string

const (
	// IDToken is the OIDC ID token.
	IDToken TokenType = "ID"
	// AccessToken is the OAuth 2.0 access token.
	AccessToken TokenType = "Access"
)

// ClaimSpec configures the claim added to patients' tokens. The rules below
// mirror the claims Okta reserves; the operator checks them again.
// +kubebuilder:validation:XValidation:rule="!has(self.name) || !has(self.tokens) || !('ID' in self.tokens) || !(self.name in ['iss','jti','token_type','ver','aud','sub','active','aid','app_id','app_type','at_hash','auth_time','client_id','client_ip','client_req_id','client_type','client_user_agent','cnf','c_hash','device_compliance','device_id','device_known','device_managed','device_name','device_trust','did','dst','group','groups','hotk','idp','idp_iss','mac_key','may_act','nonce','oid','okta_emailVerified','okta_lastUpdated','orig','permissions','purpose','pwd_exp_days','pwd_exp_time','rid','role','scope','scopes','sid','term','user_ip'])",message="claim.name is reserved by Okta in the ID token"
// +kubebuilder:validation:XValidation:rule="!has(self.name) || !has(self.tokens) || !('Access' in self.tokens) || !(self.name in ['iss','jti','token_type','ver','acr','amr','as_uri','cid','groups','rpt','rsi','uid','username'])",message="claim.name is reserved by Okta in the access token"
type ClaimSpec struct {
	// name of the claim.
	// +kubebuilder:default=patientID
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_.:-]*$`
	// +kubebuilder:validation:MaxLength=100
	// +optional
	Name string `json:"name,omitempty"`

	// tokens that get the claim. A claim is only added to tokens that Okta
	// is minting in that request.
	// +kubebuilder:default={ID}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +optional
	Tokens []TokenType `json:"tokens,omitempty"`

	// denyNonPatients makes the hook fail the login of anyone who is not in
	// the patient list (Okta then issues no token at all), and every login
	// while no patient list is loaded (fail closed). Off by default. Okta
	// issues the token without the claim when the hook cannot be reached or
	// answers late, so apps must still treat a missing claim as "not a
	// patient".
	// +optional
	DenyNonPatients bool `json:"denyNonPatients,omitempty"`
}

// DeletionPolicy says what deleting a TokenHook does in Okta.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete unlinks the rule and deletes the inline hook.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the inline hook and the rule as they are.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// LocalObjectRef names an object in the TokenHook's namespace.
type LocalObjectRef struct {
	// name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// SecretKeyRef names a key of a Secret in the TokenHook's namespace.
type SecretKeyRef struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// key in the Secret.
	// +kubebuilder:default=secret
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// ConfigMapKeyRef names a key of a ConfigMap in the TokenHook's namespace.
type ConfigMapKeyRef struct {
	// name of the ConfigMap.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// key in the ConfigMap.
	// +kubebuilder:default=patients.csv
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// Annotations on a TokenHook that ask the operator for an action.
const (
	// AnnotationRotateHookKey: a new value (any, e.g. a timestamp) asks for
	// one rotation of the privateKeyJWT hook key.
	AnnotationRotateHookKey = "tokenhook.io/rotate-hook-key"
	// AnnotationHookKeyRegistered: the kid of a new hook key that an admin
	// added to the service app's JWKS, for when the operator cannot read
	// that JWKS (no okta.apps.read): Okta's channel then moves to that key.
	AnnotationHookKeyRegistered = "tokenhook.io/hook-key-registered"
)

// Condition types. Ready is True when all of the others are.
const (
	ConditionReady                = "Ready"
	ConditionHookServerAvailable  = "HookServerAvailable"
	ConditionPatientsLoaded       = "PatientsLoaded"
	ConditionInlineHookRegistered = "InlineHookRegistered"
	// ConditionHookReachable: Okta's own call, through its execute API and the
	// hook's channel (URL, auth header, secret), reached this TokenHook's hook
	// server and was answered. The rule is linked only once it is True.
	ConditionHookReachable    = "HookReachable"
	ConditionPolicyRuleLinked = "PolicyRuleLinked"
)

// Condition reasons: stable CamelCase words that say why a condition is what
// it is.
const (
	ReasonAvailable            = "Available"            // the hook server has its ready replicas
	ReasonProgressing          = "Progressing"          // the hook server is rolling out
	ReasonLoaded               = "Loaded"               // the patient list parsed
	ReasonConfigMapNotFound    = "ConfigMapNotFound"    // the patients ConfigMap or key is missing
	ReasonInvalidPatients      = "InvalidPatients"      // the patient list does not parse; the last good one keeps serving
	ReasonRegistered           = "Registered"           // the inline hook exists in Okta, active and up to date
	ReasonLinked               = "Linked"               // the rule calls our inline hook
	ReasonVerified             = "Verified"             // Okta's call reached the hook server, which answered it
	ReasonUnreachable          = "Unreachable"          // Okta's call did not reach the hook server, or something else answered
	ReasonConflict             = "Conflict"             // an Okta object belongs to someone else
	ReasonOktaRejected         = "OktaRejected"         // Okta refused the request (4xx): the spec needs a change
	ReasonOktaUnavailable      = "OktaUnavailable"      // Okta errored or was unreachable; retrying with backoff
	ReasonHookLimitReached     = "HookLimitReached"     // the org has as many inline hooks as Okta allows
	ReasonCredentialsInvalid   = "CredentialsInvalid"   // the Okta credentials Secret is missing or malformed
	ReasonAuthSecretNotFound   = "AuthSecretNotFound"   // the Secret named by spec.authSecretRef is missing or empty
	ReasonTLSSecretInvalid     = "TLSSecretInvalid"     // the Secret named by spec.hookServer.tls is missing, incomplete, unparsable or expired
	ReasonNotFound             = "NotFound"             // the authorization server, policy or rule does not exist
	ReasonRotatingSecret       = "RotatingSecret"       // a new auth secret is being rolled out
	ReasonSwitchingHookAuth    = "SwitchingHookAuth"    // Okta's channel is moving between header and OAuth auth
	ReasonClientSecretNotFound = "ClientSecretNotFound" // the Secret named by spec.hookAuth.oauth.clientSecretPost is missing or empty
	ReasonHookKeyNotRegistered = "HookKeyNotRegistered" // the service app's JWKS lacks the hook key's public key: an admin must add it
	ReasonRotatingHookKey      = "RotatingHookKey"      // a new hook key is being registered, or the old one waits out its grace period
	ReasonHookKeyLimitReached  = "HookKeyLimitReached"  // the org has as many hook keys (or the app as many JWKS keys) as Okta allows
	ReasonSuspended            = "Suspended"            // spec.suspend is true
	ReasonWaiting              = "Waiting"              // waiting on an earlier stage
	ReasonReady                = "Ready"                // every condition is True
	ReasonNotReady             = "NotReady"             // some condition is not True
	ReasonKubernetesAPIError   = "KubernetesAPIError"   // a call to the Kubernetes API failed (forbidden, or a server error); retrying with backoff
)

// TokenHookStatus is what the operator observed.
type TokenHookStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: HookServerAvailable, PatientsLoaded, InlineHookRegistered,
	// HookReachable, PolicyRuleLinked, and Ready derived from them.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// inlineHookID is the Okta inline hook's id.
	// +optional
	InlineHookID string `json:"inlineHookID,omitempty"`

	// policyID is the Okta authorization server policy's id.
	// +optional
	PolicyID string `json:"policyID,omitempty"`

	// ruleID is the Okta policy rule's id.
	// +optional
	RuleID string `json:"ruleID,omitempty"`

	// patients is the number of patients in the last good patient list.
	// +optional
	Patients int32 `json:"patients,omitempty"`

	// readyReplicas of the hook server Deployment.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// hookAuth shows the hook keys of a privateKeyJWT channel.
	// +optional
	HookAuth *HookAuthStatus `json:"hookAuth,omitempty"`
}

// HookAuthStatus is what the operator keeps of the hook keys it made in Okta
// for a private_key_jwt channel. Okta holds their private keys; only the
// public ones are shown.
type HookAuthStatus struct {
	// hookKey is the key whose private key signs Okta's client assertions,
	// or will once the service app's JWKS holds its public key.
	// +optional
	HookKey *HookKeyStatus `json:"hookKey,omitempty"`

	// nextHookKey is the new key of a rotation under way: Okta's channel
	// moves to it once the service app's JWKS holds its public key.
	// +optional
	NextHookKey *HookKeyStatus `json:"nextHookKey,omitempty"`

	// retiredHookKeys left Okta's channel (by a rotation, or a switch away
	// from privateKeyJWT); each is deleted in Okta, with the JWKS entry the
	// operator added for it, once the rotation grace period is over.
	// +listType=atomic
	// +optional
	RetiredHookKeys []RetiredHookKey `json:"retiredHookKeys,omitempty"`

	// rotationRequest is the value of the annotation
	// tokenhook.io/rotate-hook-key that the last rotation was made for.
	// +optional
	RotationRequest string `json:"rotationRequest,omitempty"`
}

// HookKeyStatus is one of the TokenHook's hook keys.
type HookKeyStatus struct {
	// id of the hook key in Okta (HKY…): the channel's hookKeyId.
	ID string `json:"id"`

	// keyID is the key's kid, as Okta's client assertions and the app's
	// JWKS carry it.
	KeyID string `json:"keyID"`

	// name of the hook key in Okta: tokenhook/<namespace>/<name>/<uid>/<n>.
	// +optional
	Name string `json:"name,omitempty"`

	// publicJWK is the public key as a JWK (JSON): what the service app's
	// JWKS must hold.
	// +optional
	PublicJWK string `json:"publicJWK,omitempty"`

	// created is when the operator made (or found) the key.
	// +optional
	Created *metav1.Time `json:"created,omitempty"`

	// rotatedAt is when Okta's channel moved to this key.
	// +optional
	RotatedAt *metav1.Time `json:"rotatedAt,omitempty"`

	// registered says that the service app's JWKS holds the key: the
	// operator added it, or saw it there.
	// +optional
	Registered bool `json:"registered,omitempty"`

	// registeredIn is the app whose JWKS registered refers to: a change of
	// the spec's app (its clientID or appID) makes the key unregistered
	// there. Empty on keys registered before it was kept: the spec's app.
	// +optional
	RegisteredIn string `json:"registeredIn,omitempty"`

	// appID is the app whose JWKS entry appJWKID the operator added.
	// +optional
	AppID string `json:"appID,omitempty"`

	// appJWKID is the id (pks…) of the JWKS entry the operator added for the
	// key (registerInApp), which it removes with the key.
	// +optional
	AppJWKID string `json:"appJWKID,omitempty"`
}

// RetiredHookKey is a hook key that Okta's channel no longer uses.
type RetiredHookKey struct {
	// id of the hook key in Okta.
	ID string `json:"id"`

	// keyID is the key's kid.
	KeyID string `json:"keyID"`

	// name of the hook key in Okta.
	// +optional
	Name string `json:"name,omitempty"`

	// appID is the app whose JWKS entry appJWKID the operator added.
	// +optional
	AppID string `json:"appID,omitempty"`

	// appJWKID is the JWKS entry the operator added for the key; "" when an
	// admin registered it (it is left to the admin).
	// +optional
	AppJWKID string `json:"appJWKID,omitempty"`

	// retiredAt is when Okta's channel stopped using the key.
	RetiredAt metav1.Time `json:"retiredAt"`
}

// TokenHook deploys a hook server that adds a patient claim to Okta tokens,
// registers it as an Okta token inline hook and links it to a policy rule.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && self.metadata.name.size() <= 52",message="metadata.name must be a DNS label of at most 52 characters that starts with a letter: it names the hook server's Deployment and Service"
// +kubebuilder:resource:shortName=th,categories=tokenhook
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Patients",type=integer,JSONPath=`.status.patients`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Hook",type=string,JSONPath=`.status.inlineHookID`,priority=1
// +kubebuilder:printcolumn:name="Rule",type=string,JSONPath=`.status.ruleID`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TokenHook struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec TokenHookSpec `json:"spec"`
	// +optional
	Status TokenHookStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// TokenHookList is a list of TokenHooks.
type TokenHookList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TokenHook `json:"items"`
}
