package kubectlplugin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

// PreviewRequest asks a TokenHook's running hook server what it answers
// Okta for one login.
type PreviewRequest struct {
	Namespace, Name string
	// Login is the Okta login the synthetic event is for.
	Login string
	// Tokens are the tokens Okta mints in the synthetic event (ID token first).
	Tokens []protocol.Token
	// TLSServerName is the name the hook server's certificate must hold;
	// "" means the Service's, <name>-hookserver.<namespace>.svc, or the
	// external URL's host when the TLS Secret's certificate holds only that
	// (see tlsServerName).
	TLSServerName string
	// InsecureSkipTLSVerify accepts any certificate from the hook server.
	InsecureSkipTLSVerify bool
}

// Outcome says what Okta would do with the hook server's answer.
type Outcome string

// Outcomes of a preview.
const (
	// OutcomePatient: the tokens get the commands' claims.
	OutcomePatient Outcome = "patient"
	// OutcomeNotPatient: the login is not in the patient list; tokens are
	// issued unchanged.
	OutcomeNotPatient Outcome = "notPatient"
	// OutcomeNoTokenToPatch: none of the minted tokens is one the hook adds
	// its claim to; tokens are issued unchanged.
	OutcomeNoTokenToPatch Outcome = "noTokenToPatch"
	// OutcomeDenied: deny mode refuses the login; Okta issues no token.
	OutcomeDenied Outcome = "denied"
)

// PreviewResult is a hook server's answer to a preview, and where it came from.
type PreviewResult struct {
	// TokenHook is namespace/name.
	TokenHook string `json:"tokenHook"`
	// Pod is the hook server pod that answered.
	Pod   string `json:"pod"`
	Login string `json:"login"`
	// Tokens are the tokens the event minted; ClaimTokens those the hook
	// server adds Claim to.
	Tokens      []protocol.Token `json:"tokens"`
	Claim       string           `json:"claim"`
	ClaimTokens []protocol.Token `json:"claimTokens"`
	// TLS says how the hook server's certificate was checked.
	TLS string `json:"tls"`
	// Auth says how the call was authenticated (where the credential came
	// from; never the credential).
	Auth    string  `json:"auth"`
	Outcome Outcome `json:"outcome"`
	// Claims are the claims each minted token gets, by token (empty: none).
	Claims map[protocol.Token]map[string]any `json:"claims"`
	// Error is the error object of a denied login.
	Error *protocol.Error `json:"error,omitempty"`
	// Commands are the commands as the hook server returned them.
	Commands []protocol.Command `json:"commands,omitempty"`
}

// hookCallTimeout bounds one call to the hook server (Okta waits 3 s; the
// port-forward adds its own round trips).
const hookCallTimeout = 15 * time.Second

// Preview posts a synthetic token hook event for req.Login, as Okta would send
// it, to a ready pod of the TokenHook's hook server, authenticated as the pod
// accepts (the header secret, or with OAuth hook auth an access token got as
// Okta gets it: see auth.go), and returns the answer. The secret and the token
// never leave this function, not even in an error; the login is only in the
// event and the result.
func Preview(ctx context.Context, env *Env, req PreviewRequest) (*PreviewResult, error) {
	switch {
	case req.Login == "":
		return nil, errors.New("preview: no login")
	case len(req.Tokens) == 0:
		return nil, errors.New("preview: no token to mint")
	}
	th, err := getTokenHook(ctx, env.Client, req.Namespace, req.Name)
	if err != nil {
		return nil, err
	}
	dep, err := getDeployment(ctx, env.Client, th)
	if err != nil {
		return nil, err
	}
	if dep == nil {
		return nil, fmt.Errorf("TokenHook %s/%s has no hook server Deployment %s/%s (yet): see kubectl tokenhook status %s",
			th.Namespace, th.Name, th.Namespace, hookServerName(th.Name), th.Name)
	}
	pod, err := readyPod(ctx, env.Client, th, dep)
	if err != nil {
		return nil, err
	}
	hook, err := hookOf(th, pod)
	if err != nil {
		return nil, err
	}
	tlsConfig, tlsNote, err := hookTLS(ctx, env, th, hook, req)
	if err != nil {
		return nil, err
	}
	// After the TLS check, which needs no network: a token request goes to Okta.
	cred, err := hookCredentials(ctx, env, th, hook)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(previewEvent(th, req.Login, req.Tokens, time.Now()))
	if err != nil {
		return nil, fmt.Errorf("encode preview event: %w", err)
	}

	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return env.Dialer.DialPod(ctx, pod.Namespace, pod.Name, hook.port)
		},
		TLSClientConfig: tlsConfig,
	}
	defer transport.CloseIdleConnections()
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(hookServerName(th.Name), strconv.Itoa(int(hook.port))), Path: hook.path}
	if hook.tls {
		u.Scheme = "https"
	}
	podName := pod.Namespace + "/" + pod.Name

	var status int
	var answer []byte
	for i, value := range cred.values {
		status, answer, err = postEvent(ctx, transport, u.String(), cred.header, value, body)
		if err != nil {
			return nil, callError(podName, hook, err)
		}
		// The pods may not have the newest secret yet (a rotation under way,
		// or kubelet still refreshing the mounted files): try the other one.
		if status != http.StatusUnauthorized || i == len(cred.values)-1 {
			break
		}
	}

	res := &PreviewResult{
		TokenHook:   th.Namespace + "/" + th.Name,
		Pod:         podName,
		Login:       req.Login,
		Tokens:      req.Tokens,
		Claim:       hook.claim,
		ClaimTokens: hook.tokens,
		TLS:         tlsNote,
		Auth:        cred.note,
	}
	if err := res.read(status, answer, hook, cred); err != nil {
		return nil, err
	}
	return res, nil
}

