package oktasim

import (
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
)

// org is the state of one simulated Okta org: inline hooks (secrets included) and authorization
// servers → access policies → rules, each list in Okta's order. It is the model only; the HTTP
// API (api_*.go) and the Go API (testing.go) call its methods, which validate like Okta and keep
// the invariants (unique hook names, contiguous priorities, …). Lookups for token minting read
// the same state: AuthServer, Policies, Rules and Hook.
type org struct {
	mu        sync.Mutex
	now       func() time.Time
	ids       *idSource
	hookLimit int

	hooks   []*Hook // creation order
	servers []*serverState

	keyIDs       *idSource
	hookKeyLimit int
	hookKeys     []*hookKeyState // creation order
}

type serverState struct {
	AuthServer
	policies []*policyState // priority order
	scopes   []string       // custom scopes, besides the OpenID Connect ones every server has
}

type policyState struct {
	Policy
	rules []*Rule // priority order
}

// DefaultAuthServerID is the ID of the authorization server every org starts with.
const DefaultAuthServerID = "default"

// Names of what a new org starts with.
const (
	DefaultPolicyName = "Default Policy"
	DefaultRuleName   = "Default Policy Rule"
)

func newOrg(now func() time.Time, ids *idSource, hookLimit int) *org {
	o := &org{now: now, ids: ids, hookLimit: hookLimit}
	// Like a new org: the default authorization server with its default policy and rule.
	as := o.addServerLocked(AuthServerSpec{
		ID:          DefaultAuthServerID,
		Name:        "default",
		Description: "Default Authorization Server for your Applications",
		Audiences:   []string{"api://default"},
	})
	p := o.insertPolicyLocked(as, PolicySpec{
		Name:        DefaultPolicyName,
		Description: "Default policy description",
		Clients:     []string{"ALL_CLIENTS"},
	})
	o.insertRuleLocked(as, p, RuleSpec{
		Name: DefaultRuleName,
		Conditions: RuleConditions{
			Users:      IncludeExclude{Include: []string{}, Exclude: []string{}},
			Groups:     IncludeExclude{Include: []string{"EVERYONE"}, Exclude: []string{}},
			GrantTypes: []string{"implicit", "client_credentials", "authorization_code", "password"},
			Scopes:     []string{"*"},
		},
	})
	return o
}

func (o *org) timestamp() time.Time {
	return o.now().UTC().Truncate(time.Millisecond)
}

// ---- inline hooks

// Hooks returns all hooks of typ ("" for all) in creation order.
func (o *org) Hooks(typ string) []Hook {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Hook
	for _, h := range o.hooks {
		if typ == "" || h.Type == typ {
			out = append(out, h.clone())
		}
	}
	return out
}

// Hook returns the hook with this ID, secrets included.
func (o *org) Hook(id string) (Hook, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	h := o.hookLocked(id)
	if h == nil {
		return Hook{}, errNotFound(id, "InlineHook")
	}
	return h.clone(), nil
}

func (o *org) hookLocked(id string) *Hook {
	for _, h := range o.hooks {
		if h.ID == id {
			return h
		}
	}
	return nil
}

func (o *org) createHook(spec HookSpec) (Hook, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.validateHookLocked(&spec, nil); err != nil {
		return Hook{}, err
	}
	if len(o.hooks) >= o.hookLimit {
		v := &validation{}
		v.add("inlineHook", "The maximum number of inline hooks (%d) has been reached for this organization.", o.hookLimit)
		return Hook{}, v.err()
	}
	now := o.timestamp()
	h := &Hook{ID: o.ids.id(prefixHook), Status: StatusActive, HookSpec: spec, Created: now, LastUpdated: now}
	o.hooks = append(o.hooks, h)
	return h.clone(), nil
}

func (o *org) replaceHook(id string, spec HookSpec) (Hook, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	h := o.hookLocked(id)
	if h == nil {
		return Hook{}, errNotFound(id, "InlineHook")
	}
	if err := o.validateHookLocked(&spec, h); err != nil {
		return Hook{}, err
	}
	h.HookSpec = spec
	h.LastUpdated = o.timestamp()
	return h.clone(), nil
}

