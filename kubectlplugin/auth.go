package kubectlplugin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// How a preview authenticates to the hook server: as Okta's channel does,
// in the way the pod accepts.
//   - --auth-mode header, or both (Okta's channel is switching either way):
//     the header secret of the auth Secret the pod mounts.
//   - oauth: an access token that the plugin gets as Okta does, with the
//     client credentials grant at the TokenHook's token URL
//     (TokenHookSpec.OAuthTokenURL), as spec.hookAuth.oauth.clientID with the
//     client secret of clientSecretPost.secretRef (client_secret_post), for
//     the scope; it is sent as "Authorization: Bearer <token>". Without
//     clientSecretPost (private_key_jwt: only Okta holds the key) no token
//     the pods accept can be had, and the preview says so.
//
// Neither the secret nor the token is printed, logged or put in an error.

// tokenRequestTimeout bounds the token request (Okta's own fits in the
// hook's 3 s; a laptop far from the org may need longer).
const tokenRequestTimeout = 15 * time.Second

// maxTokenAnswer bounds the token endpoint's answer read.
const maxTokenAnswer = 64 << 10

// bearerScheme prefixes an access token in the Authorization header.
const bearerScheme = "Bearer "

// fieldClientSecret is the spec field that names the client secret.
const fieldClientSecret = "spec.hookAuth.oauth.clientSecretPost.secretRef"

// hookCredential is what a preview call carries.
type hookCredential struct {
	header string
	// values are tried in order while the pod answers 401 (the pods may not
	// have a rotated secret yet); a token is tried once.
	values []string
	// note says, for the result, how the call was authenticated; it names
	// where the credential came from, never the credential.
	note string
	// refused explains a 401 for the last value.
	refused string
}

// hookCredentials is the credential the pod accepts, read with the user's
// kube credentials (and, for OAuth, got from the token endpoint).
func hookCredentials(ctx context.Context, env *Env, th *v1.TokenHook, hook *podHook) (*hookCredential, error) {
	switch hook.authMode {
	case authModeHeader, authModeBoth:
		return headerCredential(ctx, env, th, hook)
	case authModeOAuth:
		return oauthCredential(ctx, env, th, hook)
	}
	return nil, fmt.Errorf("hook server pod %s/%s runs with --auth-mode=%s, which this kubectl tokenhook does not know (it knows %s, %s and %s): use the plugin of the operator's version",
		hook.pod.Namespace, hook.pod.Name, hook.authMode, authModeHeader, authModeOAuth, authModeBoth)
}

func headerCredential(ctx context.Context, env *Env, th *v1.TokenHook, hook *podHook) (*hookCredential, error) {
	sec, err := getAuthSecret(ctx, env, th, hook)
	if err != nil {
		return nil, err
	}
	values, err := authSecrets(sec)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("the header secret of Secret %s/%s in %s", sec.Namespace, sec.Name, hook.authHeader)
	if hook.authMode == authModeBoth {
		note += " (the pod accepts it and OAuth access tokens while Okta's channel switches)"
	}
	return &hookCredential{
		header: hook.authHeader, values: values, note: note,
		refused: fmt.Sprintf("the auth secret of Secret %s/%s in header %s", sec.Namespace, sec.Name, hook.authHeader),
	}, nil
}

func getAuthSecret(ctx context.Context, env *Env, th *v1.TokenHook, hook *podHook) (*corev1.Secret, error) {
	sec := &corev1.Secret{}
	key := types.NamespacedName{Namespace: th.Namespace, Name: hook.authSecret}
	if err := env.Client.Get(ctx, key, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("TokenHook %s/%s: auth Secret %s not found", th.Namespace, th.Name, key)
		}
		return nil, fmt.Errorf("get auth Secret %s: %w", key, err)
	}
	return sec, nil
}

// authSecrets are the values the pod accepts, from the Secret it mounts:
// "current" first, then "previous" when it differs.
func authSecrets(sec *corev1.Secret) ([]string, error) {
	var values []string
	for _, k := range []string{authKeyCurrent, authKeyPrevious} {
		for _, line := range strings.Split(string(sec.Data[k]), "\n") {
			if v := strings.TrimSpace(line); v != "" && !slices.Contains(values, v) {
				values = append(values, v)
			}
		}
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("auth Secret %s/%s holds no secret in keys %q and %q", sec.Namespace, sec.Name, authKeyCurrent, authKeyPrevious)
	}
	return values, nil
}