// read fills in the outcome and claims from the hook server's answer.
func (res *PreviewResult) read(status int, answer []byte, hook *podHook, cred *hookCredential) error {
	res.Claims = map[protocol.Token]map[string]any{}
	for _, t := range res.Tokens {
		res.Claims[t] = map[string]any{}
	}
	switch status {
	case http.StatusOK:
		var r protocol.Response
		if err := json.Unmarshal(answer, &r); err != nil {
			return fmt.Errorf("hook server pod %s answered 200 with a body that is not a token hook response: %w", res.Pod, err)
		}
		if r.Error != nil {
			res.Outcome, res.Error = OutcomeDenied, r.Error
			return nil
		}
		res.Outcome, res.Commands = OutcomePatient, r.Commands
		for _, c := range r.Commands {
			t, ok := protocol.TokenForPatch(c.Type)
			if !ok || res.Claims[t] == nil {
				return fmt.Errorf("hook server pod %s answered a command of type %q for a token this event does not mint: Okta would reject the whole patch", res.Pod, c.Type)
			}
			for _, op := range c.Value {
				if name, ok := strings.CutPrefix(op.Path, "/claims/"); ok && (op.Op == protocol.OpAdd || op.Op == protocol.OpReplace) {
					res.Claims[t][name] = op.Value
				}
			}
		}
		return nil
	case http.StatusNoContent:
		res.Outcome = OutcomeNotPatient
		if !slices.ContainsFunc(res.Tokens, func(t protocol.Token) bool { return slices.Contains(hook.tokens, t) }) {
			res.Outcome = OutcomeNoTokenToPatch
		}
		return nil
	case http.StatusUnauthorized:
		if hook.authMode == authModeOAuth {
			return fmt.Errorf("hook server pod %s refused %s (%s)", res.Pod, cred.refused, errorSummary(answer))
		}
		return fmt.Errorf("hook server pod %s refused %s (%s); "+
			"if the secret is being rotated, the pod may not have the new one yet: try again in a minute",
			res.Pod, cred.refused, errorSummary(answer))
	case http.StatusServiceUnavailable:
		return fmt.Errorf("hook server pod %s is not ready to answer: %s", res.Pod, errorSummary(answer))
	}
	return fmt.Errorf("hook server pod %s answered %d %s: %s", res.Pod, status, http.StatusText(status), errorSummary(answer))
}

func postEvent(ctx context.Context, rt http.RoundTripper, u, header, secret string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, hookCallTimeout)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	r.Header.Set(header, secret)
	res, err := rt.RoundTrip(r)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return 0, nil, err
	}
	return res.StatusCode, b, nil
}

// callError explains a failed call; net/http's errors quote the URL, which
// holds no secret.
func callError(pod string, hook *podHook, err error) error {
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &hostErr):
		return fmt.Errorf("call hook server pod %s: its certificate does not hold the name checked: %w (set --hook-server-name to one it holds)", pod, err)
	case errors.As(err, &authErr), errors.As(err, &certErr):
		return fmt.Errorf("call hook server pod %s: its certificate is not signed by the CA of Secret %s/%s: %w", pod, hook.pod.Namespace, hook.tlsSecret, err)
	}
	return fmt.Errorf("call hook server pod %s port %d through a port-forward: %w", pod, hook.port, err)
}

// errorSummary is the errorSummary of a hook server's error answer.
func errorSummary(body []byte) string {
	var e struct {
		Code    string `json:"errorCode"`
		Summary string `json:"errorSummary"`
	}
	if json.Unmarshal(body, &e) != nil || e.Summary == "" {
		return "no error message"
	}
	if e.Code != "" {
		return e.Code + ": " + e.Summary
	}
	return e.Summary
}

