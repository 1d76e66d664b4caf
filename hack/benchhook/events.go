package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

// patientLogin is the login of patient i; visitors are never patients.
func patientLogin(i int) string { return fmt.Sprintf("patient.%08d@example.org", i) }
func visitorLogin(i int) string { return fmt.Sprintf("visitor.%08d@example.net", i) }

// patientsCSV is a list of n patients, each with an ID tagged by version.
func patientsCSV(n int, version string, extra ...string) []byte {
	var sb strings.Builder
	sb.Grow(n * 40)
	sb.WriteString("login,patientID\n")
	for i := range n {
		fmt.Fprintf(&sb, "%s,%s-%09d\n", patientLogin(i), version, i)
	}
	for _, login := range extra {
		fmt.Fprintf(&sb, "%s,%s-extra\n", login, version)
	}
	return []byte(sb.String())
}

// okEvent is a realistic token hook event (about 3 KB, the shape of SPEC 1.5
// with the fields a production org adds) for login, minting both tokens.
func okEvent(r *rand.Rand, login string, seq int) []byte {
	userID := fmt.Sprintf("00u%017d", r.Int64N(1e17))
	client := "0oa" + strings.Repeat("x", 17)
	issuer := "https://example.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9"
	e := protocol.Event{
		Source:            issuer + "/v1/authorize",
		EventID:           fmt.Sprintf("evt-%08d-%016x", seq, r.Uint64()),
		EventTime:         "2026-11-26T08:00:00.000Z",
		EventTypeVersion:  "1.0",
		CloudEventVersion: "0.1",
		ContentType:       "application/json",
		EventType:         protocol.EventType,
		Data: protocol.Data{
			Context: protocol.Context{
				Request: &protocol.Request{
					ID:     fmt.Sprintf("req%022x", r.Uint64()),
					Method: "GET",
					URL: protocol.URL{Value: issuer + "/v1/authorize?client_id=" + client +
						"&response_type=code&scope=openid+profile+email+offline_access+patient%2Fread" +
						"&redirect_uri=https%3A%2F%2Fportal.example.org%2Fauthorization-code%2Fcallback" +
						"&state=" + fmt.Sprintf("%016x", r.Uint64()) + "&nonce=" + fmt.Sprintf("%016x", r.Uint64()) +
						"&code_challenge=" + strings.Repeat("q", 43) + "&code_challenge_method=S256"},
					IPAddress: "203.0.113.17",
				},
				Protocol: &protocol.Protocol{
					Type: "OAUTH2.0",
					Request: &protocol.ProtocolRequest{
						ClientID: client, GrantType: "authorization_code",
						RedirectURI:  "https://portal.example.org/authorization-code/callback",
						ResponseMode: "query", ResponseType: "code",
						Scope: "openid profile email offline_access patient/read", State: "state",
					},
					Issuer: &protocol.Issuer{URI: issuer},
					Client: &protocol.Client{ID: client, Name: "Patient Portal", Type: "PUBLIC"},
				},
				Session: &protocol.Session{
					ID: "102" + strings.Repeat("s", 22), UserID: userID, Login: login,
					CreatedAt: "2026-11-26T07:58:00.000Z", ExpiresAt: "2026-11-26T09:58:00.000Z",
					Status: "ACTIVE", LastPasswordVerification: "2026-11-26T07:58:00.000Z",
					AMR: []string{"PASSWORD", "MFA"}, IDP: &protocol.IDP{ID: "00o" + strings.Repeat("i", 17), Type: "OKTA"},
					MFAActive: true,
				},
				User: &protocol.User{
					ID: userID, PasswordChanged: "2026-01-02T03:04:05.000Z",
					Profile: protocol.UserProfile{Login: login, FirstName: "Pat", LastName: "Example",
						Locale: "en_US", TimeZone: "America/Los_Angeles"},
					Links: map[string]protocol.Link{
						"groups":  {Href: "https://example.okta.com/api/v1/users/" + userID + "/groups"},
						"factors": {Href: "https://example.okta.com/api/v1/users/" + userID + "/factors"},
					},
				},
				Policy: &protocol.Policy{ID: "00p" + strings.Repeat("p", 17), Rule: protocol.PolicyRule{ID: "0pr" + strings.Repeat("r", 17)}},
			},
			Identity: &protocol.MintedToken{
				Claims: map[string]any{
					"sub": userID, "name": "Pat Example", "email": login, "ver": 1, "iss": issuer,
					"aud": client, "jti": "ID." + strings.Repeat("j", 43), "amr": []string{"pwd", "mfa"},
					"idp": "00o" + strings.Repeat("i", 17), "nonce": "n", "preferred_username": login,
					"auth_time": 1795680000, "at_hash": strings.Repeat("h", 22),
				},
				Token: protocol.TokenInfo{Lifetime: protocol.Lifetime{Expiration: 3600}},
			},
			Access: &protocol.MintedToken{
				Claims: map[string]any{
					"ver": 1, "jti": "AT." + strings.Repeat("a", 43), "iss": issuer, "aud": "api://patients",
					"cid": client, "uid": userID, "sub": login, "scp": []string{"openid", "profile", "email", "offline_access", "patient/read"},
					"auth_time": 1795680000,
				},
				Token: protocol.TokenInfo{Lifetime: protocol.Lifetime{Expiration: 3600}},
				Scopes: map[string]protocol.Scope{
					"openid":         {ID: "scp" + strings.Repeat("1", 17), Action: "GRANT"},
					"profile":        {ID: "scp" + strings.Repeat("2", 17), Action: "GRANT"},
					"email":          {ID: "scp" + strings.Repeat("3", 17), Action: "GRANT"},
					"offline_access": {ID: "scp" + strings.Repeat("4", 17), Action: "GRANT"},
					"patient/read":   {ID: "scp" + strings.Repeat("5", 17), Action: "GRANT"},
				},
			},
			RefreshToken: &protocol.RefreshToken{JTI: "oar" + strings.Repeat("o", 17)},
		},
	}
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	return b
}

// request is one pre-rendered HTTP request and the statuses it may get.
type request struct {
	raw        []byte
	wantStatus [2]int // any of these; 0 is no status
}

func (r request) accepts(status int) bool {
	return status == r.wantStatus[0] || status == r.wantStatus[1]
}

func renderRequest(addr, path, secret string, body []byte, want ...int) request {
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Okta Hooks\r\nAccept: application/json\r\n"+
		"Content-Type: application/json\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n",
		path, addr, secret, len(body))
	r := request{raw: append([]byte(head), body...)}
	copy(r.wantStatus[:], want)
	return r
}

// hookRequests returns n events, half from patients of a list of size patients,
// for the server at addr; the trivial server gets the same bodies.
func hookRequests(n, patients int, addr, trivialAddr, secret string) (hook, trivial []request, avgBody int) {
	r := rand.New(rand.NewPCG(1, 2))
	total := 0
	for i := range n {
		login, want := visitorLogin(i), 204
		if i%2 == 0 {
			login, want = patientLogin(r.IntN(patients)), 200
		}
		body := okEvent(r, login, i)
		total += len(body)
		hook = append(hook, renderRequest(addr, "/tokenHook", secret, body, want))
		trivial = append(trivial, renderRequest(trivialAddr, "/tokenHook", secret, body, 200))
	}
	return hook, trivial, total / n
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(3, 4)) }