// oauthCredential gets an access token as Okta's OAUTH channel does.
func oauthCredential(ctx context.Context, env *Env, th *v1.TokenHook, hook *podHook) (*hookCredential, error) {
	ref := fmt.Sprintf("%s/%s", th.Namespace, th.Name)
	o := th.Spec.HookAuth.OAuth
	switch {
	case th.Spec.HookAuth.Type != v1.HookAuthOAuth || o == nil:
		return nil, fmt.Errorf("hook server pod %s/%s accepts only OAuth access tokens, but TokenHook %s has spec.hookAuth.type %s: "+
			"its switch back to header auth is rolling out; try again once the pods accept the header secret too (kubectl tokenhook status %s)",
			hook.pod.Namespace, hook.pod.Name, ref, firstOf(string(th.Spec.HookAuth.Type), string(v1.HookAuthHeader)), th.Name)
	case o.ClientSecretPost == nil:
		return nil, fmt.Errorf("TokenHook %s: Okta gets the hook's access tokens without a client secret (spec.hookAuth.oauth has no clientSecretPost; "+
			"with privateKeyJWT only Okta holds the private key), so preview cannot get a token its hook server pods accept as client %s; "+
			"see Okta's own call in the HookReachable condition of kubectl tokenhook status %s, or sign in through Okta and read the claim in the tokens",
			ref, o.ClientID, th.Name)
	}
	secret, secretRef, err := clientSecret(ctx, env, th)
	if err != nil {
		return nil, err
	}
	roots, caNote, err := oktaRoots(ctx, env, th, hook)
	if err != nil {
		return nil, err
	}
	tokenURL := th.Spec.OAuthTokenURL()
	token, err := requestToken(ctx, roots, tokenURL, o.ClientID, secret, o.Scope)
	if err != nil {
		var te *tokenError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("get an access token for TokenHook %s from %s as client %s, scope %s: %w%s",
				ref, tokenURL, o.ClientID, o.Scope, err, te.hint(o, secretRef))
		}
		return nil, fmt.Errorf("get an access token for TokenHook %s from %s as client %s%s: %w",
			ref, tokenURL, o.ClientID, caNote, err)
	}
	refused := fmt.Sprintf("the access token of client %s, scope %s, from %s", o.ClientID, o.Scope, tokenURL)
	if d := podCheckDiffers(th, hook); d != "" {
		refused += "; the pod checks " + d + ", which the TokenHook's spec no longer says: its change is rolling out, try again in a minute"
	}
	return &hookCredential{
		header: "Authorization",
		values: []string{bearerScheme + token},
		note: fmt.Sprintf("an OAuth access token of client %s, scope %s, from %s (client_secret_post with Secret %s)",
			o.ClientID, o.Scope, tokenURL, secretRef),
		refused: refused,
	}, nil
}

// clientSecret reads the client secret that clientSecretPost names, and
// says where it is (Secret namespace/name key "k").
func clientSecret(ctx context.Context, env *Env, th *v1.TokenHook) (value, where string, err error) {
	ref := th.Spec.HookAuth.OAuth.ClientSecretPost.SecretRef
	key := firstOf(ref.Key, "secret") // the API's default
	name := types.NamespacedName{Namespace: th.Namespace, Name: ref.Name}
	where = fmt.Sprintf("%s key %q", name, key)
	sec := &corev1.Secret{}
	if err := env.Client.Get(ctx, name, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return "", where, fmt.Errorf("TokenHook %s/%s: %s: Secret %s not found", th.Namespace, th.Name, fieldClientSecret, name)
		}
		return "", where, fmt.Errorf("get the client secret Secret %s (%s): %w", name, fieldClientSecret, err)
	}
	value = strings.TrimSpace(string(sec.Data[key]))
	if value == "" {
		return "", where, fmt.Errorf("TokenHook %s/%s: %s: Secret %s has no non-empty key %q", th.Namespace, th.Name, fieldClientSecret, name, key)
	}
	return value, where, nil
}

