// Command demo runs the reference scenario for a person, on one machine
// with no cluster and no Okta account: it starts the local control plane,
// the Okta simulator, the operator and the hook server, applies
// config/samples/, logs in as a patient and as a visitor, and prints the two
// ID tokens side by side with the patientID claim highlighted.
//
// With -oauth, Okta authenticates its hook calls with OAuth 2.0 access tokens
// instead of a header secret: the simulated org gets a service app, its
// scope and a policy rule for it, and config/samples/tokenhook_oauth.yaml is
// applied in place of the header sample.
//
// With OKTA_ORG_URL and OKTA_API_TOKEN set, the operator registers the hook
// in that real Okta org instead (see -help).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/oktasim"
	"github.com/tokenhook/tokenhook/test/localstack"
)

const (
	namespace = "tokenhook-demo"
	clientID  = "clinic-portal"
	password  = "demo-password-1"
	patient   = "ada.lovelace@example.com" // a patient in config/samples
	visitor   = "sam.visitor@example.com"  // not a patient
)

func main() {
	keep := flag.Bool("keep", false, "keep everything running after the logins, and print a kubeconfig to explore with kubectl")
	verbose := flag.Bool("v", false, "show the operator's and the hook server's logs")
	oauth := flag.Bool("oauth", false, "OAuth 2.0 hook auth: apply config/samples/tokenhook_oauth.yaml, so that Okta calls the hook with an access token it gets as a service app, not with a header secret")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, `Usage: go run ./hack/demo [-keep] [-v] [-oauth]

Runs the tokenhook scenario locally against the Okta simulator.

With -oauth, the hook calls are authenticated with OAuth 2.0 (spec.hookAuth.type
OAuth): the simulated org gets the scope tokenhook.call, a service app with the
client credentials grant (client_secret_post) and a policy rule granting it the
scope; the app's client secret goes in a Secret; config/samples/tokenhook_oauth.yaml
is applied in place of the header sample. The demo then shows that the hook
server let the logins' hook calls in by their access tokens.

To register against a real Okta org instead, set OKTA_ORG_URL and OKTA_API_TOKEN,
and TOKENHOOK_EXTERNAL_URL to a public https URL that forwards to this machine's
hook ingress (printed at start). The sample TokenHook then links the "Default
Policy Rule" of the "default" authorization server in that org; deleting it
(Ctrl-C with -keep, or at the end) removes the hook again. With -oauth, first
create in that org what config/samples/tokenhook_oauth.yaml lists (the scope,
an API Services app with a client secret and client_secret_post, a policy rule
granting it the scope) and set:
  TOKENHOOK_OAUTH_CLIENT_ID      the app's client ID (required)
  TOKENHOOK_OAUTH_CLIENT_SECRET  its client secret (required; it goes only into
                                 a Secret of the local control plane, and Okta)
  TOKENHOOK_OAUTH_SCOPE          the scope (default tokenhook.call)
  TOKENHOOK_OAUTH_AUDIENCE       the authorization server's audience (default
                                 api://default)

Flags:
`)
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*keep, *verbose, *oauth); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(keep, verbose, oauth bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := localstack.Options{
		Progress: os.Stderr, OktaOrgURL: os.Getenv("OKTA_ORG_URL"), OktaAPIToken: os.Getenv("OKTA_API_TOKEN"),
		ExternalURL: os.Getenv("TOKENHOOK_EXTERNAL_URL"),
	}
	if verbose {
		opts.ProcessLog = os.Stderr
	}
	if (opts.OktaOrgURL == "") != (opts.OktaAPIToken == "") {
		return fmt.Errorf("set both OKTA_ORG_URL and OKTA_API_TOKEN, or neither")
	}
	real := opts.OktaOrgURL != ""
	if real && os.Getenv("TOKENHOOK_EXTERNAL_URL") == "" {
		return fmt.Errorf("with a real Okta org, set TOKENHOOK_EXTERNAL_URL: Okta must reach the hook over public https")
	}
	var caller localstack.OAuthCaller
	if real && oauth {
		var err error
		if caller, err = oauthCallerFromEnv(os.Getenv); err != nil {
			return err
		}
	}
	start := time.Now()
	stack, err := localstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer stack.Stop()
	k8s := stack.Client

	if !real {
		step("adding a patient, a visitor and the clinic portal app to the simulated org")
		for _, login := range []string{patient, visitor} {
			first, last := nameOf(login)
			if _, err := stack.Sim.AddUser(oktasim.UserSpec{Login: login, Password: password, FirstName: first, LastName: last, Email: login}); err != nil {
				return err
			}
		}
		if err := stack.Sim.AddClient(oktasim.ClientSpec{ClientID: clientID, Name: "Clinic portal", GrantTypes: []string{"password", "refresh_token"}}); err != nil {
			return err
		}
		// The default rule, as in a new org, does not allow refresh tokens.
		if err := allowRefreshTokens(stack.Sim); err != nil {
			return err
		}
		if oauth {
			step("setting the simulated org up for OAuth hook auth: scope tokenhook.call, a service app with the client credentials grant (client_secret_post), a policy rule granting it the scope")
			if caller, err = stack.AddOAuthCaller(oktasim.DefaultAuthServerID); err != nil {
				return err
			}
		}
	}

	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	var th *v1.TokenHook
	if oauth {
		step("applying config/samples/ with tokenhook_oauth.yaml in place of the header sample (client ID " + caller.ClientID + ", its client secret in a Secret) in namespace " + namespace)
		th, err = stack.ApplyOAuthSamples(ctx, namespace, caller)
	} else {
		step("applying config/samples/ in namespace " + namespace)
		th, err = stack.ApplySamples(ctx, namespace)
	}
	if err != nil {
		return err
	}
	defer cleanUp(k8s, th)

	step("waiting for the TokenHook to be Ready")
	if err := waitReady(ctx, k8s, th); err != nil {
		return err
	}
	got := &v1.TokenHook{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(th), got); err != nil {
		return err
	}
	step(fmt.Sprintf("Ready in %s: inline hook %s, policy rule %s, %d patients, %d hook server replicas",
		time.Since(start).Round(time.Second), got.Status.InlineHookID, got.Status.RuleID, got.Status.Patients, got.Status.ReadyReplicas))
	step("hook auth: " + hookAuthSummary(stack.Sim, got))
	authBefore, err := stack.HookAuthCalls(ctx, namespace, got.Name)
	if err != nil {
		return err
	}
	if real {
		// No logins here: Okta's own call (HookReachable) went the same way.
		step("hook calls the hook server let in so far: " + authCallsText(authBefore, nil))
	}

	if !real {
		hookCallsBefore := len(stack.Sim.HookCalls())
		step("logging in as a patient and as a visitor (password grant, tokens verified with the org's JWKS)")
		a, err := stack.LoginOffline(ctx, "default", clientID, patient, password)
		if err != nil {
			return fmt.Errorf("patient login: %w", err)
		}
		b, err := stack.Login(ctx, "default", clientID, visitor, password)
		if err != nil {
			return fmt.Errorf("visitor login: %w", err)
		}
		sideBySide(os.Stdout, "patient "+patient, a.IDToken, "visitor "+visitor, b.IDToken, got.Spec.Claim.Name)
		if a.IDToken[got.Spec.Claim.Name] == nil || b.IDToken[got.Spec.Claim.Name] != nil {
			return fmt.Errorf("unexpected result: only the patient's ID token should carry %s", got.Spec.Claim.Name)
		}
		step("refreshing the patient's tokens (refresh_token grant: Okta calls the hook again)")
		if a.RefreshToken == "" {
			return fmt.Errorf("the patient's login got no refresh token")
		}
		r, err := stack.Refresh(ctx, "default", clientID, a.RefreshToken)
		if err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
		if r.IDToken[got.Spec.Claim.Name] != a.IDToken[got.Spec.Claim.Name] {
			return fmt.Errorf("after the refresh, %s = %v, want %v", got.Spec.Claim.Name, r.IDToken[got.Spec.Claim.Name], a.IDToken[got.Spec.Claim.Name])
		}
		step(fmt.Sprintf("refreshed ID token of %s still carries %s: %v", patient, got.Spec.Claim.Name, r.IDToken[got.Spec.Claim.Name]))

		authAfter, err := stack.HookAuthCalls(ctx, namespace, got.Name)
		if err != nil {
			return err
		}
		step("hook calls of the three logins, as the hook server let them in (tokenhook_hook_authenticated_calls_total): " + authCallsText(authAfter, authBefore))
		if err := checkAuthCalls(oauth, authAfter, authBefore, 3); err != nil {
			return err
		}
		if oauth {
			calls, fetched := hookCallsSince(stack.Sim, got.Status.InlineHookID, hookCallsBefore)
			how := "all with the access token it had got at the token endpoint before (it reuses one until it expires)"
			if fetched > 0 {
				how = fmt.Sprintf("for %d of them it first got a new access token at the token endpoint, and reused it for the others", fetched)
			}
			step(fmt.Sprintf("the simulator's log: Okta made %d hook calls over the OAUTH channel, %s", calls, how))
		}
	}

	// The hook servers ran here as local processes (internal/podrunner),
	// which needs no root and no container runtime.
	step("the same scenario on a real node (kubelet, containerd, kube-proxy, helm install of the image): make test-node, as root; see the README")
	if keep {
		path := filepath.Join(os.TempDir(), "tokenhook-demo.kubeconfig")
		if err := os.WriteFile(path, stack.Kubeconfig, 0o600); err != nil {
			return err
		}
		fmt.Printf("\nEverything keeps running. Explore with:\n  export KUBECONFIG=%s\n  kubectl get tokenhooks -n %s -o wide\n", path, namespace)
		if !real {
			fmt.Printf("Okta simulator: %s (API token %s; users %s and %s, password %q, client %s)\n",
				stack.OrgURL, stack.APIToken, patient, visitor, password, clientID)
			if o := got.Spec.HookAuth.OAuth; o != nil && o.ClientSecretPost != nil {
				fmt.Printf("Okta's hook calls authenticate as app %s (its client secret: Secret %s/%s)\n", o.ClientID, namespace, o.ClientSecretPost.SecretRef.Name)
			}
		}
		fmt.Println("Ctrl-C stops it all.")
		<-ctx.Done()
	}
	return nil
}

