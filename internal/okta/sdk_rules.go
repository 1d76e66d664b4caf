package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	oktasdk "github.com/okta/okta-sdk-golang/v2/okta"
)

func (c *sdkClient) ListPolicies(ctx context.Context, authServerID string) ([]*Policy, error) {
	if err := checkID("authorization server", authServerID); err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	policies, resp, err := c.sdk.AuthorizationServer.ListAuthorizationServerPolicies(ctx, authServerID)
	if err != nil {
		return nil, fmt.Errorf("list policies of authorization server %s: %w", authServerID, fromSDK(resp, err))
	}
	for resp != nil && resp.HasNextPage() {
		var page []*oktasdk.AuthorizationServerPolicy
		if resp, err = resp.Next(ctx, &page); err != nil {
			return nil, fmt.Errorf("list policies of authorization server %s: %w", authServerID, fromSDK(resp, err))
		}
		policies = append(policies, page...)
	}
	out := make([]*Policy, 0, len(policies))
	for _, p := range policies {
		if p != nil {
			out = append(out, &Policy{ID: p.Id, Name: p.Name})
		}
	}
	return out, nil
}

func (c *sdkClient) FindPolicy(ctx context.Context, authServerID, nameOrID string) (*Policy, error) {
	policies, err := c.ListPolicies(ctx, authServerID)
	if err != nil {
		return nil, fmt.Errorf("find policy %q: %w", nameOrID, err)
	}
	return PickPolicy(policies, authServerID, nameOrID)
}

// PickPolicy picks a policy from a listing by ID or, failing that, by exact name, with
// FindPolicy's errors.
func PickPolicy(policies []*Policy, authServerID, nameOrID string) (*Policy, error) {
	var byName []*Policy
	for _, p := range policies {
		if p.ID == nameOrID {
			return p, nil
		}
		if p.Name == nameOrID {
			byName = append(byName, p)
		}
	}
	switch len(byName) {
	case 0:
		return nil, fmt.Errorf("find policy %q in authorization server %s: %w", nameOrID, authServerID, ErrNotFound)
	case 1:
		return byName[0], nil
	}
	return nil, fmt.Errorf("find policy %q in authorization server %s: %d policies have this name: %w",
		nameOrID, authServerID, len(byName), ErrAmbiguous)
}

// Rules go through the SDK's request executor with raw JSON instead of the SDK's
// AuthorizationServerPolicyRule: a round trip through that type drops every field SDK v2 does not
// model and every empty include/exclude array, and a full-object PUT would then erase them.

func rulesPath(authServerID, policyID string) string {
	return "/api/v1/authorizationServers/" + authServerID + "/policies/" + policyID + "/rules"
}