// hookTLS is the TLS client configuration for the hook server, and a note on
// how its certificate is checked. The port-forward ends on the pod's
// loopback, so no address can be checked: the certificate is verified for
// tlsServerName's name against the CA of the Secret the pod serves from: its
// ca.crt (cert-manager's CA), or else its tls.crt (a self-signed certificate
// is its own root).
func hookTLS(ctx context.Context, env *Env, th *v1.TokenHook, hook *podHook, req PreviewRequest) (*tls.Config, string, error) {
	if !hook.tls {
		return nil, "none: the hook server serves plain HTTP (inside the port-forward's tunnel)", nil
	}
	if req.InsecureSkipTLSVerify {
		return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}, //nolint:gosec // asked for with --insecure-skip-hook-tls-verify
			"certificate not verified (--insecure-skip-hook-tls-verify)", nil
	}
	if hook.tlsSecret == "" {
		return nil, "", fmt.Errorf("pod %s/%s serves HTTPS but mounts no TLS Secret to verify it with; pass --insecure-skip-hook-tls-verify to call it anyway",
			hook.pod.Namespace, hook.pod.Name)
	}
	sec := &corev1.Secret{}
	key := types.NamespacedName{Namespace: th.Namespace, Name: hook.tlsSecret}
	if err := env.Client.Get(ctx, key, sec); err != nil {
		return nil, "", fmt.Errorf("get TLS Secret %s to verify the hook server's certificate: %w; pass --insecure-skip-hook-tls-verify to call it without verifying", key, err)
	}
	caFrom := caKey
	caPEM := sec.Data[caKey]
	if len(bytes.TrimSpace(caPEM)) == 0 {
		caFrom, caPEM = corev1.TLSCertKey, sec.Data[corev1.TLSCertKey]
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, "", fmt.Errorf("TLS Secret %s holds no PEM certificate in %q", key, caFrom)
	}
	name, why := tlsServerName(th, req, sec)
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: name},
		fmt.Sprintf("certificate verified for %s%s against %s of Secret %s", name, why, caFrom, key), nil
}