// oktaRoots are the CAs the token request trusts: the system's, plus the CA
// the pod trusts for Okta's signing keys (the manager's --okta-ca-file, on
// the auth Secret), so the plugin trusts Okta as the hook servers do. The
// note names the extra CA for a TLS error.
func oktaRoots(ctx context.Context, env *Env, th *v1.TokenHook, hook *podHook) (*x509.CertPool, string, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if hook.oauth.caKey == "" {
		return pool, "", nil
	}
	sec, err := getAuthSecret(ctx, env, th, hook)
	if err != nil {
		return nil, "", err
	}
	if !pool.AppendCertsFromPEM(sec.Data[hook.oauth.caKey]) {
		return nil, "", fmt.Errorf("auth Secret %s/%s holds no PEM certificate in %q, the CA the hook server pods trust for Okta", sec.Namespace, sec.Name, hook.oauth.caKey)
	}
	return pool, fmt.Sprintf(" (trusting the system's CAs and %q of Secret %s/%s)", hook.oauth.caKey, sec.Namespace, sec.Name), nil
}

// tokenError is an OAuth error answer of the token endpoint.
type tokenError struct {
	status            int
	code, description string
}

func (e *tokenError) Error() string {
	if e.code == "" {
		return fmt.Sprintf("the token endpoint answered %d %s", e.status, http.StatusText(e.status))
	}
	return fmt.Sprintf("the token endpoint answered %d %s: %s", e.status, e.code, firstOf(e.description, "no description"))
}

// hint says what to check for the usual errors.
func (e *tokenError) hint(o *v1.HookOAuth, secretRef string) string {
	switch e.code {
	case "invalid_client":
		return fmt.Sprintf(" (check the client secret in Secret %s, which %s names, and that the app authenticates with client_secret_post)", secretRef, fieldClientSecret)
	case "invalid_scope":
		return fmt.Sprintf(" (the authorization server must define scope %s, and an access policy rule must grant it to the app)", o.Scope)
	case "unauthorized_client":
		return " (the app must allow the client credentials grant)"
	}
	return ""
}

// requestToken is the client credentials grant with client_secret_post. Its
// errors hold neither the secret nor a token: the request's URL has no
// query, and an error description is redacted of the secret.
func requestToken(ctx context.Context, roots *x509.CertPool, tokenURL, clientID, secret, scope string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, tokenRequestTimeout)
	defer cancel()
	form := url.Values{
		"grant_type": {"client_credentials"}, "scope": {scope},
		"client_id": {clientID}, "client_secret": {secret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	defer transport.CloseIdleConnections()
	// No redirects: Okta's token endpoint answers, and a redirect would
	// carry the form to wherever it points.
	c := &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxTokenAnswer))
	if err != nil {
		return "", fmt.Errorf("read the token endpoint's answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &e)
		desc := strings.ReplaceAll(e.Description, secret, "[redacted]")
		if len(desc) > 300 {
			desc = desc[:300] + "..."
		}
		return "", &tokenError{status: res.StatusCode, code: e.Error, description: desc}
	}
	var t struct {
		TokenType   string `json:"token_type"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" || !strings.EqualFold(t.TokenType, strings.TrimSpace(bearerScheme)) {
		return "", errors.New("the token endpoint answered 200 without a Bearer access_token")
	}
	return t.AccessToken, nil
}

// podCheckDiffers names what the pod checks in tokens that the spec no
// longer asks for (a change rolling out); "" when they agree or the pod does
// not say.
func podCheckDiffers(th *v1.TokenHook, hook *podHook) string {
	o := th.Spec.HookAuth.OAuth
	var d []string
	for _, c := range []struct{ what, pod, spec string }{
		{"issuer", hook.oauth.issuer, th.Spec.OAuthIssuer()},
		{"client", hook.oauth.clientID, o.ClientID},
		{"scope", hook.oauth.scope, o.Scope},
	} {
		if c.pod != "" && c.pod != c.spec {
			d = append(d, c.what+" "+c.pod)
		}
	}
	return strings.Join(d, ", ")
}
