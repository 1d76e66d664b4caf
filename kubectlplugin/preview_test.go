package kubectlplugin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/hookserver"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
	"github.com/tokenhook/tokenhook/internal/selfsigned"
)

const (
	hookSecret  = "Bearer s3cret-the-pods-accept"
	patientsCSV = "login,patientID\nada@example.com,P-1001\ngrace@example.com,\"P\"\"<&>\"\n"
)

// hookServer is a real hook server (package hookserver, as cmd/hookserver
// runs it) serving TLS on loopback, with the certificate a TLS Secret holds.
type hookServer struct {
	addr string
	cert selfsigned.Cert
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startHookServer starts a hook server whose certificate holds hosts (by
// default the Service's name, patients-hookserver.clinic.svc).
func startHookServer(t *testing.T, cfg hookConfig, deny bool, hosts ...string) *hookServer {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"patients-hookserver.clinic.svc"}
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, err := selfsigned.New(selfsigned.Options{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := protocol.ParseTokens(cfg.tokens)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	opts := hookserver.Options{
		Path:            "/tokenHook",
		PatientsFile:    write("patients.csv", []byte(patientsCSV)),
		AuthHeader:      cfg.authHeader,
		AuthSecretFiles: []string{write("current", []byte(hookSecret+"\n"))},
		Claim:           cfg.claim,
		Tokens:          tokens,
		DenyNonPatients: deny,
		TLSCertFile:     write("tls.crt", cert.CertPEM),
		TLSKeyFile:      write("tls.key", cert.KeyPEM),
		Logger:          slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		AuthMode:        hookserver.AuthMode(cfg.authMode),
	}
	if o := cfg.oauth; o != nil {
		opts.OAuth = hookserver.OAuthOptions{Issuer: o.issuer, Audience: o.audience, ClientID: o.clientID, Scope: o.scope}
		if o.caPEM != nil {
			opts.OAuth.JWKSCAFile = write("okta-ca.crt", o.caPEM)
		}
	}
	srv, err := hookserver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hook server: %v", err)
		}
	})
	// Ready once the patient list is loaded.
	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := probe.Get("https://" + ln.Addr().String() + hookserver.ReadyzPath)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hook server not ready: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &hookServer{addr: ln.Addr().String(), cert: cert, logs: logs}
}

// loopbackDialer stands in for the port-forward: it connects to the test hook
// server, and records which pod and port it was asked for.
type loopbackDialer struct {
	addr  string
	mu    sync.Mutex
	dials []string
}

func (d *loopbackDialer) DialPod(ctx context.Context, namespace, pod string, port int32) (net.Conn, error) {
	d.mu.Lock()
	d.dials = append(d.dials, fmt.Sprintf("%s/%s:%d", namespace, pod, port))
	d.mu.Unlock()
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", d.addr)
}

func (d *loopbackDialer) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.dials...)
}

var (
	idOnly    = hookConfig{tls: true, authHeader: "Authorization", tokens: "id", claim: "patientID"}
	bothDeny  = hookConfig{tls: true, authHeader: "X-Okta-Secret", tokens: "id,access", claim: "pid"}
	tlsVerify = "TLS: certificate verified for patients-hookserver.clinic.svc against tls.crt of Secret clinic/hook-tls\n"
)

// headerAuth is the Auth line of a call with the auth Secret's header secret.
func headerAuth(header string) string {
	return "Auth: the header secret of Secret clinic/patients-hookserver-auth in " + header + "\n"
}

// world is a fake cluster with the TokenHook, its Deployment, pods and
// Secrets, and a real hook server behind the dialer.
type world struct {
	th      *v1.TokenHook
	cfg     hookConfig
	server  *hookServer
	pods    []client.Object // default: one ready pod testPod
	secrets map[string]map[string]string
	noDep   bool
	depEdit func(*appsv1.Deployment)
}

func (w world) env(t *testing.T) (*Env, *loopbackDialer) {
	t.Helper()
	objs := []client.Object{w.th}
	if !w.noDep {
		var ready int32
		for _, p := range w.pods {
			if podReady(p.(*corev1.Pod)) {
				ready++
			}
		}
		dep := testDeployment(w.th, ready)
		if w.depEdit != nil {
			w.depEdit(dep)
		}
		objs = append(objs, dep)
	}
	objs = append(objs, w.pods...)
	for name, data := range w.secrets {
		objs = append(objs, testSecret(name, data))
	}
	d := &loopbackDialer{addr: w.server.addr}
	return &Env{Client: fakeClient(t, objs...), Dialer: d}, d
}

