package oktasim

import "net/http"

// Management API: /api/v1/authorizationServers, their policies and rules. Creates answer 201,
// lifecycle calls 204 with no body, as Okta does.

func (s *Sim) listAuthServers(w http.ResponseWriter, r *http.Request, _ params) {
	out := []authServerOut{}
	for _, as := range s.org.AuthServers() {
		sk, err := s.mint.keys.get(as.ID)
		if err != nil {
			s.serverError(w, err)
			return
		}
		out = append(out, renderAuthServer(baseURL(r), as, sk.credentials()))
	}
	s.writeJSON(w, http.StatusOK, out)
}

// getAuthServer answers the server with credentials.signing, whose kid is the key its JWKS
// serves and its tokens carry.
func (s *Sim) getAuthServer(w http.ResponseWriter, r *http.Request, p params) {
	as, apiErr := s.org.AuthServer(p["authServerId"])
	if apiErr != nil {
		s.writeError(w, apiErr)
		return
	}
	sk, err := s.mint.keys.get(as.ID)
	if err != nil {
		s.serverError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, renderAuthServer(baseURL(r), as, sk.credentials()))
}

// ---- policies

func (s *Sim) listPolicies(w http.ResponseWriter, r *http.Request, p params) {
	policies, err := s.org.Policies(p["authServerId"])
	out := []policyOut{}
	for _, pol := range policies {
		out = append(out, renderPolicy(baseURL(r), pol))
	}
	s.writeResult(w, http.StatusOK, out, err)
}

func (s *Sim) createPolicy(w http.ResponseWriter, r *http.Request, p params) {
	var in policyIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	spec, err := in.spec()
	if err != nil {
		s.writeError(w, err)
		return
	}
	pol, err := s.org.createPolicy(p["authServerId"], spec)
	s.writeResult(w, http.StatusCreated, renderPolicy(baseURL(r), pol), err)
}

func (s *Sim) getPolicy(w http.ResponseWriter, r *http.Request, p params) {
	pol, err := s.org.Policy(p["authServerId"], p["policyId"])
	s.writeResult(w, http.StatusOK, renderPolicy(baseURL(r), pol), err)
}

func (s *Sim) replacePolicy(w http.ResponseWriter, r *http.Request, p params) {
	var in policyIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	spec, err := in.spec()
	if err != nil {
		s.writeError(w, err)
		return
	}
	pol, err := s.org.replacePolicy(p["authServerId"], p["policyId"], spec)
	s.writeResult(w, http.StatusOK, renderPolicy(baseURL(r), pol), err)
}

func (s *Sim) deletePolicy(w http.ResponseWriter, _ *http.Request, p params) {
	s.noContent(w, s.org.deletePolicy(p["authServerId"], p["policyId"]))
}

func (s *Sim) activatePolicy(w http.ResponseWriter, _ *http.Request, p params) {
	s.noContent(w, s.org.setPolicyStatus(p["authServerId"], p["policyId"], StatusActive))
}

func (s *Sim) deactivatePolicy(w http.ResponseWriter, _ *http.Request, p params) {
	s.noContent(w, s.org.setPolicyStatus(p["authServerId"], p["policyId"], StatusInactive))
}

// ---- rules

func (s *Sim) listRules(w http.ResponseWriter, r *http.Request, p params) {
	rules, err := s.org.Rules(p["authServerId"], p["policyId"])
	out := []ruleOut{}
	for _, rule := range rules {
		out = append(out, renderRule(baseURL(r), rule))
	}
	s.writeResult(w, http.StatusOK, out, err)
}

func (s *Sim) createRule(w http.ResponseWriter, r *http.Request, p params) {
	var in ruleIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	spec, err := in.spec()
	if err != nil {
		s.writeError(w, err)
		return
	}
	rule, err := s.org.createRule(p["authServerId"], p["policyId"], spec)
	s.writeResult(w, http.StatusCreated, renderRule(baseURL(r), rule), err)
}

func (s *Sim) getRule(w http.ResponseWriter, r *http.Request, p params) {
	rule, err := s.org.Rule(p["authServerId"], p["policyId"], p["ruleId"])
	s.writeResult(w, http.StatusOK, renderRule(baseURL(r), rule), err)
}

// replaceRule is a full-object PUT: what the body leaves out is reset (lifetimes to their
// defaults, the inline hook removed); status and priority are kept unless given.
func (s *Sim) replaceRule(w http.ResponseWriter, r *http.Request, p params) {
	var in ruleIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	spec, err := in.spec()
	if err != nil {
		s.writeError(w, err)
		return
	}
	rule, err := s.org.replaceRule(p["authServerId"], p["policyId"], p["ruleId"], spec)
	s.writeResult(w, http.StatusOK, renderRule(baseURL(r), rule), err)
}

func (s *Sim) deleteRule(w http.ResponseWriter, _ *http.Request, p params) {
	s.noContent(w, s.org.deleteRule(p["authServerId"], p["policyId"], p["ruleId"]))
}

func (s *Sim) activateRule(w http.ResponseWriter, _ *http.Request, p params) {
	s.noContent(w, s.org.setRuleStatus(p["authServerId"], p["policyId"], p["ruleId"], StatusActive))
}

func (s *Sim) deactivateRule(w http.ResponseWriter, _ *http.Request, p params) {
	s.noContent(w, s.org.setRuleStatus(p["authServerId"], p["policyId"], p["ruleId"], StatusInactive))
}