func (c *sdkClient) ListPolicyRules(ctx context.Context, authServerID, policyID string) ([]*PolicyRule, error) {
	if err := checkIDs(authServerID, policyID); err != nil {
		return nil, fmt.Errorf("list policy rules: %w", err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	raws, err := c.listRaw(ctx, rulesPath(authServerID, policyID))
	if err != nil {
		return nil, fmt.Errorf("list rules of policy %s: %w", policyID, err)
	}
	out := make([]*PolicyRule, 0, len(raws))
	for _, raw := range raws {
		r, err := parseRule(policyID, raw)
		if err != nil {
			return nil, fmt.Errorf("list rules of policy %s: %w", policyID, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (c *sdkClient) FindPolicyRule(ctx context.Context, authServerID, policyID, nameOrID string) (*PolicyRule, error) {
	rules, err := c.ListPolicyRules(ctx, authServerID, policyID)
	if err != nil {
		return nil, fmt.Errorf("find policy rule %q: %w", nameOrID, err)
	}
	return PickPolicyRule(rules, policyID, nameOrID)
}

// PickPolicyRule picks a rule from a listing by ID or, failing that, by exact name, with
// FindPolicyRule's errors.
func PickPolicyRule(rules []*PolicyRule, policyID, nameOrID string) (*PolicyRule, error) {
	var byName []*PolicyRule
	for _, r := range rules {
		if r.ID == nameOrID {
			return r, nil
		}
		if r.Name == nameOrID {
			byName = append(byName, r)
		}
	}
	switch len(byName) {
	case 0:
		return nil, fmt.Errorf("find rule %q in policy %s: %w", nameOrID, policyID, ErrNotFound)
	case 1:
		return byName[0], nil
	}
	return nil, fmt.Errorf("find rule %q in policy %s: %d rules have this name: %w", nameOrID, policyID, len(byName), ErrAmbiguous)
}

func (c *sdkClient) GetPolicyRule(ctx context.Context, authServerID, policyID, ruleID string) (*PolicyRule, error) {
	if err := checkIDs(authServerID, policyID, ruleID); err != nil {
		return nil, fmt.Errorf("get policy rule: %w", err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, rulesPath(authServerID, policyID)+"/"+ruleID, nil, &raw); err != nil {
		return nil, fmt.Errorf("get policy rule %s: %w", ruleID, err)
	}
	r, err := parseRule(policyID, raw)
	if err != nil {
		return nil, fmt.Errorf("get policy rule %s: %w", ruleID, err)
	}
	return r, nil
}

func (c *sdkClient) UpdatePolicyRule(ctx context.Context, authServerID string, r *PolicyRule) (*PolicyRule, error) {
	if r == nil || len(r.raw) == 0 {
		return nil, fmt.Errorf("update policy rule: %w: the rule was not read from Okta", ErrInvalid)
	}
	if err := checkIDs(authServerID, r.PolicyID, r.ID); err != nil {
		return nil, fmt.Errorf("update policy rule: %w", err)
	}
	body, err := withInlineHook(r.raw, r.InlineHookID)
	if err != nil {
		return nil, fmt.Errorf("update policy rule %s: %w", r.ID, err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPut, rulesPath(authServerID, r.PolicyID)+"/"+r.ID, body, &raw); err != nil {
		return nil, fmt.Errorf("update policy rule %s: %w", r.ID, err)
	}
	updated, err := parseRule(r.PolicyID, raw)
	if err != nil {
		return nil, fmt.Errorf("update policy rule %s: %w", r.ID, err)
	}
	return updated, nil
}

func checkIDs(authServerID, policyID string, ruleID ...string) error {
	if err := checkID("authorization server", authServerID); err != nil {
		return err
	}
	if err := checkID("policy", policyID); err != nil {
		return err
	}
	for _, id := range ruleID {
		if err := checkID("policy rule", id); err != nil {
			return err
		}
	}
	return nil
}

// do sends one request through the SDK's executor: its auth, 429 retries and error decoding.
// A []byte body is sent as is.
func (c *sdkClient) do(ctx context.Context, method, path string, body []byte, out any) error {
	_, err := c.doResp(ctx, method, path, body, out)
	return err
}

func (c *sdkClient) doResp(ctx context.Context, method, path string, body []byte, out any) (*oktasdk.Response, error) {
	re := c.sdk.CloneRequestExecutor()
	var b any
	if body != nil {
		b = body
	}
	req, err := re.WithAccept("application/json").WithContentType("application/json").NewRequest(method, path, b)
	if err != nil {
		return nil, fromSDK(nil, err)
	}
	resp, err := re.Do(ctx, req, out)
	if err != nil {
		return resp, fromSDK(resp, err)
	}
	return resp, nil
}

func (c *sdkClient) listRaw(ctx context.Context, path string) ([]json.RawMessage, error) {
	var all []json.RawMessage
	resp, err := c.doResp(ctx, http.MethodGet, path, nil, &all)
	if err != nil {
		return nil, err
	}
	for resp != nil && resp.HasNextPage() {
		var page []json.RawMessage
		if resp, err = resp.Next(ctx, &page); err != nil {
			return nil, fromSDK(resp, err)
		}
		all = append(all, page...)
	}
	return all, nil
}

// ruleView is the part of a rule this package reads.
type ruleView struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Actions *struct {
		Token *struct {
			InlineHook *struct {
				ID string `json:"id"`
			} `json:"inlineHook"`
		} `json:"token"`
	} `json:"actions"`
}

func parseRule(policyID string, raw json.RawMessage) (*PolicyRule, error) {
	var v ruleView
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("decode policy rule: %w", err)
	}
	if v.ID == "" {
		return nil, errors.New("decode policy rule: no id in Okta's answer")
	}
	r := &PolicyRule{ID: v.ID, PolicyID: policyID, Name: v.Name, Status: v.Status, raw: raw}
	if v.Actions != nil && v.Actions.Token != nil && v.Actions.Token.InlineHook != nil {
		r.InlineHookID = v.Actions.Token.InlineHook.ID
	}
	return r, nil
}

// withInlineHook returns the rule with actions.token.inlineHook set to hookID, or removed when
// hookID is "", and every other field byte for byte as read. Read-only HAL links are dropped.
func withInlineHook(raw json.RawMessage, hookID string) ([]byte, error) {
	var rule map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rule); err != nil || rule == nil {
		return nil, fmt.Errorf("%w: stored policy rule is not a JSON object", ErrInvalid)
	}
	actions, err := object(rule["actions"])
	if err != nil {
		return nil, fmt.Errorf("%w: actions: %w", ErrInvalid, err)
	}
	token, err := object(actions["token"])
	if err != nil {
		return nil, fmt.Errorf("%w: actions.token: %w", ErrInvalid, err)
	}
	if hookID == "" {
		delete(token, "inlineHook")
	} else {
		hook, err := json.Marshal(struct {
			ID string `json:"id"`
		}{hookID})
		if err != nil {
			return nil, err
		}
		token["inlineHook"] = hook
	}
	if actions["token"], err = json.Marshal(token); err != nil {
		return nil, err
	}
	if rule["actions"], err = json.Marshal(actions); err != nil {
		return nil, err
	}
	delete(rule, "_links")
	delete(rule, "_embedded")
	return json.Marshal(rule)
}

// object decodes a JSON object, treating absent and null as empty.
func object(raw json.RawMessage) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(raw) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil { // JSON null
		m = map[string]json.RawMessage{}
	}
	return m, nil
}