func (o *org) setHookStatus(id, status string) (Hook, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	h := o.hookLocked(id)
	if h == nil {
		return Hook{}, errNotFound(id, "InlineHook")
	}
	if h.Status != status {
		h.Status = status
		h.LastUpdated = o.timestamp()
	}
	return h.clone(), nil
}

// deleteHook deletes an INACTIVE hook that no rule uses.
func (o *org) deleteHook(id string) *Error {
	o.mu.Lock()
	defer o.mu.Unlock()
	h := o.hookLocked(id)
	if h == nil {
		return errNotFound(id, "InlineHook")
	}
	v := &validation{}
	if h.Status != StatusInactive {
		v.add("status", "Only inline hooks with a status of INACTIVE are eligible for deletion.")
	}
	if r := o.ruleUsingHookLocked(id); r != nil {
		v.add("inlineHook", "The inline hook is used by policy rule %s of authorization server %s.", r.ID, r.AuthServerID)
	}
	if err := v.err(); err != nil {
		return err
	}
	o.removeHookLocked(id)
	return nil
}

func (o *org) removeHookLocked(id string) bool {
	n := len(o.hooks)
	o.hooks = slices.DeleteFunc(o.hooks, func(h *Hook) bool { return h.ID == id })
	return len(o.hooks) < n
}

// hookInUse reports whether a rule names the hook, which then cannot be deleted.
func (o *org) hookInUse(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ruleUsingHookLocked(id) != nil
}

func (o *org) ruleUsingHookLocked(hookID string) *Rule {
	for _, s := range o.servers {
		for _, p := range s.policies {
			for _, r := range p.rules {
				if r.Token.InlineHookID == hookID {
					return r
				}
			}
		}
	}
	return nil
}

// ---- authorization servers

// AuthServers returns all authorization servers in creation order.
func (o *org) AuthServers() []AuthServer {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]AuthServer, 0, len(o.servers))
	for _, s := range o.servers {
		out = append(out, s.clone())
	}
	return out
}

// AuthServer returns the authorization server with this ID.
func (o *org) AuthServer(id string) (AuthServer, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, err := o.serverLocked(id)
	if err != nil {
		return AuthServer{}, err
	}
	return s.clone(), nil
}

func (o *org) serverLocked(id string) (*serverState, *Error) {
	for _, s := range o.servers {
		if s.ID == id {
			return s, nil
		}
	}
	return nil, errNotFound(id, "AuthorizationServer")
}

func (o *org) addServer(spec AuthServerSpec) (AuthServer, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := &validation{}
	if spec.Name == "" {
		v.add("name", "The field cannot be left blank")
	}
	if len(spec.Audiences) == 0 {
		v.add("audiences", "The field cannot be left blank")
	}
	if spec.ID != "" {
		if _, err := o.serverLocked(spec.ID); err == nil {
			v.add("id", "An object with this field already exists in the current organization")
		}
	}
	for _, s := range o.servers {
		if s.Name == spec.Name {
			v.add("name", "An object with this field already exists in the current organization")
		}
	}
	if err := v.err(); err != nil {
		return AuthServer{}, err
	}
	return o.addServerLocked(spec).clone(), nil
}

func (o *org) addServerLocked(spec AuthServerSpec) *serverState {
	if spec.ID == "" {
		spec.ID = o.ids.id(prefixAuthServer)
	}
	now := o.timestamp()
	s := &serverState{AuthServer: AuthServer{AuthServerSpec: spec, Status: StatusActive, Created: now, LastUpdated: now}}
	s.Audiences = slices.Clone(spec.Audiences)
	o.servers = append(o.servers, s)
	return s
}

// ---- scopes

// addScope defines a custom scope on an authorization server.
func (o *org) addScope(authServerID, name string) *Error {
	o.mu.Lock()
	defer o.mu.Unlock()
	srv, err := o.serverLocked(authServerID)
	if err != nil {
		return err
	}
	v := &validation{}
	switch {
	case name == "" || strings.IndexFunc(name, unicode.IsSpace) >= 0:
		v.add("name", "A scope name is required and cannot contain whitespace")
	case slices.Contains(oidcScopes, name) || slices.Contains(srv.scopes, name):
		v.add("name", "An object with this field already exists in the current organization")
	}
	if err := v.err(); err != nil {
		return err
	}
	srv.scopes = append(srv.scopes, name)
	return nil
}

