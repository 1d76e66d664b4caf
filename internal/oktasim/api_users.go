package oktasim

import "net/http"

// Management API: the user resources a token inline hook event links to
// (data.context.user._links.groups and .factors), so the links Okta sends work here too.

// everyoneGroupName is Okta's built-in group of all users, EVERYONE in rule conditions.
const everyoneGroupName = "Everyone"

type groupOut struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Profile groupProfileOut `json:"profile"`
}

type groupProfileOut struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// listUserGroups serves GET /api/v1/users/{userId}/groups: the built-in Everyone group, then
// the user's groups.
func (s *Sim) listUserGroups(w http.ResponseWriter, _ *http.Request, p params) {
	u, ok := s.mint.dir.user(p["userId"])
	if !ok {
		s.writeError(w, errNotFound(p["userId"], "User"))
		return
	}
	out := []groupOut{{ID: s.mint.everyoneID, Type: "BUILT_IN",
		Profile: groupProfileOut{Name: everyoneGroupName, Description: "All users in your organization"}}}
	for _, g := range s.mint.dir.groupsOf(u.ID) {
		out = append(out, groupOut{ID: g.ID, Type: "OKTA_GROUP", Profile: groupProfileOut{Name: g.Name}})
	}
	s.writeJSON(w, http.StatusOK, out)
}

// listUserFactors serves GET /api/v1/users/{userId}/factors. Simulated users sign in with a
// password alone, which is no factor the Factors API lists.
func (s *Sim) listUserFactors(w http.ResponseWriter, _ *http.Request, p params) {
	if _, ok := s.mint.dir.user(p["userId"]); !ok {
		s.writeError(w, errNotFound(p["userId"], "User"))
		return
	}
	s.writeJSON(w, http.StatusOK, []struct{}{})
}
