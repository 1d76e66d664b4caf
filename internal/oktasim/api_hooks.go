package oktasim

import (
	"encoding/json"
	"fmt"
	"io"
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
		out = append(out, s.hookBody(r, h))
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
	s.writeResult(w, http.StatusOK, s.hookBody(r, h), err)
}

func (s *Sim) getHook(w http.ResponseWriter, r *http.Request, p params) {
	h, err := s.org.Hook(p["inlineHookId"])
	s.writeResult(w, http.StatusOK, s.hookBody(r, h), err)
}

func (s *Sim) replaceHook(w http.ResponseWriter, r *http.Request, p params) {
	var in hookIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	h, err := s.org.replaceHook(p["inlineHookId"], in.spec())
	s.writeResult(w, http.StatusOK, s.hookBody(r, h), err)
}

// hookBody is the API representation of a hook.
func (s *Sim) hookBody(r *http.Request, h Hook) hookOut {
	return renderHook(baseURL(r), h, s.org.hookInUse(h.ID))
}

func (s *Sim) deleteHook(w http.ResponseWriter, _ *http.Request, p params) {
	s.noContent(w, s.org.deleteHook(p["inlineHookId"]))
}

func (s *Sim) activateHook(w http.ResponseWriter, r *http.Request, p params) {
	h, err := s.org.setHookStatus(p["inlineHookId"], StatusActive)
	s.writeResult(w, http.StatusOK, s.hookBody(r, h), err)
}

func (s *Sim) deactivateHook(w http.ResponseWriter, r *http.Request, p params) {
	h, err := s.org.setHookStatus(p["inlineHookId"], StatusInactive)
	s.writeResult(w, http.StatusOK, s.hookBody(r, h), err)
}

// executeHook is POST /api/v1/inlineHooks/{id}/execute (SPEC 4): Okta sends the body through the
// hook's channel (with an access token for an OAUTH channel) as it is, waits 3 s, retries once after a timeout or an error answer, and relays
// a 200's JSON; otherwise it answers 400 saying what failed. An INACTIVE hook "blocks execution"
// and advertises no execute link; the error for executing one anyway is unconfirmed.
func (s *Sim) executeHook(w http.ResponseWriter, r *http.Request, p params) {
	h, apiErr := s.org.Hook(p["inlineHookId"])
	if apiErr != nil {
		s.writeError(w, apiErr)
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	var probe map[string]json.RawMessage
	if err != nil || len(payload) > maxBody || json.Unmarshal(payload, &probe) != nil || probe == nil {
		s.writeError(w, errMalformed())
		return
	}
	if h.Status != StatusActive {
		v := &validation{}
		v.add("status", "The inline hook %s is INACTIVE; activate it to execute it.", h.ID)
		s.writeError(w, v.err())
		return
	}
	var failure string
	for attempt := 0; attempt < 2; attempt++ {
		answer, err := s.postPayload(r.Context(), baseURL(r), h, payload)
		status, body := answer.status, answer.body
		switch {
		case err != nil:
			failure = err.Error()
			continue // a timeout or a failed connection: one retry
		case status < 200 || status > 299:
			failure = fmt.Sprintf("the external service answered %d", status)
			continue // an error answer: one retry
		case status != http.StatusOK:
			failure = fmt.Sprintf("the external service answered %d, not 200 with a response", status)
		default:
			if _, perr := parseHookResponse(body); perr != nil {
				failure = perr.Error()
				break
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
			return
		}
		break
	}
	v := &validation{}
	v.add("inlineHook", "Failed to call the inline hook %s at %s: %s", h.ID, h.Channel.URI, failure)
	s.writeError(w, v.err())
}