// hasUndefinedScope reports whether the authorization server defines some of scopes neither as
// an OpenID Connect scope nor as one of its custom scopes.
func (o *org) hasUndefinedScope(authServerID string, scopes []string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	srv, err := o.serverLocked(authServerID)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(scopes, func(sc string) bool {
		return !slices.Contains(oidcScopes, sc) && !slices.Contains(srv.scopes, sc)
	})
}

// ---- policies

// Policies returns the policies of an authorization server in priority order.
func (o *org) Policies(authServerID string) ([]Policy, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, err := o.serverLocked(authServerID)
	if err != nil {
		return nil, err
	}
	out := make([]Policy, 0, len(s.policies))
	for _, p := range s.policies {
		out = append(out, p.clone())
	}
	return out, nil
}

// Policy returns one policy.
func (o *org) Policy(authServerID, policyID string) (Policy, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, p, err := o.policyLocked(authServerID, policyID)
	if err != nil {
		return Policy{}, err
	}
	return p.clone(), nil
}

func (o *org) policyLocked(authServerID, policyID string) (*serverState, *policyState, *Error) {
	s, err := o.serverLocked(authServerID)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range s.policies {
		if p.ID == policyID {
			return s, p, nil
		}
	}
	return nil, nil, errNotFound(policyID, "AuthorizationServerPolicy")
}

func (o *org) createPolicy(authServerID string, spec PolicySpec) (Policy, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, err := o.serverLocked(authServerID)
	if err != nil {
		return Policy{}, err
	}
	if err := validatePolicy(&spec); err != nil {
		return Policy{}, err
	}
	return o.insertPolicyLocked(s, spec).clone(), nil
}

func (o *org) insertPolicyLocked(s *serverState, spec PolicySpec) *policyState {
	if spec.Status == "" {
		spec.Status = StatusActive
	}
	spec.Clients = slices.Clone(spec.Clients)
	now := o.timestamp()
	p := &policyState{Policy: Policy{ID: o.ids.id(prefixPolicy), AuthServerID: s.ID, PolicySpec: spec, Created: now, LastUpdated: now}}
	s.policies = insertByPriority(s.policies, p, spec.Priority)
	renumberPolicies(s.policies)
	return p
}

func (o *org) replacePolicy(authServerID, policyID string, spec PolicySpec) (Policy, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, p, err := o.policyLocked(authServerID, policyID)
	if err != nil {
		return Policy{}, err
	}
	if err := validatePolicy(&spec); err != nil {
		return Policy{}, err
	}
	want := spec.Priority
	if want == 0 {
		want = p.Priority
	}
	spec.Status = p.Status // changed by lifecycle calls only
	spec.Clients = slices.Clone(spec.Clients)
	p.PolicySpec = spec
	p.LastUpdated = o.timestamp()
	s.policies = moveByPriority(s.policies, p, want)
	renumberPolicies(s.policies)
	return p.clone(), nil
}

func (o *org) setPolicyStatus(authServerID, policyID, status string) *Error {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, p, err := o.policyLocked(authServerID, policyID)
	if err != nil {
		return err
	}
	if p.Status != status {
		p.Status = status
		p.LastUpdated = o.timestamp()
	}
	return nil
}

func (o *org) deletePolicy(authServerID, policyID string) *Error {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, p, err := o.policyLocked(authServerID, policyID)
	if err != nil {
		return err
	}
	if p.System {
		v := &validation{}
		v.add("policy", "System policies cannot be deleted.")
		return v.err()
	}
	s.policies = slices.DeleteFunc(s.policies, func(x *policyState) bool { return x == p })
	renumberPolicies(s.policies)
	return nil
}

// ---- rules

// Rules returns the rules of a policy in priority order.
func (o *org) Rules(authServerID, policyID string) ([]Rule, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, p, err := o.policyLocked(authServerID, policyID)
	if err != nil {
		return nil, err
	}
	out := make([]Rule, 0, len(p.rules))
	for _, r := range p.rules {
		out = append(out, r.clone())
	}
	return out, nil
}

