package oktasim

import (
	"net/http"
	"slices"
)

// Management API: /api/v1/inlineHooks. Responses never carry authScheme.value or clientSecret.

func (s *Sim) listHooks(w http.ResponseWriter, r *http.Request, _ params) {
	typ := r.URL.Query().Get("type")
	if typ != "" && !slices.Contains(hookTypes, typ) {
		v := &validation{}
		v.add("type", "Invalid inline hook type: %s", typ)
		s.writeError(w, v.err())
		return
	}
	out := []hookOut{}
	for _, h := range s.org.Hooks(typ) {
		out = append(out, renderHook(baseURL(r), h))
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Sim) createHook(w http.ResponseWriter, r *http.Request, _ params) {
	var in hookIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	h, err := s.org.createHook(in.spec())
	// Okta answers a create with 200, not 201.
	s.writeResult(w, http.StatusOK, renderHook(baseURL(r), h), err)
}

func (s *Sim) getHook(w http.ResponseWriter, r *http.Request, p params) {
	h, err := s.org.Hook(p["inlineHookId"])
	s.writeResult(w, http.StatusOK, renderHook(baseURL(r), h), err)
}

func (s *Sim) replaceHook(w http.ResponseWriter, r *http.Request, p params) {
	var in hookIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	h, err := s.org.replaceHook(p["inlineHookId"], in.spec())
	s.writeResult(w, http.StatusOK, renderHook(baseURL(r), h), err)
}

func (s *Sim) deleteHook(w http.ResponseWriter, _ *http.Request, p params) {
	s.noContent(w, s.org.deleteHook(p["inlineHookId"]))
}

func (s *Sim) activateHook(w http.ResponseWriter, r *http.Request, p params) {
	h, err := s.org.setHookStatus(p["inlineHookId"], StatusActive)
	s.writeResult(w, http.StatusOK, renderHook(baseURL(r), h), err)
}

func (s *Sim) deactivateHook(w http.ResponseWriter, r *http.Request, p params) {
	h, err := s.org.setHookStatus(p["inlineHookId"], StatusInactive)
	s.writeResult(w, http.StatusOK, renderHook(baseURL(r), h), err)
}