func waitReady(ctx context.Context, k8s client.Client, th *v1.TokenHook) error {
	deadline := time.Now().Add(3 * time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		got := &v1.TokenHook{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(th), got); err == nil {
			if meta.IsStatusConditionTrue(got.Status.Conditions, v1.ConditionReady) {
				return nil
			}
			if c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionReady); c != nil && c.Message != last {
				last = c.Message
				step("  not yet: " + c.Message)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return fmt.Errorf("the TokenHook was not Ready within 3 minutes (last: %s)", last)
}

// allowRefreshTokens lets the default policy rule issue refresh tokens, as
// an admin would tick "Refresh Token" in the rule's grant types.
func allowRefreshTokens(sim *oktasim.Sim) error {
	policy, err := sim.PolicyByName(oktasim.DefaultAuthServerID, oktasim.DefaultPolicyName)
	if err != nil {
		return err
	}
	rule, err := sim.RuleByName(oktasim.DefaultAuthServerID, policy.ID, oktasim.DefaultRuleName)
	if err != nil {
		return err
	}
	_, err = sim.UpdateRule(oktasim.DefaultAuthServerID, policy.ID, rule.ID, func(r *oktasim.Rule) {
		r.Conditions.GrantTypes = append(r.Conditions.GrantTypes, oktasim.GrantRefreshToken)
	})
	return err
}

// oauthCallerFromEnv is the service app of a real org, for -oauth.
func oauthCallerFromEnv(getenv func(string) string) (localstack.OAuthCaller, error) {
	c := localstack.OAuthCaller{
		ClientID:     strings.TrimSpace(getenv("TOKENHOOK_OAUTH_CLIENT_ID")),
		ClientSecret: strings.TrimSpace(getenv("TOKENHOOK_OAUTH_CLIENT_SECRET")),
		Scope:        strings.TrimSpace(getenv("TOKENHOOK_OAUTH_SCOPE")),
		Audience:     strings.TrimSpace(getenv("TOKENHOOK_OAUTH_AUDIENCE")),
	}
	var missing []string
	if c.ClientID == "" {
		missing = append(missing, "TOKENHOOK_OAUTH_CLIENT_ID")
	}
	if c.ClientSecret == "" {
		missing = append(missing, "TOKENHOOK_OAUTH_CLIENT_SECRET")
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("with a real Okta org, -oauth needs %s: the client ID and client secret of an API Services app "+
			"(client credentials, client_secret_post) that a policy rule grants the scope (see config/samples/tokenhook_oauth.yaml and -help)",
			strings.Join(missing, " and "))
	}
	return c, nil
}

// hookAuthSummary says how Okta authenticates the TokenHook's hook calls,
// and, with the simulator, the channel Okta's inline hook has.
func hookAuthSummary(sim *oktasim.Sim, th *v1.TokenHook) string {
	var b strings.Builder
	if o := th.Spec.HookAuth.OAuth; th.Spec.HookAuth.Type == v1.HookAuthOAuth && o != nil {
		fmt.Fprintf(&b, "OAuth (spec.hookAuth): client %s, scope %s, audience %s, token URL %s", o.ClientID, o.Scope, o.Audience, th.Spec.OAuthTokenURL())
		if o.ClientSecretPost != nil {
			fmt.Fprintf(&b, ", client_secret_post with Secret %s", o.ClientSecretPost.SecretRef.Name)
		}
	} else {
		fmt.Fprintf(&b, "Header (spec.hookAuth): a shared secret in the %s header", th.Spec.AuthHeader)
	}
	if sim != nil {
		if h, err := sim.Hook(th.Status.InlineHookID); err == nil {
			fmt.Fprintf(&b, "; Okta's inline hook has channel %s", h.Channel.Type)
			if h.Channel.OAuth != nil {
				fmt.Fprintf(&b, " (authType %s)", h.Channel.OAuth.AuthType)
			}
		}
	}
	return b.String()
}

// authCallsText shows calls let in by method, as increments since before
// when before is not nil.
func authCallsText(after, before map[string]float64) string {
	methods := []string{"oauth", "header"}
	for m := range after {
		if !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
	}
	parts := make([]string, 0, len(methods))
	for _, m := range methods {
		if before == nil {
			parts = append(parts, fmt.Sprintf("%s %g", m, after[m]))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s +%g", m, after[m]-before[m]))
	}
	return strings.Join(parts, ", ")
}

// checkAuthCalls checks that at least n calls came in the way the demo set
// up (oauth, or header), and none the other way.
func checkAuthCalls(oauth bool, after, before map[string]float64, n int) error {
	want, other := "header", "oauth"
	if oauth {
		want, other = other, want
	}
	if got := after[want] - before[want]; got < float64(n) {
		return fmt.Errorf("unexpected: the hook server let in %g calls by %s for %d hook calls", got, want, n)
	}
	if got := after[other] - before[other]; got > 0 {
		return fmt.Errorf("unexpected: the hook server let in %g calls by %s; the demo set up %s", got, other, want)
	}
	return nil
}

// hookCallsSince counts the simulator's calls of hook from the since'th on,
// and those for which Okta got a new access token first.
func hookCallsSince(sim *oktasim.Sim, hookID string, since int) (calls, fetched int) {
	all := sim.HookCalls()
	for _, c := range all[min(since, len(all)):] {
		if c.HookID != hookID {
			continue
		}
		calls++
		if c.TokenFetched {
			fetched++
		}
	}
	return calls, fetched
}

// cleanUp deletes the TokenHook so the operator removes the hook from Okta.
func cleanUp(k8s client.Client, th *v1.TokenHook) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	step("deleting the TokenHook (the operator unlinks the rule and deletes the inline hook)")
	if err := k8s.Delete(ctx, th); client.IgnoreNotFound(err) != nil {
		step("delete: " + err.Error())
		return
	}
	for ctx.Err() == nil {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(th), &v1.TokenHook{}); client.IgnoreNotFound(err) == nil && err != nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sideBySide prints two tokens' claims in two columns, the claim in color.
func sideBySide(w io.Writer, leftTitle string, left map[string]any, rightTitle string, right map[string]any, claim string) {
	color := isTerminal()
	// mark highlights the claim, padded to the column width.
	mark := func(s string, width int) string {
		if color {
			return "\033[1;32m" + s + "\033[0m" + strings.Repeat(" ", max(0, width-len(s)))
		}
		s = fmt.Sprintf("%-*s", width-4, s)
		return s + " <=="
	}
	lines := func(m map[string]any) []string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make([]string, 0, len(keys))
		for _, k := range keys {
			v, _ := json.Marshal(m[k])
			line := fmt.Sprintf("%s: %s", k, v)
			if len(line) > 44 {
				line = line[:41] + "..."
			}
			out = append(out, line)
		}
		return out
	}
	l, r := lines(left), lines(right)
	const width = 46
	fmt.Fprintf(w, "\n%-*s | %s\n%s-+-%s\n", width, "ID token of "+leftTitle, "ID token of "+rightTitle,
		strings.Repeat("-", width), strings.Repeat("-", width))
	for i := range max(len(l), len(r)) {
		var a, b string
		if i < len(l) {
			a = l[i]
		}
		if i < len(r) {
			b = r[i]
		}
		pa := fmt.Sprintf("%-*s", width, a)
		if strings.HasPrefix(a, claim+":") {
			pa = mark(a, width)
		}
		fmt.Fprintf(w, "%s | %s\n", pa, b)
	}
	fmt.Fprintln(w)
}

func isTerminal() bool {
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == ""
}

func nameOf(login string) (first, last string) {
	local, _, _ := strings.Cut(login, "@")
	first, last, _ = strings.Cut(local, ".")
	up := func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return up(first), up(last)
}

func step(msg string) { fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), msg) }