// Rule returns one rule.
func (o *org) Rule(authServerID, policyID, ruleID string) (Rule, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, r, err := o.ruleLocked(authServerID, policyID, ruleID)
	if err != nil {
		return Rule{}, err
	}
	return r.clone(), nil
}

func (o *org) ruleLocked(authServerID, policyID, ruleID string) (*policyState, *Rule, *Error) {
	_, p, err := o.policyLocked(authServerID, policyID)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range p.rules {
		if r.ID == ruleID {
			return p, r, nil
		}
	}
	return nil, nil, errNotFound(ruleID, "AuthorizationServerPolicyRule")
}

func (o *org) createRule(authServerID, policyID string, spec RuleSpec) (Rule, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, p, err := o.policyLocked(authServerID, policyID)
	if err != nil {
		return Rule{}, err
	}
	if err := o.validateRuleLocked(&spec); err != nil {
		return Rule{}, err
	}
	return o.insertRuleLocked(s, p, spec).clone(), nil
}

func (o *org) insertRuleLocked(s *serverState, p *policyState, spec RuleSpec) *Rule {
	if spec.Status == "" {
		spec.Status = StatusActive
	}
	applyLifetimeDefaults(&spec.Token)
	now := o.timestamp()
	r := &Rule{ID: o.ids.id(prefixRule), AuthServerID: s.ID, PolicyID: p.ID, Type: ruleType,
		RuleSpec: spec, Created: now, LastUpdated: now}
	r.RuleSpec = r.clone().RuleSpec // own the slices
	p.rules = insertByPriority(p.rules, r, spec.Priority)
	renumberRules(p.rules)
	return r
}

func (o *org) replaceRule(authServerID, policyID, ruleID string, spec RuleSpec) (Rule, *Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p, r, err := o.ruleLocked(authServerID, policyID, ruleID)
	if err != nil {
		return Rule{}, err
	}
	if err := o.validateRuleLocked(&spec); err != nil {
		return Rule{}, err
	}
	want := spec.Priority
	if want == 0 {
		want = r.Priority
	}
	spec.Status = r.Status // changed by lifecycle calls only
	r.RuleSpec = spec
	r.RuleSpec = r.clone().RuleSpec
	r.LastUpdated = o.timestamp()
	p.rules = moveByPriority(p.rules, r, want)
	renumberRules(p.rules)
	return r.clone(), nil
}

func (o *org) setRuleStatus(authServerID, policyID, ruleID, status string) *Error {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, r, err := o.ruleLocked(authServerID, policyID, ruleID)
	if err != nil {
		return err
	}
	if r.Status != status {
		r.Status = status
		r.LastUpdated = o.timestamp()
	}
	return nil
}

func (o *org) deleteRule(authServerID, policyID, ruleID string) *Error {
	o.mu.Lock()
	defer o.mu.Unlock()
	p, r, err := o.ruleLocked(authServerID, policyID, ruleID)
	if err != nil {
		return err
	}
	if r.System {
		v := &validation{}
		v.add("rule", "System rules cannot be deleted.")
		return v.err()
	}
	p.rules = slices.DeleteFunc(p.rules, func(x *Rule) bool { return x == r })
	renumberRules(p.rules)
	return nil
}

// ---- priorities: Okta keeps them contiguous from 1. A new or moved object takes the wanted
// place and shifts the others down; a priority past the end means last.

func insertByPriority[T any](list []T, item T, want int) []T {
	if want < 1 || want > len(list) {
		return append(list, item)
	}
	return slices.Insert(list, want-1, item)
}

func moveByPriority[T comparable](list []T, item T, want int) []T {
	list = slices.DeleteFunc(list, func(x T) bool { return x == item })
	return insertByPriority(list, item, want)
}

func renumberPolicies(list []*policyState) {
	for i, p := range list {
		p.Priority = i + 1
	}
}

func renumberRules(list []*Rule) {
	for i, r := range list {
		r.Priority = i + 1
	}
}
