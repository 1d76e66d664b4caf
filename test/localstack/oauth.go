package localstack

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokenhook/tokenhook/internal/oktasim"
)

// OAuthCaller is the service app as which Okta gets the access tokens of an
// OAUTH inline hook channel (spec.hookAuth.oauth with clientSecretPost).
type OAuthCaller struct {
	ClientID, ClientSecret string
	// Scope and Audience, when set, replace the OAuth sample's.
	Scope, Audience string
}

// The OAuth sample's scope, which AddOAuthCaller defines.
const sampleHookScope = "tokenhook.call"

// AddOAuthCaller sets the simulated org up for OAuth hook auth the way
// config/samples/tokenhook_oauth.yaml asks an admin to: the custom scope
// tokenhook.call on the authorization server, an API Services app (client
// credentials grant, client_secret_post) with a new client secret, and an
// access policy for that app alone, ahead of the others, whose rule grants
// it the scope. That policy's rule calls no hook, so Okta's token request
// for the hook does not run the hook again. Only with the simulator.
func (s *Stack) AddOAuthCaller(authServerID string) (OAuthCaller, error) {
	if s.Sim == nil {
		return OAuthCaller{}, fmt.Errorf("AddOAuthCaller needs the Okta simulator: in a real org, create the app, scope and rule as config/samples/tokenhook_oauth.yaml says")
	}
	c := OAuthCaller{ClientID: "0oahookcaller" + randomToken()[:8], ClientSecret: randomToken() + randomToken(), Scope: sampleHookScope}
	if err := s.Sim.AddScope(authServerID, c.Scope); err != nil {
		return OAuthCaller{}, fmt.Errorf("add scope %s: %w", c.Scope, err)
	}
	if err := s.Sim.AddClient(oktasim.ClientSpec{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, Name: "tokenhook hook caller",
		GrantTypes: []string{oktasim.GrantClientCredentials}, TokenEndpointAuthMethod: oktasim.ClientAuthSecretPost,
	}); err != nil {
		return OAuthCaller{}, fmt.Errorf("add the hook caller app: %w", err)
	}
	p, err := s.Sim.AddPolicy(authServerID, oktasim.PolicySpec{Name: "tokenhook hook caller", Priority: 1, Clients: []string{c.ClientID}})
	if err != nil {
		return OAuthCaller{}, fmt.Errorf("add the hook caller's policy: %w", err)
	}
	if _, err := s.Sim.AddRule(authServerID, p.ID, oktasim.RuleSpec{Name: "Client credentials for the hook", Conditions: oktasim.RuleConditions{
		GrantTypes: []string{oktasim.GrantClientCredentials}, Scopes: []string{c.Scope},
		Groups: oktasim.IncludeExclude{Include: []string{oktasim.GroupEveryone}},
	}}); err != nil {
		return OAuthCaller{}, fmt.Errorf("add the hook caller's rule: %w", err)
	}
	return c, nil
}

// HookAuthCalls sums, over the running replicas of a TokenHook's hook
// server, its metric tokenhook_hook_authenticated_calls_total by method
// (header, oauth): the calls each way of hook auth let in.
func (s *Stack) HookAuthCalls(ctx context.Context, namespace, tokenHook string) (map[string]float64, error) {
	d := s.Pods(namespace, tokenHook)
	if d == nil {
		return nil, fmt.Errorf("no hook server running for %s/%s", namespace, tokenHook)
	}
	addrs := d.Addrs("metrics")
	if len(addrs) == 0 {
		return nil, fmt.Errorf("the hook server of %s/%s exposes no metrics port", namespace, tokenHook)
	}
	sum := map[string]float64{}
	for _, a := range addrs {
		if err := scrapeAuthCalls(ctx, "http://"+a+"/metrics", sum); err != nil {
			return nil, err
		}
	}
	return sum, nil
}

func scrapeAuthCalls(ctx context.Context, u string, sum map[string]float64) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("scrape hook server metrics: %w", err)
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("scrape hook server metrics: %s answered %d", u, res.StatusCode)
	}
	const prefix = `tokenhook_hook_authenticated_calls_total{method="`
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		method, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return fmt.Errorf("scrape hook server metrics: %q: %w", sc.Text(), err)
		}
		sum[method] += v
	}
	return sc.Err()
}