// tlsServerName is the name the hook server's certificate is verified for,
// and why when it is not the one asked for or the default: --hook-server-name
// if given; else the Service's DNS name, the name of a certificate for the
// hop from an ingress that re-encrypts; but when the TLS Secret's certificate
// does not hold that name and holds the host of spec.hookServer.externalURL
// (TLS passed through to the pods, so that Okta itself checks that name),
// that host. Either way the certificate must chain to the Secret's CA.
func tlsServerName(th *v1.TokenHook, req PreviewRequest, sec *corev1.Secret) (name, why string) {
	if req.TLSServerName != "" {
		return req.TLSServerName, ""
	}
	svc := serviceDNSName(th)
	u, err := url.Parse(th.Spec.HookServer.ExternalURL)
	if err != nil || u.Hostname() == "" || strings.EqualFold(u.Hostname(), svc) {
		return svc, ""
	}
	block, _ := pem.Decode(sec.Data[corev1.TLSCertKey])
	if block == nil {
		return svc, ""
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil || leaf.VerifyHostname(svc) == nil || leaf.VerifyHostname(u.Hostname()) != nil {
		return svc, ""
	}
	return u.Hostname(), fmt.Sprintf(" (the external URL's host: the certificate does not hold %s)", svc)
}

// Synthetic values of the preview event: nothing in it is real but the login,
// the org and the TokenHook's Okta IDs.
const (
	previewClientID   = "kubectl-tokenhook-preview"
	previewUserID     = "00upreview0000000000"
	previewEventIDPfx = "kubectl-tokenhook-preview-"
)

// previewEvent is the event Okta sends when it mints tokens for login in the
// TokenHook's authorization server, shaped like Okta's documented example
// (hookserver/testdata/token-hook-request.json). Its eventId, which the hook
// server logs, says it is a preview and holds nothing about the user.
func previewEvent(th *v1.TokenHook, login string, tokens []protocol.Token, now time.Time) *protocol.Event {
	asID := firstOf(th.Spec.Okta.AuthorizationServerID, "default")
	issuer := strings.TrimSuffix(th.Spec.Okta.OrgURL, "/") + "/oauth2/" + asID
	scope := "openid profile"
	if !slices.Contains(tokens, protocol.IDToken) {
		scope = "profile"
	}
	ev := &protocol.Event{
		Source:            issuer + "/v1/token",
		EventID:           previewEventIDPfx + rand.Text(),
		EventTime:         now.UTC().Format("2006-01-02T15:04:05.000Z"),
		EventTypeVersion:  "1.0",
		CloudEventVersion: "0.1",
		ContentType:       "application/json",
		EventType:         protocol.EventType,
		Data: protocol.Data{Context: protocol.Context{
			Request: &protocol.Request{Method: http.MethodPost, URL: protocol.URL{Value: issuer + "/v1/token"}, IPAddress: "127.0.0.1"},
			Protocol: &protocol.Protocol{
				Type: "OAUTH2.0",
				Request: &protocol.ProtocolRequest{
					ClientID: previewClientID, GrantType: "authorization_code", Scope: scope, ResponseType: "code",
				},
				Issuer: &protocol.Issuer{URI: issuer},
				Client: &protocol.Client{ID: previewClientID, Name: "kubectl tokenhook preview", Type: "PUBLIC"},
			},
			Session: &protocol.Session{UserID: previewUserID, Login: login, Status: "ACTIVE", AMR: []string{"PASSWORD"}},
			User:    &protocol.User{ID: previewUserID, Profile: protocol.UserProfile{Login: login}},
			Policy:  &protocol.Policy{ID: th.Status.PolicyID, Rule: protocol.PolicyRule{ID: th.Status.RuleID}},
		}},
	}
	lifetime := protocol.TokenInfo{Lifetime: protocol.Lifetime{Expiration: 3600}}
	if slices.Contains(tokens, protocol.IDToken) {
		ev.Data.Identity = &protocol.MintedToken{Token: lifetime, Claims: map[string]any{
			"sub": previewUserID, "ver": 1, "iss": issuer, "aud": previewClientID,
			"jti": "ID.preview", "amr": []string{"pwd"}, "auth_time": now.Unix(),
			"preferred_username": login,
		}}
	}
	if slices.Contains(tokens, protocol.AccessToken) {
		ev.Data.Access = &protocol.MintedToken{Token: lifetime, Claims: map[string]any{
			"ver": 1, "jti": "AT.preview", "iss": issuer, "aud": "api://" + asID,
			"cid": previewClientID, "uid": previewUserID, "sub": login,
		}, Scopes: map[string]protocol.Scope{"profile": {Action: "GRANT"}}}
	}
	return ev
}

// WritePreview prints a preview: as text, one line per minted token, or as
// the JSON of the result.
func WritePreview(w io.Writer, res *PreviewResult, output string) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "TokenHook %s, hook server pod %s, login %s\n", res.TokenHook, res.Pod, res.Login)
	fmt.Fprintf(&b, "TLS: %s\n", res.TLS)
	fmt.Fprintf(&b, "Auth: %s\n", res.Auth)
	switch res.Outcome {
	case OutcomeDenied:
		summary := ""
		if res.Error != nil {
			summary = res.Error.ErrorSummary
		}
		fmt.Fprintf(&b, "denied: Okta issues no token; the client gets error_description %q\n", summary)
	case OutcomeNotPatient:
		b.WriteString("no claim: not a patient\n")
	case OutcomeNoTokenToPatch:
		fmt.Fprintf(&b, "no claim: the hook server adds %s to the %s only, and this login mints the %s (see --token)\n",
			res.Claim, tokenList(res.ClaimTokens), tokenList(res.Tokens))
	default:
		width := 0
		for _, t := range res.Tokens {
			width = max(width, len(t.String()))
		}
		for _, t := range res.Tokens {
			fmt.Fprintf(&b, "%-*s  %s\n", width+1, t.String()+":", claimsText(res.Claims[t]))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func claimsText(claims map[string]any) string {
	if len(claims) == 0 {
		return "no claim"
	}
	names := make([]string, 0, len(claims))
	for n := range claims {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		v, err := json.Marshal(claims[n])
		if err != nil {
			v = []byte(fmt.Sprint(claims[n]))
		}
		parts = append(parts, n+": "+string(v))
	}
	return strings.Join(parts, ", ")
}

// tokenList names tokens for a sentence: "ID token", "ID token and access token".
func tokenList(ts []protocol.Token) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.String()
	}
	return strings.Join(names, " and ")
}

// parseTokens reads --token: id, access or both (or a list such as "id,access").
func parseTokens(s string) ([]protocol.Token, error) {
	if strings.EqualFold(strings.TrimSpace(s), "both") {
		return []protocol.Token{protocol.IDToken, protocol.AccessToken}, nil
	}
	ts, err := protocol.ParseTokens(s)
	if err != nil {
		return nil, fmt.Errorf("--token: %w (or both)", err)
	}
	return ts, nil
}
