package oktasim

import (
	"fmt"
	"slices"
)

// The Go API below lets tests arrange the org and inspect it. What it returns are copies, and
// hooks include their stored secrets, which the HTTP API never returns. Errors are *Error with
// the status and code the HTTP API would answer.

// Hook returns the stored hook, secret included.
func (s *Sim) Hook(id string) (Hook, error) {
	h, err := s.org.Hook(id)
	return h, asError(err)
}

// Hooks returns all stored hooks, secrets included, in creation order.
func (s *Sim) Hooks() []Hook { return s.org.Hooks("") }

// AddHook creates a hook directly, as an admin would in the Okta console, e.g. a foreign hook
// that exists before the operator runs. It is validated like the API's create and is ACTIVE.
func (s *Sim) AddHook(spec HookSpec) (Hook, error) {
	h, err := s.org.createHook(spec)
	return h, asError(err)
}

// UpdateHook edits a stored hook in place, as an admin would in the Okta console: fn may change
// anything but the ID and the creation time, including Status and the secret. The result is
// validated like the API's replace.
func (s *Sim) UpdateHook(id string, fn func(*Hook)) (Hook, error) {
	o := s.org
	o.mu.Lock()
	defer o.mu.Unlock()
	h := o.hookLocked(id)
	if h == nil {
		return Hook{}, errNotFound(id, "InlineHook")
	}
	edited := h.clone()
	fn(&edited)
	edited.ID, edited.Created, edited.Type = h.ID, h.Created, h.Type
	if edited.Status != StatusActive && edited.Status != StatusInactive {
		return Hook{}, fmt.Errorf("oktasim: hook status must be ACTIVE or INACTIVE, got %q", edited.Status)
	}
	if err := o.validateHookLocked(&edited.HookSpec, h); err != nil {
		return Hook{}, err
	}
	edited.LastUpdated = o.timestamp()
	*h = edited.clone()
	return edited, nil
}

// RemoveHook deletes a hook whatever its status and whether rules use it (they keep pointing at
// the missing ID), to simulate a hook that vanished behind the operator's back. It reports
// whether the hook existed.
func (s *Sim) RemoveHook(id string) bool {
	s.org.mu.Lock()
	defer s.org.mu.Unlock()
	return s.org.removeHookLocked(id)
}

// AuthServer returns an authorization server.
func (s *Sim) AuthServer(id string) (AuthServer, error) {
	as, err := s.org.AuthServer(id)
	return as, asError(err)
}

// AddAuthServer adds a custom authorization server, with no policies.
func (s *Sim) AddAuthServer(spec AuthServerSpec) (AuthServer, error) {
	as, err := s.org.addServer(spec)
	return as, asError(err)
}

// AddScope defines a custom scope on an authorization server, as an admin would in the Okta
// console. Token requests may name only the OpenID Connect scopes and the custom scopes
// defined; any other is invalid_scope.
func (s *Sim) AddScope(authServerID, name string) error {
	return asError(s.org.addScope(authServerID, name))
}

// Policies returns the policies of an authorization server in priority order.
func (s *Sim) Policies(authServerID string) ([]Policy, error) {
	p, err := s.org.Policies(authServerID)
	return p, asError(err)
}

// Policy returns one policy.
func (s *Sim) Policy(authServerID, policyID string) (Policy, error) {
	p, err := s.org.Policy(authServerID, policyID)
	return p, asError(err)
}

// PolicyByName returns the first policy with this name.
func (s *Sim) PolicyByName(authServerID, name string) (Policy, error) {
	policies, err := s.org.Policies(authServerID)
	if err != nil {
		return Policy{}, err
	}
	i := slices.IndexFunc(policies, func(p Policy) bool { return p.Name == name })
	if i < 0 {
		return Policy{}, errNotFound(name, "AuthorizationServerPolicy")
	}
	return policies[i], nil
}

// AddPolicy adds a policy; an empty Description defaults to the name.
func (s *Sim) AddPolicy(authServerID string, spec PolicySpec) (Policy, error) {
	if spec.Description == "" {
		spec.Description = spec.Name
	}
	p, err := s.org.createPolicy(authServerID, spec)
	return p, asError(err)
}

// Rules returns the rules of a policy in priority order.
func (s *Sim) Rules(authServerID, policyID string) ([]Rule, error) {
	r, err := s.org.Rules(authServerID, policyID)
	return r, asError(err)
}

// Rule returns one rule.
func (s *Sim) Rule(authServerID, policyID, ruleID string) (Rule, error) {
	r, err := s.org.Rule(authServerID, policyID, ruleID)
	return r, asError(err)
}

// RuleByName returns the first rule of a policy with this name.
func (s *Sim) RuleByName(authServerID, policyID, name string) (Rule, error) {
	rules, err := s.org.Rules(authServerID, policyID)
	if err != nil {
		return Rule{}, err
	}
	i := slices.IndexFunc(rules, func(r Rule) bool { return r.Name == name })
	if i < 0 {
		return Rule{}, errNotFound(name, "AuthorizationServerPolicyRule")
	}
	return rules[i], nil
}

// AddRule adds a rule; zero lifetimes get Okta's defaults.
func (s *Sim) AddRule(authServerID, policyID string, spec RuleSpec) (Rule, error) {
	applyLifetimeDefaults(&spec.Token)
	r, err := s.org.createRule(authServerID, policyID, spec)
	return r, asError(err)
}

// UpdateRule edits a stored rule in place, as an admin would in the Okta console: fn may change
// the RuleSpec, including Status and Priority (the others are renumbered). The result is
// validated like the API's replace.
func (s *Sim) UpdateRule(authServerID, policyID, ruleID string, fn func(*Rule)) (Rule, error) {
	o := s.org
	o.mu.Lock()
	defer o.mu.Unlock()
	p, r, err := o.ruleLocked(authServerID, policyID, ruleID)
	if err != nil {
		return Rule{}, err
	}
	edited := r.clone()
	fn(&edited)
	spec := edited.RuleSpec
	if spec.Status != StatusActive && spec.Status != StatusInactive {
		return Rule{}, fmt.Errorf("oktasim: rule status must be ACTIVE or INACTIVE, got %q", spec.Status)
	}
	applyLifetimeDefaults(&spec.Token)
	if err := o.validateRuleLocked(&spec); err != nil {
		return Rule{}, err
	}
	want := spec.Priority
	if want == 0 {
		want = r.Priority
	}
	r.RuleSpec = spec
	r.RuleSpec = r.clone().RuleSpec
	r.LastUpdated = o.timestamp()
	p.rules = moveByPriority(p.rules, r, want)
	renumberRules(p.rules)
	return r.clone(), nil
}

// asError keeps a nil *Error from becoming a non-nil error.
func asError(err *Error) error {
	if err == nil {
		return nil
	}
	return err
}