func TestPreview(t *testing.T) {
	plain := startHookServer(t, idOnly, false)
	deny := startHookServer(t, bothDeny, true)
	passthrough := startHookServer(t, idOnly, false, "hooks.example.com") // the external URL's host
	other, err := selfsigned.New(selfsigned.Options{Hosts: []string{"patients-hookserver.clinic.svc"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	newWorld := func(srv *hookServer, cfg hookConfig, edits ...func(*world)) world {
		w := world{
			th:     testTokenHook(),
			cfg:    cfg,
			server: srv,
			pods: []client.Object{
				testHookPod(testPod, true, now.Add(-time.Hour), cfg),
				testHookPod("patients-hookserver-7d9c5-older", true, now.Add(-2*time.Hour), cfg),
				testHookPod("patients-hookserver-8e0d6-unready", false, now, cfg),
			},
			secrets: map[string]map[string]string{
				"patients-hookserver-auth": {"current": hookSecret, "previous": hookSecret},
				"hook-tls":                 {"tls.crt": string(srv.cert.CertPEM), "tls.key": string(srv.cert.KeyPEM)},
			},
		}
		for _, e := range edits {
			e(&w)
		}
		return w
	}
	header := "TokenHook clinic/patients, hook server pod clinic/" + testPod + ", login "

	cases := map[string]struct {
		reason string
		world  world
		args   []string
		want   string // stdout
	}{
		"Patient": {
			reason: "A patient's ID token gets the patient ID; the access token, which the hook does not patch, gets nothing.",
			world:  newWorld(plain, idOnly),
			args:   []string{"--login", "ada@example.com"},
			want:   header + "ada@example.com\n" + tlsVerify + headerAuth("Authorization") + "ID token:      patientID: \"P-1001\"\naccess token:  no claim\n",
		},
		"PatientBothTokens": {
			reason: "With both tokens configured, both get the claim; the pod's --auth-header and --claim are used.",
			world:  newWorld(deny, bothDeny),
			args:   []string{"--login", "grace@example.com", "--token", "both"},
			want:   header + "grace@example.com\n" + tlsVerify + headerAuth("X-Okta-Secret") + "ID token:      pid: \"P\\\"\\u003c\\u0026\\u003e\"\naccess token:  pid: \"P\\\"\\u003c\\u0026\\u003e\"\n",
		},
		"NotPatient": {
			reason: "Someone not in the patient list gets no claim.",
			world:  newWorld(plain, idOnly),
			args:   []string{"--login", "eve@example.com"},
			want:   header + "eve@example.com\n" + tlsVerify + headerAuth("Authorization") + "no claim: not a patient\n",
		},
		"NoTokenToPatch": {
			reason: "A patient whose call mints none of the tokens the hook patches gets no claim, and is told why.",
			world:  newWorld(plain, idOnly),
			args:   []string{"--login", "ada@example.com", "--token", "access"},
			want: header + "ada@example.com\n" + tlsVerify + headerAuth("Authorization") +
				"no claim: the hook server adds patientID to the ID token only, and this login mints the access token (see --token)\n",
		},
		"Denied": {
			reason: "In deny mode, a non-patient gets the error object, and no token.",
			world:  newWorld(deny, bothDeny),
			args:   []string{"--login", "eve@example.com"},
			want: header + "eve@example.com\n" + tlsVerify + headerAuth("X-Okta-Secret") +
				"denied: Okta issues no token; the client gets error_description \"This user is not authorized for this application.\"\n",
		},
		"CAFromSecret": {
			reason: "A ca.crt in the TLS Secret is the root the certificate is verified against.",
			world: newWorld(plain, idOnly, func(w *world) {
				w.secrets["hook-tls"] = map[string]string{"ca.crt": string(plain.cert.CertPEM), "tls.crt": string(other.CertPEM)}
			}),
			args: []string{"--login", "ada@example.com", "--token", "id"},
			want: header + "ada@example.com\n" +
				"TLS: certificate verified for patients-hookserver.clinic.svc against ca.crt of Secret clinic/hook-tls\n" + headerAuth("Authorization") +
				"ID token:  patientID: \"P-1001\"\n",
		},
		"ExternalURLHost": {
			reason: "A certificate for the external URL's host only (TLS passed through to the pods) is verified for that host, and the note says why.",
			world:  newWorld(passthrough, idOnly),
			args:   []string{"--login", "ada@example.com", "--token", "id"},
			want: header + "ada@example.com\n" +
				"TLS: certificate verified for hooks.example.com (the external URL's host: the certificate does not hold patients-hookserver.clinic.svc) against tls.crt of Secret clinic/hook-tls\n" + headerAuth("Authorization") +
				"ID token:  patientID: \"P-1001\"\n",
		},
		"Rotation": {
			reason: "During a rotation the pods may hold only the previous secret: it is tried after the current one is refused.",
			world: newWorld(plain, idOnly, func(w *world) {
				w.secrets["patients-hookserver-auth"] = map[string]string{"current": "Bearer the-new-one", "previous": hookSecret}
			}),
			args: []string{"--login", "ada@example.com", "--token", "id"},
			want: header + "ada@example.com\n" + tlsVerify + headerAuth("Authorization") + "ID token:  patientID: \"P-1001\"\n",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env, dialer := tc.world.env(t)
			args := append([]string{"preview", testName, "-n", testNS}, tc.args...)
			out, errOut, err := runCmd(t, env, args...)
			if err != nil {
				t.Fatalf("%s\npreview: %v", tc.reason, err)
			}
			if diff := cmp.Diff(tc.want, out); diff != "" {
				t.Errorf("%s\npreview output (-want +got):\n%s", tc.reason, diff)
			}
			if errOut != "" {
				t.Errorf("%s\npreview wrote to stderr: %q", tc.reason, errOut)
			}
			for _, d := range dialer.dialed() {
				if d != "clinic/"+testPod+":8443" {
					t.Errorf("%s\npreview dialed %s; want the newest ready pod's https port, clinic/%s:8443", tc.reason, d, testPod)
				}
			}
			login := tc.args[1]
			if logs := tc.world.server.logs.String(); strings.Contains(logs, login) || strings.Contains(logs, "P-1001") {
				t.Errorf("%s\nthe hook server logged the login or patient ID:\n%s", tc.reason, logs)
			}
		})
	}
}

func TestPreviewJSON(t *testing.T) {
	srv := startHookServer(t, idOnly, false)
	w := world{
		th: testTokenHook(), cfg: idOnly, server: srv,
		pods: []client.Object{testHookPod(testPod, true, time.Now(), idOnly)},
		secrets: map[string]map[string]string{
			"patients-hookserver-auth": {"current": hookSecret, "previous": hookSecret},
			"hook-tls":                 {"tls.crt": string(srv.cert.CertPEM)},
		},
	}
	env, _ := w.env(t)
	out, _, err := runCmd(t, env, "preview", testName, "-n", testNS, "--login", "ada@example.com", "-o", "json")
	if err != nil {
		t.Fatalf("preview -o json: %v", err)
	}
	var got PreviewResult
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("preview -o json printed something that does not decode: %v\n%s", err, out)
	}
	want := PreviewResult{
		TokenHook:   "clinic/patients",
		Pod:         "clinic/" + testPod,
		Login:       "ada@example.com",
		Tokens:      []protocol.Token{protocol.IDToken, protocol.AccessToken},
		Claim:       "patientID",
		ClaimTokens: []protocol.Token{protocol.IDToken},
		TLS:         "certificate verified for patients-hookserver.clinic.svc against tls.crt of Secret clinic/hook-tls",
		Auth:        "the header secret of Secret clinic/patients-hookserver-auth in Authorization",
		Outcome:     OutcomePatient,
		Claims:      map[protocol.Token]map[string]any{protocol.IDToken: {"patientID": "P-1001"}, protocol.AccessToken: {}},
		Commands:    []protocol.Command{protocol.AddClaim(protocol.IDToken, "patientID", "P-1001")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("preview -o json (-want +got):\n%s", diff)
	}
}

func TestPreviewErrors(t *testing.T) {
	srv := startHookServer(t, idOnly, false)
	elsewhere := startHookServer(t, idOnly, false, "elsewhere.example.com")
	other, err := selfsigned.New(selfsigned.Options{Hosts: []string{"patients-hookserver.clinic.svc"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	newWorld := func(edits ...func(*world)) world {
		w := world{
			th: testTokenHook(), cfg: idOnly, server: srv,
			pods: []client.Object{testHookPod(testPod, true, now, idOnly)},
			secrets: map[string]map[string]string{
				"patients-hookserver-auth": {"current": hookSecret, "previous": hookSecret},
				"hook-tls":                 {"tls.crt": string(srv.cert.CertPEM)},
			},
		}
		for _, e := range edits {
			e(&w)
		}
		return w
	}
	cases := map[string]struct {
		reason string
		world  world
		name   string // the TokenHook asked for; default testName
		args   []string
		want   string // in the error
	}{
		"WrongSecret": {
			reason: "A secret the pod does not accept is a clear error, which does not quote the secret.",
			world: newWorld(func(w *world) {
				w.secrets["patients-hookserver-auth"] = map[string]string{"current": "Bearer wrong", "previous": "Bearer also-wrong"}
			}),
			want: "hook server pod clinic/" + testPod + " refused the auth secret of Secret clinic/patients-hookserver-auth in header Authorization " +
				"(unauthorized: Missing or invalid Authorization header.); if the secret is being rotated, the pod may not have the new one yet: try again in a minute",
		},
		"NoTokenHook": {
			reason: "A TokenHook that does not exist is named.",
			world:  newWorld(),
			name:   "nope",
			want:   "TokenHook clinic/nope not found",
		},
		"NoDeployment": {
			reason: "A TokenHook with no hook server Deployment says so.",
			world:  newWorld(func(w *world) { w.noDep = true; w.pods = nil }),
			want:   "TokenHook clinic/patients has no hook server Deployment clinic/patients-hookserver (yet): see kubectl tokenhook status patients",
		},
		"NoReadyPod": {
			reason: "A TokenHook whose pods are all unready is named, with its Deployment.",
			world: newWorld(func(w *world) {
				w.pods = []client.Object{testHookPod("patients-hookserver-x", false, now, idOnly)}
			}),
			want: "TokenHook clinic/patients has no ready hook server pod (Deployment clinic/patients-hookserver: 0 of 2 pods ready)",
		},
		"NotOwned": {
			reason: "A Deployment of the right name that the TokenHook does not control is not called.",
			world: newWorld(func(w *world) {
				w.depEdit = func(d *appsv1.Deployment) { d.OwnerReferences[0].UID = "another-uid" }
			}),
			want: "deployment clinic/patients-hookserver is not the hook server of TokenHook clinic/patients: the TokenHook does not control it",
		},
		"NoAuthSecret": {
			reason: "A missing auth Secret is named.",
			world:  newWorld(func(w *world) { delete(w.secrets, "patients-hookserver-auth") }),
			want:   "TokenHook clinic/patients: auth Secret clinic/patients-hookserver-auth not found",
		},
		"NoTLSSecret": {
			reason: "Without the TLS Secret the certificate cannot be verified; the way around is offered.",
			world:  newWorld(func(w *world) { delete(w.secrets, "hook-tls") }),
			want:   "get TLS Secret clinic/hook-tls to verify the hook server's certificate",
		},
		"OtherCA": {
			reason: "A certificate not signed by the TLS Secret's CA is refused.",
			world:  newWorld(func(w *world) { w.secrets["hook-tls"] = map[string]string{"tls.crt": string(other.CertPEM)} }),
			want:   "its certificate is not signed by the CA of Secret clinic/hook-tls",
		},
		"WrongName": {
			reason: "A certificate that does not hold the name checked is refused, and the flag to change it named.",
			world:  newWorld(),
			args:   []string{"--hook-server-name", "hooks.example.com"},
			want:   "(set --hook-server-name to one it holds)",
		},
		"NeitherName": {
			reason: "A certificate holding neither the Service's name nor the external URL's host is refused for the Service's name.",
			world: newWorld(func(w *world) {
				w.server = elsewhere
				w.secrets["hook-tls"] = map[string]string{"tls.crt": string(elsewhere.cert.CertPEM)}
			}),
			want: "x509: certificate is valid for elsewhere.example.com, not patients-hookserver.clinic.svc (set --hook-server-name to one it holds)",
		},
		"NoLogin": {
			reason: "--login is required.",
			world:  newWorld(),
			args:   []string{"--login="},
			want:   "--login is required: the Okta login to preview",
		},
		"BadToken": {
			reason: "--token takes id, access or both.",
			world:  newWorld(),
			args:   []string{"--token", "refresh"},
			want:   `--token: unknown token "refresh"; want id or access (or both)`,
		},
		"BadOutput": {
			reason: "--output takes text or json.",
			world:  newWorld(),
			args:   []string{"-o", "yaml"},
			want:   `--output "yaml": want text or json`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env, _ := tc.world.env(t)
			args := append([]string{"preview", firstOf(tc.name, testName), "-n", testNS, "--login", "ada@example.com"}, tc.args...)
			out, errOut, err := runCmd(t, env, args...)
			if err == nil {
				t.Fatalf("%s\npreview succeeded:\n%s", tc.reason, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s\npreview error:\n  %v\nwant one containing\n  %s", tc.reason, err, tc.want)
			}
			for _, secret := range []string{hookSecret, "Bearer wrong", "Bearer also-wrong"} {
				if strings.Contains(err.Error()+out+errOut, secret) {
					t.Errorf("%s\npreview printed an auth secret: %v\n%s%s", tc.reason, err, out, errOut)
				}
			}
		})
	}
}

func TestTLSServerName(t *testing.T) {
	cert := func(hosts ...string) string {
		c, err := selfsigned.New(selfsigned.Options{Hosts: hosts})
		if err != nil {
			t.Fatal(err)
		}
		return string(c.CertPEM)
	}
	const (
		svc      = "patients-hookserver.clinic.svc"
		external = "hooks.example.com"
		because  = " (the external URL's host: the certificate does not hold " + svc + ")"
	)
	cases := map[string]struct {
		reason      string
		tlsCrt      string
		externalURL string // default the test TokenHook's, https://hooks.example.com/tokenHook
		flag        string
		want, why   string
	}{
		"Service": {
			reason: "A certificate for the Service's name is verified for it.",
			tlsCrt: cert(svc), want: svc,
		},
		"ExternalHost": {
			reason: "A certificate for the external URL's host only is verified for that host.",
			tlsCrt: cert(external), want: external, why: because,
		},
		"Both": {
			reason: "A certificate holding both names is verified for the Service's.",
			tlsCrt: cert(external, svc), want: svc,
		},
		"Neither": {
			reason: "A certificate holding neither is checked for the Service's name, and refused for it.",
			tlsCrt: cert("elsewhere.example.com"), want: svc,
		},
		"Flag": {
			reason: "--hook-server-name wins.",
			tlsCrt: cert(external), flag: "other.example.com", want: "other.example.com",
		},
		"ExternalIP": {
			reason: "An external URL on an IP address the certificate holds is verified for it.",
			tlsCrt: cert("192.0.2.7"), externalURL: "https://192.0.2.7:8443/tokenHook", want: "192.0.2.7",
			why: " (the external URL's host: the certificate does not hold " + svc + ")",
		},
		"NoPEM": {
			reason: "A tls.crt that is not PEM leaves the Service's name (the CA check reports it).",
			tlsCrt: "not a certificate", want: svc,
		},
		"BadExternalURL": {
			reason: "An external URL that does not parse leaves the Service's name.",
			tlsCrt: cert(external), externalURL: "https://hooks.example.com:port/x", want: svc,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			th := testTokenHook(func(th *v1.TokenHook) {
				if tc.externalURL != "" {
					th.Spec.HookServer.ExternalURL = tc.externalURL
				}
			})
			sec := testSecret("hook-tls", map[string]string{"tls.crt": tc.tlsCrt})
			got, why := tlsServerName(th, PreviewRequest{TLSServerName: tc.flag}, sec)
			if got != tc.want || why != tc.why {
				t.Errorf("%s\ntlsServerName = %q, %q; want %q, %q", tc.reason, got, why, tc.want, tc.why)
			}
		})
	}
}
